"""Fold and Unfold modules: thin wrappers over npconv.fold, each with the
other's forward as its backward (they are adjoints)."""
from __future__ import annotations

import numpy as np

from .. import _arguments as args
from .. import fold as fold_op
from .module import Module


class _Blocks(Module):
    """Holds the block arguments and the input shape that backward needs."""

    def __init__(self, kernel_size, dilation, padding, stride):
        super().__init__()
        fold_op.resolve(kernel_size, dilation, padding, stride)  # validate early
        self.kernel_size = kernel_size
        self.dilation = dilation
        self.padding = padding
        self.stride = stride
        self._saved = None

    def _options(self):
        return dict(kernel_size=self.kernel_size, dilation=self.dilation, padding=self.padding,
                    stride=self.stride)

    def _check_backward(self, grad_output):
        g = np.asarray(grad_output)
        shape, dtype = self._saved_for_backward()[:2]
        if g.shape != shape:
            raise ValueError(f"grad_output has shape {list(g.shape)}, but the forward output has "
                             f"shape {list(shape)}")
        if g.dtype != dtype:
            raise TypeError(f"grad_output has dtype {g.dtype}, but the forward output has dtype "
                            f"{dtype}; cast it with grad_output.astype(np.{dtype})")
        return g


class Unfold(_Blocks):
    """Extract sliding blocks: (N, C, *S) -> (N, C*prod(kernel_size), L).

    >>> import numpy as np
    >>> Unfold(kernel_size=(2, 3))(np.ones((2, 5, 3, 4))).shape
    (2, 30, 4)
    """

    def __init__(self, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__(kernel_size, dilation, padding, stride)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, dilation={self.dilation}, "
                f"padding={self.padding}, stride={self.stride}")

    def forward(self, input):
        out = fold_op.unfold(input, **self._options())
        self._save_for_backward((out.shape, out.dtype, np.shape(input)))
        return out

    def backward(self, grad_output):
        g = self._check_backward(grad_output)
        input_size = self._saved[2]
        n = len(input_size) - (2 if g.ndim == 3 else 1)
        return fold_op.fold(g, input_size[-n:], **self._options())


class Fold(_Blocks):
    """Sum sliding blocks into an array: (N, C*prod(kernel_size), L) -> (N, C, *output_size).

    >>> import numpy as np
    >>> Fold(output_size=(4, 5), kernel_size=(2, 2))(np.ones((1, 12, 12))).shape
    (1, 3, 4, 5)
    """

    def __init__(self, output_size, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__(kernel_size, dilation, padding, stride)
        args.positive_tuple(output_size, len(fold_op.resolve(kernel_size, dilation, padding,
                                                             stride)[0]), "output_size")
        self.output_size = output_size

    def extra_repr(self):
        return (f"output_size={self.output_size}, kernel_size={self.kernel_size}, "
                f"dilation={self.dilation}, padding={self.padding}, stride={self.stride}")

    def forward(self, input):
        out = fold_op.fold(input, self.output_size, **self._options())
        self._save_for_backward((out.shape, out.dtype))
        return out

    def backward(self, grad_output):
        return fold_op.unfold(self._check_backward(grad_output), **self._options())
