"""Stochastic gradient descent with momentum, as torch.optim.SGD:

g = grad (negated if maximize) + weight_decay * p
b = g on the first step, then momentum * b + (1 - dampening) * g
d = g + momentum * b if nesterov else b        (d = g without momentum)
p = p - lr * d
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from .optimizer import Optimizer


class SGD(Optimizer):
    """Stochastic gradient descent, with optional momentum, Nesterov momentum and weight
    decay, as torch.optim.SGD.

    ``step()`` updates every parameter that has a ``.grad``, in place, by the rule in
    this module's docstring; the momentum buffer is the state ``'momentum_buffer'`` of
    each parameter.

    Args:
        params: an iterable of Parameters (``model.parameters()``), or of dicts with a
            ``'params'`` entry and any of the options below for that group.
        lr: learning rate. Default: 1e-3.
        momentum: momentum factor. Default: 0.
        dampening: dampening of the momentum. Default: 0.
        weight_decay: L2 penalty, added to the gradient as ``weight_decay * p``.
            Default: 0.
        nesterov: Nesterov momentum (needs momentum > 0 and dampening 0). Default: False.
        maximize: ascend the gradient instead of descending it. Default: False.

    Differences from torch: no ``foreach``/``fused``/``differentiable`` options.

    Example:
        >>> import numpy as np
        >>> from npconv.nn import Parameter
        >>> p = Parameter(np.array([1.0, 2.0])); p.grad = np.array([1.0, -1.0])
        >>> SGD([p], lr=0.1).step(); p.view(np.ndarray)
        array([0.9, 2.1])
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(
            params,
            dict(
                lr=lr,
                momentum=momentum,
                dampening=dampening,
                weight_decay=weight_decay,
                nesterov=nesterov,
                maximize=maximize,
            ),
        )

    def _update(self, param, grad, state, group):
        if group["maximize"]:
            grad = -grad
        if group["weight_decay"] != 0:
            grad = grad + group["weight_decay"] * param.view(np.ndarray)
        momentum = group["momentum"]
        if momentum != 0:
            buffer = state.get("momentum_buffer")
            if buffer is None:
                buffer = state["momentum_buffer"] = np.array(grad)  # an array even for 0-d
            else:
                buffer *= momentum
                buffer += (1 - group["dampening"]) * grad
            grad = grad + momentum * buffer if group["nesterov"] else buffer
        param -= group["lr"] * grad  # in place: the module holds this array
