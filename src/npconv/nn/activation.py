"""Element-wise activations. Each backward multiplies the incoming gradient by
the derivative at the last forward's input, written through what forward saved:

    ReLU       y = max(x, 0)              dy/dx = [x > 0]
    LeakyReLU  y = x if x > 0 else a*x    dy/dx = 1 if x > 0 else a
    Sigmoid    y = 1 / (1 + exp(-x))      dy/dx = y (1 - y)
    Tanh       y = tanh(x)                dy/dx = 1 - y^2

As in torch, the kinks at x = 0 take the left slope (0 for ReLU, a for LeakyReLU).

>>> import numpy as np
>>> m = LeakyReLU(0.5)
>>> m(np.array([-2.0, 3.0])), m.backward(np.ones(2))
(array([-1.,  3.]), array([0.5, 1. ]))
"""

from __future__ import annotations

import numpy as np

from .._arguments import ArrayLike
from .module import Module

_NOTES = """

Shape:
    Any shape; the output has the input's shape and dtype.

Differences from torch: ``m.backward(grad_output)`` returns the gradient with respect to
the last input, grad_output times the derivative there.

Example:
"""


class _Elementwise(Module):
    """forward(x) -> y saves (x, y); backward(g) -> g * derivative(x, y)."""

    def __init__(self):
        super().__init__()
        self._saved = None

    def forward(self, input: ArrayLike) -> np.ndarray:
        """The activation of `input`, element-wise; keeps input and output for backward."""
        input = np.asarray(input)
        output = self._function(input)
        self._save_for_backward((input, output))
        return output

    def backward(self, grad_output: ArrayLike) -> np.ndarray:
        """Gradient with respect to the last input (these modules have no parameters)."""
        return np.asarray(grad_output) * self._derivative(*self._saved_for_backward())

    def _function(self, x: np.ndarray) -> np.ndarray:
        """y = f(x), element-wise; each activation defines it."""
        raise NotImplementedError

    def _derivative(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """f'(x), element-wise, from the saved input x and output y."""
        raise NotImplementedError


class ReLU(_Elementwise):
    __doc__ = (
        """Rectified linear unit: max(x, 0), element-wise.

The derivative is 1 where x > 0 and 0 elsewhere (0 at x = 0, as in torch)."""
        + _NOTES
        + """\
    >>> import numpy as np
    >>> from npconv import nn
    >>> m = nn.ReLU()
    >>> m(np.array([-1.0, 0.0, 2.0])), m.backward(np.ones(3))
    (array([0., 0., 2.]), array([0., 0., 1.]))"""
    )

    def _function(self, x):
        return np.maximum(x, 0)

    def _derivative(self, x, y):
        return (x > 0).astype(x.dtype)


class LeakyReLU(_Elementwise):
    __doc__ = (
        """Leaky rectified linear unit: x where x > 0, negative_slope * x elsewhere.

The derivative is 1 where x > 0 and negative_slope elsewhere (also at x = 0, as in
torch).

Args:
    negative_slope: the slope for x <= 0. Default: 0.01."""
        + _NOTES
        + """\
    >>> import numpy as np
    >>> from npconv import nn
    >>> m = nn.LeakyReLU(0.5)
    >>> m(np.array([-2.0, 3.0])), m.backward(np.ones(2))
    (array([-1.,  3.]), array([0.5, 1. ]))"""
    )

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = negative_slope

    def _function(self, x):
        return np.where(x > 0, x, x * self.negative_slope)

    def _derivative(self, x, y):
        return np.where(x > 0, 1, self.negative_slope).astype(x.dtype)

    def extra_repr(self) -> str:
        """negative_slope, as repr() shows it."""
        return f"negative_slope={self.negative_slope}"


class Sigmoid(_Elementwise):
    __doc__ = (
        """Logistic sigmoid: 1 / (1 + exp(-x)), element-wise.

Computed without overflow for large negative x.

The derivative is y (1 - y), from the saved output y."""
        + _NOTES
        + """\
    >>> import numpy as np
    >>> from npconv import nn
    >>> m = nn.Sigmoid()
    >>> m(np.array([0.0, 1000.0, -1000.0])), m.backward(np.ones(3))
    (array([0.5, 1. , 0. ]), array([0.25, 0.  , 0.  ]))"""
    )

    def _function(self, x):
        # exp(-log(1 + exp(-x))): logaddexp keeps large |x| free of overflow
        return np.exp(-np.logaddexp(0, -x))

    def _derivative(self, x, y):
        return y * (1 - y)


class Tanh(_Elementwise):
    __doc__ = (
        """Hyperbolic tangent, element-wise.

The derivative is 1 - y^2, from the saved output y."""
        + _NOTES
        + """\
    >>> import numpy as np
    >>> from npconv import nn
    >>> m = nn.Tanh()
    >>> m(np.array([0.0])), m.backward(np.array([2.0]))
    (array([0.]), array([2.]))"""
    )

    def _function(self, x):
        return np.tanh(x)

    def _derivative(self, x, y):
        return 1 - y * y
