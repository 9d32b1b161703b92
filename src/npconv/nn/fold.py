"""Fold and Unfold modules: thin wrappers over npconv.fold, each with the
other's forward as its backward (they are adjoints)."""

from __future__ import annotations

import numpy as np

from .. import _arguments as args
from .. import _docstrings as docs
from .. import fold as fold_op
from .._arguments import ArrayLike, Padding, Size
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
        return dict(
            kernel_size=self.kernel_size,
            dilation=self.dilation,
            padding=self.padding,
            stride=self.stride,
        )

    def _check_backward(self, grad_output):
        g = np.asarray(grad_output)
        shape, dtype = self._saved_for_backward()[:2]
        if g.shape != shape:
            raise ValueError(
                f"grad_output has shape {list(g.shape)}, but the forward output has "
                f"shape {list(shape)}"
            )
        if g.dtype != dtype:
            raise TypeError(
                f"grad_output has dtype {g.dtype}, but the forward output has dtype "
                f"{dtype}; cast it with grad_output.astype(np.{dtype})"
            )
        return g


class Unfold(_Blocks):
    def __init__(
        self, kernel_size: Size, dilation: Size = 1, padding: Padding = 0, stride: Size = 1
    ) -> None:
        super().__init__(kernel_size, dilation, padding, stride)

    def extra_repr(self) -> str:
        """The block arguments, as repr() shows them."""
        return (
            f"kernel_size={self.kernel_size}, dilation={self.dilation}, "
            f"padding={self.padding}, stride={self.stride}"
        )

    def forward(self, input: ArrayLike) -> np.ndarray:
        """The blocks of `input`, as npconv.functional.unfold; keeps its shape for backward."""
        out = fold_op.unfold(input, **self._options())
        self._save_for_backward((out.shape, out.dtype, np.shape(input)))
        return out

    def backward(self, grad_output: ArrayLike) -> np.ndarray:
        """Gradient with respect to the last input: fold of grad_output."""
        g = self._check_backward(grad_output)
        input_size = self._saved[2]
        n = len(input_size) - (2 if g.ndim == 3 else 1)
        return fold_op.fold(g, input_size[-n:], **self._options())


class Fold(_Blocks):
    def __init__(
        self,
        output_size: Size,
        kernel_size: Size,
        dilation: Size = 1,
        padding: Padding = 0,
        stride: Size = 1,
    ) -> None:
        super().__init__(kernel_size, dilation, padding, stride)
        args.positive_tuple(
            output_size,
            len(fold_op.resolve(kernel_size, dilation, padding, stride)[0]),
            "output_size",
        )
        self.output_size = output_size

    def extra_repr(self) -> str:
        """The output size and block arguments, as repr() shows them."""
        return (
            f"output_size={self.output_size}, kernel_size={self.kernel_size}, "
            f"dilation={self.dilation}, padding={self.padding}, stride={self.stride}"
        )

    def forward(self, input: ArrayLike) -> np.ndarray:
        """The blocks of `input` summed into an array, as npconv.functional.fold."""
        out = fold_op.fold(input, self.output_size, **self._options())
        self._save_for_backward((out.shape, out.dtype))
        return out

    def backward(self, grad_output: ArrayLike) -> np.ndarray:
        """Gradient with respect to the last input: unfold of grad_output."""
        return fold_op.unfold(self._check_backward(grad_output), **self._options())


# --- docstrings -----------------------------------------------------------------------

_BLOCKS_NOTES = """\
{dtypes}

Differences from torch: arrays are NumPy arrays; ``m.backward(grad_output)`` returns the
gradient with respect to the last input. Beyond torch, blocks may have any number of
spatial dims (a tuple ``kernel_size``), and ``padding`` also takes ``(lo, hi)`` pairs."""

Unfold.__doc__ = docs.render(
    """\
Extract sliding blocks (im2col): each kernel-sized window of the input as a column.

The layer form of npconv.functional.unfold; its backward is fold with the same
arguments (the two are adjoints).

Args:
{block_kernel_size}
{block_arguments}

Shape:
    Input (N, C, S_1, ..., S_n) or (C, S_1, ..., S_n); output
    (N, C * prod(kernel_size), L) or (C * prod(kernel_size), L), where L is the
    product over the dims of::

        blocks[i] = floor((S_i + 2*padding[i] - dilation[i]*(kernel_size[i] - 1) - 1)
                          / stride[i]) + 1

{notes}

Example:
    >>> import numpy as np
    >>> from npconv import nn
    >>> m = nn.Unfold(kernel_size=(2, 3))
    >>> m(np.ones((2, 5, 3, 4))).shape
    (2, 30, 4)
    >>> m.backward(np.ones((2, 30, 4)))[0, 0]                # windows per position
    array([[1., 2., 2., 1.],
           [2., 4., 4., 2.],
           [1., 2., 2., 1.]])""",
    notes=_BLOCKS_NOTES.format(dtypes=docs.NOTES["dtypes"]),
)

Fold.__doc__ = docs.render(
    """\
Sum sliding blocks into an array (col2im), adding where the blocks overlap.

The layer form of npconv.functional.fold; its backward is unfold with the same
arguments (the two are adjoints).

Args:
    output_size: spatial size of the output, an int for every dim or one per dim.
{block_kernel_size}
{block_arguments}

Shape:
    Input (N, C * prod(kernel_size), L) or (C * prod(kernel_size), L); output
    (N, C, output_size...) or (C, output_size...). L must be the number of blocks
    that fit in output_size, the product over the dims of::

        blocks[i] = floor((output_size[i] + 2*padding[i]
                           - dilation[i]*(kernel_size[i] - 1) - 1) / stride[i]) + 1

{notes}

Example:
    >>> import numpy as np
    >>> from npconv import nn
    >>> nn.Fold(output_size=(4, 5), kernel_size=(2, 2))(np.ones((1, 12, 12))).shape
    (1, 3, 4, 5)
    >>> nn.Fold((4, 4, 4), (2, 2, 2), stride=2)(np.ones((1, 8, 8))).shape   # 3-d blocks
    (1, 1, 4, 4, 4)""",
    notes=_BLOCKS_NOTES.format(dtypes=docs.NOTES["dtypes"]),
)
