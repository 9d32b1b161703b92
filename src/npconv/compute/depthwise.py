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
"""

from __future__ import annotations

import functools
import math

import numpy as np

from .._threads import split
from .geometry import extent, offsets, row_major, tap_block

# the ops for which NaN and Inf land exactly where a direct convolution puts them (the
# others multiply padding or canvas zeros by them)
EXACT_NONFINITE = ("conv",)


def supports(geometry):
    return True


def variant(p):
    return "compiled direct loops"


@functools.lru_cache(maxsize=64)
def _tables(g):
    """(span, rows, taps, step, grid, padding): the canvas every window fits in, the loops'
    offset tables, whether every stride is 1 (the loops then run over whole planes),
    and _padding's tables. Built once per geometry (tens of microseconds a call
    otherwise); the loops only read them."""
    span = extent(g.small, g)
    strides = row_major(span)
    rows = offsets(g.small[:-1], [s * t for s, t in zip(g.stride[:-1], strides[:-1])])
    taps = offsets(g.kernel, [d * t for d, t in zip(g.dilation, strides)])
    return span, rows, taps, g.stride[-1], all(s == 1 for s in g.stride), _padding(g, span)


def _padding(g, span):
    """Tables that pad a plane of x into the canvas inside the loops (_depthwise_loops._pad):
    per canvas row its source row offset (-1: padding), and the canvas columns
    [first, stop) of the last dim that come from x (column c from c - lo)."""
    big = g.big
    strides = row_major(big)
    offset = np.zeros((), dtype=np.int64)
    valid = np.ones((), dtype=bool)
    for length, lo, size, stride in zip(span[:-1], g.lo[:-1], big[:-1], strides[:-1]):
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


def conv(x, w, geometry):
    """(N, G*B, *big) x (G*M, B, *k) -> (N, G*M, *small)."""
    from . import _depthwise_loops

    g = geometry
    dtype = np.result_type(x, w)
    span, rows, taps, step, grid, padding = _tables(g)
    y = np.empty((x.shape[0], w.shape[0]) + tuple(g.small), dtype=dtype)
    out = y.reshape(-1, math.prod(g.small))  # one row per output plane
    split(
        _depthwise_loops.conv,
        out.shape[0],
        _planes(x, dtype),
        _planes(w, dtype).reshape(w.shape[:2] + (-1,)),
        out,
        rows,
        taps,
        step,
        g.groups,
        grid,
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
    covered = all(0 <= lo and lo + size <= length for lo, size, length in zip(g.lo, g.big, span))
    x = (np.empty if covered else np.zeros)(
        (y.shape[0], w.shape[1] * g.groups) + tuple(g.big), dtype=dtype
    )
    planes = x.reshape(x.shape[0] * x.shape[1], -1)  # one row per input plane
    split(
        _depthwise_loops.conv_transpose,
        planes.shape[0],
        _planes(y, dtype),
        _planes(w, dtype).reshape(w.shape[:2] + (-1,)),
        planes,
        rows,
        taps,
        step,
        g.groups,
        grid,
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
    span, rows, taps, step, grid, padding = _tables(g)
    grad = np.empty((y.shape[1], x.shape[1] // g.groups) + tuple(g.kernel), dtype=dtype)
    split(
        _depthwise_loops.conv_weight,
        grad.shape[0] * grad.shape[1],
        _planes(x, dtype),
        _planes(y, dtype),
        grad.reshape(grad.shape[:2] + (-1,)),
        rows,
        taps,
        step,
        g.groups,
        grid,
        *padding,
    )
    return grad
