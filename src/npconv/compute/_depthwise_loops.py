"""Compiled loops for depthwise.py (Numba, cached on disk by _jit, parallel over planes).

Arrays come flattened: every (sample, channel) plane is one row, and the
spatial geometry is two offset tables, so one compiled loop serves every
number of dims:

    rows[r]   flat canvas offset of output row r (all dims but the last)
    taps[k]   flat canvas offset of kernel offset k
    step      stride of the last dim

Output position (r, t) of a plane reads canvas position rows[r] + taps[k] + t*step.
With every stride 1 ("grid" mode) output position (r, t) sits at canvas
position rows[r] + t, so the loops run over the whole flattened plane at once
(long runs that vectorise; the canvas margins are computed into a scratch
plane and dropped, or read as zeros), where rows of a few dozen elements would
run mostly in the vector loop's scalar remainder.

Each call handles the items [first, last) of its loop (output planes, or
weight entries): depthwise.py runs a few calls at once on its own threads
(the loops release the GIL), each owning whole planes, so no two threads
write the same element.
"""

from __future__ import annotations

import numba
import numpy as np

from ._jit import compiled

OPTIONS = dict(nogil=True, fastmath={"contract"})

# Loops index only slices with range() counters: an index like base + t could be
# negative as far as the compiler knows, and Numba's wraparound check on it
# stops the loop from vectorising.


@numba.njit(inline="always")
def _axpy(out, src, wv):
    """out += wv * src, elementwise."""
    for t in range(out.shape[0]):
        out[t] += wv * src[t]


@numba.njit(inline="always")
def _axpy3(out, src, o0, o1, o2, w0, w1, w2):
    """out += w0 * src[o0:] + w1 * src[o1:] + w2 * src[o2:], elementwise over out: three
    taps per pass, so out is loaded and stored a third as often."""
    n = out.shape[0]
    a, b, c = src[o0 : o0 + n], src[o1 : o1 + n], src[o2 : o2 + n]
    for t in range(n):
        out[t] += w0 * a[t] + w1 * b[t] + w2 * c[t]


@numba.njit(inline="always")
def _axpy_run(out, src, start, step, wv):
    """out += wv * src[start::step][:len(out)]; a unit step keeps a contiguous slice."""
    if step == 1:
        _axpy(out, src[start : start + out.shape[0]], wv)
        return
    a, s = np.uint64(start), np.uint64(step)  # unsigned: no wraparound check, no slice object
    for t in range(np.uint64(out.shape[0])):
        out[t] += wv * src[a + t * s]


@numba.njit(inline="always")
def _run_axpy(out, start, step, src, wv):
    """out[start::step][:len(src)] += wv * src."""
    if step == 1:
        _axpy(out[start : start + src.shape[0]], src, wv)
        return
    a, s = np.uint64(start), np.uint64(step)
    for t in range(np.uint64(src.shape[0])):
        out[a + t * s] += wv * src[t]


@numba.njit(inline="always")
def _run_block(out, start, src, wv, kk, block):
    """out[start + t*block + i] += wv[kk + i] * src[t] for i < block, block in 2..4:
    `block` consecutive taps of a run with stride `block` write consecutive positions,
    so the run is one contiguous stretch of out, written as an interleaved group that
    the compiler vectorises (tap by tap, each tap is a loop of strided adds)."""
    n = src.shape[0]
    o = out[start : start + block * n]
    if block == 2:
        w0, w1 = wv[kk], wv[kk + 1]
        for t in range(n):
            v = src[t]
            o[2 * t] += w0 * v
            o[2 * t + 1] += w1 * v
    elif block == 3:
        w0, w1, w2 = wv[kk], wv[kk + 1], wv[kk + 2]
        for t in range(n):
            v = src[t]
            o[3 * t] += w0 * v
            o[3 * t + 1] += w1 * v
            o[3 * t + 2] += w2 * v
    else:
        w0, w1, w2, w3 = wv[kk], wv[kk + 1], wv[kk + 2], wv[kk + 3]
        for t in range(n):
            v = src[t]
            o[4 * t] += w0 * v
            o[4 * t + 1] += w1 * v
            o[4 * t + 2] += w2 * v
            o[4 * t + 3] += w3 * v


