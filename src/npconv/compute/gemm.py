"""The general algorithm: gather windows into columns around one GEMM per tile
(im2col), and its adjoint, GEMM then overlap-add (col2im). Works for every
geometry; the other algorithms specialise it.

Samples are folded into the GEMM's long axis, (M, K*B) @ (K*B, n*L), so small
images still make one large product. Tiles are several whole samples, or
bands of output rows of one sample, sized to geometry.WORK_BYTES.

Layouts follow the longest contiguous run, since numpy copies and adds pay
per run: columns are (B*K, L) "positions last" when output rows are long, in
the weight's own order, so that the GEMM reads the weight in place, and
(L, K*B) "channels last" when rows are shorter than SHORT, for which the
weight is copied offsets outer. A strided conv whose windows cover the input
gathers channels last whatever its rows (a row's windows are strided runs; a
window's channels are one run), and its product is (L, K*B) @ (K*B, M),
copied into y along M, with K*B contiguous in both operands. A call with fewer
positions than the weight has rows gathers positions last whatever its rows:
there the weight's copy would cost more than the columns' (_layout).

Channels last pays per run of B channels (a padded copy of the input with the channels
moved last, then runs of k*B along a window's rows) and a transposed copy of the product
into y: with few input channels (B below LAST_CHANNELS, a first layer's 1-3) the runs are
a few elements and both copies cost more than the GEMM. Those convs gather positions
last with the samples outer, (nt, G, B*K, L), and write the product in place,

    y[n, g] (M, L) = w[g] (M, B*K) @ cols[n, g] (B*K, L)

one GEMM per sample and group straight into y's band, with no product buffer and no
copy of it: for a patchify layer (stride == kernel, dilation 1, no padding) the windows
are a reshape of x and the columns one transposed copy of it.

col2im with short output rows (fewer than SHORT) adds each tap into a
channels-last canvas, from channels-last columns: every add runs along the
channels. With a large stride it adds whole blocks of taps at once. Per dim, write
j*d = t*s + r with 0 <= r < s: tap j of window o lands on canvas position
(o + t)*s + r, so with the canvas viewed as (blocks, s) all taps sharing t
go into one slab,

    canvas[o + t, r(j)] += cols[o, j]    for all o and the taps j of block t,

which is ceil(((k-1)*d + 1) / s) adds per dim instead of k, each over runs of
length s from channels-last columns: overlap-add (fcn32s, iSTFT). With a
small stride the taps are added one by one from positions-last columns.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .. import windows
from .._threads import budget, each, matmul, scratch, shares, split, threads
from .geometry import (
    SPLIT_BYTES,
    bands,
    channels,
    conv_output,
    extent,
    group_major,
    matrix,
    unmatrix,
    work_bytes,
)
from .tuning import (
    LAST_CHANNELS,  # fewer big channels than this never gather channels last for stride
    SHORT,  # output rows shorter than this gather columns channels last
)

MIN_TILE = 1 << 20  # smallest tile a weight gradient's threads shrink to before fewer run


def supports(geometry):
    return True


def _channels_last(g):
    return g.small[-1] < SHORT


# Column layouts: (G, nt*L, K*B) channels last, kernel offsets outer; (G, K*B, nt*L)
# positions last, kernel offsets outer; (G, B*K, nt*L) positions last in the weight's own
# order, channels outer; (nt, G, B*K, L) positions last per sample, in the weight's own
# order, the conv's product written into y in place. The weight's GEMM rows follow them
# (_operand).
LAST, TAPS, OWN = "channels last", "taps outer", "own order"
IN_PLACE = "per sample, product in place"


def _columns(x, samples, rows, g, layout):
    """Windows of x[samples] for a band of output rows, in `layout`.

    Channels last, every copy runs along the channels; positions last, along the rows
    (whatever the order of channels and offsets).
    """
    lo = (g.lo[0] - rows.start * g.stride[0],) + tuple(g.lo[1:])
    blocks = (rows.stop - rows.start,) + tuple(g.small[1:])
    nt, nd = samples.stop - samples.start, len(g.kernel)
    if layout == LAST:
        # pad channels last, so that every copy runs along the channels
        c = x.shape[1]
        span = extent(blocks, g)
        padded = windows.region(
            np.moveaxis(x[samples], 1, -1),
            tuple(-v for v in lo) + (0,),
            span + (c,),
            out=scratch("region", (nt,) + span + (c,), x.dtype),
        )  # (nt, *span, C)
        step = padded.strides[1:-1]
        view = as_strided(
            padded,
            (nt,) + blocks + tuple(g.kernel) + (g.groups, c // g.groups),
            (padded.strides[0],)
            + tuple(t * s for t, s in zip(step, g.stride, strict=True))
            + tuple(t * d for t, d in zip(step, g.dilation, strict=True))
            + (c // g.groups * padded.strides[-1], padded.strides[-1]),
            writeable=False,
        )  # (nt, *blocks, *k, G, B)
        # (nt, *blocks, *k, G, B) -> (G, nt, *blocks, *k, B)
        view = np.moveaxis(view, -2, 0)
        cols = scratch("columns", view.shape, x.dtype)
        np.copyto(cols, view)
        return cols.reshape(g.groups, nt * math.prod(blocks), -1)
    if layout in (IN_PLACE, OWN) and math.prod(blocks) > 1:
        # (one window per sample: its columns are x's planes, copied in whole runs below)
        return _gathered(x, samples, g._replace(lo=lo, small=blocks), layout)
    view = windows.gather(x[samples], g.kernel, g.stride, g.dilation, lo, blocks)
    if layout == IN_PLACE:
        # (nt, G*B, *k, *blocks), copied as it is
        cols = scratch("columns", view.shape, x.dtype)
        np.copyto(cols, view)
        return cols.reshape(nt, g.groups, -1, math.prod(blocks))  # (nt, G, B*K, Lb)
    view = view.reshape((nt, g.groups, -1) + view.shape[2:])  # (nt, G, B, *k, *blocks)
    taps, space = tuple(range(3, 3 + nd)), tuple(range(3 + nd, 3 + 2 * nd))
    # (nt, G, B, *k, *blocks) -> (G, *k, B, nt, *blocks) or (G, B, *k, nt, *blocks)
    view = view.transpose(((1,) + taps + (2,) if layout == TAPS else (1, 2) + taps) + (0,) + space)
    cols = scratch("columns", view.shape, x.dtype)
    np.copyto(cols, view)
    return cols.reshape(g.groups, -1, nt * math.prod(blocks))


def _gathered(x, samples, band, layout):
    """Positions-last columns of x[samples] for the band's geometry (its lo and rows), in
    one compiled pass by the table of where each tap of each window reads (indirect's,
    cached per geometry): no padded copy of x, and no copy of a strided view run by run.

    IN_PLACE: (nt, G, B*K, Lb); OWN: (G, B*K, nt*Lb), the weight's own order."""
    from . import _plane_loops, indirect

    table = indirect._conv_table(band)  # (K, Lb) into a plane of x, -1: padding
    part = x[samples]
    nt, c = part.shape[:2]
    src = np.ascontiguousarray(part).reshape(nt * c, -1)  # (nt*C, P)
    taps, positions = table.shape
    if layout == IN_PLACE:
        cols = scratch("columns", (nt * c, taps, positions), x.dtype)
        loop, rows = _plane_loops.gather, nt * c * taps
    else:
        cols = scratch("columns", (c, taps, nt, positions), x.dtype)
        loop, rows = _plane_loops.gather_folded, c * taps
    indirect.run_gather(loop, rows, src, table, cols)
    if layout == IN_PLACE:
        return cols.reshape(nt, band.groups, -1, positions)  # (nt, G, B*K, Lb)
    return cols.reshape(band.groups, -1, nt * positions)  # (G, B*K, nt*Lb)


