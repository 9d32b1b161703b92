"""Optimizer: parameter groups, per-parameter state, zero_grad and step.

A subclass supplies `_update(param, grad, state, group)`, which changes
`param` in place; `step` calls it for every parameter that has a gradient.
"""
from __future__ import annotations

import numpy as np

from ..nn.parameter import Parameter


class Optimizer:
    """Base of the optimisers: params is an iterable of Parameters, or of dicts
    (parameter groups) whose other keys override `defaults` for that group.

    `state` holds each parameter's buffers, keyed by id(param) because NumPy
    arrays are not hashable.

    A subclass passes its defaults to ``__init__`` and defines
    ``_update(param, grad, state, group)``, which changes ``param`` in place.

    Args:
        params: an iterable of Parameters, or of dicts with a ``'params'`` entry.
        defaults: the hyper-parameters of every group that does not set its own.

    Example:
        >>> import numpy as np
        >>> from npconv.nn import Parameter
        >>> from npconv.optim import SGD
        >>> a, b = Parameter(np.zeros(2)), Parameter(np.zeros(2))
        >>> opt = SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
        >>> [group["lr"] for group in opt.param_groups]
        [0.1, 0.5]
    """

    def __init__(self, params, defaults):
        if isinstance(params, np.ndarray):
            raise TypeError("params argument given to the optimizer should be an iterable of "
                            f"Parameters or dicts, but got {type(params).__name__}")
        self.defaults = dict(defaults)
        self.param_groups = []
        self.state = {}
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, param_group):
        """Add a group: a dict with 'params' and, optionally, its own hyper-parameters."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        params = param_group["params"]
        params = [params] if isinstance(params, np.ndarray) else list(params)
        for p in params:
            if not isinstance(p, Parameter):
                raise TypeError("optimizer can only optimize Parameters, but one of the params "
                                f"is {type(p).__name__}")
        seen = {id(p) for group in self.param_groups for p in group["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        group = {**self.defaults, **param_group, "params": params}
        self.param_groups.append(group)

    def zero_grad(self, set_to_none=True):
        """Forget the gradients: set each `.grad` to None, or fill it with zeros."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad[...] = 0

    def step(self, closure=None):
        """One update of every parameter with a gradient; returns closure() if given."""
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    grad = np.asarray(p.grad, dtype=p.dtype)
                    self._update(p, grad, self.state.setdefault(id(p), {}), group)
        return loss

    def _update(self, param, grad, state, group):
        raise NotImplementedError(f"{type(self).__name__} has no update rule")

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {key}: {group[key]}" for key in sorted(group) if key != "params"]
        return "\n".join(lines) + "\n)"
