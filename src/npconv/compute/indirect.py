"""Indirect convolution: a cached table of where every window reads, one gather, one GEMM.

For small problems a call's cost is its fixed overhead: padding copies, strided
views, several small GEMMs. Here the geometry alone fixes, per kernel offset j and
output position o, the flat position in one channel plane that the window reads
(the indirection table of Dukhan's indirect convolution, as indices instead of
pointers). Planes get one zero slot past their end, which every out-of-range tap
reads, so padding costs no copy of its own:

    conv          cols[n, g, b, j, o] = x[n, g, b, T[j, o]]           T: (K, L) into (P + 1)
                  y = w (G, M, B*K) @ cols (n, G, B*K, L)
    conv_weight   dw = sum_n dy (G, M, L) @ cols^T (G, L, B*K)
    conv_transpose the same gather from the small side, with the table of the
                  transposed direction: tap j of big position i reads small position
                  o = (i + lo - j*d) / s where that is a whole number inside the
                  input, the zero slot elsewhere (the seeds' picture of a transposed
                  conv: the input spread out by stride-1 zeros, a flipped kernel
                  sliding over it), then x = w^T (G, B, M*K) @ cols (n, G, M*K, P).

Tables are cached per geometry. Work is cut into bands of output positions and
groups of samples whose columns stay within geometry.WORK_BYTES. A NaN or Inf
weight times the zero slot is NaN where a scatter adds nothing, so the transposed
direction is not exact for non-finite operands; the other two multiply the same
padding zeros a direct convolution does.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from .._threads import matmul, split
from . import geometry as geometry_module
from . import tuning
from .geometry import Geometry

EXACT_NONFINITE = ("conv", "conv_weight")


def supports(geometry: Geometry) -> bool:
    return True


def columns(p) -> int:
    """Elements of the columns the problem gathers: every tap of every window."""
    g = p.geometry
    taps = math.prod(g.kernel)
    if p.op == "conv_transpose":
        # tap slots per phase times the big side's positions: about one slot per tap that
        # reaches a position
        return (
            p.batch
            * g.groups
            * p.small_channels
            * -(-taps // math.prod(g.stride))
            * math.prod(g.big)
        )
    return p.batch * g.groups * p.big_channels * taps * math.prod(g.small)


def variant(p) -> str:
    return "zero-inserted gather" if p.op == "conv_transpose" else "gather"


def _grid(sizes):
    """Index arrays of a row-major grid of `sizes`, one per dim, broadcastable."""
    return np.meshgrid(*(np.arange(s, dtype=np.int64) for s in sizes), indexing="ij")


@functools.lru_cache(maxsize=128)
def _conv_table(g: Geometry) -> np.ndarray:
    """(K, L) flat positions in a big-side plane of each tap's read; -1: padding."""
    strides = geometry_module.row_major(g.big)
    nd = len(g.kernel)
    flat = np.zeros(tuple(g.kernel) + tuple(g.small), dtype=np.int64)
    inside = np.ones(flat.shape, dtype=bool)
    for axis in range(nd):
        shape = [1] * (2 * nd)
        shape[axis] = g.kernel[axis]
        j = np.arange(g.kernel[axis], dtype=np.int64).reshape(shape)
        shape = [1] * (2 * nd)
        shape[nd + axis] = g.small[axis]
        o = np.arange(g.small[axis], dtype=np.int64).reshape(shape)
        at = o * g.stride[axis] + j * g.dilation[axis] - g.lo[axis]  # (k..., small...)
        inside &= (at >= 0) & (at < g.big[axis])
        flat = flat + at * strides[axis]
    table = np.where(inside, flat, -1)
    return table.reshape(math.prod(g.kernel), math.prod(g.small))  # (K, L)


