"""The FFT algorithm (compute/fft.py), called directly: its three contractions against the
loop reference and torch's float64 autograd on random geometries, float32 within 2e-5 of
float64, bounded memory on long signals, and the planner's FFT rule on the benchmark's
layers (never) and on bench/long.json's (where FFT is the faster)."""

import json
import math
import pathlib
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import reference as R
from npconv import conv as conv_op
from npconv import conv_transpose as conv_transpose_op
from npconv.compute import Geometry, fft

BENCH = pathlib.Path(__file__).resolve().parent.parent / "bench"
FLOAT32_BOUND = 2e-5  # max abs error / max abs value against float64, unit-scale inputs


def relative(actual, exact):
    """max abs error / max abs value; where every value is (nearly) zero (no window meets the
    input), over 1, the scale of the unit-scale operands."""
    scale = float(np.abs(exact).max())
    return float(np.abs(actual - exact).max()) / (scale if scale >= 0.1 else 1.0)


@st.composite
def geometries(draw, max_dims=3):
    """(Geometry, (lo, hi) pairs, b, m): small, any stride, dilation, padding or crop."""
    n = draw(st.integers(1, max_dims))
    kernel = tuple(draw(st.integers(1, 5 if n < 3 else 3)) for _ in range(n))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(n))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(n))
    pads, big = [], []
    for k, d in zip(kernel, dilation, strict=True):
        reach = (k - 1) * d + 1
        lo = draw(st.integers(-2, reach))
        hi = draw(st.integers(-2, reach))
        least = max(1, reach - lo - hi, -lo - hi + 1)
        size = draw(st.integers(least, max(least, 9 if n < 3 else 6)))
        pads.append((lo, hi))
        big.append(size)
    small = tuple(
        (s + lo + hi - d * (k - 1) - 1) // st_ + 1
        for s, k, st_, d, (lo, hi) in zip(big, kernel, stride, dilation, pads, strict=True)
    )
    groups = draw(st.integers(1, 2))
    b, m = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    g = Geometry(kernel, stride, dilation, tuple(lo for lo, _ in pads), tuple(big), small, groups)
    return g, tuple(pads), b, m


def operands(rng, g, b, m, n=2, dtype=np.float64):
    def make(shape):
        a = rng.standard_normal(shape)
        if np.dtype(dtype).kind == "c":
            a = a + 1j * rng.standard_normal(shape)
        return a.astype(dtype)

    return (
        make((n, g.groups * b) + g.big),
        make((g.groups * m, b) + g.kernel),
        make((n, g.groups * m) + g.small),
    )


loops = R.contraction  # the loop reference on geometry g


def torch_all(g, pads, x, w, y):
    """(conv, conv_transpose, conv_weight) by torch in float64: the conv of x padded
    (or cropped) by `pads`, and its gradients for output gradient y by autograd."""
    import torch

    tx = torch.tensor(x.astype(np.float64), requires_grad=True)
    tw = torch.tensor(w.astype(np.float64), requires_grad=True)
    flat = tuple(v for lo, hi in reversed(pads) for v in (lo, hi))  # last dim first
    padded = torch.nn.functional.pad(tx, flat)
    n = len(g.kernel)
    op = getattr(torch.nn.functional, f"conv{n}d")
    out = op(padded, tw, None, g.stride, 0, g.dilation, g.groups)
    (out * torch.tensor(y.astype(np.float64))).sum().backward()
    return out.detach().numpy(), tx.grad.numpy(), tw.grad.numpy()


OPS = ("conv", "conv_transpose", "conv_weight")


def call(op, x, w, y, g):
    args = {"conv": (x, w), "conv_transpose": (y, w), "conv_weight": (x, y)}[op]
    return getattr(fft, op)(*args, g)


@pytest.mark.needs_torch
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=geometries(), seed=st.integers(0, 2**32 - 1))
def test_against_loops_and_torch(case, seed):
    """float64 within 1e-10 of the loops and of torch; float32 within FLOAT32_BOUND."""
    g, pads, b, m = case
    rng = np.random.default_rng(seed)
    x, w, y = operands(rng, g, b, m)
    by_torch = dict(zip(OPS, torch_all(g, pads, x, w, y), strict=True))
    for op in OPS:
        exact = loops(op, g, pads, x, w, y)
        got = call(op, x, w, y, g)
        assert got.shape == exact.shape and got.dtype == np.float64
        assert relative(got, exact) <= 1e-10
        assert relative(by_torch[op], exact) <= 1e-10  # the two oracles agree
        single = call(op, *(a.astype(np.float32) for a in (x, w, y)), g)
        assert single.dtype == np.float32
        assert relative(single, exact) <= FLOAT32_BOUND


