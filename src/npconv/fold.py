"""N-d unfold (extract sliding blocks) and fold (sum them back), each the
other's adjoint:

    unfold: (N, C, *S)              -> (N, C*prod(k), L)    cols = gather(x)
    fold:   (N, C*prod(k), L)       -> (N, C, *S)           x    = scatter(cols)

so <unfold(x), c> == <x, fold(c)>, the gradient of unfold is fold and the
gradient of fold is unfold, with the same arguments. The number of spatial
dims is len(kernel_size) for a tuple; an int kernel_size means 2-d, as in torch.
"""

from __future__ import annotations

import math
from typing import Any, cast

import numpy as np

from . import _arguments as args
from . import chunked, shapes, windows
from ._arguments import ArrayLike, Padding, Size
from ._calls import batched, check_elements, compute_dtype


def _dims(kernel_size: Size) -> int:
    return len(kernel_size) if isinstance(kernel_size, (list, tuple)) else 2


def resolve(
    kernel_size: Size, dilation: Size, padding: Padding, stride: Size
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[tuple[int, int], ...], tuple[int, ...]]:
    """Per-dim kernel, dilation, (lo, hi) padding and stride with torch's messages."""
    n = _dims(kernel_size)
    kernel = args.to_tuple(kernel_size, n, "kernel_size")
    dilation = args.to_tuple(dilation, n, "dilation")
    stride = args.to_tuple(stride, n, "stride")
    if any(k <= 0 for k in kernel):
        raise ValueError(
            "kernel size should be greater than zero, but got " + shapes.spell("kernel", kernel)
        )
    if any(s <= 0 for s in stride):
        raise ValueError(
            "stride should be greater than zero, but got " + shapes.spell("stride", stride)
        )
    if any(d <= 0 for d in dilation):
        raise ValueError(
            "dilation should be greater than zero, but got " + shapes.spell("dilation", dilation)
        )
    if not args.is_pair_padding(padding) and any(
        p < 0 for p in args.to_tuple(padding, n, "padding")
    ):
        raise ValueError(
            "padding should be non-negative, but got "
            + shapes.spell("pad", args.to_tuple(padding, n, "padding"))
        )
    return kernel, dilation, args.padding_pairs(padding, n), stride


def _unfold_blocks(shape, kernel, dilation, pairs, stride):
    """Blocks per dim of unfold on a batched input shape, with unfold's checks."""
    blocks = shapes.unfold_output_shape(shape[2:], kernel, stride, pairs, dilation)
    arguments = (
        f"kernel_size={kernel}, dilation={dilation}, padding="
        f"{shapes.padding_repr(pairs)} and stride={stride}"
    )
    check_elements(
        tuple(shape[:2]) + shapes.window_span(blocks, kernel, stride, dilation),
        "a padded input",
        arguments,
    )
    check_elements(
        (shape[0], shape[1] * math.prod(kernel), math.prod(blocks)), "an output", arguments
    )
    return blocks


def _check_unfold_input(shape, n):
    """unfold's error for an input of the wrong rank or with an empty non-batch dim."""
    if len(shape) not in (n + 1, n + 2) or any(s == 0 for s in shape[-n - 1 :]):
        raise ValueError(
            f"Expected {n + 1}D or {n + 2}D (batch mode) tensor for input with "
            "possibly 0 batch size and non-zero dimensions for input, but got: "
            f"{list(shape)}"
        )


def unfold_shape(
    input_shape: tuple[int, ...],
    kernel_size: Size,
    dilation: Size = 1,
    padding: Padding = 0,
    stride: Size = 1,
) -> tuple[int, ...]:
    """The shape unfold returns for an input of `input_shape`, from the shapes alone, with
    every check unfold makes.

    >>> unfold_shape((2, 3, 4, 4), 2)
    (2, 12, 9)
    """
    kernel, dilation, pairs, stride = resolve(kernel_size, dilation, padding, stride)
    n = len(kernel)
    shape = tuple(input_shape)
    _check_unfold_input(shape, n)
    batched_shape = shape if len(shape) == n + 2 else (1,) + shape
    blocks = _unfold_blocks(batched_shape, kernel, dilation, pairs, stride)
    out = (batched_shape[0], batched_shape[1] * math.prod(kernel), math.prod(blocks))
    return out if len(shape) == n + 2 else out[1:]