@numba.njit(inline="always")
def _block_axpy(out, src, start, wv, kk, block):
    """out[t] += sum_{i < block} wv[kk + i] * src[start + t*block + i], block in 2..4: the
    adjoint of _run_block, reading one contiguous stretch of src as an interleaved group
    (a strided depthwise conv, MobileNet's stride-2 layers)."""
    n = out.shape[0]
    a = src[start : start + block * n]
    if block == 2:
        w0, w1 = wv[kk], wv[kk + 1]
        for t in range(n):
            out[t] += w0 * a[2 * t] + w1 * a[2 * t + 1]
    elif block == 3:
        w0, w1, w2 = wv[kk], wv[kk + 1], wv[kk + 2]
        for t in range(n):
            out[t] += w0 * a[3 * t] + w1 * a[3 * t + 1] + w2 * a[3 * t + 2]
    else:
        w0, w1, w2, w3 = wv[kk], wv[kk + 1], wv[kk + 2], wv[kk + 3]
        for t in range(n):
            out[t] += w0 * a[4 * t] + w1 * a[4 * t + 1] + w2 * a[4 * t + 2] + w3 * a[4 * t + 3]


@numba.njit(inline="always")
def _dot_run(total, a, src, start, step):
    """total + sum of a * src[start::step][:len(a)]."""
    if step == 1:
        return _dot(total, a, src[start : start + a.shape[0]])
    return _dot(total, a, src[start : start + (a.shape[0] - 1) * step + 1 : step])


@numba.njit(inline="always")
def _copy(target, start, source, first, count):
    """target[start:start + count] = source[first:first + count], element by element.

    Unsigned indices: no wraparound check, so the short runs (a row of a plane)
    vectorise without a slice object per run, which cost more than the copy."""
    a, b = np.uint64(start), np.uint64(first)
    for t in range(np.uint64(count)):
        target[a + t] = source[b + t]


@numba.njit(inline="always")
def _rows_to(out, grid, rows, width, to_grid):
    """Copy between the packed rows of `out` and their places rows[r] in `grid`."""
    for r in range(rows.shape[0]):
        if to_grid:
            _copy(grid, rows[r], out, r * width, width)
        else:
            _copy(out, r * width, grid, rows[r], width)


@numba.njit(inline="always")
def _pad(canvas, plane, sources, first, stop, lo):
    """canvas (rows of len(canvas) // len(sources)) = the plane padded: row i copies
    plane[sources[i] + first - lo : sources[i] + stop - lo] into [first, stop).

    Writes only the positions that come from the plane: the canvas is zeroed once
    per call, and its padding positions are the same for every plane."""
    width = canvas.shape[0] // sources.shape[0]
    for i in range(sources.shape[0]):
        if sources[i] >= 0:
            _copy(canvas, i * width + first, plane, sources[i] + first - lo, stop - first)


@numba.njit(inline="always")
def _crop(plane, canvas, sources, first, stop, lo):
    """The inverse of _pad: the plane = the positions of the canvas that _pad fills."""
    width = canvas.shape[0] // sources.shape[0]
    for i in range(sources.shape[0]):
        if sources[i] >= 0:
            _copy(plane, sources[i] + first - lo, canvas, i * width + first, stop - first)


