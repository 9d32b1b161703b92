"""Transposed conv as one large GEMM and a compiled overlap-add (col2im).

    cols = W^T y     (B*K, M) @ (M, n*L): every tap's contribution, one GEMM with
                     the tall B*K side, so BLAS runs at full rate even for few channels
    x   += cols      scattered back by compiled loops (_col2im_loops.py) that read zeros
                     nowhere and write only inside x: no padded canvas, no crop copy

Columns are channel-major, rows (g, b, k) as in the weight, which the GEMM
then reads in place (a tap-major copy of a large weight costs more than it
saves), when output rows are long: the loop runs along them. When the kernel's
last dim is longer than the rows (fcn, iSTFT: few positions, long kernels) or
its stride is gemm.SHORT or more (a tap's run would step `stride` elements at a
time), they are patch-major, (position, b, k), and the loop runs along the
kernel. Output rows shorter than gemm.SHORT take gemm's channels-last columns
and canvas, with a compiled add of a run of channels per window and tap
(_add_last). conv and conv_weight are gemm's (the gathering side gains nothing
from compiled loops: NumPy's copies are as fast).

Tiles are several samples, or a range of flat positions of one sample,
within geometry.WORK_BYTES; samples with fewer than SHARED_GEMM_POSITIONS positions share one
GEMM, larger ones get one each.
"""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np

from .._threads import each, matmul, split, threads
from . import gemm
from .geometry import bands, channels, extent, row_major, tap_block, transposed

SHARED_GEMM_POSITIONS = 1024

conv = gemm.conv
conv_weight = gemm.conv_weight

# Output rows from which the overlap-add takes blocks of `stride` taps at once
# (_col2im_loops.col2im, geometry.tap_block): per row a block finds where all its taps land
# and adds the edges tap by tap, which only long rows repay.
BLOCK_ROWS = 128


OPS = ("conv_transpose",)  # conv and conv_weight above are gemm's


def supports(geometry):
    return True


def variant(p):
    """Which of the three overlap-adds the planner's problem p runs with."""
    g = p.geometry
    if g.small[-1] < gemm.SHORT:
        return "channels-last columns, compiled add"
    if g.kernel[-1] > g.small[-1] or g.stride[-1] >= gemm.SHORT:
        return "patch-major columns"
    return "tap-major columns"


