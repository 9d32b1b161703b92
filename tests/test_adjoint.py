"""Adjoint identities and the im2col factorisation, checked on random arrays:

    <conv(x, w), y> == <x, conv_transpose(y, w)>     same weight, padding and mode
    <unfold(x), c>  == <x, fold(c)>
    conv(x, w)           == w @ unfold(x)             per group, reshaped
    conv_transpose(y, w) == fold(w^T @ y)             per group

<a, b> is the bilinear sum(a * b) (no conjugation), so complex arrays obey the
same identities.
"""

import math

import numpy as np
import pytest

import npconv.functional as F
import reference as R

SIZES = {1: (10,), 2: (7, 6), 3: (5, 6, 4)}
KERNELS = {1: (3,), 2: (2, 3), 3: (3, 2, 2)}


def per_dim(value, n):
    return value[:n] if isinstance(value, tuple) else value


def dot(a, b):
    return np.sum(a * b)


def assert_adjoint(a, b, c, d):
    """<a, b> == <c, d> up to rounding, measured against |a||b| (Cauchy-Schwarz)."""
    scale = np.linalg.norm(a) * np.linalg.norm(b)
    assert abs(dot(a, b) - dot(c, d)) <= 1e-11 * scale


def output_padding_for(size, kernel, stride, padding, dilation):
    """The output_padding that makes conv_transpose give back the conv input `size`."""
    return tuple(
        (s + lo + hi - d * (k - 1) - 1) % st
        for s, k, st, (lo, hi), d in zip(size, kernel, stride, padding, dilation, strict=True)
    )


# stride, padding, dilation, groups; per-dim tuples are cut to n
CASES = {
    "plain": (1, 0, 1, 1),
    "strided": (2, 1, 1, 1),
    "uneven_stride": ((3, 2, 2), (0, 1, 2), 1, 1),
    "dilated_grouped": (1, (2, 1, 0), (2, 1, 2), 2),
    "everything": ((2, 3, 1), ((0, 2), (1, 0), (2, 1)), (1, 2, 1), 2),
    "depthwise": (2, 1, 2, 4),
}


def conv_pair(n, case, make, dtype=np.float64, mode="zeros"):
    """x, w, y and the options for a conv and the transposed conv that is its adjoint."""
    stride, padding, dilation, groups = (per_dim(v, n) for v in CASES[case])
    x = make((2, 4) + SIZES[n], dtype)
    w = make((4 if groups == 4 else 6, 4 // groups) + KERNELS[n], dtype)
    options = dict(
        stride=stride, padding=padding, dilation=dilation, groups=groups, padding_mode=mode
    )
    pairs = R.pairs(padding, n)
    small = R.conv_size(SIZES[n], KERNELS[n], R.ntuple(stride, n), pairs, R.ntuple(dilation, n))
    y = make((2, w.shape[0]) + tuple(small), dtype)
    output_padding = output_padding_for(
        SIZES[n], KERNELS[n], R.ntuple(stride, n), pairs, R.ntuple(dilation, n)
    )
    return x, w, y, options, output_padding


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("n", [1, 2, 3])
def test_conv_transpose_is_adjoint_of_conv(n, case, dtype, make):
    x, w, y, options, output_padding = conv_pair(n, case, make, dtype)
    z = F.conv_transpose(y, w, output_padding=output_padding, **options)
    assert z.shape == x.shape
    assert_adjoint(F.conv(x, w, **options), y, x, z)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("case", ["strided", "uneven_stride", "everything"])
@pytest.mark.parametrize("n", [1, 2, 3])
def test_adjoint_with_padding_modes(n, case, mode, make):
    """npconv's conv_transpose padding modes fold the border back: still conv's adjoint."""
    x, w, y, options, output_padding = conv_pair(n, case, make, mode=mode)
    z = F.conv_transpose(y, w, output_padding=output_padding, **options)
    assert z.shape == x.shape
    assert_adjoint(F.conv(x, w, **options), y, x, z)


FOLD_CASES = {
    "plain": dict(),
    "strided_padded": dict(stride=2, padding=1),
    "dilated_per_dim": dict(stride=(1, 2, 1), padding=(2, 0, 1), dilation=(2, 1, 2)),
    "asymmetric": dict(padding=((0, 2), (1, 0), (2, 1)), stride=(2, 1, 3)),
}


@pytest.mark.parametrize("case", FOLD_CASES)
@pytest.mark.parametrize("n", [1, 2, 3])
def test_fold_is_adjoint_of_unfold(n, case, make):
    options = {key: per_dim(value, n) for key, value in FOLD_CASES[case].items()}
    x = make((2, 3) + SIZES[n])
    cols = F.unfold(x, KERNELS[n], **options)
    c = make(cols.shape)
    assert_adjoint(cols, c, x, F.fold(c, SIZES[n], KERNELS[n], **options))


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("n", [1, 2, 3])
def test_conv_is_matmul_of_unfold(n, case, make):
    x, w, y, options, _ = conv_pair(n, case, make)
    del options["padding_mode"]
    groups = options.pop("groups")
    cols = F.unfold(x, KERNELS[n], **options)  # (N, C*K, L)
    # (N, G*B*K, L) -> (N, G, B*K, L) and (G*M, B, *k) -> (G, M, B*K)
    cols = cols.reshape(x.shape[0], groups, -1, cols.shape[-1])
    w2 = w.reshape(groups, w.shape[0] // groups, -1)
    out = np.einsum("gmk,ngkl->ngml", w2, cols)  # (N, G, M, L)
    expected = out.reshape(y.shape)  # (N, G*M, *small)
    np.testing.assert_allclose(
        F.conv(x, w, groups=groups, **options), expected, rtol=1e-12, atol=1e-12
    )


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("n", [1, 2, 3])
def test_conv_transpose_is_fold_of_matmul(n, case, make):
    _, w, y, options, output_padding = conv_pair(n, case, make)
    del options["padding_mode"]
    groups = options.pop("groups")
    # (N, G*M, *small) -> (N, G, M, L) and (G*M, B, *k) -> (G, M, B*K)
    y2 = y.reshape(y.shape[0], groups, y.shape[1] // groups, -1)
    w2 = w.reshape(groups, w.shape[0] // groups, -1)
    cols = np.einsum("gmk,ngml->ngkl", w2, y2)  # (N, G, B*K, L)
    cols = cols.reshape(y.shape[0], -1, math.prod(y.shape[2:]))  # (N, G*B*K, L)
    expected = F.fold(cols, SIZES[n], KERNELS[n], **options)  # (N, G*B, *big)
    np.testing.assert_allclose(
        F.conv_transpose(y, w, groups=groups, output_padding=output_padding, **options),
        expected,
        rtol=1e-12,
        atol=1e-12,
    )
