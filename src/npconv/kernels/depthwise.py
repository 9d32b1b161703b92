"""Direct loops for groups with few channels each (depthwise convs).

A GEMM per group would be (M, B*K) @ (B*K, L) with B and M tiny: all overhead.
Instead loop over kernel offsets and the B*M channel pairs, each step one
vectorised multiply-add over every sample, group and position:

    y[n, g, m, o]      += w[g, m, b, j] * x[n, g, b, o*s + j*d - lo]   (conv)
    x[n, g, b, o*s + j*d - lo] += w[g, m, b, j] * y[n, g, m, o]        (conv_transpose)
    w[g, m, b, j]       = sum_{n, o} y[n, g, m, o] * x[n, g, b, o*s + j*d - lo]
"""
from __future__ import annotations

import itertools
import math

import numpy as np

from .. import windows


def supports(geometry):
    return True


def _taps(kernel):
    return itertools.product(*(range(k) for k in kernel))


def _split(a, groups):
    """(n, G*C, ...) -> (n, G, C, ...) view."""
    return a.reshape((a.shape[0], groups, -1) + a.shape[2:])


def _weights(w, groups, nd):
    """(G*M, B, *k) -> (G, M, B, *k) with singleton axes to broadcast over (n, ..., *space)."""
    wg = w.reshape((groups, w.shape[0] // groups) + w.shape[1:])
    return wg.reshape((1,) + wg.shape + (1,) * nd)


def conv(x, w, geometry):
    g = geometry
    nd = len(g.kernel)
    cols = windows.gather(x, g.kernel, g.stride, g.dilation, g.lo, g.small)
    cols = _split(cols, g.groups)                                   # (n, G, B, *k, *small)
    wg = _weights(w, g.groups, nd)                                  # (1, G, M, B, *k, 1...)
    m, b = wg.shape[2], wg.shape[3]
    y = np.zeros((x.shape[0], g.groups, m) + tuple(g.small), dtype=np.result_type(x, w))
    for j in _taps(g.kernel):
        for bi in range(b):
            # (1, G, M, 1...) * (n, G, 1, *small) -> (n, G, M, *small)
            y += wg[(slice(None), slice(None), slice(None), bi) + j] * cols[:, :, bi:bi + 1][
                (slice(None),) * 3 + j]
    return y.reshape((x.shape[0], g.groups * m) + tuple(g.small))


def conv_transpose(y, w, geometry):
    g = geometry
    nd = len(g.kernel)
    wg = _weights(w, g.groups, nd)
    m, b = wg.shape[2], wg.shape[3]
    yg = _split(y, g.groups)                                        # (n, G, M, *small)
    span = tuple((o - 1) * s + (k - 1) * d + 1
                 for o, k, s, d in zip(g.small, g.kernel, g.stride, g.dilation))
    canvas = np.zeros((y.shape[0], g.groups, b) + span, dtype=np.result_type(y, w))
    for j in _taps(g.kernel):
        target = canvas[(Ellipsis,) + tuple(slice(t * d, t * d + (o - 1) * s + 1, s)
                                            for t, d, o, s
                                            in zip(j, g.dilation, g.small, g.stride))]
        for mi in range(m):
            # (1, G, B, 1...) * (n, G, 1, *small) -> (n, G, B, *small)
            target += wg[(slice(None), slice(None), mi, slice(None)) + j] * yg[:, :, mi:mi + 1]
    x = windows.region(canvas, g.lo, g.big)
    return np.ascontiguousarray(x).reshape((y.shape[0], g.groups * b) + tuple(g.big))


def conv_weight(x, y, geometry):
    g = geometry
    nd = len(g.kernel)
    cols = _split(windows.gather(x, g.kernel, g.stride, g.dilation, g.lo, g.small), g.groups)
    yg = _split(y, g.groups)                                        # (n, G, M, *small)
    b, m = cols.shape[2], yg.shape[2]
    grad = np.empty((g.groups, m, b) + tuple(g.kernel), dtype=np.result_type(x, y))
    over = (0,) + tuple(range(2, 2 + nd))                           # samples and space
    for j in _taps(g.kernel):
        tap = cols[(slice(None),) * 3 + j]                          # (n, G, B, *small)
        for mi, bi in itertools.product(range(m), range(b)):
            grad[(slice(None), mi, bi) + j] = (yg[:, :, mi] * tap[:, :, bi]).sum(axis=over)
    return grad.reshape((g.groups * m, b) + tuple(g.kernel))
