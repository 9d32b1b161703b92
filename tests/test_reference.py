"""npconv.functional and every kernel algorithm against the loop reference, over
1-4 spatial dims, strides, paddings (int, tuple, (lo, hi) pairs, strings),
output_padding, dilation, groups, bias, unbatched input, dtypes and padding modes.
"""

import importlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import npconv.functional as F
import reference as R
import strategies
from npconv import compute
from npconv.compute import Geometry, gemm

DTYPES = [np.float16, np.float32, np.float64, np.complex64, np.complex128]
TOLERANCE = {
    np.float16: 1e-2,
    np.float32: 1e-5,
    np.float64: 1e-12,
    np.complex64: 1e-5,
    np.complex128: 1e-12,
}

SIZES = {1: (9,), 2: (6, 7), 3: (5, 4, 6), 4: (4, 5, 3, 4)}
KERNELS = {1: (3,), 2: (3, 2), 3: (2, 3, 2), 4: (2, 2, 3, 2)}


def assert_close(actual, expected, dtype):
    """Same shape and dtype, and max|a - e| within the dtype's tolerance of max|e|."""
    assert actual.dtype == np.dtype(dtype)
    assert actual.shape == expected.shape
    scale = max(1.0, float(np.abs(expected).max(initial=0)))
    error = float(np.abs(actual.astype(expected.dtype) - expected).max(initial=0))
    assert error <= TOLERANCE[np.dtype(dtype).type] * scale, error


def per_dim(value, n):
    """Per-dim tuples in the grids are written for the most dims; keep the first n."""
    return value[:n] if isinstance(value, tuple) else value


def cut(options, n):
    return {key: per_dim(value, n) for key, value in options.items()}


