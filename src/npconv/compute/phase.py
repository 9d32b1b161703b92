"""Strided geometries as sums of stride-1 ones (sub-pixel / phase decomposition).

Split the big side by phase p = i mod s, x_p[q] = x[p + s*q]. Window o, tap j
lands on i = o*s + j*d - lo, which has phase p exactly when
(j*d - lo - p) mod s == 0: the taps j0, j0 + e, j0 + 2e, ... with
e = s / gcd(s, d). For those taps q = o + (j0*d - lo - p)/s + t*d/gcd(s, d), so

    T(x, w, y) = sum_p T_p(x[p::s], w[j0::e], y)

where T_p is the trilinear form of a stride-1 geometry: kernel = the number of
taps of phase p, dilation d/gcd(s, d), lo = (lo + p - j0*d)/s, big = len(x_p),
small unchanged. Per spatial dim independently; phases are their products.
Each operation follows by differentiating the sum:

    conv            y            = sum_p conv_p(x_p, w_p)
    conv_transpose  x[p::s]      = conv_transpose_p(y, w_p)     (zero where no tap)
    conv_weight     w[j0::e]     = conv_weight_p(x_p, y)        (every tap has one phase)

No zeros are inserted and no scatter overlaps: every sub-problem is a dense
stride-1 one, solved by whichever stride-1 algorithm the planner picks
(kernel == stride is one 1x1 GEMM per phase).
"""

from __future__ import annotations

import itertools
import math
from typing import NamedTuple

import numpy as np

from .._threads import split_blas
from .geometry import Geometry


class Phase(NamedTuple):
    big: tuple  # slices of the big side: p::s per dim
    taps: tuple  # slices of the kernel: j0::e per dim
    geometry: Geometry


# the ops for which NaN and Inf land exactly where a direct convolution puts them (the
# others multiply padding or canvas zeros by them)
EXACT_NONFINITE = ("conv", "conv_weight")


def supports(geometry):
    return any(s > 1 for s in geometry.stride)


def variant(p):
    return f"{math.prod(p.geometry.stride)} stride phases"


def _dim_phases(k, s, d, lo, big):
    """Per dim: (big slice, tap slice or None, kernel, dilation, lo, size) for each phase p."""
    e = s // math.gcd(s, d)
    found = []
    for p in range(s):
        first = next((j for j in range(min(k, e)) if (j * d - lo - p) % s == 0), None)
        size = len(range(p, big, s))
        if first is None:
            found.append((slice(p, None, s), None, 0, 1, 0, size))
            continue
        taps = len(range(first, k, e))
        found.append(
            (
                slice(p, None, s),
                slice(first, None, e),
                taps,
                d // math.gcd(s, d),
                (lo + p - first * d) // s,
                size,
            )
        )
    return found


def phases(geometry):
    """Every phase of the big side; taps is None for phases that no tap reaches."""
    g = geometry
    per_dim = [
        _dim_phases(*v) for v in zip(g.kernel, g.stride, g.dilation, g.lo, g.big, strict=True)
    ]
    for combo in itertools.product(*per_dim):
        big, taps, kernel, dilation, lo, size = zip(*combo, strict=True)
        if any(t is None for t in taps):
            yield Phase(big, None, None)
            continue
        yield Phase(
            big,
            taps,
            Geometry(kernel, (1,) * len(kernel), dilation, lo, size, tuple(g.small), g.groups),
        )


def _empty(p):
    return 0 in p.geometry.big


def conv(x, w, geometry):
    """(N, G*B, *big) x (G*M, B, *k) -> (N, G*M, *small): the sum of the phases' convs."""
    from . import conv as solve

    y = None
    for p in phases(geometry):
        if p.taps is None or _empty(p):
            continue
        part = solve(x[(...,) + p.big], w[(...,) + p.taps], p.geometry)
        if y is None:
            y = part
        else:
            y += part
    if y is None:
        y = np.zeros((x.shape[0], w.shape[0]) + tuple(geometry.small), dtype=np.result_type(x, w))
    return y


def conv_transpose(y, w, geometry):
    """(N, G*M, *small) x (G*M, B, *k) -> (N, G*B, *big): each phase of x on its own."""
    from . import conv_transpose as solve

    g = geometry
    x = np.empty((y.shape[0], w.shape[1] * g.groups) + tuple(g.big), dtype=np.result_type(y, w))

    def phase(p):
        target = x[(...,) + p.big]
        if p.taps is None:
            target[...] = 0
        elif not _empty(p):
            target[...] = solve(y, w[(...,) + p.taps], p.geometry)

    _each_phase(phase, list(phases(g)))
    return x


def conv_weight(x, y, geometry):
    """(N, G*B, *big) x (N, G*M, *small) -> (G*M, B, *k): each phase's taps on their own."""
    from . import conv_weight as solve

    g = geometry
    grad = np.zeros(
        (y.shape[1], x.shape[1] // g.groups) + tuple(g.kernel), dtype=np.result_type(x, y)
    )

    def phase(p):
        if p.taps is not None and not _empty(p):
            grad[(...,) + p.taps] = solve(x[(...,) + p.big], y, p.geometry)

    _each_phase(phase, list(phases(g)))
    return grad


def _each_phase(body, found):
    """body(p) for every phase, the threads claiming whole phases, largest first: their
    outputs are disjoint, and a phase solved on one thread leaves nothing serial between
    its GEMMs, where each phase's tiles split across the threads would."""
    found.sort(key=lambda p: -math.prod(p.geometry.kernel) if p.geometry else 0)

    def run(bounds):
        for p in found[bounds[0] : bounds[1]]:
            body(p)

    split_blas(run, len(found), slices=len(found))
