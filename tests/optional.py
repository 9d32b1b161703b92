"""The test suite's optional packages (torch, dask), imported without skipping.

`optional.load("torch", "needs_torch")` returns the module where it is installed and
otherwise a stand-in whose every use raises, so that a test module collects on an
install without it (the minimum-versions run of .ci/run has no torch). Each test that
uses the package carries the marker (registered in pyproject.toml) and that run
deselects it with ``-m "not needs_torch"``; an unmarked test that uses the package
fails there rather than being skipped away.
"""

import importlib


class Missing:
    """Stands in for a package that is not installed. Attribute access gives another
    stand-in, so that module-level names (``torch.nn.ReLU`` in a parameter list, a class
    deriving from ``torch.nn.Module``) still collect; calling one, iterating over it or
    taking its truth value raises, so a test that uses it fails."""

    def __init__(self, name, marker):
        self._name, self._marker = name, marker

    def __getattr__(self, attribute):
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        return Missing(f"{self._name}.{attribute}", self._marker)

    def __call__(self, *args, **kwargs):
        root = self._name.split(".")[0]
        raise ModuleNotFoundError(
            f"{root} is not installed, so {self._name}() cannot run; "
            f"a test that uses {root} must be marked {self._marker}"
        )

    def __iter__(self):
        self()

    def __mro_entries__(self, bases):
        return (object,)  # class Net(torch.nn.Module) defines a class that cannot run

    def __repr__(self):
        return f"<{self._name}, not installed>"


def installed(module):
    """Whether `module` (a module or a Missing stand-in) is the real package."""
    return not isinstance(module, Missing)


def load(name, marker):
    """The module `name`, or a Missing stand-in if its top-level package is absent."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name != name.split(".")[0]:
            raise  # installed but broken: that is a failure, not an optional package
        return Missing(name, marker)
