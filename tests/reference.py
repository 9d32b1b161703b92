"""Naive loop implementations of the convolution family: the tests' oracle.

Imports nothing from npconv. Every function loops over positions with
itertools.product, one element (or one channel matmul) at a time, and
accumulates in float64 (complex128 for complex input): slow and obviously
correct, so keep the sizes in tests small. All inputs are batched, in torch's
layouts:

    conv            x (N, C_in, *S),  w (C_out, C_in/groups, *k)
    conv_transpose  x (N, C_in, *S),  w (C_in, C_out/groups, *k)
    unfold/fold     columns (N, C*prod(k), L), channel-major, kernel offsets row-major

Padding is an int, n ints, or n (lo, hi) pairs (see `pairs`).
"""

import itertools
import math

import numpy as np


def ntuple(value, n):
    """An int repeated n times, or a sequence of n ints as a tuple."""
    return (value,) * n if isinstance(value, int) else tuple(value)


def pairs(padding, n):
    """int, n ints or n (lo, hi) pairs -> n (lo, hi) pairs."""
    if isinstance(padding, int):
        return ((padding, padding),) * n
    return tuple((p, p) if isinstance(p, int) else tuple(p) for p in padding)


def positions(shape):
    """Every index tuple of an array of `shape`, in row-major order."""
    return itertools.product(*(range(s) for s in shape))


def wide(a):
    """a in the accumulation dtype: float64, or complex128 for complex a."""
    a = np.asarray(a)
    return a.astype(np.complex128 if np.iscomplexobj(a) else np.float64)


def source(i, n, mode):
    """Index of the input element that position i (may lie outside [0, n)) copies; None = zero."""
    if 0 <= i < n:
        return i
    if mode == "zeros":
        return None
    if mode == "reflect":  # mirror about the edge element (valid for padding < n)
        return -i if i < 0 else 2 * (n - 1) - i
    if mode == "replicate":
        return min(max(i, 0), n - 1)
    if mode == "circular":
        return i % n
    raise ValueError(mode)


def pad(x, padding, mode="zeros"):
    """(N, C, *S) padded by (lo, hi) pairs in `mode`, one position at a time (negative: crop)."""
    size = x.shape[2:]
    out = np.zeros(
        x.shape[:2] + tuple(s + lo + hi for s, (lo, hi) in zip(size, padding, strict=True)), x.dtype
    )
    for p in positions(out.shape[2:]):
        src = [source(i - lo, s, mode) for i, s, (lo, _) in zip(p, size, padding, strict=True)]
        if None not in src:
            out[(...,) + p] = x[(...,) + tuple(src)]
    return out


def conv_size(size, kernel, stride, padding, dilation):
    """Conv output size (number of unfold blocks) per dim, padding as (lo, hi) pairs."""
    return [
        (s + lo + hi - d * (k - 1) - 1) // st + 1
        for s, k, st, (lo, hi), d in zip(size, kernel, stride, padding, dilation, strict=True)
    ]


ALL = slice(None)


def group_slices(groups, a, b):
    """For each group, its channels on two sides with a and b channels per group."""
    return [(slice(g * a, (g + 1) * a), slice(g * b, (g + 1) * b)) for g in range(groups)]


def at(o, j, stride, dilation, lo=None):
    """Where window position o and kernel offset j land: o*stride + j*dilation - lo."""
    lo = (0,) * len(o) if lo is None else lo
    return tuple(
        oo * s + jj * d - ll for oo, jj, s, d, ll in zip(o, j, stride, dilation, lo, strict=True)
    )