@settings(max_examples=15, deadline=None)
@given(case=geometries(max_dims=2), seed=st.integers(0, 2**32 - 1))
def test_complex_against_loops(case, seed):
    g, pads, b, m = case
    rng = np.random.default_rng(seed)
    for dtype, bound in ((np.complex128, 1e-10), (np.complex64, FLOAT32_BOUND)):
        x, w, y = operands(rng, g, b, m, dtype=dtype)
        wide = [a.astype(np.complex128) for a in (x, w, y)]
        for op in OPS:
            got = call(op, x, w, y, g)
            assert got.dtype == np.dtype(dtype)
            assert relative(got, loops(op, g, pads, *wide)) <= bound


def long_geometry(length, kernel, lo, stride=1, dilation=1):
    small = (length + 2 * lo - dilation * (kernel - 1) - 1) // stride + 1
    return Geometry((kernel,), (stride,), (dilation,), (lo,), (length,), (small,), 1)


@pytest.mark.needs_torch
@pytest.mark.parametrize("budget", [3000, 20000, 200000])
@pytest.mark.parametrize("stride, dilation", [(1, 1), (3, 2)])
@pytest.mark.parametrize("b, m", [(2, 5), (5, 2)])
def test_tiles_batches_and_passes(b, m, budget, stride, dilation, rng, monkeypatch):
    """Small budgets cut a long signal into overlap-save tiles, units into batches and the
    output or source channels into passes; every cut gives torch's float64 result."""
    monkeypatch.setattr(fft, "FFT_BYTES", budget)
    fft.tiling.cache_clear()
    try:
        g = long_geometry(1500, 41, 20, stride, dilation)
        pads = ((20, 20),)
        x, w, y = operands(rng, g, b, m, n=3)
        chosen = fft.tiling("conv", fft.forward_problem(g), b, m, 3, np.dtype(np.float64).str)
        assert math.prod(chosen.tiles) > 1
        if budget < 100000:
            assert chosen.chunk < 3 * math.prod(chosen.tiles)
            assert (chosen.outputs < m) if m > b else (chosen.inputs < b)
        for op, exact in zip(OPS, torch_all(g, pads, x, w, y), strict=True):
            assert relative(call(op, x, w, y, g), exact) <= 1e-10
    finally:
        fft.tiling.cache_clear()


def test_memory_bounded_on_a_long_signal(rng, monkeypatch):
    """Extra memory follows FFT_BYTES, not the signal's length: a 1 MiB budget on a signal
    whose output is 8 MiB."""
    monkeypatch.setattr(fft, "FFT_BYTES", 1 << 20)
    fft.tiling.cache_clear()
    try:
        g = long_geometry(1 << 19, 257, 128)
        x = rng.standard_normal((1, 1) + g.big).astype(np.float32)
        w = rng.standard_normal((4, 1) + g.kernel).astype(np.float32)
        fft.conv(x, w, g)  # compiled, pools started
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            y = fft.conv(x, w, g)
            peak = tracemalloc.get_traced_memory()[1] - before - y.nbytes
        finally:
            tracemalloc.stop()
        assert y.nbytes == 8 << 20
        assert peak <= 3 << 20
    finally:
        fft.tiling.cache_clear()


# The issue's cases (bench/long.json), smaller where torch's float64 would be slow:
# name: (op, N, Cin, Cout, size, kernel, stride, padding, groups)
ISSUE_CASES = {
    "fir_bank": ("conv", 1, 1, 64, (8000,), 1025, 1, 512, 1),
    "hyena_dw": ("conv", 1, 8, 8, (2048,), 2048, 1, 2047, 8),
    "conv2d_15x15": ("conv", 1, 16, 16, (96, 96), 15, 1, 7, 1),
    "conv3d_9x9x9": ("conv", 1, 4, 4, (24, 24, 24), 9, 1, 4, 1),
    "ct1d_2049": ("conv_transpose", 1, 64, 1, (2000,), 2049, 1, 1024, 1),
    "istft_4096": ("conv_transpose", 1, 257, 1, (20,), 4096, 1024, 0, 1),
}


