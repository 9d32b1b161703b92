"""Stride-1 windows as shifted slices of one flattened canvas (implicit im2col).

With stride 1, output position o reads canvas position o + j*d for kernel
offset j. Lay the output grid into the canvas grid (same row-major strides S)
and every kernel offset is one constant shift of the whole flattened grid:

    cols[b, j, f] = canvas[b, f + off(j)],   off(j) = sum_i j_i * d_i * S_i

so the columns are a strided view of the canvas whose copy is long contiguous
runs, never a gather per window. Grid positions f that are not outputs (the
canvas margins, a fraction prod(span)/prod(small) - 1) are computed and
dropped by conv, and meet zeros of y in conv_weight. Several samples share
one flat axis, one canvas after another, so small images still make one
large GEMM; large ones are cut into bands of rows along the first dim.

Every buffer is per tile and bounded by geometry.WORK_BYTES; npconv's threads
take whole tiles (_threads.each). Stride 1 only; phase.py
reduces strided geometries to stride-1 ones.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .. import windows
from .._threads import each, threads
from .geometry import (bands, channels, extent, flipped, group_major, matrix, mirrored, row_major,
                       unmatrix)


def supports(geometry):
    return all(s == 1 for s in geometry.stride)


class Tile(NamedTuple):
    """A block of outputs: samples, a band of rows of the first spatial dim, and its canvas."""

    samples: slice
    rows: slice
    grid: tuple     # canvas of one sample: (rows + halo, *span[1:])
    length: int     # flat positions from the first output to the last one, inclusive


def tiles(n, g, bytes_per_position):
    """Tiles covering (n, *small) whose canvases stay within the work budget."""
    span = extent(g.small, g)
    halo = span[0] - g.small[0]
    for samples, rows in bands(n, g.small[0], math.prod(span[1:]) * bytes_per_position, halo,
                               parts=threads()):
        grid = (rows.stop - rows.start + halo,) + span[1:]
        outputs = (rows.stop - rows.start,) + tuple(g.small[1:])
        last = sum((e - 1) * s for e, s in zip(outputs, row_major(grid)))
        count = samples.stop - samples.start
        yield Tile(samples, rows, grid, (count - 1) * math.prod(grid) + last + 1)


def _slab(a, tile, g):
    """The tile's canvas of a (n, C, *big), channel-major: (C, nt * prod(grid)), zero outside a."""
    starts = (tile.rows.start - g.lo[0],) + tuple(-lo for lo in g.lo[1:])
    part = np.swapaxes(a[tile.samples], 0, 1)                       # (C, nt, *big)
    slab = np.ascontiguousarray(windows.region(part, starts, tile.grid))
    return slab.reshape(slab.shape[0], -1)                          # (C, nt * prod(grid))


def _columns(slab, tile, g):
    """(G*B, positions) canvas -> (G, K*B, length) columns: one shifted copy per kernel offset."""
    b = slab.shape[0] // g.groups
    step = slab.itemsize
    strides = row_major(tile.grid)
    view = as_strided(slab, shape=(g.groups,) + tuple(g.kernel) + (b, tile.length),
                      strides=(b * slab.strides[0],)
                      + tuple(d * s * step for d, s in zip(g.dilation, strides))
                      + (slab.strides[0], step),
                      writeable=False)
    return np.ascontiguousarray(view).reshape(g.groups, -1, tile.length)  # (G, K*B, length)


def _on_grid(flat, tile, g):
    """(G, M, nt * prod(grid)) -> the output positions of the grid, (G, M, nt, rows, ...)."""
    count = tile.samples.stop - tile.samples.start
    grid = flat.reshape(flat.shape[:2] + (count,) + tile.grid)
    outputs = (tile.rows.stop - tile.rows.start,) + tuple(g.small[1:])
    return grid[(...,) + tuple(slice(0, e) for e in outputs)]


def _conv_tile(x, w2, y, g, tile):
    """y's outputs in the tile = w2 @ the tile's shifted columns."""
    slab = _slab(x, tile, g)
    flat = np.empty((g.groups, w2.shape[1], slab.shape[1]), dtype=y.dtype)
    # (G, M, K*B) @ (G, K*B, L) -> (G, M, L)
    np.matmul(w2, _columns(slab, tile, g), out=flat[:, :, :tile.length])
    np.copyto(group_major(y, tile.samples, tile.rows, g.groups), _on_grid(flat, tile, g))


def conv(x, w, geometry):
    """(N, G*B, *big) x (G*M, B, *k) -> (N, G*M, *small), stride 1."""
    g = geometry
    n = x.shape[0]
    m, b = channels(w, g.groups)
    dtype = np.result_type(x, w)
    w2 = matrix(w, g.groups)                                        # (G, M, K*B)
    y = np.empty((n, g.groups * m) + tuple(g.small), dtype=dtype)
    per_position = g.groups * (b * math.prod(g.kernel) + b + m) * dtype.itemsize
    each(_conv_tile, tiles(n, g, per_position), x, w2, y, g)
    return y


def conv_transpose(y, w, geometry):
    """(N, G*M, *small) x (G*M, B, *k) -> (N, G*B, *big): the mirrored conv of y."""
    return conv(y, flipped(w, geometry.groups), mirrored(geometry))


def _weight_tile(x, y, g, tile):
    """The tile's share of the weight gradient, (G, M, K*B)."""
    slab = _slab(x, tile, g)
    flat = np.zeros((g.groups, y.shape[1] // g.groups, slab.shape[1]), dtype=y.dtype)
    np.copyto(_on_grid(flat, tile, g), group_major(y, tile.samples, tile.rows, g.groups))
    # (G, M, L) @ (G, L, K*B) -> (G, M, K*B); zeros of flat off the outputs
    return flat[:, :, :tile.length] @ _columns(slab, tile, g).transpose(0, 2, 1)


def conv_weight(x, y, geometry):
    """(N, G*B, *big) x (N, G*M, *small) -> (G*M, B, *k)."""
    g = geometry
    n = x.shape[0]
    b = x.shape[1] // g.groups
    m = y.shape[1] // g.groups
    dtype = np.result_type(x, y)
    per_position = g.groups * (b * math.prod(g.kernel) + b + m) * dtype.itemsize
    grad = each(_weight_tile, tiles(n, g, per_position), x, y.astype(dtype, copy=False), g)
    if grad is None:  # no samples
        grad = np.zeros((g.groups, m, math.prod(g.kernel) * b), dtype=dtype)
    return unmatrix(grad.astype(dtype, copy=False), g.groups, g.kernel)