def check_unfold(
    shape: tuple[int, ...],
    kernel_size: Size,
    dilation: Size = 1,
    padding: Padding = 0,
    stride: Size = 1,
) -> tuple[
    tuple[int, ...], tuple[int, ...], tuple[tuple[int, int], ...], tuple[int, ...], tuple[int, ...]
]:
    """Validate an unfold call on an input shape: (kernel, dilation, pairs, stride, blocks)."""
    kernel, dilation, pairs, stride = resolve(kernel_size, dilation, padding, stride)
    n = len(kernel)
    shape = tuple(shape)
    _check_unfold_input(shape, n)
    blocks = _unfold_blocks(
        shape if len(shape) == n + 2 else (1,) + shape, kernel, dilation, pairs, stride
    )
    return kernel, dilation, pairs, stride, blocks


def unfold(
    input: ArrayLike,
    kernel_size: Size,
    dilation: Size = 1,
    padding: Padding = 0,
    stride: Size = 1,
) -> np.ndarray:
    """Sliding blocks: (N, C, *S) or (C, *S) -> (N, C*prod(k), L) or (C*prod(k), L).

    >>> import numpy as np, npconv.functional as F
    >>> F.unfold(np.ones((2, 3, 4, 4)), 2).shape
    (2, 12, 9)
    >>> F.unfold(np.ones((1, 2, 4, 4, 4)), (2, 2, 2), stride=2).shape
    (1, 16, 8)
    """
    if chunked.is_dask(input):  # lazily, to a Dask array (typed as the NumPy result)
        lazy: Any = input
        return cast(np.ndarray, chunked.unfold(lazy, kernel_size, dilation, padding, stride))
    kernel, dilation, pairs, stride = resolve(kernel_size, dilation, padding, stride)
    n = len(kernel)
    x = args.as_array(input, "input")
    _check_unfold_input(x.shape, n)
    xb, unbatched = batched(x, n)
    blocks = _unfold_blocks(xb.shape, kernel, dilation, pairs, stride)
    cols = windows.gather(xb, kernel, stride, dilation, tuple(lo for lo, _ in pairs), blocks)
    # (N, C, *k, *blocks) -> (N, C*prod(k), L); a fresh array even where the windows
    # reshape without a copy (they are then a read-only view of x)
    cols = cols.reshape(xb.shape[0], xb.shape[1] * math.prod(kernel), math.prod(blocks))
    if not cols.flags.writeable:
        cols = cols.copy()
    return cols[0] if unbatched else cols


def _fold_blocks(shape, size, kernel, dilation, pairs, stride):
    """Blocks per dim of fold on an input shape, with fold's checks."""
    if len(shape) not in (2, 3) or any(s == 0 for s in shape[-2:]):
        raise ValueError(
            "Expected 2D or 3D (batch mode) tensor for input with possibly 0 batch "
            f"size and non-zero dimensions for input, but got: {list(shape)}"
        )
    shape = (1,) + tuple(shape) if len(shape) == 2 else tuple(shape)
    kprod = math.prod(kernel)
    if shape[1] % kprod:
        raise ValueError(
            "Expected size of input's dimension 1 to be divisible by the product of "
            f"kernel_size, but got input.size(1)={shape[1]} and "
            f"kernel_size={kernel}."
        )
    blocks = shapes.conv_output_size(size, kernel, stride, pairs, dilation)
    if math.prod(max(b, 0) for b in blocks) != shape[2] or any(b < 1 for b in blocks):
        pad = shapes.padding_repr(pairs)
        raise ValueError(
            f"Given output_size={size}, kernel_size={kernel}, dilation={dilation}, "
            f"padding={pad}, stride={stride}, expected size of input's dimension 2 to match the "
            f"calculated number of sliding blocks {' * '.join(str(max(b, 0)) for b in blocks)} = "
            f"{math.prod(max(b, 0) for b in blocks)}, but got input.size(2)={shape[2]}."
        )
    return blocks


