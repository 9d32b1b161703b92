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

When the rows of the first dim are planes (3-d and up; PLANE positions or
more per row), the shift along the first dim is taken from memory instead:
the columns of each canvas plane are built once, over the other dims only,

    planes[q, (j', b), f] = canvas[b, q, f + off'(j')]      j' = (j_1, ..., j_n)

and output plane r reads planes r .. r + k_0 - 1, which lie one after another
in memory, so its GEMM operand (k_0 * K' * B, L) is a view: the columns cost
k' = prod(k[1:]) copies of the input instead of prod(k) (conv3d_3x3: 9 not 27).

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
from .geometry import (
    bands,
    channels,
    extent,
    flipped,
    gemm_operands,
    group_major,
    mirrored,
    row_major,
    unmatrix,
)

PLANE = 512  # positions per row of the first dim from which rows share their columns
# the ops for which NaN and Inf land exactly where a direct convolution puts them (the
# others multiply padding or canvas zeros by them)
EXACT_NONFINITE = ("conv",)


def supports(geometry):
    return all(s == 1 for s in geometry.stride)


def variant(p):
    return "columns shared by planes" if _by_planes(p.geometry) else "flat canvas"


def _by_planes(g):
    return len(g.kernel) > 1 and g.dilation[0] == 1 and math.prod(g.small[1:]) >= PLANE


class Tile(NamedTuple):
    """A block of outputs: samples, a band of rows of the first spatial dim, and its canvas."""

    samples: slice
    rows: slice
    grid: tuple  # canvas of one sample: (rows + halo, *span[1:])
    length: int  # flat positions from the first output to the last one, inclusive


def tiles(n, g, bytes_per_position):
    """Tiles covering (n, *small) whose canvases stay within the work budget."""
    span = extent(g.small, g)
    halo = span[0] - g.small[0]
    for samples, rows in bands(
        n, g.small[0], math.prod(span[1:]) * bytes_per_position, halo, parts=threads()
    ):
        grid = (rows.stop - rows.start + halo,) + span[1:]
        outputs = (rows.stop - rows.start,) + tuple(g.small[1:])
        last = sum((e - 1) * s for e, s in zip(outputs, row_major(grid), strict=True))
        count = samples.stop - samples.start
        yield Tile(samples, rows, grid, (count - 1) * math.prod(grid) + last + 1)


def _slab(a, tile, g):
    """The tile's canvas of a (n, C, *big), channel-major: (C, nt * prod(grid)), zero outside a."""
    starts = (tile.rows.start - g.lo[0],) + tuple(-lo for lo in g.lo[1:])
    part = np.swapaxes(a[tile.samples], 0, 1)  # (C, nt, *big)
    slab = np.ascontiguousarray(windows.region(part, starts, tile.grid))
    return slab.reshape(slab.shape[0], -1)  # (C, nt * prod(grid))


def _columns(slab, tile, g):
    """(G*B, positions) canvas -> (G, K*B, length) columns: one shifted copy per kernel offset."""
    b = slab.shape[0] // g.groups
    step = slab.itemsize
    strides = row_major(tile.grid)
    view = as_strided(
        slab,
        shape=(g.groups,) + tuple(g.kernel) + (b, tile.length),
        strides=(b * slab.strides[0],)
        + tuple(d * s * step for d, s in zip(g.dilation, strides, strict=True))
        + (slab.strides[0], step),
        writeable=False,
    )
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
    np.matmul(w2, _columns(slab, tile, g), out=flat[:, :, : tile.length])
    np.copyto(group_major(y, tile.samples, tile.rows, g.groups), _on_grid(flat, tile, g))


class Planes(NamedTuple):
    """Sub-grid of one plane (a row of the first dim): its canvas and output extent."""

    grid: tuple  # span[1:]
    length: int  # flat positions from the first output of a plane to its last, inclusive


def _plane_grid(g):
    grid = extent(g.small, g)[1:]
    last = sum((e - 1) * s for e, s in zip(g.small[1:], row_major(grid), strict=True))
    return Planes(grid, last + 1)


def _plane_tiles(n, g, bytes_per_position):
    """(sample, rows) bands: one sample each, rows of output planes in the work budget."""
    span = extent(g.small, g)
    halo = span[0] - g.small[0]
    for samples, rows in bands(
        n, g.small[0], math.prod(span[1:]) * bytes_per_position, halo, parts=threads()
    ):
        for sample in range(samples.start, samples.stop):
            yield sample, rows


def _plane_columns(x, sample, rows, g, planes):
    """(G, rows + halo, K' * B, length) columns of each canvas plane over dims 1.. only."""
    halo = g.kernel[0] - 1
    starts = (rows.start - g.lo[0],) + tuple(-lo for lo in g.lo[1:])
    slab = np.ascontiguousarray(
        windows.region(x[sample], starts, (rows.stop - rows.start + halo,) + planes.grid)
    )
    c, count = slab.shape[:2]  # (C, rows + halo, *grid)
    b = c // g.groups
    step = slab.itemsize
    view = as_strided(
        slab,
        shape=(g.groups, count) + tuple(g.kernel[1:]) + (b, planes.length),
        strides=(b * slab.strides[0], slab.strides[1])
        + tuple(d * s * step for d, s in zip(g.dilation[1:], row_major(planes.grid), strict=True))
        + (slab.strides[0], step),
        writeable=False,
    )
    # (G, rows + halo, *k[1:], B, length) -> (G, rows + halo, K'*B, length)
    return np.ascontiguousarray(view).reshape(g.groups, count, -1, planes.length)


def _operand(cols, r, k0):
    """Output plane r's columns: planes r .. r + k0 - 1 as one (G, k0*K'*B, length) view."""
    part = cols[:, r : r + k0]  # (G, k0, K'*B, length)
    return part.reshape(part.shape[0], -1, part.shape[-1])


def _on_plane(flat, planes, g):
    """(G, M, prod(grid)) -> the plane's output positions, (G, M, *small[1:])."""
    grid = flat.reshape(flat.shape[:2] + planes.grid)
    return grid[(...,) + tuple(slice(0, e) for e in g.small[1:])]


def _conv_planes(x, w2, y, g, planes, tile):
    sample, rows = tile
    cols = _plane_columns(x, sample, rows, g, planes)
    flat = np.empty(w2.shape[:2] + (math.prod(planes.grid),), dtype=y.dtype)
    out = y[sample].reshape((g.groups, -1) + y.shape[2:])  # (G, M, *small)
    for r in range(rows.stop - rows.start):
        # (G, M, k0*K'*B) @ (G, k0*K'*B, length) -> (G, M, length)
        np.matmul(w2, _operand(cols, r, g.kernel[0]), out=flat[:, :, : planes.length])
        np.copyto(out[:, :, rows.start + r], _on_plane(flat, planes, g))


def _weight_planes(x, y, g, planes, tile):
    sample, rows = tile
    cols = _plane_columns(x, sample, rows, g, planes)
    dy = y[sample].reshape((g.groups, -1) + y.shape[2:])  # (G, M, *small)
    flat = np.zeros(dy.shape[:2] + (math.prod(planes.grid),), dtype=y.dtype)
    grad = 0
    for r in range(rows.stop - rows.start):
        np.copyto(_on_plane(flat, planes, g), dy[:, :, rows.start + r])  # zeros elsewhere
        # (G, M, length) @ (G, length, k0*K'*B) -> (G, M, k0*K'*B)
        grad = grad + flat[:, :, : planes.length] @ _operand(cols, r, g.kernel[0]).transpose(
            0, 2, 1
        )
    return grad


def conv(x, w, geometry):
    """(N, G*B, *big) x (G*M, B, *k) -> (N, G*M, *small), stride 1."""
    g = geometry
    n = x.shape[0]
    m, b = channels(w, g.groups)
    w2, y = gemm_operands(x, w, g)
    dtype = y.dtype
    if _by_planes(g):
        per_position = g.groups * (b * math.prod(g.kernel[1:]) + b + m) * dtype.itemsize
        each(_conv_planes, _plane_tiles(n, g, per_position), x, w2, y, g, _plane_grid(g))
        return y
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
    return flat[:, :, : tile.length] @ _columns(slab, tile, g).transpose(0, 2, 1)


def conv_weight(x, y, geometry):
    """(N, G*B, *big) x (N, G*M, *small) -> (G*M, B, *k)."""
    g = geometry
    n = x.shape[0]
    b = x.shape[1] // g.groups
    m = y.shape[1] // g.groups
    dtype = np.result_type(x, y)
    if _by_planes(g):
        per_position = g.groups * (b * math.prod(g.kernel[1:]) + b + m) * dtype.itemsize
        grad = each(
            _weight_planes,
            _plane_tiles(n, g, per_position),
            x,
            y.astype(dtype, copy=False),
            g,
            _plane_grid(g),
        )
    else:
        per_position = g.groups * (b * math.prod(g.kernel) + b + m) * dtype.itemsize
        grad = each(_weight_tile, tiles(n, g, per_position), x, y.astype(dtype, copy=False), g)
    if grad is None:  # no samples
        grad = np.zeros((g.groups, m, math.prod(g.kernel) * b), dtype=dtype)
    return unmatrix(grad.astype(dtype, copy=False), g.groups, g.kernel)
