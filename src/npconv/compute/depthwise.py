"""Direct loops for groups with few channels each (depthwise convs).

A GEMM per group would be (M, K*B) @ (K*B, L) with B and M tiny: all call
overhead. Instead compiled loops (_depthwise_loops.py, Numba; on npconv's threads,
each owning whole planes) walk each (sample, channel) plane once per kernel
offset and channel pair:

    y[n, g, m, o]              += w[g, m, b, j] * x[n, g, b, o*s + j*d - lo]   conv
    x[n, g, b, o*s + j*d - lo] += w[g, m, b, j] * y[n, g, m, o]                conv_transpose
    w[g, m, b, j]               = sum_{n, o} y[n, g, m, o] * x[n, g, b, o*s + j*d - lo]

The loops pad each input plane into a small per-thread canvas (and the
transposed conv crops its per-thread canvas into each plane of x), so every
window they read or write is in bounds. Any geometry works; the planner sends
groups with few channels here.

On small maps a plane's runs are a few elements long, so a true depthwise conv (one
channel per group on each side) with few output positions per plane runs channels
last instead (`lanes`, _depthwise_loops.conv_lanes): a block of channels is padded
into a channels-last canvas and every tap of every output position is one run of
contiguous multiply-adds along the channels.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from .._threads import split, threads
from . import tuning
from .geometry import extent, offsets, row_major, tap_block

# the ops for which NaN and Inf land exactly where a direct convolution puts them (the
# others multiply padding or canvas zeros by them)
EXACT_NONFINITE = ("conv",)


def supports(geometry):
    return True


def lanes(op, g, big_channels, small_channels):
    """Whether op on geometry g runs channels last (conv_lanes): a conv with one channel per
    group on each side and at most tuning.LANES_POSITIONS positions per output plane
    (LANES_STRIDED_POSITIONS when strided)."""
    strided = any(s > 1 for s in g.stride)
    most = tuning.LANES_STRIDED_POSITIONS if strided else tuning.LANES_POSITIONS
    return op == "conv" and big_channels == 1 and small_channels == 1 and math.prod(g.small) <= most


def variant(p):
    if lanes(p.op, p.geometry, p.big_channels, p.small_channels):
        return "compiled direct loops, channels last"
    return "compiled direct loops"


@functools.lru_cache(maxsize=64)
def _tables(g):
    """(span, rows, taps, step, grid, padding): the canvas every window fits in, the loops'
    offset tables, whether every stride is 1 (the loops then run over whole planes),
    and _padding's tables. Built once per geometry (tens of microseconds a call
    otherwise); the loops only read them."""
    span = extent(g.small, g)
    strides = row_major(span)
    rows = offsets(g.small[:-1], [s * t for s, t in zip(g.stride[:-1], strides[:-1], strict=True)])
    taps = offsets(g.kernel, [d * t for d, t in zip(g.dilation, strides, strict=True)])
    return span, rows, taps, g.stride[-1], all(s == 1 for s in g.stride), _padding(g, span)


def _padding(g, span):
    """Tables that pad a plane of x into the canvas inside the loops (_depthwise_loops._pad):
    per canvas row its source row offset (-1: padding), and the canvas columns
    [first, stop) of the last dim that come from x (column c from c - lo)."""
    big = g.big
    strides = row_major(big)
    offset = np.zeros((), dtype=np.int64)
    valid = np.ones((), dtype=bool)
    for length, lo, size, stride in zip(span[:-1], g.lo[:-1], big[:-1], strides[:-1], strict=True):
        source = np.arange(length, dtype=np.int64) - lo
        valid = np.logical_and.outer(valid, (source >= 0) & (source < size))
        offset = np.add.outer(offset, source * stride)
    sources = np.where(valid, offset, -1).ravel()
    lo, width = g.lo[-1], span[-1]
    first = min(max(lo, 0), width)
    return sources, first, min(max(lo + big[-1], first), width), lo, math.prod(span)


def _planes(a, dtype):
    """(n, C, *S) -> contiguous (n*C, prod(S)) in dtype."""
    return np.ascontiguousarray(a, dtype=dtype).reshape(a.shape[0] * a.shape[1], -1)


def _blocks(channels, samples, size, itemsize):
    """(blocks, width): conv_lanes' split of the channels into `blocks` blocks of at most
    `width` (a multiple of 8 that is not one of 32: the canvas's row length), each
    block's canvas of `size` positions within tuning.LANES_CANVAS bytes, and at least two
    items per thread where the channels allow blocks of 32."""
    blocks = max(1, -(-size * channels * itemsize // tuning.LANES_CANVAS))
    blocks = max(blocks, min(-(-channels // 32), -(-2 * threads() // samples)))
    per_block = -(-channels // blocks)
    width = -(-per_block // 8) * 8
    if width % 32 == 0:
        width += 8  # a canvas row of a multiple of 128 bytes: its copies collide in the cache
    return -(-channels // width), width


def _conv_lanes(x, w, g, dtype, rows, taps, step, padding):
    """conv of a true depthwise geometry by conv_lanes."""
    from . import _depthwise_loops

    channels, k = w.shape[0], math.prod(g.kernel)
    blocks, width = _blocks(channels, x.shape[0], padding[-1], np.dtype(dtype).itemsize)
    wb = np.zeros((blocks * width, k), dtype=dtype)  # the last block's extra channels: 0
    wb[:channels] = w.reshape(channels, k)
    # (blocks * width, k) -> (blocks, k, width): each tap's weights along the channels
    wb = np.ascontiguousarray(wb.reshape(blocks, width, k).transpose(0, 2, 1))
    y = np.empty((x.shape[0], channels) + tuple(g.small), dtype=dtype)
    out = y.reshape(-1, math.prod(g.small))  # one row per output plane
    split(
        _depthwise_loops.conv_lanes,
        x.shape[0] * blocks,
        _planes(x, dtype),
        wb,
        out,
        rows,
        taps,
        step,
        *padding,
        channels,
    )
    return y


def conv(x, w, geometry):
    """(N, G*B, *big) x (G*M, B, *k) -> (N, G*M, *small)."""
    from . import _depthwise_loops

    g = geometry
    dtype = np.result_type(x, w)
    _, rows, taps, step, grid, padding = _tables(g)
    if lanes("conv", g, w.shape[1], w.shape[0] // g.groups):
        return _conv_lanes(x, w, g, dtype, rows, taps, step, padding)
    y = np.empty((x.shape[0], w.shape[0]) + tuple(g.small), dtype=dtype)
    out = y.reshape(-1, math.prod(g.small))  # one row per output plane
    xs, ws = _planes(x, dtype), _planes(w, dtype).reshape(w.shape[:2] + (-1,))
    if grid:
        split(_depthwise_loops.conv_grid, out.shape[0], xs, ws, out, rows, taps, g.groups, *padding)
    else:
        split(
            _depthwise_loops.conv_rows,
            out.shape[0],
            xs,
            ws,
            out,
            rows,
            taps,
            step,
            g.groups,
            *padding,
            g.kernel[-1],
            tap_block(g),
        )
    return y


def conv_transpose(y, w, geometry):
    """(N, G*M, *small) x (G*M, B, *k) -> (N, G*B, *big)."""
    from . import _depthwise_loops

    g = geometry
    dtype = np.result_type(y, w)
    span, rows, taps, step, grid, padding = _tables(g)
    # the loops write the positions of x their canvas covers; zeros first if some are not
    covered = all(
        0 <= lo and lo + size <= length for lo, size, length in zip(g.lo, g.big, span, strict=True)
    )
    x = (np.empty if covered else np.zeros)(
        (y.shape[0], w.shape[1] * g.groups) + tuple(g.big), dtype=dtype
    )
    planes = x.reshape(x.shape[0] * x.shape[1], -1)  # one row per input plane
    ys, ws = _planes(y, dtype), _planes(w, dtype).reshape(w.shape[:2] + (-1,))
    if grid:
        split(
            _depthwise_loops.conv_transpose_grid,
            planes.shape[0],
            ys,
            ws,
            planes,
            rows,
            taps,
            g.groups,
            *padding,
        )
    else:
        split(
            _depthwise_loops.conv_transpose_rows,
            planes.shape[0],
            ys,
            ws,
            planes,
            rows,
            taps,
            step,
            g.groups,
            *padding,
            g.kernel[-1],
            tap_block(g),
        )
    return x


def conv_weight(x, y, geometry):
    """(N, G*B, *big) x (N, G*M, *small) -> (G*M, B, *k)."""
    from . import _depthwise_loops

    g = geometry
    dtype = np.result_type(x, y)
    _, rows, taps, step, grid, padding = _tables(g)
    grad = np.empty((y.shape[1], x.shape[1] // g.groups) + tuple(g.kernel), dtype=dtype)
    grads = grad.reshape(grad.shape[:2] + (-1,))  # (G*M, B, prod(k))
    xs, ys = _planes(x, dtype), _planes(y, dtype)
    if grid:
        loop, extra = _depthwise_loops.conv_weight_grid, ()
    else:
        loop, extra = _depthwise_loops.conv_weight_rows, (step,)
    split(
        loop, grad.shape[0] * grad.shape[1], xs, ys, grads, rows, taps, *extra, g.groups, *padding
    )
    return grad
