"""What one task runs: a stack of layers on the NumPy block it was given. No Dask here.

A task's input is the concatenation of the input blocks its output block reads
(`axes.chain` chose them). Each layer turns the block in hand into the next one
with its LocalStep per spatial dim:

    gather  (Conv, Unfold, Pointwise): copy the padded window (its zeros and border
            copies included) with one take per dim, then run the NumPy op unpadded;
    scatter (ConvTranspose, Fold): for each combination of runs, run the NumPy op on
            the inputs that reach the run, cropped to it, and add the result where the
            run folds onto the block (one add for 'zeros'; border runs are small).

The NumPy ops are npconv's own, so a block holds the values the whole-array call gives
at those positions, up to the order of the sums.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np

from .. import _calls
from .. import conv as conv_op
from .. import conv_transpose as conv_transpose_op
from .. import fold as fold_op


def take(x: np.ndarray, axis: int, index: np.ndarray) -> np.ndarray:
    """x's entries `index` along axis, zero where index is -1; a slice where it can be."""
    if index.size and index[0] >= 0 and np.all(np.diff(index) == 1):
        return x[(slice(None),) * axis + (slice(int(index[0]), int(index[-1]) + 1),)]
    out = np.take(x, np.maximum(index, 0), axis=axis)
    out[(slice(None),) * axis + (index < 0,)] = 0
    return out


def scatter_axis(block: np.ndarray, axis: int, targets: np.ndarray, size: int) -> np.ndarray:
    """out[..., t, ...] += block[..., i, ...] for t = targets[i] along axis (repeats add)."""
    shape = list(block.shape)
    shape[axis] = size
    out = np.zeros(shape, block.dtype)
    np.add.at(out, (slice(None),) * axis + (targets,), block)  # type: ignore[arg-type]
    return out


class Layer:
    """A planned layer: `dtype` is the caller's (every layer's output is cast to it, as
    the NumPy call does between layers); `compute` the dtype it computes in."""

    scatter = False

    def __init__(self, dtype, compute=None):
        self.dtype = np.dtype(dtype)
        self.compute = np.dtype(compute if compute is not None else dtype)

    def __call__(self, x: np.ndarray, steps) -> np.ndarray:
        x = x.astype(self.compute, copy=False)
        if self.scatter:
            return self._scatter(x, steps).astype(self.dtype, copy=False)
        for axis, step in enumerate(steps):
            x = take(x, 2 + axis, step.sources)
        return np.asarray(self.window(x)).astype(self.dtype, copy=False)

    def _scatter(self, x, steps):
        sizes = tuple(step.size for step in steps)
        combos = list(itertools.product(*(step.runs for step in steps)))
        out = None
        for combo in combos:
            if any(count == 0 for _, count, *_ in combo):
                continue  # no input reaches this run: it stays zero
            part = x[(...,) + tuple(slice(start, start + count) for start, count, *_ in combo)]
            crops = tuple((max(lo, 0), max(hi, 0)) for _, _, lo, hi, _, _ in combo)
            block = self.footprint(part, crops)
            extend = tuple((max(-lo, 0), max(-hi, 0)) for _, _, lo, hi, _, _ in combo)
            if any(v for pair in extend for v in pair):
                block = np.pad(block, ((0, 0), (0, 0)) + extend)
            whole = all(
                isinstance(targets, int) and targets == 0 and length == size
                for (*_, length, targets), size in zip(combo, sizes, strict=True)
            )
            if len(combos) == 1 and whole:
                out = block  # one run onto the whole block ('zeros' mode)
                break
            if out is None:
                out = np.zeros(block.shape[:2] + sizes, self.compute)
            where = []
            for axis, (_, _, _, _, length, targets) in enumerate(combo):
                if isinstance(targets, int):
                    where.append(slice(targets, targets + length))
                else:
                    block = scatter_axis(block, 2 + axis, targets, sizes[axis])
                    where.append(slice(None))
            out[(slice(None), slice(None)) + tuple(where)] += block
        if out is None:
            out = np.zeros((x.shape[0], self.out_channels(x.shape[1])) + sizes, self.compute)
        return self.finish(out)

    def window(self, x: np.ndarray) -> np.ndarray:
        """A gather layer's op on its padded window."""
        raise NotImplementedError

    def footprint(self, part: np.ndarray, crops) -> np.ndarray:
        """A scatter layer's op on the inputs reaching a run, cropped by (lo, hi) per dim."""
        raise NotImplementedError

    def out_channels(self, channels: int) -> int:
        return channels

    def finish(self, out):
        return out