def conv(x, w, b=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"):
    """y[:, m, o] = b[m] + sum over b, j of w[m, b, j] * padded x[:, g*B + b, o*s + j*d]."""
    x, w = wide(x), wide(w)
    n, kernel = w.ndim - 2, w.shape[2:]
    stride, dilation, padding = ntuple(stride, n), ntuple(dilation, n), pairs(padding, n)
    xp = pad(x, padding, padding_mode)
    size = conv_size(x.shape[2:], kernel, stride, padding, dilation)
    y = np.zeros((x.shape[0], w.shape[0]) + tuple(size), np.result_type(x, w))
    for o in positions(size):
        for j in positions(kernel):
            i = at(o, j, stride, dilation)
            for ins, outs in group_slices(groups, w.shape[1], w.shape[0] // groups):
                # (N, cin) @ (cin, cout) -> (N, cout)
                y[(ALL, outs) + o] += xp[(ALL, ins) + i] @ w[(outs, ALL) + j].T
    if b is not None:
        y += wide(b).reshape((1, -1) + (1,) * n)
    return y


def conv_transpose(x, w, b=None, stride=1, padding=0, output_padding=0, dilation=1, groups=1):
    """Scatter: x[:, c, o] adds x[:, c, o] * w[c, :, j] into out[:, :, o*s + j*d - lo].

    Positions outside the output are dropped (the crop by padding); a negative
    lo or hi extends the output instead; output_padding extends the far end.
    """
    x, w = wide(x), wide(w)
    n, kernel = w.ndim - 2, w.shape[2:]
    stride, dilation, padding = ntuple(stride, n), ntuple(dilation, n), pairs(padding, n)
    output_padding = ntuple(output_padding, n)
    size = [
        (s_in - 1) * s - lo - hi + d * (k - 1) + op + 1
        for s_in, s, (lo, hi), d, k, op in zip(
            x.shape[2:], stride, padding, dilation, kernel, output_padding, strict=True
        )
    ]
    y = np.zeros((x.shape[0], w.shape[1] * groups) + tuple(size), np.result_type(x, w))
    for o in positions(x.shape[2:]):
        for j in positions(kernel):
            t = at(o, j, stride, dilation, [lo for lo, _ in padding])
            if not all(0 <= tt < sz for tt, sz in zip(t, size, strict=True)):
                continue
            for ins, outs in group_slices(groups, w.shape[0] // groups, w.shape[1]):
                # (N, cin) @ (cin, cout) -> (N, cout)
                y[(ALL, outs) + t] += x[(ALL, ins) + o] @ w[(ins, ALL) + j]
    if b is not None:
        y += wide(b).reshape((1, -1) + (1,) * n)
    return y


def conv_weight(x, dy, kernel, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"):
    """d/dw of sum(conv(x, w) * dy), without conjugation: (C_out, C_in/groups, *kernel).

    dw[m, b, j] = sum over n, o of dy[n, m, o] * padded x[n, g*B + b, o*s + j*d].
    """
    x, dy = wide(x), wide(dy)
    n = len(kernel)
    stride, dilation = ntuple(stride, n), ntuple(dilation, n)
    xp = pad(x, pairs(padding, n), padding_mode)
    cin = x.shape[1] // groups
    dw = np.zeros((dy.shape[1], cin) + tuple(kernel), np.result_type(x, dy))
    for o in positions(dy.shape[2:]):
        for j in positions(kernel):
            i = at(o, j, stride, dilation)
            for ins, outs in group_slices(groups, cin, dy.shape[1] // groups):
                # (cout, N) @ (N, cin) -> (cout, cin)
                dw[(outs, ALL) + j] += dy[(ALL, outs) + o].T @ xp[(ALL, ins) + i]
    return dw


def unfold(x, kernel_size, dilation=1, padding=0, stride=1):
    """(N, C, *S) -> (N, C*prod(k), L): column l holds the l-th window, zero-padded."""
    x = wide(x)
    n = len(kernel_size)
    dilation, stride, padding = ntuple(dilation, n), ntuple(stride, n), pairs(padding, n)
    xp = pad(x, padding)
    blocks = conv_size(x.shape[2:], kernel_size, stride, padding, dilation)
    cols = np.zeros((x.shape[0], x.shape[1], math.prod(kernel_size), math.prod(blocks)), x.dtype)
    for col, o in enumerate(positions(blocks)):
        for row, j in enumerate(positions(kernel_size)):
            cols[:, :, row, col] = xp[(ALL, ALL) + at(o, j, stride, dilation)]
    return cols.reshape(x.shape[0], x.shape[1] * math.prod(kernel_size), math.prod(blocks))


def fold(cols, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """(N, C*prod(k), L) -> (N, C, *output_size): add every window back where unfold read it."""
    cols = wide(cols)
    n = len(kernel_size)
    dilation, stride, padding = ntuple(dilation, n), ntuple(stride, n), pairs(padding, n)
    blocks = conv_size(output_size, kernel_size, stride, padding, dilation)
    k = math.prod(kernel_size)
    cols = cols.reshape(cols.shape[0], cols.shape[1] // k, k, math.prod(blocks))
    out = np.zeros(
        cols.shape[:2]
        + tuple(s + lo + hi for s, (lo, hi) in zip(output_size, padding, strict=True)),
        cols.dtype,
    )
    for col, o in enumerate(positions(blocks)):
        for row, j in enumerate(positions(kernel_size)):
            out[(ALL, ALL) + at(o, j, stride, dilation)] += cols[:, :, row, col]
    # crop the padding
    return out[
        (...,) + tuple(slice(lo, lo + s) for s, (lo, _) in zip(output_size, padding, strict=True))
    ]


def contraction(op, g, pads, x, w, y):
    """One contraction of the trilinear form on a geometry g (fields kernel, stride,
    dilation, lo, big, small, groups): conv(x, w), conv_transpose(y, w) onto g.big, or
    conv_weight(x, y), with the big side padded by `pads`, one (lo, hi) pair per dim."""
    if op == "conv":
        return conv(x, w, None, g.stride, pads, g.dilation, g.groups)
    if op == "conv_weight":
        return conv_weight(x, y, g.kernel, g.stride, pads, g.dilation, g.groups)
    # the (lo, hi) crop that gives exactly `big` back from `small`
    crop = tuple(
        (lo, (o - 1) * s + d * (k - 1) + 1 - lo - size)
        for lo, o, s, d, k, size in zip(
            g.lo, g.small, g.stride, g.dilation, g.kernel, g.big, strict=True
        )
    )
    return conv_transpose(y, w, None, g.stride, crop, 0, g.dilation, g.groups)


def same_nonfinite(out, want, tolerance=1e-9):
    """Assert that out has NaN where the reference `want` has NaN, the same infinities,
    and the reference's values elsewhere (to `tolerance`, relative and absolute)."""
    assert out.shape == want.shape
    np.testing.assert_array_equal(np.isnan(out), np.isnan(want))
    np.testing.assert_array_equal(np.isposinf(out), np.isposinf(want))
    np.testing.assert_array_equal(np.isneginf(out), np.isneginf(want))
    finite = np.isfinite(want)
    np.testing.assert_allclose(out[finite], want[finite], rtol=tolerance, atol=tolerance)
