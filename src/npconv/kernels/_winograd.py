"""Compiled loops for winograd.py (Numba, cached on disk, GIL released).

Every array is channels last, so that each step is a loop over a contiguous
run of channels, which the compiler vectorises. Tiles are hypercubes of
`alpha` points per dim, flattened row-major to P = alpha**d rows; a 1-D
transform along dim i combines the rows alpha**(d-1-i) apart:

    out[base + p*s] = sum_q T[p, q] * in[base + q*s],   s = alpha**(d-1-i)

for every base whose coordinate i is 0. Zero entries of T are skipped, so
the sparse Winograd matrices cost only their nonzeros.
"""
from __future__ import annotations

import numba
import numpy as np

OPTIONS = dict(cache=True, nogil=True, fastmath={"contract"})


# The 1-D transforms of winograd.MATRICES written out, one line of a tile at a
# time over C channels: each input read once, each output written once, and no
# zero coefficient touched (a loop over the matrix read and wrote each output row
# once per nonzero: 2.5x slower).

@numba.njit(inline="always")
def _input4(r, w):
    """F(4, 3) B^T: rows r[0..5] -> w[0..5]."""
    i0, i1, i2, i3, i4, i5 = r
    o0, o1, o2, o3, o4, o5 = w
    for c in range(o0.shape[0]):
        d1, d2, d3, d4 = i1[c], i2[c], i3[c], i4[c]
        o0[c] = 4 * i0[c] - 5 * d2 + d4
        o1[c] = d3 + d4 - 4 * (d1 + d2)
        o2[c] = d4 - d3 + 4 * (d1 - d2)
        o3[c] = d4 - d2 + 2 * (d3 - d1)
        o4[c] = d4 - d2 + 2 * (d1 - d3)
        o5[c] = 4 * d1 - 5 * d3 + i5[c]


@numba.njit(inline="always")
def _output4(r, w):
    """F(4, 3) A^T: rows r[0..5] -> w[0..3]."""
    i0, i1, i2, i3, i4, i5 = r
    o0, o1, o2, o3 = w[0], w[1], w[2], w[3]
    for c in range(o0.shape[0]):
        s12, d12 = i1[c] + i2[c], i1[c] - i2[c]
        s34, d34 = i3[c] + i4[c], i3[c] - i4[c]
        o0[c] = i0[c] + s12 + s34
        o1[c] = d12 + 2 * d34
        o2[c] = s12 + 4 * s34
        o3[c] = d12 + 8 * d34 + i5[c]


@numba.njit(inline="always")
def _input2(r, w):
    """F(2, 3) B^T: rows r[0..3] -> w[0..3]."""
    i0, i1, i2, i3 = r[0], r[1], r[2], r[3]
    o0, o1, o2, o3 = w[0], w[1], w[2], w[3]
    for c in range(o0.shape[0]):
        d1, d2 = i1[c], i2[c]
        o0[c] = i0[c] - d2
        o1[c] = d1 + d2
        o2[c] = d2 - d1
        o3[c] = d1 - i3[c]


@numba.njit(inline="always")
def _output2(r, w):
    """F(2, 3) A^T: rows r[0..3] -> w[0..1]."""
    i0, i1, i2, i3 = r[0], r[1], r[2], r[3]
    o0, o1 = w[0], w[1]
    for c in range(o0.shape[0]):
        o0[c] = i0[c] + i1[c] + i2[c]
        o1[c] = i1[c] - i2[c] - i3[c]


