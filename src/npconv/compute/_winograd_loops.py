"""Compiled loops for winograd.py (Numba, cached on disk by _jit, GIL released).

Every array is rows of C channels (channels last), so each step is a loop
over a contiguous run of channels, which the compiler vectorises. A tile has
ALPHA = 4 points per dim; point (q_0, ..., q_{d-1}) of a tile lives in row

    offset + sum_i q_i * step[i]

of its array (the padded input slab, a scratch tile, or the (P*T, C)
transformed input), so one loop serves every number of dims and every
layout. A 1-D transform along dim i reads the ALPHA rows step[i] apart of
every line of the tile and writes its outputs likewise.

The 1-D transforms are the matrices of winograd.MATRICES written out: each
input read once and each output written once per channel, with only
additions (no constant to promote the arithmetic to float64) and every
access indexed on the two base arrays, so that the compiler's alias check
stays one comparison and the loop vectorises (row views instead compile
to scalar code).
"""

from __future__ import annotations

import numba
import numpy as np

from ._jit import compiled

OPTIONS = dict(nogil=True, fastmath={"contract"})
INPUT, OUTPUT, GRADIENT = 0, 1, 2  # which 1-D transform: B^T, A^T, A
M, ALPHA = 2, 4  # outputs and points per dim of a tile


@numba.njit(inline="always")
def _input2(src, r, rs, dst, w, ws):
    """F(2, 3) B^T along one line: rows r + q*rs of src -> rows w + p*ws of dst."""
    for c in range(src.shape[1]):
        d1, d2 = src[r + rs, c], src[r + 2 * rs, c]
        dst[w, c] = src[r, c] - d2
        dst[w + ws, c] = d1 + d2
        dst[w + 2 * ws, c] = d2 - d1
        dst[w + 3 * ws, c] = d1 - src[r + 3 * rs, c]


@numba.njit(inline="always")
def _output2(src, r, rs, dst, w, ws):
    """F(2, 3) A^T along one line: 4 rows of src -> 2 rows of dst."""
    for c in range(src.shape[1]):
        m1, m2 = src[r + rs, c], src[r + 2 * rs, c]
        dst[w, c] = src[r, c] + m1 + m2
        dst[w + ws, c] = m1 - m2 - src[r + 3 * rs, c]


@numba.njit(inline="always")
def _gradient2(src, r, rs, dst, w, ws):
    """F(2, 3) A (the output transform transposed) along one line: 2 rows -> 4 rows."""
    for c in range(src.shape[1]):
        d0, d1 = src[r, c], src[r + rs, c]
        dst[w, c] = d0
        dst[w + ws, c] = d0 + d1
        dst[w + 2 * ws, c] = d0 - d1
        dst[w + 3 * ws, c] = -d1


@numba.njit(inline="always")
def _line(src, r, rs, dst, w, ws, kind):
    if kind == INPUT:
        _input2(src, r, rs, dst, w, ws)
    elif kind == OUTPUT:
        _output2(src, r, rs, dst, w, ws)
    else:
        _gradient2(src, r, rs, dst, w, ws)


@numba.njit(inline="always")
def _along(src, src_offset, src_steps, dst, dst_offset, dst_steps, kind, dim):
    """The 1-D transform `kind` of F(2, 3) along tile dim `dim`, every line of the tile.

    Lines run over the other dims' points: ALPHA of each dim, except the M that
    the output transform leaves in the dims it has passed (before `dim`) and the
    gradient transform has yet to expand (after `dim`)."""
    dims = src_steps.shape[0]
    before = M if kind == OUTPUT else ALPHA
    after = M if kind == GRADIENT else ALPHA
    lines = 1
    for i in range(dims):
        if i != dim:
            lines *= before if i < dim else after
    for line in range(lines):
        rest = line
        r, w = src_offset, dst_offset
        for i in range(dims - 1, -1, -1):
            if i == dim:
                continue
            extent = before if i < dim else after
            q = rest % extent
            rest //= extent
            r += q * src_steps[i]
            w += q * dst_steps[i]
        _line(src, r, src_steps[dim], dst, w, dst_steps[dim], kind)


@numba.njit(inline="always")
def _tiles(src, src_origins, src_steps, dst, dst_origins, dst_steps, kind, a, b, own):
    """Transform `kind` of every tile t, from rows src_origins[t] + q . src_steps of src
    to rows dst_origins[t] + p . dst_steps of dst, through scratch tiles a and b.

    One pass per dim, from src (first) or the scratch tile the last pass wrote, into dst
    (last) or the other scratch tile: one call site of _along, so the compiled loop holds
    one copy of each 1-D transform (three call sites, one per role, compiled three)."""
    dims = src_steps.shape[0]
    for t in range(src_origins.shape[0]):
        for dim in range(dims):
            if dim == 0:
                source, source_offset, source_steps = src, src_origins[t], src_steps
            else:
                source, source_offset, source_steps = a, 0, own
            if dim == dims - 1:
                target, target_offset, target_steps = dst, dst_origins[t], dst_steps
            else:
                target, target_offset, target_steps = b, 0, own
            _along(
                source, source_offset, source_steps, target, target_offset, target_steps, kind, dim
            )
            a, b = b, a


@compiled(**OPTIONS)
def transform(src, src_origins, src_steps, dst, dst_origins, dst_steps, kind):
    """Transform `kind` (INPUT, OUTPUT or GRADIENT) of F(2, 3) of every tile t: tile
    point q in row src_origins[t] + q . src_steps of src, transformed point p to row
    dst_origins[t] + p . dst_steps of dst; rows of C channels in both."""
    dims = src_steps.shape[0]
    own = np.empty(dims, dtype=np.int64)  # row-major strides of a scratch tile
    for i in range(dims):
        own[i] = ALPHA ** (dims - 1 - i)
    a = np.empty((ALPHA**dims, src.shape[1]), dtype=dst.dtype)
    b = np.empty((ALPHA**dims, src.shape[1]), dtype=dst.dtype)
    _tiles(src, src_origins, src_steps, dst, dst_origins, dst_steps, kind, a, b, own)


@compiled(**OPTIONS)
def between(src, dst):
    """dst[l, w, c] = src[l, w, c] for (L, W, C) arrays, one of them rows of C channels
    and the other a view of channels-first planes (W runs along memory). The loop runs
    along the planes' rows, so the side in memory is read or written contiguously and
    the strided side is the chunk's slab or canvas, in the cache (NumPy's copy runs
    along the channels, striding through the planes)."""
    for line in range(dst.shape[0]):
        for c in range(dst.shape[2]):
            for w in range(dst.shape[1]):
                dst[line, w, c] = src[line, w, c]