def _operand(w, g, layout):
    """The weight as GEMM rows in the columns' order: (G, M, K*B), kernel offsets outer (a
    copy), or (G, M, B*K) in w's own order (a view where w is contiguous)."""
    if layout in (OWN, IN_PLACE):
        return w.reshape(g.groups, w.shape[0] // g.groups, -1)
    return matrix(w, g.groups)


def _layout(g, n, m, w=None, in_place=False):
    """The column layout of a call on n samples with m small channels per group (and, for
    a conv, its weight w; with `in_place`, a conv that can write its product into y).

    Channels last for short rows, and for a conv also where strided windows cover the
    input and there are enough big channels (_gathers_last); but not where the call has
    fewer positions than the weight has rows (n*L < M): the weight, copied offsets outer
    for channels-last columns, then outweighs the columns. Positions last otherwise, in
    the weight's own order, which the GEMM reads in place: per sample with the product
    in place for a conv with few big channels or long samples (_in_place); unless w is a
    strided view (the mirrored weight of a transposed conv): its copy goes faster to
    offsets outer, along the channels (matrix)."""
    b = None if w is None else w.shape[1]
    if n * math.prod(g.small) >= m and (
        _channels_last(g) or (w is not None and _gathers_last(g, b))
    ):
        return LAST
    if w is not None and not w.flags.c_contiguous:
        return TAPS
    if in_place and _in_place(g, n, m, b):
        return IN_PLACE
    return OWN


def _in_place(g, n, m, b):
    """A conv's positions-last product goes straight into y, one GEMM per sample, where
    the big channels are too few to gather channels last (LAST_CHANNELS) and the call has
    at least as many positions as the weight has rows (else the samples fold into one
    GEMM's long side)."""
    return b < LAST_CHANNELS and n * math.prod(g.small) >= m


def variant(p):
    """The column layout (and overlap-add) the planner's problem p runs with."""
    g, n, m, b = p.geometry, p.batch, p.small_channels, p.big_channels
    if p.op == "conv_transpose":
        if _channels_last(g):
            return "channels-last columns and canvas"
        return "overlap-add by blocks of taps" if g.stride[-1] >= SHORT else "overlap-add by taps"
    last = n * math.prod(g.small) >= m and (
        _channels_last(g) or (p.op == "conv" and _gathers_last(g, b))
    )
    if not last and p.op == "conv" and _in_place(g, n, m, b):
        return f"columns {IN_PLACE}"
    return f"columns {LAST if last else OWN}"


def _gathers_last(g, b):
    """Gather channels last for long output rows too: runs of B channels copy faster than
    strided runs along a row, and the product takes them on the left. Only where
    the windows cover the input (prod(k) >= prod(s)), so that the padded channels-last copy
    of the input is no larger than the columns, and with at least LAST_CHANNELS big
    channels: runs of fewer cost more than the strided ones."""
    return math.prod(g.kernel) >= math.prod(g.stride) > 1 and b >= LAST_CHANNELS


def _row_bytes(g, channels_per_position, itemsize):
    return math.prod(g.small[1:]) * g.groups * channels_per_position * itemsize


def _conv_product(cols, layout, w2, y, g, tile):
    """Write y's band of the tile = w2 @ the tile's columns."""
    samples, rows = tile
    m = w2.shape[1]
    if layout == IN_PLACE:
        # (G, M, B*K) @ (nt, G, B*K, Lb) -> (nt, G, M, Lb), y's band itself
        matmul(w2, cols, out=_band(y, samples, rows, g.groups))
        return
    out = group_major(y, samples, rows, g.groups)  # (G, M, nt, rows, ...)
    if layout == LAST:
        # (G, nt*L, K*B) @ (G, K*B, M) -> (G, nt*L, M), copied along M: the long side
        # first, faster than (G, M, K*B) @ the columns read transposed
        part = matmul(
            cols,
            w2.transpose(0, 2, 1),
            out=scratch("product", cols.shape[:2] + (m,), np.result_type(cols, w2)),
        )
        np.copyto(np.moveaxis(out, 1, -1), part.reshape(out.shape[:1] + out.shape[2:] + (m,)))
    else:
        # (G, M, K*B) @ (G, K*B, nt*L) -> (G, M, nt*L)
        part = matmul(
            w2, cols, out=scratch("product", (g.groups, m, cols.shape[2]), np.result_type(cols, w2))
        )
        np.copyto(out, part.reshape(out.shape))


def _band(y, samples, rows, groups):
    """y[samples, :, rows] of an (n, G*M, *S) C-contiguous y as a (nt, G, M, Lb) view:
    the band's positions are one run per channel (whole trailing dims)."""
    part = y[samples, :, rows]  # (nt, G*M, rows, ...)
    nt, c = part.shape[:2]
    step = part.strides[1]
    return as_strided(
        part,
        (nt, groups, c // groups, math.prod(part.shape[2:])),
        (part.strides[0], c // groups * step, step, part.itemsize),
    )


def _weight_product(cols, layout, y, g, tile):
    """The tile's share of the weight gradient from its columns, (G, M, K*B) in their
    order, the one unmatrix copies from: a (G, K*B, M) product read transposed made it
    copy across both strides."""
    samples, rows = tile
    m = y.shape[1] // g.groups
    if layout == IN_PLACE:
        part = _band(y, samples, rows, g.groups)  # (nt, G, M, Lb)
        # (nt, G, M, Lb) @ (nt, G, Lb, B*K) -> (nt, G, M, B*K), summed over the samples
        shape = part.shape[:3] + (cols.shape[2],)
        prod = matmul(
            part,
            cols.swapaxes(-1, -2),
            out=scratch("weight", shape, np.result_type(part, cols)),
        )
        return prod[0] if shape[0] == 1 else prod.sum(axis=0)
    part = group_major(y, samples, rows, g.groups)  # (G, M, nt, rows, ...)
    part = part.reshape(g.groups, m, -1)  # (G, M, nt*L)
    if layout != LAST:
        cols = cols.transpose(0, 2, 1)  # read transposed
    # (G, M, nt*L) @ (G, nt*L, K*B) -> (G, M, K*B)
    return matmul(
        part, cols, out=scratch("weight", (g.groups, m, cols.shape[2]), np.result_type(part, cols))
    )


def _conv_tile(x, w2, y, g, layout, tile):
    _conv_product(_columns(x, *tile, g, layout), layout, w2, y, g, tile)


def _weight_tile(x, y, g, layout, tile):
    return _weight_product(_columns(x, *tile, g, layout), layout, y, g, tile)


def _both_tile(x, w2, y, dy, g, layout, tile):
    cols = _columns(x, *tile, g, layout)
    _conv_product(cols, layout, w2, y, g, tile)
    return _weight_product(cols, layout, dy, g, tile)


def _conv_operands(x, w, g, in_place=False):
    """(layout, w2, y) of a conv: the columns' layout, the weight as GEMM rows in their
    order, (G, M, K*B), and the empty output (written in place by IN_PLACE)."""
    layout = _layout(g, x.shape[0], w.shape[0] // g.groups, w, in_place)
    return layout, _operand(w, g, layout), conv_output(x, w, g)


def conv(x, w, geometry):
    """(N, G*B, *big) x (G*M, B, *k) -> (N, G*M, *small)."""
    g = geometry
    layout, w2, y = _conv_operands(x, w, g, in_place=True)  # w2: (G, M, K*B)
    m = w2.shape[1]
    per_position = w2.shape[2] if layout == IN_PLACE else w2.shape[2] + m  # no product buffer
    tiles = bands(x.shape[0], g.small[0], _row_bytes(g, per_position, y.itemsize), parts=threads())
    each(_conv_tile, tiles, x, w2, y, g, layout)
    return y


def _weight(parts, g, m, b, dtype, layout):
    """The (G*M, B, *k) gradient from shares' (G, M, K*B) partial sums in the columns'
    order (zeros for none), in one pass over a band of M rows at a time: the sum, and
    unmatrix's reorder where kernel offsets are outer. The bands go on npconv's threads
    for large weights (SPLIT_BYTES and up)."""
    if not parts:
        return np.zeros((g.groups * m, b) + tuple(g.kernel), dtype=dtype)
    grad = np.empty((g.groups * m, b) + tuple(g.kernel), dtype=dtype)
    bands4 = grad.reshape((g.groups, m, b) + tuple(g.kernel))  # (G, M, B, *k)
    rows3 = grad.reshape(g.groups, m, -1)  # (G, M, B*K)

    def rows(bounds):
        band = slice(*bounds)
        if layout in (OWN, IN_PLACE):
            np.copyto(rows3[:, band], parts[0][:, band])
            for part in parts[1:]:
                rows3[:, band] += part[:, band]
            return
        total = parts[0][:, band].astype(dtype)  # (G, Mb, K*B), a copy
        for part in parts[1:]:
            total += part[:, band]
        unmatrix(total, g.groups, g.kernel, out=bands4[:, band])

    if grad.nbytes >= SPLIT_BYTES:
        split(rows, m)
    else:
        rows((0, m))
    return grad


def conv_weight(x, y, geometry):
    """(N, G*B, *big) x (N, G*M, *small) -> (G*M, B, *k)."""
    g = geometry
    b = x.shape[1] // g.groups
    m = y.shape[1] // g.groups
    dtype = np.result_type(x, y)
    layout = _layout(g, x.shape[0], m)
    most, work = _weight_parts(g, m, b, dtype)
    tiles = bands(
        x.shape[0],
        g.small[0],
        _row_bytes(g, math.prod(g.kernel) * b + m, dtype.itemsize),
        parts=most,
        work=work,
    )
    return _weight(
        shares(_weight_tile, tiles, x, y, g, layout, slot="weight sum", most=most),
        g,
        m,
        b,
        dtype,
        layout,
    )


def _weight_parts(g, m, b, dtype):
    """(threads, tile bytes) of a weight gradient: each thread holds a tile's buffers (two
    and a half tiles' worth, as work_bytes counts) and three weight-sized arrays (its
    share's sum, a tile's product, its part of the final sum's copies), all within the
    threads' budget. Tiles shrink first, down to MIN_TILE; then fewer threads take the
    shares (a large weight at many threads)."""
    weight = g.groups * m * b * math.prod(g.kernel) * np.dtype(dtype).itemsize
    total = budget()
    for parts in range(threads(), 0, -1):
        tile = 2 * (total - 3 * weight * parts) // (5 * parts)
        if tile >= MIN_TILE:
            return parts, min(tile, work_bytes(parts))
    return 1, MIN_TILE


def conv_both(x, w, dy, geometry):
    """(conv(x, w), conv_weight(x, dy)) from one gather of x's windows per tile: the two
    products of a transposed conv's backward, which read the same columns.
    (N, G*B, *big) x (G*M, B, *k), (N, G*M, *small) -> (N, G*M, *small), (G*M, B, *k)."""
    g = geometry
    layout, w2, y = _conv_operands(x, w, g, in_place=True)  # w2: (G, M, K*B)
    m, b = w2.shape[1], x.shape[1] // g.groups
    dtype = np.result_type(x, dy)
    most, work = _weight_parts(g, m, b, dtype)
    tiles = bands(
        x.shape[0],
        g.small[0],
        _row_bytes(g, w2.shape[2] + 2 * m, y.itemsize),
        parts=most,
        work=work,
    )
    parts = shares(_both_tile, tiles, x, w2, y, dy, g, layout, slot="weight sum", most=most)
    return y, _weight(parts, g, m, b, dtype, layout)


def _blocks(k, s, d):
    """Per dim: (t, taps, r) for each non-empty block of taps with j*d // s == t."""
    found = []
    for t, taps in itertools.groupby(range(k), key=lambda j: j * d // s):
        taps = list(taps)
        r = taps[0] * d - t * s
        found.append((t, slice(taps[0], taps[-1] + 1), slice(r, r + (len(taps) - 1) * d + 1, d)))
    return found


def _tap_blocks(k, s, d):
    """Per dim: one block per tap, (t, tap, r), for adding taps one at a time."""
    return [(j * d // s, slice(j, j + 1), slice(j * d % s, j * d % s + 1)) for j in range(k)]


def _add_taps(cols, canvas, g):
    """canvas[:, :, o*s + j*d] += cols[:, :, o, j], tap by tap, each a strided slab:
    (G, nt, *small, *k, Bc) columns into a (G, nt, *span, Bc) canvas."""
    nd = len(g.kernel)
    for tap in itertools.product(*(range(k) for k in g.kernel)):
        target = tuple(
            slice(j * d, j * d + (o - 1) * s + 1, s)
            for j, d, o, s in zip(tap, g.dilation, g.small, g.stride, strict=True)
        )
        canvas[(slice(None),) * 2 + target] += cols[(slice(None),) * (2 + nd) + tap]


def _transpose_tile(y, w2, x, g, span, add, tile):
    """x's samples and big channels of the tile: one GEMM into channels-last columns, added
    into a channels-last canvas by add(cols, canvas, g), the canvas cropped into x."""
    samples, chans = tile
    nt, bc = samples.stop - samples.start, chans.stop - chans.start
    m, positions = w2.shape[1], math.prod(g.small)
    part = y[samples].reshape(nt, g.groups, m, positions)  # (nt, G, M, L)
    # (nt, G, M, L) -> (G, nt, L, M) -> (G, nt*L, M)
    part = np.ascontiguousarray(part.transpose(1, 0, 3, 2)).reshape(g.groups, -1, m)
    wc = w2.reshape(g.groups, m, -1, x.shape[1] // g.groups)[..., chans]  # (G, M, K, Bc)
    # (G, nt*L, M) @ (G, M, K*Bc) -> (G, nt*L, K*Bc)
    cols = part @ wc.reshape(g.groups, m, -1)
    cols = cols.reshape((g.groups, nt) + tuple(g.small) + tuple(g.kernel) + (bc,))
    canvas = np.zeros((g.groups, nt) + span + (bc,), dtype=x.dtype)  # (G, nt, *span, Bc)
    add(cols, canvas, g)
    out = x[samples].reshape((nt, g.groups, -1) + tuple(g.big))[:, :, chans]  # (nt, G, Bc, *big)
    source, inside = windows.overlap(g.lo, g.big, span)
    windows.zero_outside(out, (slice(None),) * 3 + inside)
    # (G, nt, *span, Bc) -> (nt, G, Bc, *span), copied into x's window of the canvas
    np.copyto(out[(...,) + inside], np.moveaxis(canvas, -1, 2).swapaxes(0, 1)[(...,) + source])


def conv_transpose_last(y, w, g, add=_add_taps):
    """Short output rows: channels-last columns and canvas, so that every tap's add runs
    along the channels, not along rows of a few positions. Tiles of samples and big
    channels write disjoint parts of x, so each thread takes whole tiles, GEMM then
    overlap-add, by `add` (NumPy slabs here; col2im passes compiled loops)."""
    n = y.shape[0]
    _, b = channels(w, g.groups)
    dtype = np.result_type(y, w)
    w2 = matrix(w, g.groups).astype(dtype, copy=False)  # (G, M, K*B)
    span = extent(g.small, g)  # the canvas: every window
    x = np.empty((n, g.groups * b) + tuple(g.big), dtype=dtype)
    channel_bytes = g.groups * (math.prod(g.small) * math.prod(g.kernel) + math.prod(span))
    tiles = bands(n, b, channel_bytes * dtype.itemsize, parts=threads())
    each(_transpose_tile, tiles, y, w2, x, g, span, add)
    return x


def conv_transpose(y, w, geometry):
    """(N, G*M, *small) x (G*M, B, *k) -> (N, G*B, *big): GEMM, then overlap-add."""
    g = geometry
    if _channels_last(g):
        return conv_transpose_last(y, w, g)
    n, nd = y.shape[0], len(g.kernel)
    m, b = channels(w, g.groups)
    dtype = np.result_type(y, w)
    last = g.stride[-1] >= SHORT
    per_dim = [
        (_blocks if last else _tap_blocks)(k, s, d)
        for k, s, d in zip(g.kernel, g.stride, g.dilation, strict=True)
    ]
    rows = tuple(
        o + t[-1][0] for o, t in zip(g.small, per_dim, strict=True)
    )  # canvas blocks per dim
    w2 = matrix(w, g.groups).reshape((g.groups, m) + tuple(g.kernel) + (b,))  # (G, M, *k, B)
    x = np.empty((n, g.groups * b) + tuple(g.big), dtype=dtype)
    canvas = math.prod(r * s for r, s in zip(rows, g.stride, strict=True))
    channel_bytes = g.groups * (math.prod(g.small) * math.prod(g.kernel) + canvas)  # cols, canvas
    transposed = None
    for samples, chans in bands(n, b, channel_bytes * dtype.itemsize):
        nt, bc = samples.stop - samples.start, chans.stop - chans.start
        wc = w2[..., chans].reshape(g.groups, m, -1)  # (G, M, K*Bc)
        if last:
            if transposed is None or transposed[0] != samples:
                part = y[samples].reshape((nt, g.groups, m, -1))  # (nt, G, M, L)
                part = np.ascontiguousarray(part.transpose(1, 0, 3, 2))  # (G, nt, L, M)
                transposed = samples, part.reshape(g.groups, -1, m)  # (G, nt*L, M)
            # (G, nt*L, M) @ (G, M, K*Bc) -> (G, nt*L, K*Bc)
            cols = matmul(transposed[1], wc).reshape(
                (g.groups, nt) + tuple(g.small) + tuple(g.kernel) + (bc,)
            )
            # (G, nt, *small, *k, Bc) -> (G, nt, Bc, small_1, k_1, ..., small_n, k_n)
            order = (0, 1, 2 + 2 * nd) + tuple(v for i in range(nd) for v in (2 + i, 2 + nd + i))
        else:
            part = y[samples].reshape((nt, g.groups, m, -1))  # (nt, G, M, L)
            # (G, K*Bc, M) @ (nt, G, M, L) -> (nt, G, K*Bc, L)
            cols = matmul(wc.transpose(0, 2, 1), part).reshape(
                (nt, g.groups) + tuple(g.kernel) + (bc,) + tuple(g.small)
            )
            cols = cols.swapaxes(0, 1)  # (G, nt, *k, Bc, *small)
            # -> (G, nt, Bc, small_1, k_1, ..., small_n, k_n)
            order = (0, 1, 2 + nd) + tuple(v for i in range(nd) for v in (3 + nd + i, 2 + i))
        cols = cols.transpose(order)
        # canvas (G, nt, Bc, blocks_1, s_1, ..., blocks_n, s_n); interleaved = row-major big
        canvas = np.zeros(
            (g.groups, nt, bc)
            + tuple(v for r, s in zip(rows, g.stride, strict=True) for v in (r, s)),
            dtype=dtype,
        )
        for block in itertools.product(*per_dim):
            target = tuple(
                v for (t, _, r), o in zip(block, g.small, strict=True) for v in (slice(t, t + o), r)
            )
            source = tuple(v for (_, j, _) in block for v in (slice(None), j))
            canvas[(slice(None),) * 3 + target] += cols[(slice(None),) * 3 + source]
        canvas = canvas.reshape(
            (g.groups, nt, bc) + tuple(r * s for r, s in zip(rows, g.stride, strict=True))
        )
        out = x[samples].reshape((nt, g.groups, b) + tuple(g.big))[:, :, chans]
        # (G, nt, Bc, *canvas) -> (nt, G, Bc, *big), cropped by lo (zeros beyond the canvas)
        np.copyto(out, windows.region(canvas, g.lo, g.big).transpose(1, 0, 2, *range(3, 3 + nd)))
        del cols, canvas  # one tile's buffers alive at a time
    return x