def _dim_phases(k, s, d, lo, big, small):
    """Per dim, the transposed direction split by phase r = i mod s of big position i:
    (taps (s, T): the kernel offset of each of phase r's T tap slots, -1 for an empty slot;
    reads (s, T, Q): the small position each slot of big position q*s + r reads, -1 where
    none does). Q = ceil(big / s) covers every big position (those past big are cropped)."""
    found = [[j for j in range(k) if (r + lo - j * d) % s == 0] for r in range(s)]
    width = max(1, max(len(taps) for taps in found))
    q = -(-big // s)
    taps = np.full((s, width), -1, dtype=np.int64)
    for r, js in enumerate(found):
        taps[r, : len(js)] = js
    i = np.arange(q, dtype=np.int64)[None, None, :] * s + np.arange(s)[:, None, None]
    t = i + lo - taps[:, :, None] * d  # (s, T, Q)
    o = t // s
    reads = np.where((taps[:, :, None] >= 0) & (t % s == 0) & (o >= 0) & (o < small), o, -1)
    return taps, reads


@functools.lru_cache(maxsize=64)
def _transpose_tables(g: Geometry, m: int):
    """(taps, table, grid): the phase split of the whole geometry.

    taps (R, T): flat kernel offset of each of phase r's T tap slots, -1 for none;
    table (R*M*T, Q): flat offsets into one sample's group of M small planes of L cells,
    -1 where nothing is read; grid: Q per dim. R, T and Q are row-major over the dims'
    phases, slots and positions, M between R and T."""
    nd = len(g.kernel)
    kernel_steps = geometry_module.row_major(g.kernel)
    small_steps = geometry_module.row_major(g.small)
    taps = np.zeros((1,) * (2 * nd), dtype=np.int64)
    tapped = np.ones(taps.shape, dtype=bool)
    reads = np.zeros((1,) * (3 * nd), dtype=np.int64)
    inside = np.ones(reads.shape, dtype=bool)
    for axis, v in enumerate(
        zip(g.kernel, g.stride, g.dilation, g.lo, g.big, g.small, strict=True)
    ):
        dim_taps, dim_reads = _dim_phases(*v)  # (s, T), (s, T, Q)
        shape = [1] * (2 * nd)
        shape[axis], shape[nd + axis] = dim_taps.shape
        taps = taps + np.maximum(dim_taps, 0).reshape(shape) * kernel_steps[axis]
        tapped = tapped & (dim_taps >= 0).reshape(shape)
        shape = [1] * (3 * nd)
        shape[axis], shape[nd + axis], shape[2 * nd + axis] = dim_reads.shape
        reads = reads + np.maximum(dim_reads, 0).reshape(shape) * small_steps[axis]
        inside = inside & (dim_reads >= 0).reshape(shape)
    phases = math.prod(g.stride)
    taps = np.where(tapped, taps, -1).reshape(phases, -1)  # (R, T)
    cells = math.prod(g.small)
    flat = np.where(inside, reads, -1).reshape(phases, taps.shape[1], -1)  # (R, T, Q)
    table = np.where(
        flat[:, None] >= 0,
        np.arange(m, dtype=np.int64)[None, :, None, None] * cells + flat[:, None, :, :],
        -1,
    )  # (R, M, T, Q)
    grid = tuple(-(-b // s) for b, s in zip(g.big, g.stride, strict=True))
    return taps, np.ascontiguousarray(table.reshape(-1, flat.shape[-1])), grid


def _tiles(n, positions, rows, itemsize):
    """(samples, positions) tiles whose (rows x positions) columns fit the work budget;
    None where one tile takes the whole problem (every small call)."""
    per_sample = rows * positions * itemsize
    budget = geometry_module.work_bytes()
    if n * per_sample <= budget:
        return None
    return _cut(n, positions, rows * itemsize, per_sample, budget)


def _cut(n, positions, row_bytes, per_sample, budget):
    """The tiles of _tiles, for a problem larger than one."""
    if per_sample <= budget:
        step = max(1, budget // max(1, per_sample))
        for start in range(0, n, step):
            yield slice(start, min(n, start + step)), slice(0, positions)
        return
    band = max(1, budget // max(1, row_bytes))
    for sample in range(n):
        for start in range(0, positions, band):
            yield slice(sample, sample + 1), slice(start, min(positions, start + band))


_loops = None  # compute._plane_loops, imported on first use (it compiles with Numba)


def _gather(src, table, band=None):
    """(P, J, Qb): src[p, table[j, q]] (0 where the table says -1) for the table's band of
    positions (None: all of them), from a (P, S) array of rows; on npconv's threads for
    large ones."""
    global _loops
    if _loops is None:
        from . import _plane_loops

        _loops = _plane_loops
    part = table if band is None else np.ascontiguousarray(table[:, band])
    out = np.empty((src.shape[0],) + part.shape, dtype=src.dtype)
    run_gather(_loops.gather, src.shape[0] * part.shape[0], src, part, out)
    return out


def run_gather(loop, rows, src, table, out):
    """loop(src, table, out, (first, last)) over its `rows` rows: on npconv's threads when
    out is large (tuning.SPLIT_GATHER elements), else on the caller."""
    if out.size >= tuning.SPLIT_GATHER:
        split(loop, rows, src, table, out)
    else:
        loop(src, table, out, (0, rows))


def _rows(a, samples=None):
    """(nt*C, S): the samples' planes (None: all) of an (n, C, *S) array as rows, a view
    where possible."""
    part = a if samples is None else a[samples]
    return np.ascontiguousarray(part).reshape(part.shape[0] * part.shape[1], -1)


def conv(x, w, geometry):
    """(N, G*B, *big) x (G*M, B, *k) -> (N, G*M, *small)."""
    g = geometry
    n, groups = x.shape[0], g.groups
    m = w.shape[0] // groups
    table = _conv_table(g)
    positions = table.shape[1]
    dtype = np.result_type(x, w)
    w2 = w.reshape(groups, m, -1).astype(dtype, copy=False)  # (G, M, B*K)
    tiles = _tiles(n, positions, w2.shape[2], dtype.itemsize)
    if tiles is None:  # one tile: the product is the output
        cols = _gather(_rows(x), table)  # (n*G*B, K, L)
        cols = cols.reshape(n, groups, w2.shape[2], positions)  # (n, G, B*K, L)
        # (G, M, B*K) @ (n, G, B*K, L) -> (n, G, M, L)
        return matmul(w2, cols).reshape((n, groups * m) + tuple(g.small))
    y = np.empty((n, groups, m, positions), dtype=dtype)
    for samples, band in tiles:
        cols = _gather(_rows(x, samples), table, band)  # (nt*G*B, K, Lb)
        cols = cols.reshape(-1, groups, w2.shape[2], cols.shape[-1])  # (nt, G, B*K, Lb)
        # (G, M, B*K) @ (nt, G, B*K, Lb) -> (nt, G, M, Lb)
        y[samples, :, :, band] = matmul(w2, cols)
    return y.reshape((n, groups * m) + tuple(g.small))


def conv_weight(x, y, geometry):
    """(N, G*B, *big) x (N, G*M, *small) -> (G*M, B, *k)."""
    g = geometry
    n, groups = x.shape[0], g.groups
    b, m = x.shape[1] // groups, y.shape[1] // groups
    table = _conv_table(g)
    positions = table.shape[1]
    dtype = np.result_type(x, y)
    dy = y.reshape(n, groups, m, positions)  # (N, G, M, L)
    rows = b * table.shape[0]
    tiles = _tiles(n, positions, rows, dtype.itemsize)
    if tiles is None:  # one tile
        cols = _gather(_rows(x), table)  # (n*G*B, K, L)
        cols = cols.reshape(n, groups, rows, positions)  # (n, G, B*K, L)
        grad = _weight_tile(dy, cols, groups, m)
    else:
        grad = np.zeros((groups, m, rows), dtype=dtype)
        for samples, band in tiles:
            cols = _gather(_rows(x, samples), table, band)  # (nt*G*B, K, Lb)
            cols = cols.reshape(-1, groups, rows, cols.shape[-1])  # (nt, G, B*K, Lb)
            grad += _weight_tile(dy[samples, :, :, band], cols, groups, m)
    return grad.reshape((groups * m, b) + tuple(g.kernel))


def _weight_tile(part, cols, groups, m):
    """(G, M, B*K): one tile's weight gradient, from its (nt, G, M, Lb) output gradient and
    (nt, G, B*K, Lb) columns, summed over the tile's samples."""
    if cols.shape[0] > 1 and cols.shape[-1] < m:
        # few positions: the samples join the contraction, one GEMM per group
        # (G, M, nt*Lb) @ (G, nt*Lb, B*K) -> (G, M, B*K)
        left = np.ascontiguousarray(part.transpose(1, 2, 0, 3)).reshape(groups, m, -1)
        right = np.ascontiguousarray(cols.transpose(1, 0, 3, 2)).reshape(groups, -1, cols.shape[2])
        return matmul(left, right)
    # (nt, G, M, Lb) @ (nt, G, Lb, B*K) -> (nt, G, M, B*K), summed over the samples
    product = matmul(part, cols.swapaxes(-1, -2))
    return product[0] if product.shape[0] == 1 else product.sum(axis=0)


@functools.lru_cache(maxsize=64)
def _phase_weight_index(g: Geometry, m: int, b: int) -> tuple[np.ndarray, bool]:
    """(G, R, B, M*T) flat positions in a (G*M*B*K + 1)-long copy of the weight (the last:
    a zero, for empty tap slots) of each phase's weight over its tap slots, and whether
    any slot is empty (else the weight itself serves, without the zero)."""
    taps = _transpose_tables(g, m)[0]  # (R, T)
    k = math.prod(g.kernel)
    group = np.arange(g.groups, dtype=np.int64).reshape(-1, 1, 1, 1, 1) * m * b * k
    small = np.arange(m, dtype=np.int64).reshape(1, 1, 1, -1, 1) * b * k
    big = np.arange(b, dtype=np.int64).reshape(1, 1, -1, 1, 1) * k
    flat = group + small + big + taps[None, :, None, None, :]  # (G, R, B, M, T)
    index = np.where(taps[None, :, None, None, :] >= 0, flat, g.groups * m * b * k)
    return index.reshape(g.groups, taps.shape[0], b, -1), bool((taps < 0).any())


def _phase_weights(w, g):
    """(G, R, B, M*T): each phase's weight over its tap slots, zero for empty slots."""
    m, b = w.shape[0] // g.groups, w.shape[1]
    index, empty = _phase_weight_index(g, m, b)
    if not empty:
        return np.take(w.ravel(), index)
    padded = np.empty(w.size + 1, dtype=w.dtype)
    padded[:-1] = w.ravel()
    padded[-1] = 0
    return np.take(padded, index)


def conv_transpose(y, w, geometry):
    """(N, G*M, *small) x (G*M, B, *k) -> (N, G*B, *big): per phase of the big side, the
    taps that reach it gathered from y, one batched GEMM over the phases."""
    g = geometry
    n, groups = y.shape[0], g.groups
    m, b = w.shape[0] // groups, w.shape[1]
    dtype = np.result_type(y, w)
    taps, table, grid = _transpose_tables(g, m)  # table: (R*M*T, Q)
    wp = _phase_weights(w.astype(dtype, copy=False), g)  # (G, R, B, M*T)
    phases = taps.shape[0]
    tiles = _tiles(n, table.shape[1], table.shape[0], dtype.itemsize)
    if tiles is None:  # one tile: the product is the output, phase by phase
        src = np.ascontiguousarray(y).reshape(n * groups, -1)  # (n*G, M*L)
        cols = _gather(src, table)  # (n*G, R*M*T, Q)
        cols = cols.reshape(n, groups, phases, -1, cols.shape[-1])
        # (G, R, B, M*T) @ (n, G, R, M*T, Q) -> (n, G, R, B, Q)
        out = matmul(wp, cols)
    else:
        out = np.empty((n, groups, phases, b, table.shape[1]), dtype=dtype)
    for samples, band in tiles or ():
        part = y[samples]
        src = np.ascontiguousarray(part).reshape(part.shape[0] * groups, -1)  # (nt*G, M*L)
        cols = _gather(src, table, band)  # (nt*G, R*M*T, Qb)
        cols = cols.reshape(part.shape[0], groups, phases, -1, cols.shape[-1])
        # (G, R, B, M*T) @ (nt, G, R, M*T, Qb) -> (nt, G, R, B, Qb)
        out[samples, ..., band] = matmul(wp, cols)
    # (n, G, R, B, Q) -> (n, G*B, *big): the phases interleave, by a cached table
    x = np.empty((n, groups * b) + tuple(g.big), dtype=dtype)
    rows = x.reshape(n * groups, b, -1)  # (n*G, B, P)
    src = out.reshape(n * groups, -1)  # (n*G, R*B*Q)
    base = _interleaving(g, b, grid)
    if x.size >= tuning.SPLIT_GATHER:
        split(_loops.interleave, rows.shape[0] * b, src, base, table.shape[1], rows)
    else:
        _loops.interleave(src, base, table.shape[1], rows, (0, rows.shape[0] * b))
    return x


@functools.lru_cache(maxsize=64)
def _interleaving(g: Geometry, b: int, grid: tuple) -> np.ndarray:
    """(P,): per big position i, where the (R, B, Q) product of one sample and group holds
    its value for big channel 0 (channel c is c*Q further): phase r(i) and position q(i)
    within the phase's grid (Q per dim), row-major per dim, i = q*s + r."""
    phase = np.zeros((), dtype=np.int64)
    position = np.zeros((), dtype=np.int64)
    for v, s, q in zip(g.big, g.stride, grid, strict=True):
        i = np.arange(v, dtype=np.int64)
        phase = np.add.outer(phase * s, i % s)
        position = np.add.outer(position * q, i // s)
    return (phase * b * math.prod(grid) + position).ravel()
