"""1x1 kernels: a convolution that is a GEMM over the channels, with no columns at all.

With every kernel dim 1, window o reads the single big position i = o*s - lo, so
per group

    conv            y[n, m, o] = sum_b w[m, b] x[n, b, i(o)]        (M, B) @ (B, L)
    conv_transpose  x[n, b, i(o)] = sum_m w[m, b] y[n, m, o]        (B, M) @ (M, L)
    conv_weight     w[m, b] = sum_{n, o} y[n, m, o] x[n, b, i(o)]    (M, nL) @ (nL, B)

Stride 1 without padding reads x itself as the GEMM operand (a view); otherwise the
positions i(o) that lie inside the big side are one strided slice, copied once.
Outputs whose i(o) lies in the padding are zero (the bias is added by the caller),
and big positions no window reads get nothing from a transposed conv.
"""

from __future__ import annotations

import numpy as np

from .._threads import matmul
from .geometry import Geometry


def supports(geometry: Geometry) -> bool:
    return all(k == 1 for k in geometry.kernel)


def variant(p) -> str:
    g = p.geometry
    direct = (
        all(s == 1 for s in g.stride)
        and all(lo == 0 for lo in g.lo)
        and tuple(g.big) == tuple(g.small)
    )
    return "in place" if direct else "strided slice"


def _reach(g: Geometry):
    """Per dim, (first o, last o + 1, first i): the windows whose position lies inside."""
    found = []
    for s, lo, big, small in zip(g.stride, g.lo, g.big, g.small, strict=True):
        first = min(small, max(0, -(-lo // s)))  # o*s - lo >= 0
        last = max(first, min(small, (big - 1 + lo) // s + 1))  # o*s - lo < big
        found.append((first, last, first * s - lo))
    return found


def _views(big_side, g: Geometry, reach):
    """The big side's positions that windows read: (n, C, *reached), a view."""
    index = tuple(
        slice(i0, i0 + (o1 - o0 - 1) * s + 1, s) if o1 > o0 else slice(0, 0)
        for (o0, o1, i0), s in zip(reach, g.stride, strict=True)
    )
    return big_side[(slice(None),) * 2 + index]


def _whole(g: Geometry, reach) -> bool:
    return all(o0 == 0 and o1 == small for (o0, o1, _), small in zip(reach, g.small, strict=True))


def _grouped(a, groups):
    """(n, G*C, *S) -> (n, G, C, prod(S)), a view where a's planes are contiguous."""
    return a.reshape(a.shape[0], groups, a.shape[1] // groups, -1)


def conv(x, w, geometry):
    """(N, G*B, *big) x (G*M, B, 1...) -> (N, G*M, *small)."""
    g = geometry
    n, groups = x.shape[0], g.groups
    m = w.shape[0] // groups
    dtype = np.result_type(x, w)
    reach = _reach(g)
    xs = np.ascontiguousarray(_views(x, g, reach))  # (n, G*B, *reached)
    w2 = w.reshape(groups, m, -1)  # (G, M, B)
    # (G, M, B) @ (n, G, B, Lr) -> (n, G, M, Lr)
    product = matmul(w2, _grouped(xs, groups)).astype(dtype, copy=False)
    reached = (n, groups * m) + xs.shape[2:]
    if _whole(g, reach):
        return product.reshape(reached)
    y = np.zeros((n, groups * m) + tuple(g.small), dtype=dtype)
    y[(slice(None),) * 2 + tuple(slice(o0, o1) for o0, o1, _ in reach)] = product.reshape(reached)
    return y


def conv_transpose(y, w, geometry):
    """(N, G*M, *small) x (G*M, B, 1...) -> (N, G*B, *big)."""
    g = geometry
    n, groups = y.shape[0], g.groups
    m, b = w.shape[0] // groups, w.shape[1]
    dtype = np.result_type(y, w)
    reach = _reach(g)
    part = y[(slice(None),) * 2 + tuple(slice(o0, o1) for o0, o1, _ in reach)]
    part = np.ascontiguousarray(part)  # (n, G*M, *reached)
    wt = w.reshape(groups, m, b).swapaxes(1, 2)  # (G, B, M)
    # (G, B, M) @ (n, G, M, Lr) -> (n, G, B, Lr)
    product = matmul(wt, _grouped(part, groups)).astype(dtype, copy=False)
    reached = (n, groups * b) + part.shape[2:]
    if _whole(g, reach) and all(s == 1 for s in g.stride) and part.shape[2:] == tuple(g.big):
        return product.reshape(reached)
    x = np.zeros((n, groups * b) + tuple(g.big), dtype=dtype)
    _views(x, g, reach)[...] = product.reshape(reached)
    return x


def conv_weight(x, y, geometry):
    """(N, G*B, *big) x (N, G*M, *small) -> (G*M, B, 1...)."""
    g = geometry
    groups = g.groups
    b, m = x.shape[1] // groups, y.shape[1] // groups
    dtype = np.result_type(x, y)
    reach = _reach(g)
    xs = _grouped(np.ascontiguousarray(_views(x, g, reach)), groups)  # (n, G, B, Lr)
    dy = y[(slice(None),) * 2 + tuple(slice(o0, o1) for o0, o1, _ in reach)]
    dy = _grouped(np.ascontiguousarray(dy), groups)  # (n, G, M, Lr)
    # (G, M, n*Lr) @ (G, n*Lr, B) -> (G, M, B): samples folded into the contraction
    left = np.ascontiguousarray(dy.transpose(1, 2, 0, 3)).reshape(groups, m, -1)
    right = np.ascontiguousarray(xs.transpose(1, 0, 3, 2)).reshape(groups, -1, b)
    grad = matmul(left, right).astype(dtype, copy=False)
    return grad.reshape((groups * m, b) + (1,) * len(g.kernel))
