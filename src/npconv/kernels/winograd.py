"""Winograd's minimal filtering for stride-1 convs with 3-wide kernels, F(m, 3) per dim.

A tile of alpha = m + 2 input points per dim gives m outputs per dim as

    Y = A^T [ (G w G^T) (.) (B^T d B) ] A          (each product taken per dim)

so the channels meet once per transformed point: P = alpha**d GEMMs of
(T, B) @ (B, M) over T tiles, where im2col does one GEMM with K = 3**d * B over
every output position. Multiplies per output fall from 3**d to (alpha/m)**d:
9 -> 2.25 for 2-d F(4, 3); 27 -> 8 for 3-d F(2, 3). The matrices are Lavin and
Gray's (2016), interpolating at 0, +-1, +-2 (F(4, 3)) or 0, +-1 (F(2, 3)) and
infinity; F(4, 3) loses about one more decimal digit than a direct sum,
F(4, 3) in 3-d two, so 3-d uses F(2, 3).

The work goes in chunks of whole tiles (one sample, a band of tile rows along
the first dim) sized so that a chunk's transformed input and product stay in
the L2 cache; each of npconv's threads takes whole chunks and runs its GEMMs
in a single-threaded BLAS (`_threads.split_blas`): channels-last padded slab
-> input transform (compiled) -> P GEMMs -> output transform (compiled),
written straight into y.

conv_transpose is the conv of the mirrored geometry (mirror.py), so it runs
here too; the weight gradient is the same product read the other way (see
conv_weight). Needs Numba; real float dtypes only (others go to shifted).
"""
from __future__ import annotations

import math

import numpy as np

from .. import windows
from .._threads import split_blas
from . import depthwise, shifted
from .geometry import channels, flipped, mirrored, offsets, row_major

CHUNK_BYTES = 4 * 2**20  # transformed input + product of one chunk