def issue_geometry(op, n, cin, cout, size, kernel, stride, padding, groups):
    d = len(size)
    weight = (cout, cin // groups) if op == "conv" else (cin, cout // groups)
    w = np.empty(weight + (kernel,) * d, dtype=np.float32)
    if op == "conv":
        p = conv_op.resolve((n, cin) + size, w, stride, padding, 1, groups, "zeros")
    else:
        p = conv_transpose_op.resolve((n, cin) + size, w, stride, padding, 0, groups, 1, "zeros")
    return p.geometry, w.shape


@pytest.mark.needs_torch
@pytest.mark.parametrize("name", ISSUE_CASES)
def test_issue_cases_float32(name, rng):
    """float32 forward and both gradients within FLOAT32_BOUND of torch's float64, on unit-scale
    inputs and a weight of unit-scale outputs."""
    op, n, cin, cout, size, kernel, stride, padding, groups = ISSUE_CASES[name]
    g, wshape = issue_geometry(op, n, cin, cout, size, kernel, stride, padding, groups)
    b, m = wshape[1], wshape[0] // g.groups
    x = rng.standard_normal((n, g.groups * b) + g.big).astype(np.float32)
    w = (rng.standard_normal(wshape) / math.sqrt(math.prod(wshape[1:]))).astype(np.float32)
    y = rng.standard_normal((n, g.groups * m) + g.small).astype(np.float32)
    pads = tuple((lo, lo) for lo in g.lo)
    exact = dict(zip(OPS, torch_all(g, pads, x, w, y), strict=True))
    for kernel_op in OPS:
        got = call(kernel_op, x, w, y, g)
        assert got.dtype == np.float32
        assert relative(got, exact[kernel_op]) <= FLOAT32_BOUND, kernel_op


def test_nonfinite_flag():
    """The planner reads this to keep NaN/Inf operands off FFT (they spread over a tile)."""
    assert fft.EXACT_NONFINITE is False


# --- the planner's rule ------------------------------------------------------------


def bench_cases(name):
    return json.loads((BENCH / name).read_text())["cases"]


def kernel_calls(case):
    """(op, geometry, b, m, n) of every kernel call of a benchmark case (forward: the op
    itself; backward: its input and weight gradients), with the geometry as conv.plan and
    conv_transpose.plan make it."""
    n = len(case["size"])

    def tup(key):
        v = case[key]
        return tuple(v) if isinstance(v, list) else (v,) * n

    kernel, stride, padding, dilation = (
        tup("kernel"),
        tup("stride"),
        tup("padding"),
        tup("dilation"),
    )
    groups, shape = case["groups"], (case["N"], case["Cin"]) + tuple(case["size"])
    if case["op"] == "conv":
        w = np.empty((case["Cout"], case["Cin"] // groups) + kernel, dtype=np.float32)
        g = conv_op.resolve(shape, w, stride, padding, dilation, groups, "zeros").geometry
        ops = ["conv"] if case["pass"] == "forward" else ["conv_transpose", "conv_weight"]
    else:
        w = np.empty((case["Cin"], case["Cout"] // groups) + kernel, dtype=np.float32)
        g = conv_transpose_op.resolve(
            shape, w, stride, padding, tup("output_padding"), groups, dilation, "zeros"
        ).geometry
        ops = ["conv_transpose"] if case["pass"] == "forward" else ["conv", "conv_weight"]
    b, m = w.shape[1], w.shape[0] // groups
    return [(op, g, b, m, case["N"]) for op in ops]


def heuristic(op, g, b, m, n):
    """The heuristic planner's algorithm for one float32 contraction."""
    from npconv.compute import planner

    return planner.heuristic(planner.Problem(op, g, b, m, n, "float32", 2))[0]


@pytest.mark.parametrize("suite", ["suite.json", "zoo.json"])
def test_planner_never_sends_small_kernels_to_fft(suite):
    """No layer of the benchmark suite or the zoo with fewer than FFT_MIN_TAPS taps (every
    3x3, 5x5, 7x7 and 3x3x3 among them) goes to FFT, forward or backward: direct
    convolution is the faster there; and FFT takes a layer only where its cost model
    puts it FFT_MARGIN times below the direct estimate."""
    from npconv.compute import tuning

    for case in bench_cases(suite):
        for op, g, b, m, n in kernel_calls(case):
            chosen = heuristic(op, g, b, m, n) == "fft"
            assert chosen == fft.preferred(op, g, b, m, n), (case["name"], op)
            if math.prod(g.kernel) < tuning.FFT_MIN_TAPS:
                assert not chosen, (case["name"], op)


@pytest.mark.parametrize(
    "name", ["fir_bank", "hyena_dw", "conv2d_15x15", "conv3d_9x9x9", "ct1d_2049", "audio_10min"]
)
def test_planner_sends_long_kernels_to_fft(name):
    """bench/long.json's cases where FFT measures faster go to FFT, forward and backward."""
    for case in bench_cases("long.json"):
        if case["name"].removesuffix("_bwd") == name:
            for op, g, b, m, n in kernel_calls(case):
                assert heuristic(op, g, b, m, n) == "fft", (case["name"], op)
