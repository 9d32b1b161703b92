"""Compiled loops over whole (sample, channel) planes (Numba, cached by _jit, GIL released)."""

from __future__ import annotations

from ._jit import compiled


@compiled(nogil=True)
def add_bias(planes, bias, bounds):
    """planes[p] += bias[p % C] for the planes p in [first, last) of an (N*C, S) array."""
    channels = bias.shape[0]
    for p in range(bounds[0], bounds[1]):
        value = bias[p % channels]
        for i in range(planes.shape[1]):
            planes[p, i] += value


@compiled(nogil=True)
def gather(src, table, out, bounds):
    """out[p, j, q] = src[p, table[j, q]], or 0 where table[j, q] < 0, for the rows (p, j)
    numbered p * J + j in [first, last): (P, S), (J, Q), (P, J, Q)."""
    rows = table.shape[0]
    for item in range(bounds[0], bounds[1]):
        p = item // rows
        j = item - p * rows
        for q in range(table.shape[1]):
            t = table[j, q]
            out[p, j, q] = src[p, t] if t >= 0 else 0


@compiled(nogil=True)
def interleave(src, base, step, out, bounds):
    """out[p, j, i] = src[p, base[i] + j * step] for the rows (p, j) numbered p * J + j in
    [first, last): (P, S), (I,), (P, J, I)."""
    rows = out.shape[1]
    for item in range(bounds[0], bounds[1]):
        p = item // rows
        j = item - p * rows
        at = j * step
        for i in range(base.shape[0]):
            out[p, j, i] = src[p, base[i] + at]


@compiled(nogil=True)
def gather_folded(src, table, out, bounds):
    """out[c, j, n, q] = src[n * C + c, table[j, q]], or 0 where table[j, q] < 0, for the
    rows (c, j) numbered c * J + j in [first, last): (nt*C, S), (J, Q), (C, J, nt, Q), the
    samples folded beside the positions."""
    rows, channels, samples = table.shape[0], out.shape[0], out.shape[2]
    for item in range(bounds[0], bounds[1]):
        c = item // rows
        j = item - c * rows
        for n in range(samples):
            plane, target = src[n * channels + c], out[c, j, n]
            for q in range(table.shape[1]):
                t = table[j, q]
                target[q] = plane[t] if t >= 0 else 0