# (B^T, G, A^T) of F(m, 3), keyed by m
MATRICES = {
    2: ([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
        [[1, 0, 0], [1 / 2, 1 / 2, 1 / 2], [1 / 2, -1 / 2, 1 / 2], [0, 0, 1]],
        [[1, 1, 1, 0], [0, 1, -1, -1]]),
    4: ([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
         [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]],
        [[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
         [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]],
        [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]]),
}


def outputs_per_tile(dims):
    """m of F(m, 3): 4 up to 2 dims, 2 beyond (accuracy, see the module docstring)."""
    return 4 if dims <= 2 else 2


def supports(geometry):
    g = geometry
    return (depthwise.AVAILABLE and all(k == 3 for k in g.kernel)
            and all(s == 1 for s in g.stride) and all(d == 1 for d in g.dilation))


def _real(dtype):
    return dtype in (np.float32, np.float64)


def weights(w, groups, m):
    """(G*M, B, 3, ..., 3) -> U = G w G^T per dim as GEMM operands, (P, G, B, M), in float64."""
    gm = np.asarray(MATRICES[m][1])                                 # (alpha, 3)
    u = np.asarray(w, dtype=np.float64)
    for axis in range(2, w.ndim):
        # (..., 3 at axis, ...) -> (..., alpha at axis, ...)
        u = np.moveaxis(np.tensordot(u, gm, axes=([axis], [1])), -1, axis)
    mo, b = channels(w, groups)
    # (G*M, B, *alpha) -> (G, M, B, P) -> (P, G, B, M)
    return u.reshape(groups, mo, b, -1).transpose(3, 0, 2, 1)


class _Plan:
    """Tiles, chunks and the tables of one call."""

    def __init__(self, g, n, channels_in, channels_out, itemsize):
        self.m = outputs_per_tile(len(g.kernel))
        self.alpha = self.m + 2
        self.counts = tuple(-(-s // self.m) for s in g.small)      # tiles per dim
        self.points = self.alpha ** len(g.kernel)
        per_tile = self.points * (channels_in + channels_out) * itemsize
        per_row = math.prod(self.counts[1:])
        band = max(1, min(self.counts[0], CHUNK_BYTES // (per_tile * per_row)))
        self.chunks = [(s, r, min(r + band, self.counts[0]))
                       for s in range(n) for r in range(0, self.counts[0], band)]
        # slab of a band of `rows` tile rows: (rows*m + 2, counts[1:]*m + 2) positions
        self.width = tuple(c * self.m + 2 for c in self.counts[1:])
        self.g = g

    def slab_shape(self, rows):
        return (rows * self.m + 2,) + self.width

    def tables(self, first, last):
        """(inside, source, origins, steps, outputs, out_steps) of a band of tile rows
        [first, last): the slab's slices that x fills and the matching slices of x;
        per tile the slab row of its corner, and the slab's row-major strides; the
        same two for the band's channels-last output canvas."""
        g, m = self.g, self.m
        shape = self.slab_shape(last - first)
        starts = (first * m - g.lo[0],) + tuple(-lo for lo in g.lo[1:])
        source, inside = windows.overlap(starts, shape, g.big)
        counts = (last - first,) + self.counts[1:]
        strides = row_major(shape)
        out_strides = row_major(self.out_shape(last - first))
        return (inside, source,
                offsets(counts, tuple(m * s for s in strides)), np.array(strides, dtype=np.int64),
                offsets(counts, tuple(m * s for s in out_strides)),
                np.array(out_strides, dtype=np.int64))

    def band(self, first, last):
        """(rows of y, the canvas's slices inside y) of a band of tile rows [first, last)."""
        rows = slice(first * self.m, min(last * self.m, self.g.small[0]))
        return rows, (slice(0, rows.stop - rows.start),) + tuple(slice(0, s)
                                                                 for s in self.g.small[1:])

    def out_shape(self, rows):
        """Output canvas of a band of `rows` tile rows: whole tiles, cropped to small after."""
        return (rows * self.m,) + tuple(c * self.m for c in self.counts[1:])


def _points(plan, count):
    """(tile rows, point steps) of a (P*T, C) array holding tile t's point p in row p*T + t."""
    dims = len(plan.g.kernel)
    steps = np.array([plan.alpha ** (dims - 1 - i) * count for i in range(dims)], dtype=np.int64)
    return np.arange(count, dtype=np.int64), steps


class _Buffers:
    """One thread's work arrays, allocated once at the largest chunk's size and reused:
    fresh megabytes per chunk cost a page fault every 4 KiB (~1 ms a chunk)."""

    def __init__(self, plan, dtype, channels_in, channels_out):
        most = max(last - first for _, first, last in plan.chunks)
        tiles = most * math.prod(plan.counts[1:])
        self.sizes = dict(slab=math.prod(plan.slab_shape(most)) * channels_in,
                          v=plan.points * tiles * channels_in,
                          product=plan.points * tiles * channels_out,
                          out=math.prod(plan.out_shape(most)) * channels_out)
        self.arrays = {name: np.empty(size, dtype=dtype) for name, size in self.sizes.items()}

    def take(self, name, shape):
        return self.arrays[name][:math.prod(shape)].reshape(shape)


def _transformed_input(buffers, x_last, plan, sample, first, last):
    """A chunk's input, zero-padded channels last and transformed: V as (P, T, C),
    with the chunk's (tile rows, point steps) in V and its output canvas tables."""
    from . import _winograd
    inside, source, origins, steps, out_origins, out_steps = plan.tables(first, last)
    c = x_last.shape[-1]
    slab = buffers.take("slab", plan.slab_shape(last - first) + (c,))  # (*slab, C)
    slab.fill(0)
    slab[inside] = x_last[(sample,) + source]
    points = _points(plan, origins.shape[0])
    v = buffers.take("v", (plan.points, origins.shape[0], c))
    _winograd.transform(slab.reshape(-1, c), origins, steps, v.reshape(-1, c), *points, plan.m,
                        _winograd.INPUT)
    return v, points, (out_origins, out_steps)


def _share(x, y, plan, groups):
    """A thread's set-up: channels per group, its buffers, x and y channels-last views."""
    b, mo = x.shape[1] // groups, y.shape[1] // groups
    buffers = _Buffers(plan, y.dtype, x.shape[1], y.shape[1])
    # (N, C, *big) -> (N, *big, C) and (N, G*M, *small) -> (N, *small, G*M), views
    return b, mo, buffers, np.moveaxis(x, 1, -1), np.moveaxis(y, 1, -1)


def _chunks(x, u, y, plan, groups, items):
    """Chunks [items[0], items[1]) of the conv, start to finish (one thread's share)."""
    from . import _winograd
    m = plan.m
    b, mo, buffers, x_last, y_last = _share(x, y, plan, groups)
    for sample, first, last in plan.chunks[items[0]:items[1]]:
        v, points, canvas_tables = _transformed_input(buffers, x_last, plan, sample, first, last)
        product = buffers.take("product", v.shape[:2] + (groups * mo,))
        for gi in range(groups):
            # (P, T, B) @ (P, B, M) -> (P, T, M)
            np.matmul(v[:, :, gi * b:(gi + 1) * b], u[:, gi],
                      out=product[:, :, gi * mo:(gi + 1) * mo])
        out = buffers.take("out", plan.out_shape(last - first) + (groups * mo,))
        _winograd.transform(product.reshape(-1, groups * mo), *points,
                            out.reshape(-1, groups * mo), *canvas_tables, m, _winograd.OUTPUT)
        band, valid = plan.band(first, last)
        np.copyto(y_last[sample, band], out[valid])


def conv(x, w, geometry):
    """(N, G*B, *big) x (G*M, B, 3, ..., 3) -> (N, G*M, *small), stride 1."""
    g = geometry
    dtype = np.result_type(x, w)
    if not _real(dtype):
        return shifted.conv(x, w, g)
    mo, b = channels(w, g.groups)
    plan = _Plan(g, x.shape[0], g.groups * b, g.groups * mo, dtype.itemsize)
    u = weights(w, g.groups, plan.m).astype(dtype)                 # (P, G, B, M)
    y = np.empty((x.shape[0], g.groups * mo) + tuple(g.small), dtype=dtype)
    split_blas(_chunks, len(plan.chunks), np.ascontiguousarray(x, dtype=dtype), u, y, plan,
               g.groups)
    return y


def _weight_chunks(x, y, plan, groups, sums, items):
    """One thread's share of the weight gradient in the transformed domain:
    sum over its tiles of (A dy A^T) (.) (B^T x B), as (P, G, M, B)."""
    from . import _winograd
    m = plan.m
    b, mo, buffers, x_last, y_last = _share(x, y, plan, groups)
    total = np.zeros((plan.points, groups, mo, b), dtype=y.dtype)
    for sample, first, last in plan.chunks[items[0]:items[1]]:
        v, points, canvas_tables = _transformed_input(buffers, x_last, plan, sample, first, last)
        canvas = buffers.take("out", plan.out_shape(last - first) + (groups * mo,))
        canvas.fill(0)                                              # zeros past small
        band, valid = plan.band(first, last)
        canvas[valid] = y_last[sample, band]
        dy = buffers.take("product", v.shape[:2] + (groups * mo,))
        _winograd.transform(canvas.reshape(-1, groups * mo), *canvas_tables,
                            dy.reshape(-1, groups * mo), *points, m, _winograd.GRADIENT)
        for gi in range(groups):
            # (P, M, T) @ (P, T, B) -> (P, M, B), summed over the chunk's tiles
            total[:, gi] += dy[:, :, gi * mo:(gi + 1) * mo].transpose(0, 2, 1) \
                @ v[:, :, gi * b:(gi + 1) * b]
    sums.append(total)  # list.append is atomic under the GIL


def conv_transpose(y, w, geometry):
    """(N, G*M, *small) x (G*M, B, *k) -> (N, G*B, *big): the mirrored conv of y."""
    return conv(y, flipped(w, geometry.groups), mirrored(geometry))


def conv_weight(x, y, geometry):
    """(N, G*B, *big) x (N, G*M, *small) -> (G*M, B, 3, ..., 3).

    With U = G w G^T the conv is y = A^T (U (.) V) A per tile, so the gradient of
    the weight is G^T [sum over tiles of (A dy A^T) (.) V] G: P GEMMs of
    (M, T) @ (T, B), summed over every tile, then one small transform."""
    g = geometry
    dtype = np.result_type(x, y)
    if not _real(dtype):
        return shifted.conv_weight(x, y, g)
    b, mo = x.shape[1] // g.groups, y.shape[1] // g.groups
    plan = _Plan(g, x.shape[0], g.groups * b, g.groups * mo, dtype.itemsize)
    sums = []
    split_blas(_weight_chunks, len(plan.chunks), np.ascontiguousarray(x, dtype=dtype),
               np.ascontiguousarray(y, dtype=dtype), plan, g.groups, sums)
    total = np.zeros((plan.points, g.groups, mo, b)) if not sums else \
        np.sum([s.astype(np.float64) for s in sums], axis=0)
    gt = np.asarray(MATRICES[plan.m][1]).T                          # (3, alpha)
    dims = len(g.kernel)
    # (P, G, M, B) -> (G, M, B, alpha, ..., alpha) -> G^T along each point axis -> (.., 3, ..)
    grad = np.moveaxis(total.reshape((plan.alpha,) * dims + total.shape[1:]),
                       tuple(range(dims)), tuple(range(3, 3 + dims)))
    for axis in range(3, 3 + dims):
        grad = np.moveaxis(np.tensordot(grad, gt, axes=([axis], [1])), -1, axis)
    return grad.reshape((g.groups * mo, b) + tuple(g.kernel)).astype(dtype)