@numba.njit(inline="always")
def _along(src, src_rows, dst, dst_rows, m, forward, dims, dim, done):
    """Tile point k lives in row src_rows[k] of src and goes to row dst_rows[k] of dst
    (arrays of rows of C channels): the input (forward) or output transform of
    F(m, 3) along tile dim `dim`.

    Along the dims before `dim` only the first `done` points are read (the output
    transform shrinks each dim it has passed to m points)."""
    alpha = m + 2
    s = alpha ** (dims - 1 - dim)
    for base in range(src_rows.shape[0]):
        if (base // s) % alpha != 0:
            continue
        skip = False
        for before in range(dim):
            if (base // alpha ** (dims - 1 - before)) % alpha >= done:
                skip = True
        if skip:
            continue
        if m == 4:
            r = (src[src_rows[base]], src[src_rows[base + s]], src[src_rows[base + 2 * s]],
                 src[src_rows[base + 3 * s]], src[src_rows[base + 4 * s]],
                 src[src_rows[base + 5 * s]])
            w = (dst[dst_rows[base]], dst[dst_rows[base + s]], dst[dst_rows[base + 2 * s]],
                 dst[dst_rows[base + 3 * s]], dst[dst_rows[base + 4 * s]],
                 dst[dst_rows[base + 5 * s]])
            if forward:
                _input4(r, w)
            else:
                _output4(r, w)
        else:
            r = (src[src_rows[base]], src[src_rows[base + s]], src[src_rows[base + 2 * s]],
                 src[src_rows[base + 3 * s]])
            w = (dst[dst_rows[base]], dst[dst_rows[base + s]], dst[dst_rows[base + 2 * s]],
                 dst[dst_rows[base + 3 * s]])
            if forward:
                _input2(r, w)
            else:
                _output2(r, w)


@numba.njit(**OPTIONS)
def transform_input(slab, origins, points, m, dims, v):
    """v[:, t] = B^T d B (per dim) of the tile at slab row origins[t]: slab is
    (positions, C), v is (P*T, C) with tile t's point p in row p*T + t, and
    points[p] the slab offset of tile point p."""
    count, c = points.shape[0], slab.shape[1]
    tiles = origins.shape[0]
    a = np.empty((count, c), dtype=v.dtype)
    b = np.empty((count, c), dtype=v.dtype)
    own = np.arange(count)
    source = np.empty(count, dtype=np.int64)
    target = np.empty(count, dtype=np.int64)
    for t in range(tiles):
        for p in range(count):
            source[p] = origins[t] + points[p]
            target[p] = p * tiles + t
        if dims == 1:
            _along(slab, source, v, target, m, True, dims, 0, m + 2)
            continue
        _along(slab, source, a, own, m, True, dims, 0, m + 2)
        for dim in range(1, dims - 1):
            _along(a, own, b, own, m, True, dims, dim, m + 2)
            a, b = b, a
        _along(a, own, v, target, m, True, dims, dims - 1, m + 2)


@numba.njit(**OPTIONS)
def transform_output(mm, m, dims, tiles, grid, y):
    """y[:, o] = A^T m A (per dim) of tile t: mm is (P*T, M) with tile t's point p in
    row p*T + t, tiles[t] the tile's coordinates, y one sample's (M, prod(small));
    grid = (*small, *row-major strides of small), and outputs past `small` are dropped."""
    alpha = m + 2
    channels = mm.shape[1]
    count = alpha ** dims
    a = np.empty((count, channels), dtype=y.dtype)
    b = np.empty((count, channels), dtype=y.dtype)
    own = np.arange(count)
    source = np.empty(count, dtype=np.int64)
    for t in range(tiles.shape[0]):
        for p in range(count):
            source[p] = p * tiles.shape[0] + t
        _along(mm, source, a, own, m, False, dims, 0, m)
        for dim in range(1, dims):
            _along(a, own, b, own, m, False, dims, dim, m)
            a, b = b, a
        for p in range(count):
            offset = 0
            inside = True
            rest = p
            for dim in range(dims - 1, -1, -1):
                coordinate = rest % alpha
                rest //= alpha
                o = tiles[t, dim] * m + coordinate
                if coordinate >= m or o >= grid[dim]:
                    inside = False
                offset += o * grid[dims + dim]
            if inside:
                row = a[p]
                for ch in range(channels):
                    y[ch, offset] = row[ch]
