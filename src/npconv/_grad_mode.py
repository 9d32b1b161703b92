"""Grad mode, as torch's: whether a module's forward keeps what its backward needs.

The mode is per thread (a new thread starts with it enabled, as in torch) and is
changed by context managers that also work as decorators:

    no_grad()             forward keeps nothing; backward after it raises
    enable_grad()         saving back on inside a no_grad() block
    set_grad_enabled(b)   either, chosen by b; also a plain call that sets the mode

Each restores the mode it found on exit, exceptions included, so they nest.

>>> import numpy as np, npconv
>>> m = npconv.nn.Conv1d(1, 1, 3)
>>> with npconv.no_grad():
...     y = m(np.ones((1, 1, 5), np.float32))
...     npconv.is_grad_enabled()
False
>>> npconv.is_grad_enabled()
True
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable
from typing import Any, Literal, TypeVar

_local = threading.local()


def is_grad_enabled() -> bool:
    """Whether modules keep what their backward pass needs on this thread.

    True unless the current thread is inside ``no_grad()`` (or ``set_grad_enabled(False)``);
    the mode is per thread, as torch's is.

    >>> import npconv
    >>> with npconv.no_grad():
    ...     npconv.is_grad_enabled()
    False
    """
    return getattr(_local, "enabled", True)


def _set(mode: bool) -> None:
    _local.enabled = bool(mode)


_G = TypeVar("_G", bound="_GradMode")


class _GradMode:
    """A context manager that sets the grad mode to `self._mode` and restores the old
    one on exit; applied to a function (or generator function) it runs each call
    (each step of the generator) in that mode."""

    _mode = True

    def __enter__(self: _G) -> _G:
        self._previous = is_grad_enabled()
        _set(self._mode)
        return self

    def __exit__(self, *exc_info: object) -> Literal[False]:
        _set(self._previous)
        return False

    def clone(self) -> _GradMode:
        return type(self)()

    def __call__(self, function: Callable[..., Any]) -> Callable[..., Any]:
        if inspect.isclass(function) or not callable(function):
            raise TypeError(
                f"{type(self).__name__}() decorates functions, but got {type(function).__name__}"
            )
        if inspect.isgeneratorfunction(function):
            return self._wrap_generator(function)

        @functools.wraps(function)
        def wrapped(*args, **kwargs):
            with self.clone():
                return function(*args, **kwargs)

        return wrapped

    def _wrap_generator(self, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def wrapped(*args, **kwargs):
            generator = function(*args, **kwargs)
            try:
                with self.clone():
                    response = generator.send(None)
                while True:  # each step of the generator in this mode
                    try:
                        request = yield response
                    except GeneratorExit:
                        with self.clone():
                            generator.close()
                        raise
                    except BaseException as error:  # passed on into the generator
                        with self.clone():
                            response = generator.throw(error)
                    else:
                        with self.clone():
                            response = generator.send(request)
            except StopIteration as stop:
                return stop.value

        return wrapped


class _NoParameterMode(_GradMode):
    """no_grad and enable_grad also decorate bare (`@npconv.no_grad`), as torch's do."""

    def __new__(cls, function: Callable[..., Any] | None = None) -> Any:
        if function is None:
            return super().__new__(cls)
        return cls()(function)


class no_grad(_NoParameterMode):
    """Forward calls inside keep nothing for backward: for inference, where the
    inputs a module would keep (a model's activations) are not wanted.

    `Module.eval()` does not do this (it only switches layers that behave
    differently in training, as in torch); use both for inference. Blocks nest and
    are per thread; ``module.backward`` after a forward inside one raises a
    RuntimeError saying so.

    Args:
        function: used bare as a decorator (``@npconv.no_grad``), the function whose
            calls run without saving; omitted (``no_grad()``), a context manager.

    >>> import numpy as np, npconv
    >>> @npconv.no_grad()
    ... def predict(model, x):
    ...     return model(x)
    >>> m = npconv.nn.Conv1d(1, 1, 3)
    >>> predict(m, np.ones((1, 1, 5), np.float32)).shape
    (1, 1, 3)
    """

    _mode = False


class enable_grad(_NoParameterMode):
    """Saving for backward switched back on, inside a no_grad() block.

    Args:
        function: used bare as a decorator, the function whose calls run with saving on;
            omitted, a context manager.

    >>> import npconv
    >>> with npconv.no_grad(), npconv.enable_grad():
    ...     npconv.is_grad_enabled()
    True
    """

    _mode = True


class set_grad_enabled(_GradMode):
    """Set the grad mode now; as a context manager it restores the previous mode on exit,
    and as a decorator it sets the mode around each call only.

    Args:
        mode: True to keep what backward needs, False to keep nothing (as ``no_grad``).

    >>> import npconv
    >>> with npconv.set_grad_enabled(False):
    ...     npconv.is_grad_enabled()
    False
    >>> npconv.is_grad_enabled()
    True
    """

    def __init__(self, mode: bool) -> None:
        if not isinstance(mode, bool):
            raise TypeError(f"set_grad_enabled() takes a bool, but got mode={mode!r}")
        self._previous = is_grad_enabled()
        self._mode = mode
        _set(mode)

    def __enter__(self: _G) -> _G:
        _set(self._mode)  # the mode was set by __init__; entering keeps it
        return self

    def __call__(self, function: Callable[..., Any]) -> Callable[..., Any]:
        _set(self._previous)  # as a decorator it sets the mode for the calls only
        return super().__call__(function)

    def clone(self) -> _GradMode:
        return _Mode(self._mode)


class _Mode(_GradMode):
    """A plain mode setter: what set_grad_enabled(mode) decorates each call with."""

    def __init__(self, mode: bool) -> None:
        self._mode = mode

    def clone(self) -> _GradMode:
        return _Mode(self._mode)
