"""torch.nn.functional's convolution API on NumPy, for any number of spatial dims.

`conv`, `conv_transpose`, `unfold` and `fold` are the N-d operations; the
torch-named 1d/2d/3d forms only check that the weight has the rank their name
promises and call the N-d one.

>>> import numpy as np
>>> import npconv.functional as F
>>> x = np.random.default_rng(0).standard_normal((20, 16, 50), dtype=np.float32)
>>> F.conv1d(x, np.ones((33, 16, 3), np.float32), stride=2).shape
(20, 33, 24)
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

import numpy as np

from . import _arguments as args
from . import _docstrings as docs
from . import conv as _conv
from . import conv_transpose as _conv_transpose
from . import fold as _fold
from ._arguments import ArrayLike, Padding, PaddingMode, Size

__all__ = [
    "conv",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "fold",
    "unfold",
]


def conv(
    input: ArrayLike,
    weight: ArrayLike,
    bias: ArrayLike | None = None,
    stride: Size = 1,
    padding: Padding = 0,
    dilation: Size = 1,
    groups: int = 1,
    padding_mode: PaddingMode = "zeros",
) -> np.ndarray:
    return _conv.conv(input, weight, bias, stride, padding, dilation, groups, padding_mode)


def conv_transpose(
    input: ArrayLike,
    weight: ArrayLike,
    bias: ArrayLike | None = None,
    stride: Size = 1,
    padding: Padding = 0,
    output_padding: Size = 0,
    groups: int = 1,
    dilation: Size = 1,
    padding_mode: PaddingMode = "zeros",
) -> np.ndarray:
    return _conv_transpose.conv_transpose(
        input, weight, bias, stride, padding, output_padding, groups, dilation, padding_mode
    )


def unfold(
    input: ArrayLike, kernel_size: Size, dilation: Size = 1, padding: Padding = 0, stride: Size = 1
) -> np.ndarray:
    return _fold.unfold(input, kernel_size, dilation, padding, stride)


def fold(
    input: ArrayLike,
    output_size: Size,
    kernel_size: Size,
    dilation: Size = 1,
    padding: Padding = 0,
    stride: Size = 1,
) -> np.ndarray:
    return _fold.fold(input, output_size, kernel_size, dilation, padding, stride)


_Op = TypeVar("_Op", bound=Callable[..., np.ndarray])


def _with_rank(op: _Op, n: int) -> _Op:
    """op restricted to weights with n spatial dims, named as torch names it."""
    name = f"{op.__name__}{n}d"

    @functools.wraps(op)
    def fixed(input, weight, *rest, **options):
        w = args.as_array(weight, "weight")
        if w.ndim != n + 2:
            raise ValueError(
                f"{name} expects a {n + 2}-D weight (channels, channels, "
                f"{n} kernel dims), but got weight of size {list(w.shape)}"
            )
        return op(input, w, *rest, **options)

    fixed.__name__ = fixed.__qualname__ = name
    return fixed  # type: ignore[return-value]


conv1d, conv2d, conv3d = (_with_rank(conv, n) for n in (1, 2, 3))
conv_transpose1d, conv_transpose2d, conv_transpose3d = (
    _with_rank(conv_transpose, n) for n in (1, 2, 3)
)


# --- docstrings: one template per operation, rendered for each rank ----------------------

_CONV = """\
{rank} convolution of an input of C_in channels with C_out filters.

Each output channel is the sum over its group's input channels of that channel
correlated with one kernel, plus the bias.{spatial}

Args:
{input}
    weight: the filters, of shape (C_out, C_in / groups, {kernel}).
{bias}
{stride}
{conv_padding}
{dilation}
{groups}
{conv_padding_mode}

Returns:
    np.ndarray: the output, batched or not as the input is.

{shape}

{cross_correlation}

{dtypes}

{functional_torch}

{conv_beyond} And ``padding_mode`` is an argument of the function too
(torch has it on the modules only).

Example:
{example}"""

_CONV_TRANSPOSE = """\
{rank} transposed convolution: the gradient of conv{n_name} with respect to its input.