class Conv(Layer):
    """conv with its padding already in the window: stride, dilation, groups, bias."""

    def __init__(self, weight, bias, stride, dilation, groups, dtype):
        compute = _calls.compute_dtype(np.dtype(dtype))
        super().__init__(dtype, compute)
        self.weight = np.asarray(weight).astype(compute)
        self.bias = None if bias is None else np.asarray(bias).astype(compute)
        self.stride, self.dilation, self.groups = stride, dilation, groups

    def window(self, x):
        return conv_op.conv(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class ConvTranspose(Layer):
    """conv_transpose of the inputs reaching a run, cropped to it; the bias added once."""

    scatter = True

    def __init__(self, weight, bias, stride, dilation, groups, dtype):
        compute = _calls.compute_dtype(np.dtype(dtype))
        super().__init__(dtype, compute)
        self.weight = np.asarray(weight).astype(compute)
        self.bias = None if bias is None else np.asarray(bias).astype(compute)
        self.stride, self.dilation, self.groups = stride, dilation, groups

    def out_channels(self, _):
        return self.weight.shape[1] * self.groups

    def footprint(self, y, crops):
        return conv_transpose_op.conv_transpose(
            y, self.weight, None, self.stride, crops, 0, self.groups, self.dilation
        )

    def finish(self, out):
        if self.bias is not None:
            out += self.bias.reshape((-1,) + (1,) * (out.ndim - 2))  # (C,) -> (C, 1, ...)
        return out


class Unfold(Layer):
    """unfold of the padded window, kept as (N, C*prod(k), *blocks) for the block grid."""

    def __init__(self, kernel, dilation, stride, dtype):
        super().__init__(dtype)
        self.kernel, self.dilation, self.stride = kernel, dilation, stride

    def window(self, x):
        cols = fold_op.unfold(x, self.kernel, self.dilation, 0, self.stride)
        blocks = tuple(
            (s - e) // st + 1
            for s, e, st in zip(
                x.shape[2:],
                ((k - 1) * d + 1 for k, d in zip(self.kernel, self.dilation, strict=True)),
                self.stride,
                strict=True,
            )
        )
        # (N, C*prod(k), L) -> (N, C*prod(k), *blocks)
        return cols.reshape(cols.shape[:2] + blocks)


class Fold(Layer):
    """fold of the block grid (N, C*prod(k), *blocks) reaching a run, cropped to it."""

    scatter = True

    def __init__(self, kernel, dilation, stride, dtype):
        super().__init__(dtype, _calls.compute_dtype(np.dtype(dtype)))
        self.kernel, self.dilation, self.stride = kernel, dilation, stride

    def out_channels(self, channels):
        return channels // math.prod(self.kernel)

    def footprint(self, cols, crops):
        size = tuple(
            (m - 1) * s + d * (k - 1) + 1 - lo - hi
            for m, s, d, k, (lo, hi) in zip(
                cols.shape[2:], self.stride, self.dilation, self.kernel, crops, strict=True
            )
        )
        # (N, C*prod(k), *blocks) -> (N, C*prod(k), L)
        flat = cols.reshape(cols.shape[:2] + (-1,))
        return fold_op.fold(flat, size, self.kernel, self.dilation, crops, self.stride)


class Pointwise(Layer):
    """An element-wise function (an activation's), on the block in the caller's dtype."""

    def __init__(self, function: Callable, dtype):
        super().__init__(dtype)
        self.function = function

    def window(self, x):
        return self.function(x)


def run(layers, steps, x):
    """A task's layers on its assembled input x; steps[d][i] is layer i's step on dim d."""
    for i, layer in enumerate(layers):
        x = layer(x, tuple(per_dim[i] for per_dim in steps))
    return x
