"""Losses: a forward that returns the loss and a backward that returns d loss / d input.

    MSELoss  l_i = (x_i - t_i)^2    dl/dx_i = 2 (x_i - t_i), over N for 'mean'

>>> import numpy as np
>>> loss = MSELoss()
>>> float(loss(np.array([1.0, 3.0]), np.array([0.0, 0.0]))), loss.backward()
(5.0, array([1., 3.]))
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np

from .._arguments import ArrayLike
from .module import Module

REDUCTIONS = ("mean", "sum", "none")


class MSELoss(Module):
    """Mean squared error: (input - target)^2, averaged, summed or element-wise.

    ``loss(input, target)`` returns the loss; ``loss.backward(grad_output=1.0)`` returns
    its gradient with respect to input, 2 (input - target) times grad_output (divided by
    the number of elements for 'mean'), ready for the model's backward.

    Args:
        reduction: ``'mean'`` (the default), ``'sum'`` or ``'none'`` (no reduction).

    Shape:
        input and target of one shape; the loss is a scalar, or of that shape for
        ``'none'`` (grad_output then has it too). A target that only broadcasts to the
        input draws torch's warning, and the gradient is summed back to input's shape.

    Differences from torch: the loss is a NumPy scalar or array, and ``backward`` returns
    the input gradient instead of filling ``.grad`` of a graph.

    Example:
        >>> import numpy as np
        >>> from npconv import nn
        >>> loss = nn.MSELoss()
        >>> float(loss(np.array([1.0, 3.0]), np.array([0.0, 0.0]))), loss.backward()
        (5.0, array([1., 3.]))
        >>> float(nn.MSELoss("sum")(np.ones((2, 2)), np.zeros((2, 2))))
        4.0
    """

    def __init__(self, reduction: Literal["mean", "sum", "none"] = "mean") -> None:
        super().__init__()
        if reduction not in REDUCTIONS:
            raise ValueError(f"{reduction} is not a valid value for reduction")
        self.reduction = reduction
        self._saved = None

    def forward(self, input: ArrayLike, target: ArrayLike) -> np.ndarray:
        """The loss of `input` against `target`; keeps their difference for backward."""
        input, target = np.asarray(input), np.asarray(target)
        if input.shape != target.shape:
            warnings.warn(
                f"Using a target size ({target.shape}) that is different to the input "
                f"size ({input.shape}). This will likely lead to incorrect results due "
                "to broadcasting. Please ensure they have the same size.",
                stacklevel=2,
            )
        difference = input - target
        self._save_for_backward((difference, input.shape))
        squared = difference * difference
        if self.reduction == "mean":
            return squared.mean()
        if self.reduction == "sum":
            return squared.sum()
        return squared

    def backward(self, grad_output: ArrayLike = 1.0) -> np.ndarray:
        """d loss / d input for the last forward, scaled by grad_output."""
        difference, input_shape = self._saved_for_backward()
        grad = 2 * difference * np.asarray(grad_output)
        if self.reduction == "mean":
            grad = grad / difference.size
        return _sum_to(grad, input_shape).astype(difference.dtype, copy=False)


def _sum_to(array, shape):
    """Sum a broadcast result back down to `shape` (the adjoint of broadcasting)."""
    array = array.sum(axis=tuple(range(array.ndim - len(shape))))
    stretched = tuple(i for i, size in enumerate(shape) if size == 1 and array.shape[i] != 1)
    return array.sum(axis=stretched, keepdims=True)
