"""Compiled overlap-add (col2im) for col2im.py (Numba, cached on disk, GIL released).

Planes are flattened rows of x: plane (n, c) is x[n, c].ravel(). The
geometry arrives as tables (col2im.tables), so one loop serves every number
of dims and nothing is written outside x:

    rows[r, kr]     flat offset in a plane of the target row that output row r
                    reaches through kernel row kr (all dims but the last), -1 if
                    that row falls outside x
    start[kl]       target index, in the last dim, of t = 0 through tap kl
    first, stop     the t whose target start[kl] + t*step is inside x

Tap-major columns: row (g, kr, kl, b) holds every position's value for that
tap; position (sample nn, flat f) sits at nn * sample_stride + (f - f0), rows
`row_stride` apart.

Each call adds into the planes of x in its range `planes`: col2im.py spreads
the planes over npconv's own threads (_threads.split; blocking threads, not
a spinning pool, which beside BLAS's own threads cost more than it saved:
32 ms with Numba's pool vs 26 ms with one thread, resnet-sized). Inner
loops index slices with range() counters only: an index like base + t may be
negative as far as Numba knows, and its wraparound check stops vectorising.
"""
from __future__ import annotations

import numba

OPTIONS = dict(cache=True, nogil=True)


@numba.njit(inline="always")
def _segments(f0, f1, width):
    """Output rows r meeting positions [f0, f1)."""
    return f0 // width, (f1 - 1) // width + 1


@numba.njit(**OPTIONS)
def col2im(cols, count, x, rows, start, first, stop, step, groups, n0, nt, f0, f1, width,
           row_stride, sample_stride, planes):
    """x[(n0 + nn, g, b)] at the window of position f += cols[(g, kr, kl, b), (nn, f)],
    for the planes p = nn * channels + c in [planes[0], planes[1])."""
    kr_count, kl_count = rows.shape[1], start.shape[0]
    b = count // (groups * kr_count * kl_count)
    channels = groups * b
    r0, r1 = _segments(f0, f1, width)
    for p in range(planes[0], planes[1]):
        nn, c = p // channels, p % channels
        g, bi = c // b, c % b
        plane = x[(n0 + nn) * channels + c]
        for kr in range(kr_count):
            for kl in range(kl_count):
                row = ((g * kr_count + kr) * kl_count + kl) * b + bi
                src = cols[row * row_stride + nn * sample_stride:]
                for r in range(r0, r1):
                    target = rows[r, kr]
                    if target < 0:
                        continue
                    lo = max(r * width, f0) - r * width
                    hi = min((r + 1) * width, f1) - r * width
                    a = min(max(first[kl], lo), hi)
                    z = max(min(stop[kl], hi), a)
                    if z <= a:
                        continue
                    seg = src[r * width + a - f0:r * width + z - f0]
                    base = target + start[kl]
                    if step == 1:
                        dst = plane[base + a:base + z]
                    else:
                        dst = plane[base + a * step:base + (z - 1) * step + 1:step]
                    for t in range(z - a):
                        dst[t] += seg[t]



@numba.njit(**OPTIONS)
def col2im_patches(cols, x, b, c0, bc, kl_count, rows, lo, size, step, dilation, groups, n0, nt,
                   width, planes):
    """x[(n0 + nn, g, c0 + bb)] at the window of position f += cols[g, (nn, f), bb, kr, kl].

    Patch layout: each position's window is contiguous, so the inner loop runs
    along the last kernel dim (long kernels over few positions: fcn, iSTFT).
    Every position of nt samples, big channels c0 .. c0 + bc of each group; the planes
    p = (nn * groups + g) * bc + bb in [planes[0], planes[1]).
    """
    kr_count = rows.shape[1]
    patch = kr_count * kl_count
    length = rows.shape[0] * width
    for p in range(planes[0], planes[1]):
        nn, g, bb = p // (groups * bc), (p // bc) % groups, p % bc
        plane = x[((n0 + nn) * groups + g) * b + c0 + bb]
        for f in range(length):
            r, t = f // width, f % width
            origin = t * step - lo                      # last-dim source of tap 0
            a = max(0, -(origin // dilation))           # ceil(-origin / dilation)
            z = min(kl_count, -((origin - size) // dilation))
            if z <= a:
                continue
            base = (((g * nt + nn) * length + f) * bc + bb) * patch
            for kr in range(kr_count):
                target = rows[r, kr]
                if target < 0:
                    continue
                src = cols[base + kr * kl_count + a:base + kr * kl_count + z]
                first = target + origin + a * dilation
                if dilation == 1:
                    dst = plane[first:first + z - a]
                else:
                    dst = plane[first:first + (z - a - 1) * dilation + 1:dilation]
                for u in range(z - a):
                    dst[u] += src[u]
