"""Compiled overlap-add (col2im) for col2im.py (Numba, cached on disk by _jit, GIL released).

Planes are flattened rows of x: plane (n, c) is x[n, c].ravel(). The
geometry arrives as tables (col2im.tables), so one loop serves every number
of dims and nothing is written outside x:

    rows[r, kr]     flat offset in a plane of the target row that output row r
                    reaches through kernel row kr (all dims but the last), -1 if
                    that row falls outside x
    start[kl]       target index, in the last dim, of t = 0 through tap kl
    first, stop     the t whose target start[kl] + t*step is inside x

Channel-major columns: row (g, b, kr, kl) holds every position's value for that
channel and tap (the weight's own order, so the GEMM reads it in place); position
(sample nn, flat f) sits at nn * sample_stride + (f - f0), rows `row_stride` apart.

Each call adds into the planes of x in its range `planes`: col2im.py spreads
the planes over npconv's own threads (_threads.split; blocking threads, not
a spinning pool, which beside BLAS's own threads cost more than it saved). Inner
loops index slices with range() counters only: an index like base + t may be
negative as far as Numba knows, and its wraparound check stops vectorising.
"""

from __future__ import annotations

import numba

from ._jit import compiled

OPTIONS = dict(nogil=True)


@numba.njit(inline="always")
def _segments(f0, f1, width):
    """Output rows r meeting positions [f0, f1)."""
    return f0 // width, (f1 - 1) // width + 1


@numba.njit(inline="always")
def _add_run(plane, base, step, seg):
    """plane[base + t*step] += seg[t] for t < len(seg)."""
    n = seg.shape[0]
    if step == 1:
        dst = plane[base : base + n]
    else:
        dst = plane[base : base + (n - 1) * step + 1 : step]
    for t in range(n):
        dst[t] += seg[t]


@numba.njit(inline="always")
def _add_block(out, s0, s1, s2, s3, block):
    """out[t*block + i] += s_i[t] for i < block, block in 2..4: `block` consecutive taps of
    a run with stride `block` write one contiguous stretch, an interleaved group that the
    compiler vectorises (each tap alone is a scalar loop of strided adds)."""
    n = s0.shape[0]
    if block == 2:
        for t in range(n):
            out[2 * t] += s0[t]
            out[2 * t + 1] += s1[t]
    elif block == 3:
        for t in range(n):
            out[3 * t] += s0[t]
            out[3 * t + 1] += s1[t]
            out[3 * t + 2] += s2[t]
    else:
        for t in range(n):
            out[4 * t] += s0[t]
            out[4 * t + 1] += s1[t]
            out[4 * t + 2] += s2[t]
            out[4 * t + 3] += s3[t]


@numba.njit(inline="always")
def _inside(first, stop, kl, lo, hi):
    """The t of tap kl inside x and inside the row's positions [lo, hi)."""
    a = min(max(first[kl], lo), hi)
    return a, max(min(stop[kl], hi), a)


@compiled(**OPTIONS)
def col2im(
    cols,
    count,
    x,
    rows,
    start,
    first,
    stop,
    step,
    groups,
    n0,
    nt,
    f0,
    f1,
    width,
    row_stride,
    sample_stride,
    block,
    planes,
):
    """x[(n0 + nn, g, b)] at the window of position f += cols[(g, b, kr, kl), (nn, f)],
    for the planes p = nn * channels + c in [planes[0], planes[1]).

    block: how many consecutive taps of the last dim go at once (_add_block: the stride,
    when it is 2..4 with dilation 1; else 1); each block adds the positions where all
    its taps land inside x together, and the rest tap by tap."""
    kr_count, kl_count = rows.shape[1], start.shape[0]
    b = count // (groups * kr_count * kl_count)
    channels = groups * b
    r0, r1 = _segments(f0, f1, width)
    for p in range(planes[0], planes[1]):
        nn, c = p // channels, p % channels
        g, bi = c // b, c % b
        plane = x[(n0 + nn) * channels + c]
        for kr in range(kr_count):
            kl = 0
            while kl < kl_count:
                taps = block if block > 1 and kl + block <= kl_count else 1
                row = ((g * b + bi) * kr_count + kr) * kl_count + kl
                for r in range(r0, r1):
                    target = rows[r, kr]
                    if target < 0:
                        continue
                    lo = max(r * width, f0) - r * width
                    hi = min((r + 1) * width, f1) - r * width
                    src = row * row_stride + nn * sample_stride + r * width - f0
                    common_a, common_z = lo, hi  # where every tap lands in x
                    for i in range(taps):
                        a, z = _inside(first, stop, kl + i, lo, hi)
                        common_a, common_z = max(common_a, a), min(common_z, z)
                    if taps == 1 or common_z <= common_a:
                        common_a = common_z = hi  # tap by tap throughout
                    else:
                        n = common_z - common_a
                        at, tap_rows = src + common_a, row_stride  # tap i: row + i
                        s0 = cols[at : at + n]
                        s1 = cols[at + tap_rows : at + tap_rows + n]
                        s2 = cols[at + 2 * tap_rows : at + 2 * tap_rows + n] if taps > 2 else s1
                        s3 = cols[at + 3 * tap_rows : at + 3 * tap_rows + n] if taps > 3 else s2
                        base = target + start[kl] + common_a * step
                        _add_block(plane[base : base + n * step], s0, s1, s2, s3, taps)
                    for i in range(taps):  # the rest, tap by tap
                        a, z = _inside(first, stop, kl + i, lo, hi)
                        at = src + i * row_stride
                        base = target + start[kl + i]
                        u = min(z, common_a)
                        if u > a:
                            _add_run(plane, base + a * step, step, cols[at + a : at + u])
                        u = max(a, common_z)
                        if z > u:
                            _add_run(plane, base + u * step, step, cols[at + u : at + z])
                kl += taps


@compiled(**OPTIONS)
def col2im_patches(
    cols, x, b, c0, bc, kl_count, rows, lo, size, step, dilation, groups, n0, nt, width, planes
):
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
            origin = t * step - lo  # last-dim source of tap 0
            a = max(0, -(origin // dilation))  # ceil(-origin / dilation)
            z = min(kl_count, -((origin - size) // dilation))
            if z <= a:
                continue
            base = (((g * nt + nn) * length + f) * bc + bb) * patch
            for kr in range(kr_count):
                target = rows[r, kr]
                if target < 0:
                    continue
                src = cols[base + kr * kl_count + a : base + kr * kl_count + z]
                first = target + origin + a * dilation
                if dilation == 1:
                    dst = plane[first : first + z - a]
                else:
                    dst = plane[first : first + (z - a - 1) * dilation + 1 : dilation]
                for u in range(z - a):
                    dst[u] += src[u]


@compiled(**OPTIONS)
def col2im_last(cols, canvas, offsets):
    """canvas[s, offsets[p, t]] += cols[s, p, t] for every sample s, window p and tap t,
    each a run of channels: channels-last columns (S, L, K, C) added into a channels-last
    canvas (S, P, C), offsets (L, K) the flat canvas position each window's tap reaches.
    For output rows of a few positions, where NumPy's strided slab per tap pays per run."""
    for s in range(cols.shape[0]):
        for p in range(cols.shape[1]):
            for t in range(cols.shape[2]):
                dst = canvas[s, offsets[p, t]]
                src = cols[s, p, t]
                for c in range(src.shape[0]):
                    dst[c] += src[c]