def fold_shape(
    input_shape: tuple[int, ...],
    output_size: Size,
    kernel_size: Size,
    dilation: Size = 1,
    padding: Padding = 0,
    stride: Size = 1,
) -> tuple[int, ...]:
    """The shape fold returns for an input of `input_shape`, from the shapes alone, with
    every check fold makes.

    >>> fold_shape((1, 12, 12), (4, 5), (2, 2))
    (1, 3, 4, 5)
    """
    kernel, dilation, pairs, stride = resolve(kernel_size, dilation, padding, stride)
    size = args.positive_tuple(output_size, len(kernel), "output_size")
    shape = tuple(input_shape)
    _fold_blocks(shape, size, kernel, dilation, pairs, stride)
    return shape[:-2] + (shape[-2] // math.prod(kernel),) + size


def check_fold(
    shape: tuple[int, ...],
    output_size: Size,
    kernel_size: Size,
    dilation: Size = 1,
    padding: Padding = 0,
    stride: Size = 1,
) -> tuple[
    tuple[int, ...],
    tuple[int, ...],
    tuple[tuple[int, int], ...],
    tuple[int, ...],
    tuple[int, ...],
    tuple[int, ...],
]:
    """Validate a fold call on an input shape: (kernel, dilation, pairs, stride, size, blocks)."""
    kernel, dilation, pairs, stride = resolve(kernel_size, dilation, padding, stride)
    size = args.positive_tuple(output_size, len(kernel), "output_size")
    blocks = _fold_blocks(tuple(shape), size, kernel, dilation, pairs, stride)
    return kernel, dilation, pairs, stride, size, blocks


def fold(
    input: ArrayLike,
    output_size: Size,
    kernel_size: Size,
    dilation: Size = 1,
    padding: Padding = 0,
    stride: Size = 1,
) -> np.ndarray:
    """Sum sliding blocks back: (N, C*prod(k), L) or (C*prod(k), L) -> (N, C, *output_size).

    >>> import numpy as np, npconv.functional as F
    >>> F.fold(np.ones((1, 4, 9)), (4, 4), 2)[0, 0]
    array([[1., 2., 2., 1.],
           [2., 4., 4., 2.],
           [2., 4., 4., 2.],
           [1., 2., 2., 1.]])
    """
    if chunked.is_dask(input):  # lazily, to a Dask array (typed as the NumPy result)
        lazy: Any = input
        return cast(
            np.ndarray, chunked.fold(lazy, output_size, kernel_size, dilation, padding, stride)
        )
    kernel, dilation, pairs, stride = resolve(kernel_size, dilation, padding, stride)
    size = args.positive_tuple(output_size, len(kernel), "output_size")
    c = args.as_array(input, "input")
    blocks = _fold_blocks(c.shape, size, kernel, dilation, pairs, stride)
    cb = c[None] if c.ndim == 2 else c
    kprod = math.prod(kernel)
    dtype = compute_dtype(c.dtype)
    # (N, C*prod(k), L) -> (N, C, *k, *blocks)
    cols = cb.astype(dtype, copy=False).reshape(
        (cb.shape[0], cb.shape[1] // kprod) + kernel + blocks
    )
    out = windows.scatter(cols, size, stride, dilation, tuple(lo for lo, _ in pairs))
    out = out.astype(c.dtype, copy=False)
    return out[0] if c.ndim == 2 else out