Also called a fractionally strided convolution, or (wrongly) a deconvolution. Each
input position spreads its value, weighted by the kernel, over a window of the
output; windows overlap where the stride is smaller than the kernel. A conv with
the same arguments maps the output size back to the input size, and
``output_padding`` picks among the sizes that a strided conv maps to the same
one.{spatial}

Args:
{input}
    weight: the filters, of shape (C_in, C_out / groups, {kernel}).
{bias}
{stride}
{conv_transpose_padding}
{output_padding}
{groups}
{dilation}
{conv_transpose_padding_mode}

Returns:
    np.ndarray: the output, batched or not as the input is.

{shape}

{dtypes}

{functional_torch}

{conv_transpose_beyond}

Example:
{example}"""

_CONV_EXAMPLES = {
    None: """\
    >>> import numpy as np, npconv.functional as F
    >>> x = np.ones((1, 2, 5, 5, 5, 5), np.float32)        # 4 spatial dims
    >>> F.conv(x, np.ones((3, 2, 3, 3, 3, 3), np.float32), padding=1).shape
    (1, 3, 5, 5, 5, 5)""",
    1: """\
    >>> import numpy as np, npconv.functional as F
    >>> x = np.arange(1.0, 6.0).reshape(1, 1, 5)
    >>> F.conv1d(x, np.array([[[1.0, 0.0, -1.0]]]))
    array([[[-2., -2., -2.]]])
    >>> F.conv1d(x, np.ones((1, 1, 2)), padding=((1, 0),))   # one zero before, none after
    array([[[1., 3., 5., 7., 9.]]])""",
    2: """\
    >>> import numpy as np, npconv.functional as F
    >>> x = np.zeros((20, 16, 50, 100), np.float32)
    >>> w = np.zeros((33, 16, 3, 5), np.float32)
    >>> F.conv2d(x, w, stride=(2, 1), padding=(4, 2), dilation=(3, 1)).shape
    (20, 33, 26, 100)
    >>> F.conv2d(x[0], w, padding="same").shape                 # unbatched
    (33, 50, 100)""",
    3: """\
    >>> import numpy as np, npconv.functional as F
    >>> x = np.ones((2, 4, 6, 8, 8), np.float32)
    >>> w = np.ones((8, 2, 3, 3, 3), np.float32)
    >>> F.conv3d(x, w, stride=2, groups=2).shape
    (2, 8, 2, 3, 3)""",
}

_CONV_TRANSPOSE_EXAMPLES = {
    None: """\
    >>> import numpy as np, npconv.functional as F
    >>> y = np.ones((1, 4, 3, 3, 3, 3), np.float32)         # 4 spatial dims
    >>> F.conv_transpose(y, np.ones((4, 2, 2, 2, 2, 2), np.float32), stride=2).shape
    (1, 2, 6, 6, 6, 6)""",
    1: """\
    >>> import numpy as np, npconv.functional as F
    >>> y = np.array([[[1.0, 2.0, 3.0]]])
    >>> F.conv_transpose1d(y, np.ones((1, 1, 3)), stride=2)
    array([[[1., 1., 3., 2., 5., 3., 3.]]])
    >>> F.conv_transpose1d(y, np.ones((1, 1, 3)), stride=2, padding="same")
    array([[[1., 1., 3., 2., 5., 3.]]])""",
    2: """\
    >>> import numpy as np, npconv.functional as F
    >>> y = np.ones((1, 16, 6, 6), np.float32)
    >>> w = np.ones((16, 8, 3, 3), np.float32)
    >>> F.conv_transpose2d(y, w, stride=2, padding=1).shape
    (1, 8, 11, 11)
    >>> F.conv_transpose2d(y, w, stride=2, padding=1, output_padding=1).shape
    (1, 8, 12, 12)""",
    3: """\
    >>> import numpy as np, npconv.functional as F
    >>> y = np.ones((2, 8, 3, 4, 4), np.float32)
    >>> F.conv_transpose3d(y, np.ones((8, 1, 2, 2, 2), np.float32), stride=2, groups=4).shape
    (2, 4, 6, 8, 8)""",
}


_SPATIAL = " Any number of spatial dims: weight.ndim - 2 of them."


def _conv_doc(n: int | None) -> str:
    return docs.render(
        _CONV,
        n,
        spatial=_SPATIAL if not n else "",
        shape=docs.conv_shape(n, f"(C_out, C_in / groups, {docs.rank_fields(n)['kernel']})"),
        example=_CONV_EXAMPLES[n],
    )


def _conv_transpose_doc(n: int | None) -> str:
    return docs.render(
        _CONV_TRANSPOSE,
        n,
        spatial=_SPATIAL if not n else "",
        n_name=f"{n}d" if n else "",
        shape=docs.conv_transpose_shape(
            n, f"(C_in, C_out / groups, {docs.rank_fields(n)['kernel']})"
        ),
        example=_CONV_TRANSPOSE_EXAMPLES[n],
    )


conv.__doc__ = _conv_doc(None)
conv_transpose.__doc__ = _conv_transpose_doc(None)
for _n, _f in enumerate((conv1d, conv2d, conv3d), 1):
    _f.__doc__ = _conv_doc(_n)
for _n, _t in enumerate((conv_transpose1d, conv_transpose2d, conv_transpose3d), 1):
    _t.__doc__ = _conv_transpose_doc(_n)
del _n, _f, _t

unfold.__doc__ = docs.render("""\
Extract sliding blocks (im2col): every kernel-sized window of the input, as a column.

