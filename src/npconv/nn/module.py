"""Module: parameters, children, state dicts and the forward/backward protocol."""
from __future__ import annotations

from collections import OrderedDict
from typing import NamedTuple

import numpy as np

from .. import chunked
from .parameter import Parameter, UninitializedParameter


class IncompatibleKeys(NamedTuple):
    missing_keys: list
    unexpected_keys: list


class Module:
    """Base of every layer: `y = m(x)` runs forward and keeps what backward needs;
    `m.backward(grad_output)` returns the input gradient and adds parameter
    gradients into each `.grad`."""

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    def __setattr__(self, name, value):
        params = self.__dict__.get("_parameters")
        if params is None:
            raise AttributeError("call Module.__init__() before assigning attributes")
        if isinstance(value, (Parameter, UninitializedParameter)):
            params[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        elif name in params:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as parameter '{name}' "
                                "(a Parameter or None is required)")
            params[name] = None
        object.__setattr__(self, name, value)

    def __call__(self, *inputs, **options):
        if inputs and chunked.is_dask(inputs[0]):       # lazy, forward only: npconv.chunked
            return chunked.call(self, *inputs, **options)
        return self.forward(*inputs, **options)

    def forward(self, *inputs):
        raise NotImplementedError(f"{type(self).__name__} has no forward")

    def backward(self, grad_output):
        raise NotImplementedError(f"{type(self).__name__} has no backward")

    # --- parameters and children ------------------------------------------------------
    def named_children(self):
        return iter(self._modules.items())

    def children(self):
        return (m for _, m in self.named_children())

    def named_modules(self, prefix=""):
        yield prefix, self
        for name, child in self._modules.items():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self):
        return (m for _, m in self.named_modules())

    def named_parameters(self, prefix="", recurse=True):
        for name, p in self._parameters.items():
            if p is not None:
                yield (f"{prefix}.{name}" if prefix else name), p
        if recurse:
            for name, child in self._modules.items():
                yield from child.named_parameters(f"{prefix}.{name}" if prefix else name)

    def parameters(self, recurse=True):
        return (p for _, p in self.named_parameters(recurse=recurse))

    def zero_grad(self):
        """Forget accumulated gradients (set every `.grad` to None, as torch does)."""
        for p in self.parameters():
            if isinstance(p, Parameter):
                p.grad = None

    def train(self, mode=True):
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self):
        return self.train(False)

    # --- state dicts ------------------------------------------------------------------
    def state_dict(self, prefix=""):
        """Parameter arrays by torch's key names ('weight', '0.bias', ...), sharing memory."""
        state = OrderedDict()
        for name, module in self.named_modules():
            for key, p in module._parameters.items():
                if p is not None:
                    full = f"{name}.{key}" if name else key
                    state[prefix + full] = p if isinstance(p, UninitializedParameter) else p.view(np.ndarray)
        return state

    def _materialize_from_state(self, state, prefix):
        """Lazy modules take their shapes from a state dict; others need nothing."""

    def load_state_dict(self, state_dict, strict=True):
        """Copy arrays (NumPy, torch tensors, lists) into the parameters, in place.

        Shapes must match; values are cast to each parameter's dtype. With
        strict=True, missing or unexpected keys raise a ValueError.
        """
        state = {key: _to_numpy(value) for key, value in state_dict.items()}
        for name, module in self.named_modules():
            module._materialize_from_state(state, f"{name}." if name else "")
        own = OrderedDict()
        for name, module in self.named_modules():
            for key, p in module._parameters.items():
                if p is not None:
                    own[f"{name}.{key}" if name else key] = p
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        errors = []
        for key, p in own.items():
            if key in state and state[key].shape != p.shape:
                errors.append(f"size mismatch for {key}: copying a param with shape "
                              f"{state[key].shape} from checkpoint, the shape in current model "
                              f"is {p.shape}.")
        if strict:  # torch lists missing keys first, then unexpected ones, then sizes
            if unexpected:
                errors.insert(0, "Unexpected key(s) in state_dict: "
                              + ", ".join(f'"{k}"' for k in unexpected) + ". ")
            if missing:
                errors.insert(0, "Missing key(s) in state_dict: "
                              + ", ".join(f'"{k}"' for k in missing) + ". ")
        if errors:
            raise ValueError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                             + "\n\t".join(errors))
        for key, p in own.items():
            if key in state:
                p[...] = state[key].astype(p.dtype)
        return IncompatibleKeys(missing, unexpected)

    # --- repr -------------------------------------------------------------------------
    def extra_repr(self):
        return ""

    def __repr__(self):
        extra = self.extra_repr()
        if not self._modules:
            return f"{type(self).__name__}({extra})"
        lines = [extra] if extra else []
        for name, child in self._modules.items():
            body = repr(child).replace("\n", "\n  ")
            lines.append(f"({name}): {body}")
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"


def _to_numpy(value):
    """np.asarray, detaching tensors that track gradients (duck-typed, no torch import)."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        value = value.detach().cpu().numpy()
    array = np.asarray(value)
    if array.dtype == object:
        raise TypeError(f"state dict values must be numeric arrays, got {type(value).__name__}")
    return array