def same_pairs(kernel, dilation):
    """conv padding='same': dilation*(k-1) split with the odd element at the end."""
    return tuple(
        (d * (k - 1) // 2, d * (k - 1) - d * (k - 1) // 2)
        for k, d in zip(kernel, dilation, strict=True)
    )


# --- conv ----------------------------------------------------------------------------

CONV_CASES = {
    "plain": {},
    "stride2_pad1_bias": dict(stride=2, padding=1, bias=True),
    "per_dim": dict(stride=(1, 2, 3, 1), padding=(0, 1, 2, 1)),
    "dilated": dict(dilation=2, padding=2),
    "dilation_per_dim": dict(dilation=(2, 1, 1, 3), padding=(1, 0, 1, 0), stride=(1, 2, 1, 1)),
    "groups2": dict(channels=(4, 6), groups=2, dilation=(1, 2, 1, 1), padding=1, bias=True),
    "depthwise": dict(channels=(3, 6), groups=3, stride=2, padding=1),
    "asymmetric": dict(padding=((0, 2), (1, 0), (2, 1), (0, 1)), stride=2, bias=True),
    "same": dict(padding="same", dilation=(1, 2, 1, 2)),
    "valid": dict(padding="valid", stride=(2, 1, 1, 1)),
}


def conv_case(n, options, dtype, make, batch=2):
    """(x, w, b, F.conv keyword arguments, reference result) for one grid point."""
    c_in, c_out = options.get("channels", (2, 3))
    options = cut({k: v for k, v in options.items() if k != "channels"}, n)
    groups = options.get("groups", 1)
    x = make((batch, c_in) + SIZES[n], dtype)
    w = make((c_out, c_in // groups) + KERNELS[n], dtype)
    b = make((c_out,), dtype) if options.pop("bias", False) else None
    padding = options.get("padding", 0)
    dilation = options.get("dilation", 1)
    if padding == "same":
        padding = same_pairs(KERNELS[n], R.ntuple(dilation, n))
    elif padding == "valid":
        padding = 0
    expected = R.conv(
        x,
        w,
        b,
        options.get("stride", 1),
        padding,
        dilation,
        groups,
        options.get("padding_mode", "zeros"),
    )
    return x, w, b, options, expected


@pytest.mark.parametrize("case", CONV_CASES)
@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_conv(n, case, make):
    x, w, b, options, expected = conv_case(n, CONV_CASES[case], np.float64, make)
    assert_close(F.conv(x, w, b, **options), expected, np.float64)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", ["groups2", "asymmetric"])
@pytest.mark.parametrize("n", [1, 2, 3])
def test_conv_dtypes(n, case, dtype, make):
    x, w, b, options, expected = conv_case(n, CONV_CASES[case], dtype, make)
    assert_close(F.conv(x, w, b, **options), expected, dtype)


MODE_PADDINGS = {
    "int": dict(padding=1),
    "per_dim": dict(padding=(2, 0, 1), stride=2),
    "pairs": dict(padding=((0, 2), (1, 1), (2, 0)), dilation=2),
    "same": dict(padding="same", channels=(4, 2), groups=2, bias=True),
}


@pytest.mark.parametrize("padding", MODE_PADDINGS)
@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("n", [1, 2, 3])
def test_conv_padding_modes(n, mode, padding, make):
    case = dict(MODE_PADDINGS[padding], padding_mode=mode)
    x, w, b, options, expected = conv_case(n, case, np.float64, make)
    assert_close(F.conv(x, w, b, **options), expected, np.float64)


# --- conv_transpose ---------------------------------------------------------------------

TRANSPOSE_CASES = {
    "plain": {},
    "stride2_pad1_outpad1_bias": dict(stride=2, padding=1, output_padding=1, bias=True),
    "per_dim": dict(stride=(2, 1, 3, 2), padding=(1, 0, 2, 0), output_padding=(1, 0, 2, 0)),
    "dilated": dict(dilation=(2, 3, 1, 2), output_padding=(1, 2, 0, 1), padding=1),
    "groups2": dict(channels=(4, 6), groups=2, stride=2, bias=True),
    "depthwise": dict(channels=(3, 3), groups=3, dilation=2, padding=(1, 0, 1, 0)),
    "asymmetric": dict(padding=((0, 2), (1, 0), (2, 1), (0, 1)), stride=2, output_padding=1),
    "same": dict(padding="same", stride=(2, 3, 2, 3), bias=True),
    "valid": dict(padding="valid", stride=(2, 1, 1, 2)),
}


def transpose_same_pairs(kernel, stride, dilation, output_padding):
    """conv_transpose padding='same' (output = input * stride): crop total split low-first."""
    totals = [
        d * (k - 1) + 1 + op - s
        for k, s, d, op in zip(kernel, stride, dilation, output_padding, strict=True)
    ]
    return tuple((t // 2, t - t // 2) for t in totals)


def transpose_case(n, options, dtype, make, batch=2):
    """(y, w, b, F.conv_transpose keyword arguments, reference result)."""
    c_in, c_out = options.get("channels", (2, 3))
    options = cut({k: v for k, v in options.items() if k != "channels"}, n)
    groups = options.get("groups", 1)
    y = make((batch, c_in) + SIZES[n], dtype)
    w = make((c_in, c_out // groups) + KERNELS[n], dtype)
    b = make((c_out,), dtype) if options.pop("bias", False) else None
    stride = R.ntuple(options.get("stride", 1), n)
    dilation = R.ntuple(options.get("dilation", 1), n)
    output_padding = R.ntuple(options.get("output_padding", 0), n)
    padding = options.get("padding", 0)
    if padding == "same":
        padding = transpose_same_pairs(KERNELS[n], stride, dilation, output_padding)
    elif padding == "valid":
        padding = 0
    expected = R.conv_transpose(y, w, b, stride, padding, output_padding, dilation, groups)
    return y, w, b, options, expected


@pytest.mark.parametrize("case", TRANSPOSE_CASES)
@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_conv_transpose(n, case, make):
    y, w, b, options, expected = transpose_case(n, TRANSPOSE_CASES[case], np.float64, make)
    out = F.conv_transpose(y, w, b, **options)
    if case == "same":
        assert out.shape[2:] == tuple(
            s * t for s, t in zip(SIZES[n], options["stride"], strict=True)
        )
    assert_close(out, expected, np.float64)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", ["groups2", "asymmetric"])
@pytest.mark.parametrize("n", [1, 2, 3])
def test_conv_transpose_dtypes(n, case, dtype, make):
    y, w, b, options, expected = transpose_case(n, TRANSPOSE_CASES[case], dtype, make)
    assert_close(F.conv_transpose(y, w, b, **options), expected, dtype)


# --- unbatched input and the torch-named forms -----------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3])
def test_unbatched(n, make):
    x, w, b, options, expected = conv_case(n, CONV_CASES["groups2"], np.float64, make, batch=1)
    assert_close(F.conv(x[0], w, b, **options), expected[0], np.float64)
    y, w, b, options, expected = transpose_case(
        n, TRANSPOSE_CASES["groups2"], np.float64, make, batch=1
    )
    assert_close(F.conv_transpose(y[0], w, b, **options), expected[0], np.float64)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_named_forms(n, make):
    """conv{n}d and conv_transpose{n}d with torch's positional argument order."""
    conv_nd = getattr(F, f"conv{n}d")
    transpose_nd = getattr(F, f"conv_transpose{n}d")
    x, w, b, _, _ = conv_case(n, CONV_CASES["groups2"], np.float64, make)
    expected = R.conv(x, w, b, stride=2, padding=1, dilation=2, groups=2)
    assert_close(conv_nd(x, w, b, 2, 1, 2, 2), expected, np.float64)
    y, w, b, _, _ = transpose_case(n, TRANSPOSE_CASES["groups2"], np.float64, make)
    expected = R.conv_transpose(
        y, w, b, stride=2, padding=1, output_padding=1, dilation=2, groups=2
    )
    assert_close(transpose_nd(y, w, b, 2, 1, 1, 2, 2), expected, np.float64)


# --- unfold and fold ---------------------------------------------------------------------

FOLD_CASES = {
    "plain": {},
    "stride_padding_dilation": dict(
        stride=(2, 1, 2, 1), padding=(1, 2, 0, 1), dilation=(1, 2, 1, 1)
    ),
    "int_options": dict(stride=2, padding=1, dilation=2),
    "asymmetric": dict(padding=((0, 1), (2, 0), (1, 1), (0, 2)), stride=(1, 2, 1, 2)),
}


@pytest.mark.parametrize("case", FOLD_CASES)
@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_unfold_fold(n, case, make):
    options = cut(FOLD_CASES[case], n)
    kernel = KERNELS[n]
    x = make((2, 3) + SIZES[n])
    expected = R.unfold(x, kernel, **options)
    assert_close(F.unfold(x, kernel, **options), expected, np.float64)
    cols = make(expected.shape)
    assert_close(
        F.fold(cols, SIZES[n], kernel, **options),
        R.fold(cols, SIZES[n], kernel, **options),
        np.float64,
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_unfold_fold_dtypes_unbatched(dtype, make):
    """2-d with an int kernel_size (torch's form), unbatched, in every dtype."""
    x = make((3, 6, 7), dtype)
    expected = R.unfold(x[None], (3, 3), dilation=1, padding=1, stride=2)[0]
    assert_close(F.unfold(x, 3, padding=1, stride=2), expected, dtype)
    cols = make(expected.shape, dtype)
    assert_close(
        F.fold(cols, (6, 7), 3, padding=1, stride=2),
        R.fold(cols[None], (6, 7), (3, 3), padding=1, stride=2)[0],
        dtype,
    )


# --- every kernel algorithm, called directly ---------------------------------------------


def algorithms():
    """Each module registered in npconv.compute.ALGORITHMS (just gemm if there is none)."""
    registered = getattr(compute, "ALGORITHMS", None)
    if registered is None:
        return [pytest.param(gemm, id="gemm")]
    if isinstance(registered, dict):
        registered = registered.values()
    found = []
    for algorithm in registered:
        if isinstance(algorithm, str):
            algorithm = importlib.import_module(f"npconv.compute.{algorithm}")
        name = getattr(algorithm, "__name__", repr(algorithm)).rsplit(".", 1)[-1]
        found.append(pytest.param(algorithm, id=name))
    return found


# (stride, (lo, hi) pairs, dilation, groups, dtype); per-dim tuples written for 3 dims
GEOMETRIES = {
    "plain": (1, 0, 1, 1, np.float64),
    "strided_grouped": (2, 1, 1, 2, np.complex128),
    "asymmetric": ((2, 1, 3), ((0, 2), (1, 0), (2, 1)), (1, 2, 1), 1, np.float64),
    "dilated_groups3": (1, 2, 2, 3, np.float64),
    "unused_tail": (3, 0, 1, 1, np.complex128),
    "negative_lo": ((2, 2, 1), ((-1, 2), (-2, 1), (-1, 1)), 1, 2, np.float64),
}


def geometry_of(name, n):
    """(Geometry, (lo, hi) pairs, dtype) of grid entry `name` in n dims."""
    stride, padding, dilation, groups, dtype = (per_dim(v, n) for v in GEOMETRIES[name])
    stride, dilation, padding = R.ntuple(stride, n), R.ntuple(dilation, n), R.pairs(padding, n)
    small = tuple(R.conv_size(SIZES[n], KERNELS[n], stride, padding, dilation))
    return (
        Geometry(
            KERNELS[n], stride, dilation, tuple(lo for lo, _ in padding), SIZES[n], small, groups
        ),
        padding,
        dtype,
    )


def supported_cells():
    """(algorithm, geometry, dims, op) for the algorithms that support each geometry, so no
    cell exists only to be skipped."""
    cells = []
    for param in algorithms():
        algorithm = param.values[0]
        supports = getattr(algorithm, "supports", lambda g: True)
        for name in GEOMETRIES:
            for n in (1, 2, 3):
                if supports(geometry_of(name, n)[0]):
                    cells += [
                        pytest.param(algorithm, name, n, op, id=f"{param.id}-{name}-{n}-{op}")
                        for op in ("conv", "conv_transpose", "conv_weight")
                    ]
    return cells


@pytest.mark.parametrize("algorithm, geometry, n, op", supported_cells())
def test_kernel_algorithm(algorithm, n, geometry, op, make):
    g, padding, dtype = geometry_of(geometry, n)
    b_channels, m_channels = 2, 2  # per group
    x = make((2, g.groups * b_channels) + g.big, dtype)
    w = make((g.groups * m_channels, b_channels) + g.kernel, dtype)
    y = make((2, g.groups * m_channels) + g.small, dtype)
    out = getattr(algorithm, op)(
        *{"conv": (x, w), "conv_transpose": (y, w), "conv_weight": (x, y)}[op], g
    )
    expected = R.contraction(op, g, padding, x, w, y)
    assert_close(out, expected, dtype)


# --- random public calls --------------------------------------------------------------

DRAWN = dict(max_examples=100, deadline=None, derandomize=True)


def drawn_array(data, shape, dtype):
    """Standard normal entries from a generator seeded by the draw (complex: both parts)."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    a = rng.standard_normal(shape)
    if np.dtype(dtype).kind == "c":
        a = a + 1j * rng.standard_normal(shape)
    return a.astype(dtype)


@settings(**DRAWN)
@given(strategies.conv_calls(), st.sampled_from([np.float64, np.complex128]), st.data())
def test_conv_on_random_calls(call, dtype, data):
    """F.conv on calls drawn over dims, strides, dilations, groups, paddings and modes."""
    options, x_shape, w_shape = call
    x, w = drawn_array(data, x_shape, dtype), drawn_array(data, w_shape, dtype)
    b = drawn_array(data, w_shape[:1], dtype) if data.draw(st.booleans(), label="bias") else None
    expected = R.conv(x, w, b, **options)
    assert_close(F.conv(x, w, b, **options), expected, dtype)


@settings(**DRAWN)
@given(strategies.conv_transpose_calls(), st.sampled_from([np.float64, np.complex128]), st.data())
def test_conv_transpose_on_random_calls(call, dtype, data):
    """F.conv_transpose on calls drawn over dims, strides, dilations, groups, paddings and
    output paddings."""
    options, y_shape, w_shape = call
    y, w = drawn_array(data, y_shape, dtype), drawn_array(data, w_shape, dtype)
    b = drawn_array(data, w_shape[1:2], dtype) if data.draw(st.booleans(), label="bias") else None
    if b is not None:
        b = np.concatenate([b] * options["groups"])  # one per output channel
    expected = R.conv_transpose(y, w, b, **options)
    assert_close(F.conv_transpose(y, w, b, **options), expected, dtype)
