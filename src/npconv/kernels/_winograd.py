"""Compiled loops for winograd.py (Numba, cached on disk, GIL released).

Every array is rows of C channels (channels last), so each step is a loop
over a contiguous run of channels, which the compiler vectorises. A tile has
`alpha` points per dim; point (q_0, ..., q_{d-1}) of a tile lives in row

    offset + sum_i q_i * step[i]

of its array (the padded input slab, a scratch tile, or the (P*T, C)
transformed input), so one loop serves every number of dims and every
layout. A 1-D transform along dim i reads the alpha rows step[i] apart of
every line of the tile and writes its outputs likewise.

The 1-D transforms are the matrices of winograd.MATRICES written out: each
input read once and each output written once per channel, with float32
constants (a Python int would promote the arithmetic to float64) and every
access indexed on the two base arrays, so that the compiler's alias check
stays one comparison and the loop vectorises (six row views instead: 3.6x
slower, scalar code).
"""
from __future__ import annotations

import numba
import numpy as np

OPTIONS = dict(cache=True, nogil=True, fastmath={"contract"})


@numba.njit(inline="always")
def _input4(src, r, rs, dst, w, ws):
    """F(4, 3) B^T along one line: rows r + q*rs of src -> rows w + p*ws of dst."""
    f2, f4, f5 = np.float32(2), np.float32(4), np.float32(5)
    for c in range(src.shape[1]):
        d1, d2, d3, d4 = src[r + rs, c], src[r + 2 * rs, c], src[r + 3 * rs, c], src[r + 4 * rs, c]
        dst[w, c] = f4 * src[r, c] - f5 * d2 + d4
        dst[w + ws, c] = d3 + d4 - f4 * (d1 + d2)
        dst[w + 2 * ws, c] = d4 - d3 + f4 * (d1 - d2)
        dst[w + 3 * ws, c] = d4 - d2 + f2 * (d3 - d1)
        dst[w + 4 * ws, c] = d4 - d2 + f2 * (d1 - d3)
        dst[w + 5 * ws, c] = f4 * d1 - f5 * d3 + src[r + 5 * rs, c]


@numba.njit(inline="always")
def _output4(src, r, rs, dst, w, ws):
    """F(4, 3) A^T along one line: 6 rows of src -> 4 rows of dst."""
    f2, f4, f8 = np.float32(2), np.float32(4), np.float32(8)
    for c in range(src.shape[1]):
        s12 = src[r + rs, c] + src[r + 2 * rs, c]
        d12 = src[r + rs, c] - src[r + 2 * rs, c]
        s34 = src[r + 3 * rs, c] + src[r + 4 * rs, c]
        d34 = src[r + 3 * rs, c] - src[r + 4 * rs, c]
        dst[w, c] = src[r, c] + s12 + s34
        dst[w + ws, c] = d12 + f2 * d34
        dst[w + 2 * ws, c] = s12 + f4 * s34
        dst[w + 3 * ws, c] = d12 + f8 * d34 + src[r + 5 * rs, c]


@numba.njit(inline="always")
def _input2(src, r, rs, dst, w, ws):
    """F(2, 3) B^T along one line: 4 rows -> 4 rows."""
    for c in range(src.shape[1]):
        d1, d2 = src[r + rs, c], src[r + 2 * rs, c]
        dst[w, c] = src[r, c] - d2
        dst[w + ws, c] = d1 + d2
        dst[w + 2 * ws, c] = d2 - d1
        dst[w + 3 * ws, c] = d1 - src[r + 3 * rs, c]


@numba.njit(inline="always")
def _output2(src, r, rs, dst, w, ws):
    """F(2, 3) A^T along one line: 4 rows -> 2 rows."""
    for c in range(src.shape[1]):
        d1, d2 = src[r + rs, c], src[r + 2 * rs, c]
        dst[w, c] = src[r, c] + d1 + d2
        dst[w + ws, c] = d1 - d2 - src[r + 3 * rs, c]