def tables(g):
    """(rows, start, first, stop, step, width): where each window lands, for _col2im_loops.

    rows[r, kr]: flat offset in a plane of x of the row that output row r reaches
    through kernel row kr (all dims but the last), -1 outside x; start, first,
    stop: per tap kl of the last dim, the target of t = 0 and the t inside x.
    """
    nd = len(g.kernel)
    strides = row_major(g.big)
    offset = np.zeros((1,) * (2 * nd - 2), dtype=np.int64)
    valid = np.ones_like(offset, dtype=bool)
    for i in range(nd - 1):
        o = np.arange(g.small[i]).reshape((-1,) + (1,) * (2 * nd - 3 - i))
        j = np.arange(g.kernel[i]).reshape((-1,) + (1,) * (nd - 2 - i))
        target = o * g.stride[i] + j * g.dilation[i] - g.lo[i]  # axes (o_0..o_n-2, j_0..j_n-2)
        valid = valid & (target >= 0) & (target < g.big[i])
        offset = offset + target * strides[i]
    rows = np.where(valid, offset, -1).reshape(math.prod(g.small[:-1]), math.prod(g.kernel[:-1]))
    s, width, size = g.stride[-1], g.small[-1], g.big[-1]
    start = np.arange(g.kernel[-1], dtype=np.int64) * g.dilation[-1] - g.lo[-1]
    first = np.clip(-(start // s), 0, width)  # ceil(-start / s)
    stop = np.maximum(np.minimum(-((start - size) // s), width), first)
    return np.ascontiguousarray(rows, dtype=np.int64), start, first, stop, s, width


def _patches(y, w, g, dtype, x):
    """Patch-major columns, tiled over samples and big channels.

    Tiles of different big channels write different planes of x, so where a group of
    samples has a tile for every thread, each thread takes whole tiles, GEMM then
    overlap-add, with no hand-off between the two; else each step is split in turn."""
    from . import _col2im_loops

    n = y.shape[0]
    m, b = channels(w, g.groups)
    k, positions = math.prod(g.kernel), math.prod(g.small)
    wp = w.astype(dtype, copy=False).reshape(g.groups, m, b, k)  # (G, M, B, K)
    rows, _, _, _, step, width = tables(g)

    def add(ys, samples, chans, whole=False):
        """The tile's GEMM and overlap-add: on this thread alone if whole, else split."""
        nt, bc = samples.stop - samples.start, chans.stop - chans.start
        # (G, nt*L, M) @ (G, M, Bc*K) -> (G, nt*L, Bc*K)
        cols = matmul(ys, wp[:, :, chans].reshape(g.groups, m, -1))
        args = (
            cols.ravel(),
            x,
            b,
            chans.start,
            bc,
            g.kernel[-1],
            rows,
            g.lo[-1],
            g.big[-1],
            step,
            g.dilation[-1],
            g.groups,
            samples.start,
            nt,
            width,
        )
        planes = nt * g.groups * bc
        if whole:
            _col2im_loops.col2im_patches(*args, (0, planes))
        else:
            split(_col2im_loops.col2im_patches, planes, *args)

    tiles = bands(n, b, g.groups * positions * k * dtype.itemsize, parts=threads())
    for samples, same_samples in itertools.groupby(tiles, key=lambda tile: tile[0]):
        nt, group = samples.stop - samples.start, [chans for _, chans in same_samples]
        part = y[samples].reshape(nt, g.groups, m, positions)  # (nt, G, M, L)
        # (nt, G, M, L) -> (G, nt, L, M) -> (G, nt*L, M)
        ys = transposed(part.transpose(1, 0, 3, 2)).reshape(g.groups, -1, m)
        if len(group) >= threads():
            each(functools.partial(add, ys, samples, whole=True), group)
        else:
            for chans in group:
                add(ys, samples, chans)  # one tile's columns alive at a time


def _taps(y, w, g, dtype, x):
    """Channel-major columns, tiled over samples and flat positions.

    Where no two tiles write the same element of x (whole samples, or windows that do
    not overlap), each thread takes whole tiles, GEMM then overlap-add: no hand-off
    between the two, and the tile's columns are still in that core's cache."""
    from . import _col2im_loops

    n = y.shape[0]
    m, b = channels(w, g.groups)
    positions = math.prod(g.small)
    # (G*M, B, *k) -> (G, M, B*K) -> (G, B*K, M), a view: the weight is read in place
    wt = w.astype(dtype, copy=False).reshape(g.groups, m, -1).transpose(0, 2, 1)
    count = wt.shape[0] * wt.shape[1]
    t = tables(g)
    y3 = y.reshape(n, y.shape[1], positions)
    fold = positions < SHARED_GEMM_POSITIONS
    block = tap_block(g) if g.small[-1] >= BLOCK_ROWS else 1

    def add(tile):
        samples, span = tile
        nt, length = samples.stop - samples.start, span.stop - span.start
        part = y3[samples, :, span].reshape(nt, g.groups, m, length)
        if fold:
            # (G, B*K, M) @ (G, M, nt*length) -> (G, B*K, nt*length)
            part = np.ascontiguousarray(part.transpose(1, 2, 0, 3)).reshape(g.groups, m, -1)
            strides = (nt * length, length)
        else:
            # (G, B*K, M) @ (nt, G, M, length) -> (nt, G, B*K, length)
            strides = (length, count * length)
        cols = matmul(wt, part)  # inside each: one thread's single-threaded product
        split(
            _col2im_loops.col2im,
            nt * g.groups * b,
            cols.ravel(),
            count,
            x,
            *t[:5],
            g.groups,
            samples.start,
            nt,
            span.start,
            span.stop,
            t[5],
            *strides,
            block,
        )

    per_position = (count + g.groups * m) * dtype.itemsize
    apart = all((k - 1) * d < s for k, s, d in zip(g.kernel, g.stride, g.dilation, strict=True))
    tiles = list(bands(n, positions, per_position, parts=threads()))
    if apart or all(span.stop - span.start == positions for _, span in tiles):
        each(add, tiles)
        return
    for tile in bands(n, positions, per_position):
        add(tile)  # one tile's columns alive at a time


def _offsets(g):
    """(L, K) flat position, in the (*span) canvas of gemm's short rows, that tap t of window
    p reaches: sum over dims of (o*s + j*d) * the canvas' row-major stride."""
    nd, span = len(g.kernel), extent(g.small, g)
    strides = row_major(span)
    offsets = np.zeros(tuple(g.small) + tuple(g.kernel), dtype=np.int64)  # (*small, *k)
    for i in range(nd):
        o = np.arange(g.small[i]).reshape((-1,) + (1,) * (2 * nd - 1 - i))
        j = np.arange(g.kernel[i]).reshape((-1,) + (1,) * (nd - 1 - i))
        offsets = offsets + (o * g.stride[i] + j * g.dilation[i]) * strides[i]
    return offsets.reshape(math.prod(g.small), math.prod(g.kernel))  # (L, K)


def _add_last(cols, canvas, g):
    """gemm's overlap-add into its channels-last canvas, by compiled loops: a run of
    channels per window and tap, in place of NumPy's strided slab per tap."""
    from . import _col2im_loops

    planes = cols.shape[0] * cols.shape[1]  # G*nt
    # (G, nt, *small, *k, Bc) -> (G*nt, L, K, Bc); (G, nt, *span, Bc) -> (G*nt, P, Bc)
    _col2im_loops.col2im_last(
        cols.reshape(planes, math.prod(g.small), math.prod(g.kernel), -1),
        canvas.reshape(planes, -1, canvas.shape[-1]),
        _offsets(g),
    )


def _one_window(g):
    """Whether the transposed conv spreads a single input position over exactly its output:
    a 1x1 input (a generator's first layer, from a latent vector) whose undilated window is
    the whole output, no padding cropping it. Each output cell then receives one tap, so
    the product of the input with the weight is the output itself, with no overlap-add."""
    return (
        all(v == 1 for v in g.small)
        and all(v == 0 for v in g.lo)
        and all(d == 1 or k == 1 for d, k in zip(g.dilation, g.kernel, strict=True))
        and tuple(g.big) == tuple(g.kernel)
    )


def _window_product(y, w, g):
    """conv_transpose for _one_window: x[n, (g, b, j)] = sum_m y[n, (g, m)] w[(g, m), (b, j)]."""
    n, groups = y.shape[0], g.groups
    m, b = w.shape[0] // groups, w.shape[1]
    dtype = np.result_type(y, w)
    y2 = y.reshape(n, groups, m).transpose(1, 0, 2).astype(dtype, copy=False)  # (G, N, M)
    w2 = w.reshape(groups, m, -1).astype(dtype, copy=False)  # (G, M, B*K)
    if groups == 1:
        # (N, M) @ (M, B*K) -> (N, B*K): the output in its own order
        return matmul(y2[0], w2[0]).reshape((n, b) + tuple(g.big))
    # (G, N, M) @ (G, M, B*K) -> (G, N, B*K), then to (N, G, B*K)
    out = matmul(y2, w2).transpose(1, 0, 2)
    return np.ascontiguousarray(out).reshape((n, groups * b) + tuple(g.big))


def conv_transpose(y, w, geometry):
    """(N, G*M, *small) x (G*M, B, *k) -> (N, G*B, *big)."""
    g = geometry
    if _one_window(g):
        return _window_product(y, w, g)
    if g.small[-1] < gemm.SHORT:
        return gemm.conv_transpose_last(y, w, g, add=_add_last)
    n = y.shape[0]
    _, b = channels(w, g.groups)
    dtype = np.result_type(y, w)
    x = np.zeros((n * g.groups * b, math.prod(g.big)), dtype=dtype)
    patches = g.kernel[-1] > g.small[-1] or g.stride[-1] >= gemm.SHORT
    (_patches if patches else _taps)(y, w, g, dtype, x)
    return x.reshape((n, g.groups * b) + tuple(g.big))
