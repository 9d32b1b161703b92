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

A true depthwise conv (one channel per group on each side) whose output planes have
the input planes' shape, every stride 1 (the usual "same" depthwise layer), runs
without a canvas instead when its planes are small (`flat`, _depthwise_loops.conv_flat):
each tap is one run over a block of channels' planes as they lie in x, the padding a
mask folded into per-position weights.

On small maps a plane's runs are a few elements long, so other true depthwise convs
with few output positions per plane run channels last (`lanes`,
_depthwise_loops.conv_lanes): a block of channels is padded into a channels-last
canvas and every tap of every output position is one run of contiguous multiply-adds
along the channels.
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


def flat(op, g, big_channels, small_channels, itemsize):
    """Whether op on geometry g runs as flat runs over blocks of channels (conv_flat): a conv
    with one channel per group on each side, every stride 1, output planes of the input
    planes' shape, at most tuning.FLAT_TAPS kernel taps and at most tuning.FLAT_WEIGHTS
    bytes of per-position weights per channel (kernel taps x plane positions)."""
    return (
        op == "conv"
        and big_channels == 1
        and small_channels == 1
        and g.small == g.big
        and all(s == 1 for s in g.stride)
        and math.prod(g.kernel) <= tuning.FLAT_TAPS
        and math.prod(g.kernel) * math.prod(g.big) * itemsize <= tuning.FLAT_WEIGHTS
    )


def variant(p):
    if flat(p.op, p.geometry, p.big_channels, p.small_channels, np.dtype(p.dtype).itemsize):
        return "compiled direct loops, flat runs"
    if lanes(p.op, p.geometry, p.big_channels, p.small_channels):
        return "compiled direct loops, channels last"
    return "compiled direct loops"


def _sum(parts):
    """Flat array of sum_i parts[i][v_i] over the row-major grid of the parts' lengths."""
    total = np.zeros((), dtype=np.int64)
    for part in parts:
        total = np.add.outer(total, part)
    return total.ravel()


def phased(g):
    """Whether geometry g runs on the polyphase canvas (see _tables): every stride 1 (one
    phase), or at least tuning.PHASE_TAPS taps per phase its taps read."""
    phases = math.prod(
        len(_phases(k, s, d)) for k, s, d in zip(g.kernel, g.stride, g.dilation, strict=True)
    )
    return phases == 1 or math.prod(g.kernel) >= tuning.PHASE_TAPS * phases


def _phases(k, s, d):
    """The phases (positions mod s) that the taps j*d, j < k, of one dim land on."""
    return np.unique(np.arange(k) * d % s)


@functools.lru_cache(maxsize=64)
def _tables(g, split):
    """(rows, taps, step, padding, covered): the loops' offset tables, the stride of the
    last dim on the canvas, _pad's tables (_padding) and whether the canvas covers every
    position of x. Built once per geometry (tens of microseconds a call otherwise); the
    loops only read them.

    split: on the polyphase canvas. Per dim, tap j lands at o*s + j*d =
    (o + j*d // s)*s + j*d % s: phase j*d % s of the padded input (its positions p,
    p + s, ...) at grid position o + j*d // s. The canvas holds the phases some tap
    reads, each a grid of small + (k - 1)*d // s positions per dim, so every stride reads
    stride-1 windows (step 1). Else the canvas is the padded input as it is, and the
    loops read it with the stride (the rows loops)."""
    if split:
        phases = [_phases(k, s, d) for k, s, d in zip(g.kernel, g.stride, g.dilation, strict=True)]
        grid = [
            o + (k - 1) * d // s
            for o, k, s, d in zip(g.small, g.kernel, g.stride, g.dilation, strict=True)
        ]
        strides = g.stride  # of the input, within each phase's grid
    else:
        phases = [np.zeros(1, dtype=np.int64)] * len(g.kernel)
        grid = list(extent(g.small, g))
        strides = (1,) * len(g.kernel)
    area, steps = math.prod(grid), row_major(grid)
    phase_steps = row_major([len(p) for p in phases])
    # output row r starts at grid position r on the polyphase canvas, at r*s on the plain one
    hops = (1,) * len(g.stride) if split else g.stride
    rows = offsets(g.small[:-1], [h * t for h, t in zip(hops[:-1], steps[:-1], strict=True)])
    taps = _sum(
        # tap j: its phase's grid, then its shift within the grid
        np.searchsorted(p, j * d % s) * ps * area + j * d // s * step
        for p, ps, step, j, s, d in zip(
            phases, phase_steps, steps, map(np.arange, g.kernel), strides, g.dilation, strict=True
        )
    )
    padding = _padding(g, phases, grid, strides)
    sources, first, stop = padding[:3]
    covered = int(np.sum((stop - first)[sources >= 0])) == math.prod(g.big)
    return rows, taps, 1 if split else g.stride[-1], padding, covered