@numba.njit(inline="always")
def _line(src, r, rs, dst, w, ws, m, forward):
    if m == 4:
        if forward:
            _input4(src, r, rs, dst, w, ws)
        else:
            _output4(src, r, rs, dst, w, ws)
    elif forward:
        _input2(src, r, rs, dst, w, ws)
    else:
        _output2(src, r, rs, dst, w, ws)


@numba.njit(inline="always")
def _along(src, src_offset, src_steps, dst, dst_offset, dst_steps, m, forward, dim, done):
    """The 1-D transform of F(m, 3) along tile dim `dim`, every line of the tile.

    Lines run over the other dims' points: the first `done` of each dim before
    `dim` (the output transform shrinks each dim it has passed to m points) and
    all alpha of each dim after it."""
    alpha = m + 2
    dims = src_steps.shape[0]
    lines = 1
    for i in range(dims):
        if i != dim:
            lines *= done if i < dim else alpha
    for line in range(lines):
        rest = line
        r, w = src_offset, dst_offset
        for i in range(dims - 1, -1, -1):
            if i == dim:
                continue
            extent = done if i < dim else alpha
            q = rest % extent
            rest //= extent
            r += q * src_steps[i]
            w += q * dst_steps[i]
        _line(src, r, src_steps[dim], dst, w, dst_steps[dim], m, forward)


@numba.njit(**OPTIONS)
def transform_input(slab, origins, slab_steps, m, v):
    """v = B^T d B (per dim) of every tile: tile t's point q at slab row
    origins[t] + q . slab_steps; v is (P*T, C) with tile t's point p in row p*T + t."""
    dims = slab_steps.shape[0]
    alpha = m + 2
    tiles = origins.shape[0]
    count = alpha ** dims
    own = np.empty(dims, dtype=np.int64)            # a tile's rows in a scratch tile
    out = np.empty(dims, dtype=np.int64)            # ... and in v
    for i in range(dims):
        own[i] = alpha ** (dims - 1 - i)
        out[i] = own[i] * tiles
    a = np.empty((count, slab.shape[1]), dtype=v.dtype)
    b = np.empty((count, slab.shape[1]), dtype=v.dtype)
    for t in range(tiles):
        if dims == 1:
            _along(slab, origins[t], slab_steps, v, t, out, m, True, 0, alpha)
            continue
        _along(slab, origins[t], slab_steps, a, 0, own, m, True, 0, alpha)
        for dim in range(1, dims - 1):
            _along(a, 0, own, b, 0, own, m, True, dim, alpha)
            a, b = b, a
        _along(a, 0, own, v, t, out, m, True, dims - 1, alpha)


@numba.njit(**OPTIONS)
def transform_output(mm, m, out, origins, steps):
    """out = A^T m A (per dim) of every tile: mm is (P*T, M) with tile t's point p in
    row p*T + t; tile t's output q goes to row origins[t] + q . steps of out."""
    dims = steps.shape[0]
    alpha = m + 2
    tiles = origins.shape[0]
    count = alpha ** dims
    own = np.empty(dims, dtype=np.int64)
    source = np.empty(dims, dtype=np.int64)
    for i in range(dims):
        own[i] = alpha ** (dims - 1 - i)
        source[i] = own[i] * tiles
    a = np.empty((count, mm.shape[1]), dtype=out.dtype)
    b = np.empty((count, mm.shape[1]), dtype=out.dtype)
    for t in range(tiles):
        if dims == 1:
            _along(mm, t, source, out, origins[t], steps, m, False, 0, m)
            continue
        _along(mm, t, source, a, 0, own, m, False, 0, m)
        for dim in range(1, dims - 1):
            _along(a, 0, own, b, 0, own, m, False, dim, m)
            a, b = b, a
        _along(a, 0, own, out, origins[t], steps, m, False, dims - 1, m)
