"""Compiled loops for direct.py (Numba, cached on disk by _jit, GIL released).

The same flattened geometry as _depthwise_loops: each input plane padded once into a
polyphase canvas (_depthwise_loops._pad), output row r of every plane at canvas
offset rows[r], tap k at taps[k], so output position (r, t) reads canvas position
rows[r] + taps[k] + t for every stride.

The inner loops are register blocked: four output channels by three taps per pass,
so each canvas element loaded feeds four multiply-adds and each accumulator loaded
and stored feeds three.
"""

from __future__ import annotations

import numba
import numpy as np

from ._depthwise_loops import OPTIONS, _axpy, _axpy3, _copy, _pad
from ._jit import compiled

CHANNELS = 4  # output channels per pass of the blocked loops


@compiled(**OPTIONS)
def pad_planes(x, canvas, sources, first, stop, start, stride, items):
    """canvas[p] = plane p of x padded into its polyphase canvas, for p in [first, last);
    the canvas's padding positions are zero already."""
    for p in range(items[0], items[1]):
        _pad(canvas[p], x[p], sources, first, stop, start, stride)


@numba.njit(inline="always")
def _four3(o0, o1, o2, o3, src, a0, a1, a2, w, row, bi, kk):
    """o_c += sum over the taps kk, kk + 1, kk + 2 (at src[a0:], src[a1:], src[a2:]) of
    w[row + c, bi, tap] * src, for c < 4."""
    n = o0.shape[0]
    a, b, c = src[a0 : a0 + n], src[a1 : a1 + n], src[a2 : a2 + n]
    w00, w01, w02 = w[row, bi, kk], w[row, bi, kk + 1], w[row, bi, kk + 2]
    w10, w11, w12 = w[row + 1, bi, kk], w[row + 1, bi, kk + 1], w[row + 1, bi, kk + 2]
    w20, w21, w22 = w[row + 2, bi, kk], w[row + 2, bi, kk + 1], w[row + 2, bi, kk + 2]
    w30, w31, w32 = w[row + 3, bi, kk], w[row + 3, bi, kk + 1], w[row + 3, bi, kk + 2]
    for t in range(n):
        at, bt, ct = a[t], b[t], c[t]
        o0[t] += w00 * at + w01 * bt + w02 * ct
        o1[t] += w10 * at + w11 * bt + w12 * ct
        o2[t] += w20 * at + w21 * bt + w22 * ct
        o3[t] += w30 * at + w31 * bt + w32 * ct


@numba.njit(inline="always")
def _four1(o0, o1, o2, o3, src, a0, w, row, bi, kk):
    """o_c += w[row + c, bi, kk] * src[a0:], for c < 4: one tap."""
    n = o0.shape[0]
    a = src[a0 : a0 + n]
    w0, w1, w2, w3 = w[row, bi, kk], w[row + 1, bi, kk], w[row + 2, bi, kk], w[row + 3, bi, kk]
    for t in range(n):
        at = a[t]
        o0[t] += w0 * at
        o1[t] += w1 * at
        o2[t] += w2 * at
        o3[t] += w3 * at


@compiled(**OPTIONS)
def conv_bands(canvas, w, y, rows, taps, edges, groups, items):
    """y[(n, g, c)] rows [edges[i], edges[i + 1]) = sum_{b, k} w[(g, c), b, k] * canvas[(n, g, b)]
    at the window positions, for the items (n, g, i) in [first, last).

    Per item, CHANNELS output channels at a time accumulate the band's canvas positions in
    short runs (within the L1 cache) over every tap, then go to y's rows; the band of the
    B canvases is read from the cache once per block of channels."""
    gm, b, k = w.shape
    m = gm // groups
    bands = edges.shape[0] - 1
    count = rows.shape[0]
    width = y.shape[1] // count
    longest = 0
    for i in range(bands):
        longest = max(longest, rows[edges[i + 1] - 1] + width - rows[edges[i]])
    # rows of whole cache lines, so that no vector store splits across two, and not of a
    # multiple of 4 KiB, whose rows would evict each other from the same cache sets
    stride = -(-longest // 16) * 16
    if stride % 1024 == 0:
        stride += 16
    runs = np.empty((CHANNELS, stride), dtype=y.dtype)
    for item in range(items[0], items[1]):
        ng, band = item // bands, item % bands
        r0, r1 = edges[band], edges[band + 1]
        base = rows[r0]
        span = rows[r1 - 1] + width - base
        g = ng % groups
        c = 0
        while c < m:
            row = g * m + c
            block = CHANNELS if c + CHANNELS <= m else 1
            o0, o1, o2, o3 = runs[0, :span], runs[1, :span], runs[2, :span], runs[3, :span]
            for q in range(block):
                runs[q, :span] = 0
            for bi in range(b):
                plane = canvas[ng * b + bi, base:]
                kk = 0
                if block == CHANNELS:
                    while kk + 3 <= k:
                        _four3(
                            o0, o1, o2, o3, plane, taps[kk], taps[kk + 1], taps[kk + 2],
                            w, row, bi, kk,
                        )  # fmt: skip
                        kk += 3
                    for tap in range(kk, k):
                        _four1(o0, o1, o2, o3, plane, taps[tap], w, row, bi, tap)
                else:
                    while kk + 3 <= k:
                        _axpy3(
                            o0, plane, taps[kk], taps[kk + 1], taps[kk + 2],
                            w[row, bi, kk], w[row, bi, kk + 1], w[row, bi, kk + 2],
                        )  # fmt: skip
                        kk += 3
                    for tap in range(kk, k):
                        _axpy(o0, plane[taps[tap] : taps[tap] + span], w[row, bi, tap])
            for q in range(block):
                target = y[ng * m + c + q]
                for r in range(r0, r1):
                    _copy(target, r * width, runs[q], rows[r] - base, width)
            c += block