def _padding(g, phases, grid, strides):
    """Tables that pad a plane of x into the canvas inside the loops (_depthwise_loops._pad):
    (sources, first, stop, start, stride, size), for the phases of x in `phases` per dim,
    each a grid of `grid` positions a stride of `strides` apart in x. The canvas's rows
    run over (phase per dim, grid position per dim but the last), each a row of the last
    dim's grid: per row its source row offset in the plane (-1: padding), the columns
    [first, stop) that come from x, and the plane column of `first` (column first + t
    from start + t*stride)."""
    n, plane = len(g.big), row_major(g.big)
    counts = [len(p) for p in phases]
    shape = tuple(counts) + tuple(grid[:-1])  # canvas rows, before flattening
    offset = np.zeros(shape, dtype=np.int64)
    valid = np.ones(shape, dtype=bool)
    for i in range(n - 1):
        # (phases, grid) of dim i -> the position of x it holds
        source = phases[i][:, None] + np.arange(grid[i]) * strides[i] - g.lo[i]
        view = [1] * len(shape)
        view[i], view[n + i] = source.shape
        source = source.reshape(view)
        valid = valid & (source >= 0) & (source < g.big[i])
        offset = offset + source * plane[i]
    p, s, lo, width = phases[-1], strides[-1], g.lo[-1], grid[-1]
    # the grid columns q with 0 <= q*s + p - lo < big, per phase p of the last dim
    first = np.clip(-((p - lo) // s), 0, width)
    stop = np.maximum(np.clip(-((p - lo - g.big[-1]) // s), 0, width), first)
    view = [1] * len(shape)
    view[n - 1] = len(p)

    def rows(a):
        return np.broadcast_to(a.reshape(view), shape).ravel().astype(np.int64)

    sources = np.where(valid, offset, -1).ravel()
    return sources, rows(first), rows(stop), rows(first * s + p - lo), s, sources.size * width


@functools.lru_cache(maxsize=64)
def _flat_tables(g, dtype):
    """(masks in dtype, shifts) of conv_flat for geometry g: tap j reads position
    o + j*d - lo of x at output position o, flat offset shift(j) within the plane, and
    masks[j, o] is whether that read stays inside the plane (indirect's table of reads)."""
    from . import indirect

    steps = row_major(g.big)
    shifts = offsets(g.kernel, [d * t for d, t in zip(g.dilation, steps, strict=True)])
    shifts = shifts - sum(lo * t for lo, t in zip(g.lo, steps, strict=True))  # (K,)
    return (indirect._conv_table(g) >= 0).astype(dtype), shifts


def _blocks_of(channels, plane):
    """Channels per block of the flat runs: runs of about tuning.FLAT_RUN positions, two
    blocks per thread at least where there are channels enough."""
    return max(1, min(-(-tuning.FLAT_RUN // plane), -(-channels // (2 * threads()))))


def _conv_flat(x, w, g, dtype):
    """conv of a true depthwise geometry by conv_flat; None where the result holds a NaN or
    an Inf (see conv_flat: the caller recomputes it by the planes' loops)."""
    from . import _depthwise_loops

    masks, shifts = _flat_tables(g, np.dtype(dtype))
    channels = w.shape[0]
    chunk = _blocks_of(channels, math.prod(g.big))
    blocks = -(-channels // chunk)
    flags = np.zeros(blocks, dtype=np.int32)
    y = np.empty((x.shape[0], channels) + tuple(g.small), dtype=dtype)
    split(
        _depthwise_loops.conv_flat,
        blocks,
        np.ascontiguousarray(x, dtype=dtype).reshape(x.shape[0], -1),  # (N, C*P)
        np.ascontiguousarray(w, dtype=dtype).reshape(channels, -1),  # (C, K)
        masks,
        shifts,
        y.reshape(x.shape[0], -1),  # (N, C*P)
        chunk,
        flags,
    )
    return None if flags.any() else y


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


def _conv_lanes(x, w, g, dtype, rows, taps, padding):
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
        *padding,
        channels,
    )
    return y


def conv(x, w, geometry):
    """(N, G*B, *big) x (G*M, B, *k) -> (N, G*M, *small)."""
    from . import _depthwise_loops

    g = geometry
    dtype = np.result_type(x, w)
    if flat("conv", g, w.shape[1], w.shape[0] // g.groups, np.dtype(dtype).itemsize):
        y = _conv_flat(x, w, g, dtype)
        if y is not None:
            return y
    if lanes("conv", g, w.shape[1], w.shape[0] // g.groups):
        rows, taps, _, padding, _ = _tables(g, True)
        return _conv_lanes(x, w, g, dtype, rows, taps, padding)
    split_ = phased(g)
    rows, taps, step, padding, _ = _tables(g, split_)
    y = np.empty((x.shape[0], w.shape[0]) + tuple(g.small), dtype=dtype)
    out = y.reshape(-1, math.prod(g.small))  # one row per output plane
    xs, ws = _planes(x, dtype), _planes(w, dtype).reshape(w.shape[:2] + (-1,))
    if split_:
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
    split_ = phased(g)
    rows, taps, step, padding, covered = _tables(g, split_)
    # the loops write the positions of x their canvas covers; zeros first if some are not
    x = (np.empty if covered else np.zeros)(
        (y.shape[0], w.shape[1] * g.groups) + tuple(g.big), dtype=dtype
    )
    planes = x.reshape(x.shape[0] * x.shape[1], -1)  # one row per input plane
    ys, ws = _planes(y, dtype), _planes(w, dtype).reshape(w.shape[:2] + (-1,))
    if split_:
        loop, extra = _depthwise_loops.conv_transpose_grid, ()
        tail = ()
    else:
        loop, extra = _depthwise_loops.conv_transpose_rows, (step,)
        tail = (g.kernel[-1], tap_block(g))
    split(loop, planes.shape[0], ys, ws, planes, rows, taps, *extra, g.groups, *padding, *tail)
    return x


def conv_weight(x, y, geometry):
    """(N, G*B, *big) x (N, G*M, *small) -> (G*M, B, *k)."""
    from . import _depthwise_loops

    g = geometry
    dtype = np.result_type(x, y)
    split_ = phased(g)
    rows, taps, step, padding, _ = _tables(g, split_)
    grad = np.empty((y.shape[1], x.shape[1] // g.groups) + tuple(g.kernel), dtype=dtype)
    grads = grad.reshape(grad.shape[:2] + (-1,))  # (G*M, B, prod(k))
    xs, ys = _planes(x, dtype), _planes(y, dtype)
    if split_:
        loop, extra = _depthwise_loops.conv_weight_grid, ()
    else:
        loop, extra = _depthwise_loops.conv_weight_rows, (step,)
    split(
        loop, grad.shape[0] * grad.shape[1], xs, ys, grads, rows, taps, *extra, g.groups, *padding
    )
    return grad
