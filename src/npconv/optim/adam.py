"""Adam, as torch.optim.Adam (with AMSGrad as an option); at step t:

    g = grad (negated if maximize) + weight_decay * p
    m = m + (1 - beta1) (g - m)                  first moment
    v = beta2 v + (1 - beta2) g^2                second moment (v_max = max(v_max, v) for AMSGrad)
    p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

A complex parameter is updated as the pair of its real and imaginary parts (g^2 per
part, as torch does through view_as_real), not with the complex square of g.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from .optimizer import Optimizer


class Adam(Optimizer):
    """Adam, with optional AMSGrad and (L2) weight decay, as torch.optim.Adam.

    ``step()`` updates every parameter that has a ``.grad``, in place, by the rule in
    this module's docstring. Each parameter's state holds ``'step'``, ``'exp_avg'``,
    ``'exp_avg_sq'`` (and ``'max_exp_avg_sq'`` with amsgrad).

    Args:
        params: an iterable of Parameters (``model.parameters()``), or of dicts with a
            ``'params'`` entry and any of the options below for that group.
        lr: learning rate. Default: 1e-3.
        betas: decay rates of the first and second moment estimates.
            Default: (0.9, 0.999).
        eps: added to the denominator for numerical stability. Default: 1e-8.
        weight_decay: L2 penalty, added to the gradient as ``weight_decay * p`` (not
            decoupled as in AdamW). Default: 0.
        amsgrad: use the largest second moment so far (AMSGrad). Default: False.
        maximize: ascend the gradient instead of descending it. Default: False.

    Differences from torch: no ``foreach``/``fused``/``capturable``/``differentiable``
    options; ``lr`` is a float.

    Example:
        >>> import numpy as np
        >>> from npconv.nn import Parameter
        >>> p = Parameter(np.array([1.0, 2.0])); p.grad = np.array([3.0, -0.5])
        >>> Adam([p], lr=0.1).step(); p.view(np.ndarray)  # the first step moves each by ~lr
        array([0.9, 2.1])
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        for i, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"Invalid beta parameter at index {i}: {beta}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        super().__init__(
            params,
            dict(
                lr=lr,
                betas=tuple(betas),
                eps=eps,
                weight_decay=weight_decay,
                amsgrad=amsgrad,
                maximize=maximize,
            ),
        )

    def _update(self, param, grad, state, group):
        beta1, beta2 = group["betas"]
        if not state:
            state.update(step=0, exp_avg=np.zeros_like(grad), exp_avg_sq=np.zeros_like(grad))
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = np.zeros_like(grad)
        # a complex parameter is its real and imaginary parts, each with its own moments
        # (torch's view_as_real); the state keeps the parameter's complex dtype and shape
        param, grad = _real_view(param.view(np.ndarray)), _real_view(grad)
        if group["maximize"]:
            grad = -grad
        if group["weight_decay"] != 0:
            grad = grad + group["weight_decay"] * param
        state["step"] += 1
        m, v = _real_view(state["exp_avg"]), _real_view(state["exp_avg_sq"])
        m += (1 - beta1) * (grad - m)
        v *= beta2
        v += (1 - beta2) * grad * grad
        if group["amsgrad"]:
            largest = _real_view(state["max_exp_avg_sq"])
            v = np.maximum(largest, v, out=largest)
        step = state["step"]
        denominator = np.sqrt(v) / math.sqrt(1 - beta2**step) + group["eps"]
        param -= group["lr"] / (1 - beta1**step) * m / denominator  # in place


def _real_view(a):
    """A complex array as real numbers sharing its memory (any strides); a real one as it is."""
    if not np.iscomplexobj(a):
        return a
    return a[..., None].view(a.real.dtype)  # (*shape, 1) complex -> (*shape, 2) real
