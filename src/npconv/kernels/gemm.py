"""The general algorithm: gather windows into columns, one batched matmul per
chunk of the batch (im2col), and the adjoint: matmul, then scatter the columns
back (col2im). Works for every geometry; other algorithms specialise it.

Columns are built a chunk of samples at a time so the buffer stays bounded.
"""
from __future__ import annotations

import math

import numpy as np

from .. import windows

COLUMN_BYTES = 64 * 2**20  # bound on one column buffer


def _chunks(n, bytes_per_sample):
    step = max(1, COLUMN_BYTES // max(1, bytes_per_sample))
    for start in range(0, n, step):
        yield slice(start, min(n, start + step))


def _columns(x, geometry):
    """(n, G*B, *big) -> (n, G, B*K, L) contiguous window columns."""
    g = geometry
    cols = windows.gather(x, g.kernel, g.stride, g.dilation, g.lo, g.small)
    n = x.shape[0]
    # (n, G*B, *k, *small) -> (n, G, B*K, L)
    return cols.reshape(n, g.groups, -1, math.prod(g.small))


def conv(x, w, geometry):
    g = geometry
    n, m = x.shape[0], w.shape[0]
    w2 = w.reshape(g.groups, m // g.groups, -1)                     # (G, M, B*K)
    out = np.empty((n, g.groups, m // g.groups, math.prod(g.small)), dtype=x.dtype)
    per_sample = x.shape[1] * math.prod(g.kernel) * math.prod(g.small) * x.itemsize
    for part in _chunks(n, per_sample):
        # (G, M, BK) @ (n, G, BK, L) -> (n, G, M, L)
        np.matmul(w2, _columns(x[part], g), out=out[part])
    return out.reshape((n, m) + tuple(g.small))


def conv_transpose(y, w, geometry):
    g = geometry
    n, m = y.shape[0], w.shape[0]
    b = w.shape[1]
    wt = w.reshape(g.groups, m // g.groups, -1).transpose(0, 2, 1)   # (G, B*K, M)
    y2 = y.reshape(n, g.groups, m // g.groups, -1)                  # (n, G, M, L)
    out = np.empty((n, g.groups * b) + tuple(g.big), dtype=y.dtype)
    per_sample = g.groups * b * math.prod(g.kernel) * math.prod(g.small) * y.itemsize
    for part in _chunks(n, per_sample):
        cols = wt @ y2[part]                                        # (n, G, BK, L)
        # (n, G, B*K, L) -> (n, G*B, *k, *small)
        cols = cols.reshape((cols.shape[0], g.groups * b) + tuple(g.kernel) + tuple(g.small))
        out[part] = windows.scatter(cols, g.big, g.stride, g.dilation, g.lo)
    return out


def conv_weight(x, y, geometry):
    g = geometry
    n, m = x.shape[0], y.shape[1]
    b = x.shape[1] // g.groups
    y2 = y.reshape(n, g.groups, m // g.groups, -1)                  # (n, G, M, L)
    grad = np.zeros((g.groups, m // g.groups, b * math.prod(g.kernel)), dtype=x.dtype)
    per_sample = x.shape[1] * math.prod(g.kernel) * math.prod(g.small) * x.itemsize
    for part in _chunks(n, per_sample):
        cols = _columns(x[part], g)                                 # (n, G, BK, L)
        # sum over the chunk of (G, M, L) @ (G, L, BK) -> (G, M, BK)
        grad += np.einsum("ngml,ngkl->gmk", y2[part], cols, optimize=True)
    return grad.reshape((m, b) + tuple(g.kernel))
