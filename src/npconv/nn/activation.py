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

from .module import Module


class _Elementwise(Module):
    """forward(x) -> y saves (x, y); backward(g) -> g * derivative(x, y)."""

    def __init__(self):
        super().__init__()
        self._saved = None

    def forward(self, input):
        input = np.asarray(input)
        output = self._function(input)
        self._save_for_backward((input, output))
        return output

    def backward(self, grad_output):
        """Gradient with respect to the last input (these modules have no parameters)."""
        return np.asarray(grad_output) * self._derivative(*self._saved_for_backward())


class ReLU(_Elementwise):
    """max(x, 0), element-wise."""

    def _function(self, x):
        return np.maximum(x, 0)

    def _derivative(self, x, y):
        return (x > 0).astype(x.dtype)


class LeakyReLU(_Elementwise):
    """x for x > 0, negative_slope * x otherwise."""

    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = negative_slope

    def _function(self, x):
        return np.where(x > 0, x, x * self.negative_slope)

    def _derivative(self, x, y):
        return np.where(x > 0, 1, self.negative_slope).astype(x.dtype)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class Sigmoid(_Elementwise):
    """1 / (1 + exp(-x)), element-wise."""

    def _function(self, x):
        # exp(-log(1 + exp(-x))): logaddexp keeps large |x| free of overflow
        return np.exp(-np.logaddexp(0, -x))

    def _derivative(self, x, y):
        return y * (1 - y)


class Tanh(_Elementwise):
    """tanh(x), element-wise."""

    def _function(self, x):
        return np.tanh(x)

    def _derivative(self, x, y):
        return 1 - y * y
