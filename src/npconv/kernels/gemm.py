"""The general algorithm: gather windows into columns around one GEMM per tile
(im2col), and its adjoint, GEMM then overlap-add (col2im). Works for every
geometry; the other algorithms specialise it.

Samples are folded into the GEMM's long axis, (M, B*K) @ (B*K, n*L), so small
images still make one large product. Tiles are several whole samples, or
bands of output rows of one sample, sized to geometry.WORK_BYTES.

col2im adds whole blocks of taps at once. Per dim, write j*d = t*s + r with
0 <= r < s: tap j of window o lands on canvas position (o + t)*s + r, so with
the canvas viewed as (blocks, s) all taps sharing t go into one slab,

    canvas[o + t, r(j)] += cols[o, j]    for all o and the taps j of block t,

which is ceil(((k-1)*d + 1) / s) adds per dim instead of k, each over runs
of length s: overlap-add, fast when the stride is large (fcn32s, iSTFT).
"""
from __future__ import annotations

import itertools
import math

import numpy as np

from .. import windows
from .geometry import bands, channels, group_major


def supports(geometry):
    return True


def _columns(x, samples, rows, g):
    """Windows of x[samples] for a band of output rows: (G, B*K, nt*rows*prod(small[1:]))."""
    lo = (g.lo[0] - rows.start * g.stride[0],) + tuple(g.lo[1:])
    blocks = (rows.stop - rows.start,) + tuple(g.small[1:])
    view = windows.gather(x[samples], g.kernel, g.stride, g.dilation, lo, blocks)
    nt, n = view.shape[0], len(g.kernel)
    # (nt, G*B, *k, *blocks) -> (nt, G, B, *k, *blocks) -> (G, B, *k, nt, *blocks)
    view = view.reshape((nt, g.groups, -1) + view.shape[2:])
    view = np.moveaxis(view, 0, 2 + n)
    return np.ascontiguousarray(view).reshape(g.groups, -1, nt * math.prod(blocks))


def _row_bytes(g, channels_per_position, itemsize):
    return math.prod(g.small[1:]) * g.groups * channels_per_position * itemsize


def conv(x, w, geometry):
    """(N, G*B, *big) x (G*M, B, *k) -> (N, G*M, *small)."""
    g = geometry
    n = x.shape[0]
    m, b = channels(w, g.groups)
    k = math.prod(g.kernel)
    dtype = np.result_type(x, w)
    w2 = w.reshape(g.groups, m, b * k)                              # (G, M, B*K)
    y = np.empty((n, g.groups * m) + tuple(g.small), dtype=dtype)
    for samples, rows in bands(n, g.small[0], _row_bytes(g, b * k + m, dtype.itemsize)):
        out = group_major(y, samples, rows, g.groups)               # (G, M, nt, rows, ...)
        # (G, M, B*K) @ (G, B*K, nt*L) -> (G, M, nt*L)
        np.copyto(out, (w2 @ _columns(x, samples, rows, g)).reshape(out.shape))
    return y


def conv_weight(x, y, geometry):
    """(N, G*B, *big) x (N, G*M, *small) -> (G*M, B, *k)."""
    g = geometry
    n = x.shape[0]
    b = x.shape[1] // g.groups
    m = y.shape[1] // g.groups
    k = math.prod(g.kernel)
    dtype = np.result_type(x, y)
    grad = np.zeros((g.groups, m, b * k), dtype=dtype)
    for samples, rows in bands(n, g.small[0], _row_bytes(g, b * k + m, dtype.itemsize)):
        part = group_major(y, samples, rows, g.groups)              # (G, M, nt, rows, ...)
        part = part.reshape(g.groups, m, -1)                        # (G, M, nt*L)
        # (G, M, nt*L) @ (G, nt*L, B*K) -> (G, M, B*K)
        grad += part @ _columns(x, samples, rows, g).transpose(0, 2, 1)
    return grad.reshape((g.groups * m, b) + tuple(g.kernel))


def _blocks(k, s, d):
    """Per dim: (t, taps, r) for each non-empty block of taps with j*d // s == t."""
    found = []
    for t, taps in itertools.groupby(range(k), key=lambda j: j * d // s):
        taps = list(taps)
        r = taps[0] * d - t * s
        found.append((t, slice(taps[0], taps[-1] + 1), slice(r, r + (len(taps) - 1) * d + 1, d)))
    return found


def conv_transpose(y, w, geometry):
    """(N, G*M, *small) x (G*M, B, *k) -> (N, G*B, *big): GEMM, then overlap-add."""
    g = geometry
    n, nd = y.shape[0], len(g.kernel)
    m, b = channels(w, g.groups)
    dtype = np.result_type(y, w)
    per_dim = [_blocks(k, s, d) for k, s, d in zip(g.kernel, g.stride, g.dilation)]
    rows = tuple(o + t[-1][0] for o, t in zip(g.small, per_dim))    # canvas blocks per dim
    wg = w.reshape((g.groups, m, b, -1))                            # (G, M, B, K)
    x = np.empty((n, g.groups * b) + tuple(g.big), dtype=dtype)
    canvas = math.prod(r * s for r, s in zip(rows, g.stride))
    # per sample and big channel: columns, canvas; the small side is transposed per sample
    channel_bytes = g.groups * (math.prod(g.small) * (math.prod(g.kernel) + m) + canvas)
    for samples, chans in bands(n, b, channel_bytes * dtype.itemsize):
        nt, bc = samples.stop - samples.start, chans.stop - chans.start
        part = y[samples].reshape((nt, g.groups, m, -1))             # (nt, G, M, L)
        part = np.ascontiguousarray(part.transpose(1, 0, 3, 2))     # (G, nt, L, M)
        # (G, nt*L, M) @ (G, M, Bc*K) -> (G, nt*L, Bc*K)
        cols = (part.reshape(g.groups, -1, m)
                @ wg[:, :, chans].reshape(g.groups, m, -1))
        cols = cols.reshape((g.groups, nt) + tuple(g.small) + (bc,) + tuple(g.kernel))
        # canvas (G, nt, Bc, blocks_1, s_1, ..., blocks_n, s_n); interleaved = row-major big
        canvas = np.zeros((g.groups, nt, bc) + tuple(v for r, s in zip(rows, g.stride)
                                                     for v in (r, s)), dtype=dtype)
        for block in itertools.product(*per_dim):
            target = tuple(v for (t, _, r), o in zip(block, g.small)
                           for v in (slice(t, t + o), r))
            taps = tuple(j for _, j, _ in block)
            # (G, nt, *small, Bc, *taps) -> (G, nt, Bc, small_1, taps_1, ..., small_n, taps_n)
            source = cols[(slice(None),) * (3 + nd) + taps]
            order = (0, 1, 2 + nd) + tuple(v for i in range(nd) for v in (2 + i, 3 + nd + i))
            canvas[(slice(None),) * 3 + target] += source.transpose(order)
        canvas = canvas.reshape((g.groups, nt, bc) + tuple(r * s for r, s in zip(rows, g.stride)))
        out = x[samples].reshape((nt, g.groups, b) + tuple(g.big))[:, :, chans]
        # (G, nt, Bc, *canvas) -> (nt, G, Bc, *big), cropped by lo (zeros beyond the canvas)
        np.copyto(out, windows.region(canvas, g.lo, g.big).transpose(1, 0, 2, *range(3, 3 + nd)))
    return x
