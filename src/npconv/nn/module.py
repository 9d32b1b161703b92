"""Module: parameters, children, state dicts and the forward/backward protocol."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple, TypeVar

import numpy as np

from .. import chunked
from .._grad_mode import is_grad_enabled
from .parameter import Parameter, UninitializedParameter


class _NotSaved:
    """What a forward inside npconv.no_grad() keeps in place of its saved values."""

    def __repr__(self) -> str:
        return "<nothing saved: the forward ran inside npconv.no_grad()>"

    def __reduce__(self) -> str:
        return "NOT_SAVED"  # one marker, also after pickling or copying a module


NOT_SAVED = _NotSaved()

_M = TypeVar("_M", bound="Module")


class IncompatibleKeys(NamedTuple):
    """What load_state_dict returns: the keys it missed and the keys it did not use."""

    missing_keys: list
    unexpected_keys: list


class Module:
    """Base of every layer: parameters, children, state dicts, forward and backward.

    ``y = m(x)`` runs ``forward`` and keeps what ``backward`` needs;
    ``m.backward(grad_output)`` returns the gradient with respect to that input and
    adds the parameters' gradients into their ``.grad``. Assigning a Parameter or a
    Module to an attribute registers it, under the attribute's name, so that
    ``parameters()``, ``state_dict()`` and ``load_state_dict()`` find it, with torch's
    key names.

    A subclass calls ``super().__init__()`` first, then defines ``forward`` and
    ``backward``.

    Differences from torch: no autograd; each module writes its own ``backward``, and a
    module's input gradient is its ``backward``'s return value.

    Example:
        >>> import numpy as np
        >>> from npconv import nn
        >>> class Scale(nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.factor = nn.Parameter(np.ones(1))
        ...     def forward(self, x):
        ...         self.x = x
        ...         return self.factor * x
        ...     def backward(self, grad_output):
        ...         self.factor.grad = np.array([np.sum(grad_output * self.x)])
        ...         return self.factor * grad_output
        >>> m = Scale()
        >>> m(np.array([1.0, 2.0])), m.backward(np.ones(2)), m.factor.grad
        (array([1., 2.]), array([1., 1.]), array([3.]))
        >>> list(m.state_dict())
        ['factor']
    """

    _parameters: OrderedDict[str, Parameter | UninitializedParameter | None]
    _modules: OrderedDict[str, Module]
    training: bool
    _saved: Any  # what the last forward kept for backward (NOT_SAVED under no_grad)

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    def __setattr__(self, name: str, value: Any) -> None:
        params = self.__dict__.get("_parameters")
        if params is None:
            raise AttributeError("call Module.__init__() before assigning attributes")
        if isinstance(value, (Parameter, UninitializedParameter)):
            params[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        elif name in params:
            if value is not None:
                raise TypeError(
                    f"cannot assign {type(value).__name__} as parameter '{name}' "
                    "(a Parameter or None is required)"
                )
            params[name] = None
        object.__setattr__(self, name, value)

    def __call__(self, *inputs, **options):
        """Run forward (a lazy module first takes its shapes from the input)."""
        if inputs and chunked.is_dask(inputs[0]):  # lazy, forward only: npconv.chunked
            return chunked.call(self, *inputs, **options)
        return self.forward(*inputs, **options)

    def forward(self, *inputs):
        """The module's output for its inputs; subclasses define it."""
        raise NotImplementedError(f"{type(self).__name__} has no forward")

    def backward(self, grad_output):
        """The gradient with respect to the last forward's input, for grad_output (the
        gradient with respect to its output); adds the parameters' gradients into their
        ``.grad``. Subclasses define it."""
        raise NotImplementedError(f"{type(self).__name__} has no backward")

    def _save_for_backward(self, value: Any) -> None:
        """Keep `value` for backward, or nothing inside npconv.no_grad()."""
        self._saved = value if is_grad_enabled() else NOT_SAVED

    def _saved_for_backward(self) -> Any:
        """What the last forward kept, or an error saying why there is nothing."""
        saved = self.__dict__.get("_saved")
        if saved is None:
            raise ValueError(f"{type(self).__name__}.backward() needs a forward call first")
        if saved is NOT_SAVED:
            raise RuntimeError(
                f"{type(self).__name__}.backward(): the last forward ran inside "
                "npconv.no_grad(), which keeps nothing for backward; run the forward outside "
                "no_grad() (or inside npconv.enable_grad()) to compute gradients"
            )
        return saved

    # --- parameters and children ------------------------------------------------------
    def named_children(self) -> Iterator[tuple[str, Module]]:
        """(name, module) for every direct child, in the order they were assigned."""
        return iter(self._modules.items())

    def children(self) -> Iterator[Module]:
        """Every direct child module, in the order they were assigned."""
        return (m for _, m in self.named_children())

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """(name, module) for this module (named `prefix`) and every descendant, with
        dotted names ('0', '1.conv', ...), depth first."""
        yield prefix, self
        for name, child in self._modules.items():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self) -> Iterator[Module]:
        """This module and every descendant, depth first."""
        return (m for _, m in self.named_modules())

    def named_parameters(
        self, prefix: str = "", recurse: bool = True
    ) -> Iterator[tuple[str, Parameter | UninitializedParameter]]:
        """(dotted name, Parameter) for this module's parameters, then (with recurse)
        every descendant's; parameters set to None are left out."""
        for name, p in self._parameters.items():
            if p is not None:
                yield (f"{prefix}.{name}" if prefix else name), p
        if recurse:
            for name, child in self._modules.items():
                yield from child.named_parameters(f"{prefix}.{name}" if prefix else name)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter | UninitializedParameter]:
        """Every Parameter of this module and (with recurse) its descendants, for an
        optimiser."""
        return (p for _, p in self.named_parameters(recurse=recurse))

    def zero_grad(self) -> None:
        """Forget accumulated gradients (set every `.grad` to None, as torch does)."""
        for p in self.parameters():
            if isinstance(p, Parameter):
                p.grad = None

    def train(self: _M, mode: bool = True) -> _M:
        """Set ``training`` on this module and every descendant; returns self. No layer
        of npconv behaves differently in training, but code written for torch calls it."""
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self: _M) -> _M:
        """``train(False)``; returns self."""
        return self.train(False)

    # --- state dicts ------------------------------------------------------------------
    def state_dict(self, prefix: str = "") -> OrderedDict[str, Any]:
        """Parameter arrays by torch's key names ('weight', '0.bias', ...), sharing memory."""
        state: OrderedDict[str, Any] = OrderedDict()
        for name, module in self.named_modules():
            for key, p in module._parameters.items():
                if p is not None:
                    full = f"{name}.{key}" if name else key
                    state[prefix + full] = (
                        p if isinstance(p, UninitializedParameter) else p.view(np.ndarray)
                    )
        return state

    def _materialize_from_state(self, state: dict[str, Any], prefix: str) -> list[str]:
        """Lazy modules take their shapes from a state dict; returns error messages."""
        return []

    def load_state_dict(
        self, state_dict: Mapping[str, Any], strict: bool = True
    ) -> IncompatibleKeys:
        """Copy arrays (NumPy arrays or torch tensors) into the parameters, in place.

        Shapes must match; values are cast to each parameter's dtype. With
        strict=True, missing or unexpected keys raise a ValueError.
        """
        state = {
            key: _to_numpy(value) if _is_array(value) else value
            for key, value in state_dict.items()
        }
        errors = []
        for name, module in self.named_modules():
            errors += module._materialize_from_state(state, f"{name}." if name else "")
        own = OrderedDict()
        for name, module in self.named_modules():
            for key, p in module._parameters.items():
                if p is not None:
                    own[f"{name}.{key}" if name else key] = p
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        for key, p in own.items():
            if key not in state or isinstance(p, UninitializedParameter):
                continue
            if not isinstance(state[key], np.ndarray):
                raise TypeError(
                    f'While copying the parameter named "{key}", expected a NumPy '
                    f"array or a tensor from checkpoint but received "
                    f"{type(state_dict[key])}"
                )
            if state[key].shape != p.shape:
                errors.append(
                    f"size mismatch for {key}: copying a param with shape "
                    f"{state[key].shape} from checkpoint, the shape in current model "
                    f"is {p.shape}."
                )
        if strict:  # torch lists missing keys first, then unexpected ones, then sizes
            if unexpected:
                errors.insert(
                    0,
                    "Unexpected key(s) in state_dict: "
                    + ", ".join(f'"{k}"' for k in unexpected)
                    + ". ",
                )
            if missing:
                errors.insert(
                    0,
                    "Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ". ",
                )
        if errors:
            raise ValueError(
                f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                + "\n\t".join(errors)
            )
        for key, p in own.items():
            if key in state and not isinstance(p, UninitializedParameter):
                p[...] = state[key].astype(p.dtype)
        return IncompatibleKeys(missing, unexpected)

    # --- repr -------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The text inside the parentheses of repr(); subclasses show their arguments."""
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        if not self._modules:
            return f"{type(self).__name__}({extra})"
        lines = [extra] if extra else []
        for name, child in self._modules.items():
            body = repr(child).replace("\n", "\n  ")
            lines.append(f"({name}): {body}")
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"


def _is_array(value: object) -> bool:
    """A NumPy array or scalar, or a tensor (duck-typed, no torch import)."""
    return isinstance(value, (np.ndarray, np.generic)) or (
        hasattr(value, "detach") and hasattr(value, "cpu")
    )


def _to_numpy(value: Any) -> np.ndarray:
    """np.asarray, detaching tensors that track gradients (duck-typed, no torch import)."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        value = value.detach().cpu().numpy()
    array = np.asarray(value)
    if array.dtype == object:
        raise TypeError(f"state dict values must be numeric arrays, got {type(value).__name__}")
    return array
