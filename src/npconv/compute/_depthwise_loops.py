"""Compiled loops for depthwise.py (Numba, cached on disk by _jit, parallel over planes).

Arrays come flattened: every (sample, channel) plane is one row, and the
spatial geometry is two offset tables, so one compiled loop serves every
number of dims and every stride:

    rows[r]   flat canvas offset of output row r (all dims but the last)
    taps[k]   flat canvas offset of kernel offset k

Each plane of x is first copied into a canvas split into stride phases (the
polyphase split, depthwise._tables): canvas position (phase p, grid position q)
holds the padded input at q*s + p, per dim. Tap j*d = shift*s + p then reads
phase p at output position + shift, a stride-1 window, so output position (r, t)
reads canvas position rows[r] + taps[k] + t, and every stride runs as the
stride-1 loop: one run over the whole flattened phase grid per tap (long runs
that vectorise; the grid's margins are computed into a scratch plane and
dropped, or read as zeros), where rows of a few dozen elements, or strided
rows, would run mostly in the vector loop's scalar remainder.

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
def _axpy9(out, src, taps, kk, wv):
    """out += sum over the nine taps kk .. kk + 8 of wv[tap] * src[taps[tap]:], elementwise
    over out: nine taps per pass, so out is loaded and stored a ninth as often."""
    n = out.shape[0]
    s0, s1, s2 = src[taps[kk] :], src[taps[kk + 1] :], src[taps[kk + 2] :]
    s3, s4, s5 = src[taps[kk + 3] :], src[taps[kk + 4] :], src[taps[kk + 5] :]
    s6, s7, s8 = src[taps[kk + 6] :], src[taps[kk + 7] :], src[taps[kk + 8] :]
    w0, w1, w2, w3, w4 = wv[kk], wv[kk + 1], wv[kk + 2], wv[kk + 3], wv[kk + 4]
    w5, w6, w7, w8 = wv[kk + 5], wv[kk + 6], wv[kk + 7], wv[kk + 8]
    for t in range(n):
        out[t] += (
            w0 * s0[t] + w1 * s1[t] + w2 * s2[t] + w3 * s3[t] + w4 * s4[t]
            + w5 * s5[t] + w6 * s6[t] + w7 * s7[t] + w8 * s8[t]
        )  # fmt: skip


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
def _skip(target, start, source, first, step, count):
    """target[start + t] = source[first + t*step] for t < count."""
    a, b, s = np.uint64(start), np.uint64(first), np.uint64(step)
    for t in range(np.uint64(count)):
        target[a + t] = source[b + t * s]


@numba.njit(inline="always")
def _spread(target, start, step, source, first, count):
    """target[start + t*step] = source[first + t] for t < count."""
    a, b, s = np.uint64(start), np.uint64(first), np.uint64(step)
    for t in range(np.uint64(count)):
        target[a + t * s] = source[b + t]


@numba.njit(inline="always")
def _pad(canvas, plane, sources, first, stop, start, stride):
    """canvas (rows of len(canvas) // len(sources)) = the plane padded and split into
    phases: row i's columns [first[i], stop[i]) take plane[sources[i] + start[i]::stride].

    Writes only the positions that come from the plane: the canvas is zeroed once
    per call, and its padding positions are the same for every plane."""
    width = canvas.shape[0] // sources.shape[0]
    for i in range(sources.shape[0]):
        if sources[i] >= 0:
            at, count = i * width + first[i], stop[i] - first[i]
            if stride == 1:
                _copy(canvas, at, plane, sources[i] + start[i], count)
            else:
                _skip(canvas, at, plane, sources[i] + start[i], stride, count)


@numba.njit(inline="always")
def _crop(plane, canvas, sources, first, stop, start, stride):
    """The inverse of _pad: the plane = the positions of the canvas that _pad fills."""
    width = canvas.shape[0] // sources.shape[0]
    for i in range(sources.shape[0]):
        if sources[i] >= 0:
            at, count = i * width + first[i], stop[i] - first[i]
            if stride == 1:
                _copy(plane, sources[i] + start[i], canvas, at, count)
            else:
                _spread(plane, sources[i] + start[i], stride, canvas, at, count)


@numba.njit(inline="always")
def _dot(total, a, b):
    """total + sum of a * b."""
    for t in range(a.shape[0]):
        total += a[t] * b[t]
    return total


@compiled(**OPTIONS)
def conv_grid(x, w, y, rows, taps, groups, sources, first, stop, start, stride, size, items):
    """y[(n, c)] = sum_{b, k} w[c, b, k] * x[(n, g, b)] at the window positions, every
    stride 1: one run over canvas positions 0 .. rows[-1] + width per tap.

    Each input plane is first padded into a canvas of `size` positions (_pad's tables)."""
    gm, b, k = w.shape
    m = gm // groups
    count = rows.shape[0]
    width = y.shape[1] // count
    canvas = np.zeros(size, dtype=y.dtype)  # padding stays zero: _pad writes the rest
    scratch = np.empty(rows[count - 1] + width, dtype=y.dtype)
    for q in range(items[0], items[1]):
        c = q % gm
        plane0 = ((q // gm) * groups + c // m) * b
        scratch[:] = 0
        for bi in range(b):
            _pad(canvas, x[plane0 + bi], sources, first, stop, start, stride)
            kk = 0
            while kk + 9 <= k:
                _axpy9(scratch, canvas, taps, kk, w[c, bi])
                kk += 9
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
                _axpy(scratch, canvas[taps[tap] : taps[tap] + scratch.shape[0]], w[c, bi, tap])
        _rows_to(y[q], scratch, rows, width, False)


@compiled(**OPTIONS)
def conv_rows(
    x, w, y, rows, taps, step, groups, sources, first, stop, start, stride, size, last, block, items
):
    """conv_grid for any stride, output row by output row.

    last, block: as in conv_transpose_rows (_block_axpy takes `block` taps of a strided
    run)."""
    gm, b, k = w.shape
    m = gm // groups
    count = rows.shape[0]
    width = y.shape[1] // count
    canvas = np.zeros(size, dtype=y.dtype)  # padding stays zero: _pad writes the rest
    for q in range(items[0], items[1]):
        c = q % gm
        plane0 = ((q // gm) * groups + c // m) * b
        out = y[q]
        for t in range(out.shape[0]):
            out[t] = 0
        for bi in range(b):
            _pad(canvas, x[plane0 + bi], sources, first, stop, start, stride)
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
def conv_transpose_grid(
    yp, w, x, rows, taps, groups, sources, first, stop, start, stride, size, items
):
    """x[(n, g, b)] = the canvas, cropped, where canvas at the window positions
    += w[c, b, k] * yp[(n, c)], every stride 1; one canvas of `size` positions per
    thread, cropped into each plane of x by _pad's tables read backwards (_crop)."""
    gm, b, k = w.shape
    m = gm // groups
    count = rows.shape[0]
    width = yp.shape[1] // count
    scratch = np.zeros(rows[count - 1] + width, dtype=yp.dtype)  # margins stay zero
    out = np.empty(size, dtype=yp.dtype)
    for p in range(items[0], items[1]):
        bi = p % b
        plane = p // b  # n*G + g
        out[:] = 0
        for mi in range(m):
            c = (plane % groups) * m + mi
            _rows_to(yp[plane * m + mi], scratch, rows, width, True)
            for kk in range(k):
                _axpy(out[taps[kk] : taps[kk] + scratch.shape[0]], scratch, w[c, bi, kk])
        _crop(x[p], out, sources, first, stop, start, stride)


@compiled(**OPTIONS)
def conv_transpose_rows(
    yp,
    w,
    x,
    rows,
    taps,
    step,
    groups,
    sources,
    first,
    stop,
    start,
    stride,
    size,
    last,
    block,
    items,
):
    """conv_transpose_grid for any stride, input row by input row.

    last: the kernel's last dim; block: how many of its consecutive taps a strided run
    takes at once (_run_block: the stride, when it is 2..4 with dilation 1; else 1)."""
    gm, b, k = w.shape
    m = gm // groups
    count = rows.shape[0]
    width = yp.shape[1] // count
    out = np.empty(size, dtype=yp.dtype)
    for p in range(items[0], items[1]):
        bi = p % b
        plane = p // b  # n*G + g
        out[:] = 0
        for mi in range(m):
            c = (plane % groups) * m + mi
            src = yp[plane * m + mi]
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
        _crop(x[p], out, sources, first, stop, start, stride)


@compiled(**dict(OPTIONS, fastmath={"reassoc", "contract"}))
def conv_weight_grid(
    x, yp, grad, rows, taps, groups, sources, first, stop, start, stride, size, items
):
    """grad[c, b, k] = sum over samples and positions of yp[(n, c)] * x[(n, g, b)], every
    stride 1, each plane of x padded into a canvas of `size` positions first (as in
    conv_grid)."""
    gm, b, k = grad.shape
    m = gm // groups
    n = yp.shape[0] // gm
    count = rows.shape[0]
    width = yp.shape[1] // count
    scratch = np.zeros(rows[count - 1] + width, dtype=yp.dtype)  # margins stay zero
    src = np.zeros(size, dtype=yp.dtype)  # padding stays zero: _pad writes the rest
    for q in range(items[0], items[1]):
        c, bi = q // b, q % b
        for kk in range(k):
            grad[c, bi, kk] = 0
        for nn in range(n):
            _pad(src, x[(nn * groups + c // m) * b + bi], sources, first, stop, start, stride)
            _rows_to(yp[nn * gm + c], scratch, rows, width, True)
            for kk in range(k):
                grad[c, bi, kk] = _dot(
                    grad[c, bi, kk], scratch, src[taps[kk] : taps[kk] + scratch.shape[0]]
                )


@compiled(**dict(OPTIONS, fastmath={"reassoc", "contract"}))
def conv_weight_rows(
    x, yp, grad, rows, taps, step, groups, sources, first, stop, start, stride, size, items
):
    """conv_weight_grid for any stride, output row by output row."""
    gm, b, k = grad.shape
    m = gm // groups
    n = yp.shape[0] // gm
    count = rows.shape[0]
    width = yp.shape[1] // count
    src = np.zeros(size, dtype=yp.dtype)  # padding stays zero: _pad writes the rest
    for q in range(items[0], items[1]):
        c, bi = q // b, q % b
        for kk in range(k):
            grad[c, bi, kk] = 0
        for nn in range(n):
            _pad(src, x[(nn * groups + c // m) * b + bi], sources, first, stop, start, stride)
            dy = yp[nn * gm + c]
            for kk in range(k):
                for r in range(count):
                    grad[c, bi, kk] = _dot_run(
                        grad[c, bi, kk],
                        dy[r * width : (r + 1) * width],
                        src,
                        rows[r] + taps[kk],
                        step,
                    )


@numba.njit(inline="always")
def _lanes3(out, a, b, c, w0, w1, w2):
    """out += w0 * a + w1 * b + w2 * c, elementwise."""
    for i in range(out.shape[0]):
        out[i] += w0[i] * a[i] + w1[i] * b[i] + w2[i] * c[i]


@compiled(**OPTIONS)
def conv_lanes(x, wb, y, rows, taps, sources, first, stop, start, stride, size, channels, items):
    """y[(n, c)] = sum_k wb[c // lanes, k, c % lanes] * x[(n, c)] at the window positions,
    for groups of one channel on each side (B = M = 1), in blocks of `lanes` channels
    (wb's last dim; `channels` in all, the last block's extra weights zero).

    Item q is block q % blocks of sample q // blocks: its planes of x are padded into a
    channels-last canvas (canvas[p * lanes + i] is canvas position p of channel i, by
    _pad's tables), so each tap of each output position is lanes contiguous
    multiply-adds (whole vectors) however short the rows; the result, channels last
    too, is then copied into the planes of y. Channels past `channels` in the last
    block compute on stale canvas values and are never copied out."""
    blocks, k, lanes = wb.shape
    count = rows.shape[0]
    positions = y.shape[1]
    width = positions // count
    canvas_width = size // sources.shape[0]
    canvas = np.zeros(size * lanes, dtype=y.dtype)  # padding stays zero
    out = np.empty(positions * lanes, dtype=y.dtype)
    ulanes, ustep = np.uint64(lanes), np.uint64(stride)
    for q in range(items[0], items[1]):
        n, block = q // blocks, q % blocks
        c0 = block * lanes
        used = min(lanes, channels - c0)
        for c in range(used):
            plane = x[n * channels + c0 + c]
            for i in range(sources.shape[0]):
                if sources[i] >= 0:
                    at = np.uint64(sources[i] + start[i])
                    to = np.uint64((i * canvas_width + first[i]) * lanes + c)
                    for t in range(np.uint64(stop[i] - first[i])):
                        canvas[to + t * ulanes] = plane[at + t * ustep]
        w = wb[block]
        for r in range(count):
            for t in range(width):
                o = (r * width + t) * lanes
                acc = out[o : o + lanes]
                base = (rows[r] + t) * lanes
                for i in range(lanes):
                    acc[i] = 0
                kk = 0
                while kk + 3 <= k:
                    a0 = base + taps[kk] * lanes
                    a1 = base + taps[kk + 1] * lanes
                    a2 = base + taps[kk + 2] * lanes
                    _lanes3(
                        acc,
                        canvas[a0 : a0 + lanes],
                        canvas[a1 : a1 + lanes],
                        canvas[a2 : a2 + lanes],
                        w[kk],
                        w[kk + 1],
                        w[kk + 2],
                    )
                    kk += 3
                for rest in range(kk, k):
                    a0 = base + taps[rest] * lanes
                    src, wk = canvas[a0 : a0 + lanes], w[rest]
                    for i in range(lanes):
                        acc[i] += wk[i] * src[i]
        for c in range(used):
            plane = y[n * channels + c0 + c]
            for p in range(np.uint64(positions)):
                plane[p] = out[p * ulanes + np.uint64(c)]


@numba.njit(inline="always")
def _flat3(out, a, b, c, wa, wb, wc, zero):
    """out = (0 if zero, else out) + wa * a + wb * b + wc * c, elementwise: three taps per
    pass, weights given per position."""
    if zero:
        for t in range(out.shape[0]):
            out[t] = wa[t] * a[t] + wb[t] * b[t] + wc[t] * c[t]
    else:
        _lanes3(out, a, b, c, wa, wb, wc)


@numba.njit(inline="always")
def _flat_weights(weights, w, masks, c0, count, span):
    """weights[i*span + (c - c0)*P + p] = w[c, i] * masks[i, p] for the block's channels
    c0 .. c0 + count - 1: tap i's weight per position of the block's run."""
    plane = masks.shape[1]
    for i in range(masks.shape[0]):
        m = masks[i]
        for ci in range(count):
            wv = w[c0 + ci, i]
            row = weights[i * span + ci * plane : i * span + (ci + 1) * plane]
            for p in range(plane):
                row[p] = wv * m[p]


@numba.njit(inline="always")
def _flat_run(out, src, weights, span, shifts, base):
    """out = sum over taps i of weights[i*span + u] * src[base + u + shifts[i]] at every
    position u of out (a block's run, starting at position `base` of
    the sample's row src).

    The positions where every tap reads inside src run in passes of up to three taps;
    the few near src's ends, one by one over the taps that stay inside (the others are
    masked there: their reads leave the position's plane)."""
    run, length, last = out.shape[0], src.shape[0], shifts.shape[0]
    # [lo, hi): the positions at which every tap reads inside src
    lo, hi = 0, run
    for i in range(last):
        lo = max(lo, -(base + shifts[i]))
        hi = min(hi, length - base - shifts[i])
    hi = max(hi, lo)
    body = out[lo:hi]
    i = 0
    while i + 3 <= last:
        _flat3(
            body,
            src[base + shifts[i] + lo :],
            src[base + shifts[i + 1] + lo :],
            src[base + shifts[i + 2] + lo :],
            weights[i * span + lo :],
            weights[(i + 1) * span + lo :],
            weights[(i + 2) * span + lo :],
            i == 0,
        )
        i += 3
    if i == 0:
        for t in range(body.shape[0]):
            body[t] = 0
    while i < last:
        s, wt = src[base + shifts[i] + lo :], weights[i * span + lo :]
        for t in range(body.shape[0]):
            body[t] += wt[t] * s[t]
        i += 1
    for e in range(lo + run - hi):
        u = e if e < lo else hi + e - lo
        out[u] = 0
        total = out[u]
        for i in range(last):
            at = base + u + shifts[i]
            if at >= 0 and at < length:
                total += weights[i * span + u] * src[at]
        out[u] = total


@compiled(**OPTIONS)
def conv_flat(x, w, masks, shifts, y, chunk, flags, items):
    """y[n, c] = sum_k w[c, k] * (x[n, c] shifted by shifts[k]) for groups of one channel
    on each side whose output planes have the input planes' shape, every stride 1.

    x and y come as one row per sample, its channels' planes one after another (C*P,):
    output position u of a row reads position u + shifts[k] of the same row for tap k,
    and masks[k, u % P] is 0 where that read leaves position u's plane (the padding).
    So each tap over a block of `chunk` channels is one run of chunk*P multiply-adds,
    whatever the planes' size, with the weights given per position (_flat_weights),
    built once per block and shared by every sample.

    Item q is block q. flags[q] = 1 where the block's outputs hold a NaN or an Inf: a
    masked weight's zero times a non-finite value of a neighbouring plane is NaN where
    direct convolution never reads that value, so the caller recomputes such results."""
    channels, k = w.shape
    span = chunk * masks.shape[1]
    weights = np.empty(k * span, dtype=y.dtype)
    for q in range(items[0], items[1]):
        c0 = q * chunk
        count = min(channels, c0 + chunk) - c0
        base, run = c0 * masks.shape[1], count * masks.shape[1]
        _flat_weights(weights, w, masks, c0, count, span)
        bad = 0
        for n in range(x.shape[0]):
            out = y[n][base : base + run]
            _flat_run(out, x[n], weights, span, shifts, base)
            for t in range(run):
                bad |= np.int32((out[t] - out[t]) != 0)
        flags[q] = bad