Over any number of spatial dims: ``kernel_size`` as a tuple sets them; an int means
2-d, as in torch. Each column holds one block's C * prod(kernel_size) values,
channel-major; the L blocks run in row-major order of their positions. Its
gradient, and its adjoint, is `fold` with the same arguments.

Args:
    input: array of shape (N, C, S_1, ..., S_n) or (C, S_1, ..., S_n).
{block_kernel_size}
{block_arguments}

Returns:
    np.ndarray: the blocks, of shape (N, C * prod(kernel_size), L) or
    (C * prod(kernel_size), L).

Shape:
    L is the number of blocks, the product over the dims of::

        blocks[i] = floor((S_i + 2 * padding[i] - dilation[i] * (kernel_size[i] - 1) - 1)
                          / stride[i]) + 1

    Every ``blocks[i]`` must be at least 1.

{dtypes}

Differences from torch: N-d blocks and ``(lo, hi)`` padding pairs (torch: 4-D input only).

Example:
    >>> import numpy as np, npconv.functional as F
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> F.unfold(x, 2, stride=2)[0]
    array([[ 0.,  2.,  8., 10.],
           [ 1.,  3.,  9., 11.],
           [ 4.,  6., 12., 14.],
           [ 5.,  7., 13., 15.]])
    >>> F.unfold(np.ones((1, 2, 4, 4, 4)), (2, 2, 2), stride=2).shape
    (1, 16, 8)""")

fold.__doc__ = docs.render("""\
Sum sliding blocks back into an array (col2im): the adjoint of `unfold`.

Each column of the input is one block of C * prod(kernel_size) values, added into the
output at its window; where windows overlap, their values add up. So
``fold(unfold(x))`` is ``x`` times the number of windows covering each position, and
the gradient of fold is `unfold` with the same arguments.

Args:
    input: array of shape (N, C * prod(kernel_size), L) or (C * prod(kernel_size), L).
    output_size: spatial size of the output, an int for every dim or one per dim.
{block_kernel_size}
{block_arguments}

Returns:
    np.ndarray: of shape (N, C, output_size...) or (C, output_size...).

Shape:
    L must be the number of blocks that fit in ``output_size``, the product over the
    dims of::

        blocks[i] = floor((output_size[i] + 2 * padding[i]
                           - dilation[i] * (kernel_size[i] - 1) - 1) / stride[i]) + 1

{dtypes}

Differences from torch: N-d blocks and ``(lo, hi)`` padding pairs (torch: 2-d only).

Example:
    >>> import numpy as np, npconv.functional as F
    >>> F.fold(np.ones((1, 4, 9)), (4, 4), 2)[0, 0]             # overlap counts
    array([[1., 2., 2., 1.],
           [2., 4., 4., 2.],
           [2., 4., 4., 2.],
           [1., 2., 2., 1.]])""")
