"""Optimizer: parameter groups, per-parameter state, zero_grad, step and state dicts.

A subclass supplies `_update(param, grad, state, group)`, which changes
`param` in place; `step` calls it for every parameter that has a gradient.

Each parameter's state is keyed by its index in the groups (0, 1, ... over the
groups in order), as torch's state_dict numbers them: unlike id(param), the index
survives pickling or deep-copying the optimizer together with its model.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from ..nn.module import _to_numpy
from ..nn.parameter import Parameter


class State(dict):
    """Per-parameter state keyed by index; `state[param]` also finds a parameter's
    entry, as in torch, where the Parameter itself is the key."""

    def __init__(self, param_groups):
        super().__init__()
        self._groups = param_groups  # the optimizer's own list, to resolve params

    def _key(self, key):
        if not isinstance(key, np.ndarray):
            return key
        for index, p in enumerate(p for group in self._groups for p in group["params"]):
            if p is key:
                return index
        raise KeyError("the parameter is not among this optimizer's parameters")

    def __getitem__(self, key):
        return super().__getitem__(self._key(key))

    def __setitem__(self, key, value):
        super().__setitem__(self._key(key), value)

    def __contains__(self, key):
        try:
            return super().__contains__(self._key(key))
        except KeyError:
            return False

    def get(self, key, default=None):
        return self[key] if key in self else default


class Optimizer:
    """Base of the optimisers: params is an iterable of Parameters, or of dicts
    (parameter groups) whose other keys override `defaults` for that group.

    `state` holds each parameter's buffers, keyed by the parameter's index
    (`state[param]` works too); `state_dict()` / `load_state_dict()` use torch's
    format, {'state': {index: {...}}, 'param_groups': [{..., 'params': [indices]}]}.

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

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        if isinstance(params, np.ndarray):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of "
                f"Parameters or dicts, but got {type(params).__name__}"
            )
        self.defaults = dict(defaults)
        self.param_groups: list[dict[str, Any]] = []
        self.state = State(self.param_groups)
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group: a dict with 'params' and, optionally, its own hyper-parameters."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        params = param_group["params"]
        params = [params] if isinstance(params, np.ndarray) else list(params)
        for p in params:
            if not isinstance(p, Parameter):
                raise TypeError(
                    "optimizer can only optimize Parameters, but one of the params "
                    f"is {type(p).__name__}"
                )
        seen = {id(p) for group in self.param_groups for p in group["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        group = {**self.defaults, **param_group, "params": params}
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients: set each `.grad` to None, or fill it with zeros."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad[...] = 0

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter with a gradient; returns closure() if given."""
        loss = closure() if closure is not None else None
        index = 0
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    grad = np.asarray(p.grad, dtype=p.dtype)
                    self._update(p, grad, self.state.setdefault(index, {}), group)
                index += 1
        return loss

    # --- state dicts ------------------------------------------------------------------
    def state_dict(self) -> dict:
        """torch's layout, with copies of the buffers (torch shares them; a copy cannot
        change under a saved dict): {'state': {index: {name: value}},
        'param_groups': [{hyper-parameters..., 'params': [indices]}]}."""
        groups, start = [], 0
        for group in self.param_groups:
            packed = {key: value for key, value in group.items() if key != "params"}
            packed["params"] = list(range(start, start + len(group["params"])))
            start += len(group["params"])
            groups.append(packed)
        state = {
            index: copy.deepcopy(dict(values)) for index, values in sorted(dict.items(self.state))
        }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Take hyper-parameters and state from `state_dict` (this optimizer's, or a torch
        optimizer's with tensors or NumPy arrays); buffers are cast to each parameter's
        dtype, as torch casts them."""
        if not isinstance(state_dict, dict) or not {"state", "param_groups"} <= set(state_dict):
            raise ValueError(
                "expected a state dict with 'state' and 'param_groups', but got "
                + (
                    f"keys {sorted(state_dict)}"
                    if isinstance(state_dict, dict)
                    else type(state_dict).__name__
                )
            )
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(
            len(saved["params"]) != len(group["params"])
            for saved, group in zip(saved_groups, self.param_groups, strict=True)
        ):
            raise ValueError(
                "loaded state dict contains a parameter group that doesn't match "
                "the size of optimizer's group"
            )
        by_saved_id: dict[int, Parameter] = {}
        for saved, group in zip(saved_groups, self.param_groups, strict=True):
            by_saved_id.update(zip(saved["params"], group["params"], strict=True))
        params = [p for group in self.param_groups for p in group["params"]]
        index_of = {id(p): i for i, p in enumerate(params)}
        state = {}
        for key, values in state_dict["state"].items():
            if key not in by_saved_id:
                raise ValueError(
                    f"the state dict has state for parameter {key!r}, which none "
                    "of its param_groups lists"
                )
            param = by_saved_id[key]
            state[index_of[id(param)]] = {
                name: _state_value(name, value, param) for name, value in values.items()
            }
        for saved, group in zip(saved_groups, self.param_groups, strict=True):
            group.update(
                {key: copy.deepcopy(value) for key, value in saved.items() if key != "params"}
            )
            if isinstance(group.get("betas"), list):
                group["betas"] = tuple(group["betas"])
        dict.clear(self.state)
        dict.update(self.state, state)

    def _update(self, param, grad, state, group):
        raise NotImplementedError(f"{type(self).__name__} has no update rule")

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {key}: {group[key]}" for key in sorted(group) if key != "params"]
        return "\n".join(lines) + "\n)"


def _state_value(name, value, param):
    """One loaded state entry: 'step' as an int, buffers as arrays in param's dtype and shape."""
    if name == "step":
        return round(float(_to_numpy(value)))
    if value is None or isinstance(value, (bool, int, float)):
        return value
    array = np.array(_to_numpy(value), dtype=param.dtype)  # a copy, in param's dtype
    if array.shape != param.shape:
        raise ValueError(
            f"state {name!r} has shape {array.shape}, but its parameter has shape {param.shape}"
        )
    return array