@compiled(**OPTIONS)
def conv(
    x, w, y, rows, taps, step, groups, grid, sources, first, stop, lo, size, last, block, items
):
    """y[(n, c)] = sum_{b, k} w[c, b, k] * x[(n, g, b)] at the window positions.

    Each input plane is first padded into a canvas of `size` positions (_pad's tables).
    grid selects grid mode (every stride 1): one run over canvas positions 0 .. rows[-1] + width.
    last, block: as in conv_transpose (_block_axpy takes `block` taps of a strided run).
    """
    gm, b, k = w.shape
    m = gm // groups
    count = rows.shape[0]
    width = y.shape[1] // count
    span = rows[count - 1] + width if grid else 0
    canvas = np.zeros(size, dtype=y.dtype)  # padding stays zero: _pad writes the rest
    scratch = np.empty(span, dtype=y.dtype)
    for q in range(items[0], items[1]):
        c = q % gm
        plane0 = ((q // gm) * groups + c // m) * b
        out = y[q]
        if grid:
            scratch[:] = 0
            for bi in range(b):
                _pad(canvas, x[plane0 + bi], sources, first, stop, lo)
                kk = 0
                while kk + 3 <= k:
                    _axpy3(
                        scratch,
                        canvas,
                        taps[kk],
                        taps[kk + 1],
                        taps[kk + 2],
                        w[c, bi, kk],
                        w[c, bi, kk + 1],
                        w[c, bi, kk + 2],
                    )
                    kk += 3
                for tap in range(kk, k):
                    _axpy_run(scratch, canvas, taps[tap], 1, w[c, bi, tap])
            _rows_to(out, scratch, rows, width, False)
            continue
        for t in range(out.shape[0]):
            out[t] = 0
        for bi in range(b):
            _pad(canvas, x[plane0 + bi], sources, first, stop, lo)
            for r in range(count):
                target = out[r * width : (r + 1) * width]
                for first_tap in range(0, k, last):
                    kl = 0
                    while block > 1 and kl + block <= last:
                        kk = first_tap + kl
                        _block_axpy(target, canvas, rows[r] + taps[kk], w[c, bi], kk, block)
                        kl += block
                    for kk in range(first_tap + kl, first_tap + last):
                        _axpy_run(target, canvas, rows[r] + taps[kk], step, w[c, bi, kk])


@compiled(**OPTIONS)
def conv_transpose(
    yp, w, x, rows, taps, step, groups, grid, sources, first, stop, lo, size, last, block, items
):
    """x[(n, g, b)] = the canvas, cropped, where canvas at the window positions
    += w[c, b, k] * yp[(n, c)]; one canvas of `size` positions per thread, cropped
    into each plane of x by _pad's tables read backwards (_crop).

    last: the kernel's last dim; block: how many of its consecutive taps a strided run
    takes at once (_run_block: the stride, when it is 2..4 with dilation 1; else 1)."""
    gm, b, k = w.shape
    m = gm // groups
    count = rows.shape[0]
    width = yp.shape[1] // count
    span = rows[count - 1] + width if grid else 0
    scratch = np.zeros(span, dtype=yp.dtype)  # margins stay zero: _rows_to writes the rest
    out = np.empty(size, dtype=yp.dtype)
    for p in range(items[0], items[1]):
        bi = p % b
        plane = p // b  # n*G + g
        out[:] = 0
        for mi in range(m):
            c = (plane % groups) * m + mi
            src = yp[plane * m + mi]
            if grid:
                _rows_to(src, scratch, rows, width, True)
                for kk in range(k):
                    _run_axpy(out, taps[kk], 1, scratch, w[c, bi, kk])
                continue
            for r in range(count):
                row = src[r * width : (r + 1) * width]
                for first_tap in range(0, k, last):
                    kl = 0
                    while block > 1 and kl + block <= last:
                        kk = first_tap + kl
                        _run_block(out, rows[r] + taps[kk], row, w[c, bi], kk, block)
                        kl += block
                    for kk in range(first_tap + kl, first_tap + last):
                        _run_axpy(out, rows[r] + taps[kk], step, row, w[c, bi, kk])
        _crop(x[p], out, sources, first, stop, lo)


@numba.njit(inline="always")
def _dot(total, a, b):
    """total + sum of a * b."""
    for t in range(a.shape[0]):
        total += a[t] * b[t]
    return total


@compiled(**dict(OPTIONS, fastmath={"reassoc", "contract"}))
def conv_weight(x, yp, grad, rows, taps, step, groups, grid, sources, first, stop, lo, size, items):
    """grad[c, b, k] = sum over samples and positions of yp[(n, c)] * x[(n, g, b)],
    each plane of x padded into a canvas of `size` positions first (as in conv)."""
    gm, b, k = grad.shape
    m = gm // groups
    n = yp.shape[0] // gm
    count = rows.shape[0]
    width = yp.shape[1] // count
    span = rows[count - 1] + width if grid else 0
    scratch = np.zeros(span, dtype=yp.dtype)  # margins stay zero: _rows_to writes the rest
    src = np.zeros(size, dtype=yp.dtype)  # padding stays zero: _pad writes the rest
    for q in range(items[0], items[1]):
        c, bi = q // b, q % b
        for kk in range(k):
            grad[c, bi, kk] = 0
        for nn in range(n):
            _pad(src, x[(nn * groups + c // m) * b + bi], sources, first, stop, lo)
            dy = yp[nn * gm + c]
            if grid:
                _rows_to(dy, scratch, rows, width, True)
            for kk in range(k):
                if grid:
                    grad[c, bi, kk] = _dot_run(grad[c, bi, kk], scratch, src, taps[kk], 1)
                    continue
                for r in range(count):
                    grad[c, bi, kk] = _dot_run(
                        grad[c, bi, kk],
                        dy[r * width : (r + 1) * width],
                        src,
                        rows[r] + taps[kk],
                        step,
                    )
