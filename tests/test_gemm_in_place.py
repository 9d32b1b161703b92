"""gemm's per-sample columns with the product written into y (gemm.IN_PLACE), and the
planner's rule that sends first layers (few input channels, many output ones) to them:
conv, the shared gather of conv_both, the transposed conv and the weight gradient that
run through it, against the loop reference on hypothesis-drawn geometries of 1-3 dims,
and NaN and Inf where a direct convolution puts them."""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import npconv
import reference as R
from npconv import compute
from npconv.compute import Geometry, gemm, planner, tuning
from npconv.compute import geometry as geometry_module

SETTINGS = dict(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@st.composite
def first_layers(draw):
    """(geometry, pads, B, M, N) of a conv with fewer big channels than LAST_CHANNELS:
    any kernel, stride (patchify: stride == kernel among them), dilation and padding."""
    nd = draw(st.integers(1, 3))
    patchify = draw(st.booleans())
    kernel, stride, dilation, pads, big = [], [], [], [], []
    for _ in range(nd):
        k = draw(st.integers(1, 4))
        s = k if patchify else draw(st.integers(1, 3))
        d = 1 if patchify else draw(st.integers(1, 2))
        lo, hi = (0, 0) if patchify else (draw(st.integers(-1, 2)), draw(st.integers(-1, 2)))
        reach = d * (k - 1) + 1 - lo - hi  # smallest big with one output
        size = draw(st.integers(max(1, reach, lo + 1 if lo < 0 else 1), max(1, reach) + 7))
        kernel.append(k), stride.append(s), dilation.append(d), pads.append((lo, hi))
        big.append(size)
    small = tuple(
        (b + lo + hi - d * (k - 1) - 1) // s + 1
        for b, k, s, d, (lo, hi) in zip(big, kernel, stride, dilation, pads, strict=True)
    )
    groups = draw(st.integers(1, 2))
    b = draw(st.integers(1, tuning.LAST_CHANNELS - 1))
    n = draw(st.integers(1, 3))
    m = draw(st.integers(1, max(1, n * math.prod(small))))  # n*L >= M: not the weight-bound case
    g = Geometry(
        tuple(kernel), tuple(stride), tuple(dilation), tuple(lo for lo, _ in pads),
        tuple(big), small, groups,
    )  # fmt: skip
    return g, tuple(pads), b, m, n


def operands(rng, g, b, m, n):
    return (
        rng.standard_normal((n, g.groups * b) + g.big),
        rng.standard_normal((g.groups * m, b) + g.kernel),
        rng.standard_normal((n, g.groups * m) + g.small),
    )


def close(out, want):
    assert out.shape == want.shape
    assert float(np.abs(out - want).max()) <= 1e-9 * max(1.0, float(np.abs(want).max()))


@pytest.fixture
def long_rows(monkeypatch):
    """No row counts as short, so that every first layer gathers by IN_PLACE; with
    `work` bytes per tile (small ones cut samples into bands of rows)."""

    def setup(work=None):
        monkeypatch.setattr(gemm, "SHORT", 1)
        if work is not None:
            monkeypatch.setattr(geometry_module, "WORK_BYTES", work)

    return setup


@pytest.mark.parametrize("work", [None, 2000])
def test_in_place_conv_and_conv_both_against_loops(work, long_rows, monkeypatch):
    @settings(**SETTINGS)
    @given(first_layers())
    def check(case):
        monkeypatch.undo()
        long_rows(work)
        g, pads, b, m, n = case
        x, w, y = operands(np.random.default_rng(n * 7 + b), g, b, m, n)
        assert gemm._layout(g, n, m, w, in_place=True) == gemm.IN_PLACE
        with npconv.use_algorithm("gemm"):
            out = compute.conv(x, w, g)
            both = compute.conv_both(x, w, y, g)
        want = R.contraction("conv", g, pads, x, w, y)
        close(out, want)
        close(both[0], want)
        close(both[1], R.contraction("conv_weight", g, pads, x, w, y))

    check()


def test_in_place_transposed_conv_and_weight_gradient_against_loops(long_rows, monkeypatch):
    """A stride-1 transposed conv is the conv of its small side with the flipped kernel
    (mirror): that conv by gemm in place, where the flipped weight is contiguous (groups
    > 1 copy it); and the weight gradient of the same geometry."""

    @settings(**SETTINGS)
    @given(first_layers(), st.integers(1, 3))
    def check(case, big_channels):
        monkeypatch.undo()
        long_rows()
        g, pads, b, _m, n = case
        g = g._replace(stride=(1,) * len(g.kernel))
        small = tuple(
            v + lo + hi - d * (k - 1)
            for v, k, d, (lo, hi) in zip(g.big, g.kernel, g.dilation, pads, strict=True)
        )
        g = g._replace(small=small)
        # the transposed conv's small side has b channels, as the mirrored conv's input
        x, w, y = operands(np.random.default_rng(n), g, big_channels, b, n)
        flipped = geometry_module.flipped(w, g.groups)
        mirrored = geometry_module.mirrored(g)
        if flipped.flags.c_contiguous and n * math.prod(g.big) >= big_channels:
            assert gemm._layout(mirrored, n, big_channels, flipped, True) == gemm.IN_PLACE
        close(gemm.conv(y, flipped, mirrored), R.contraction("conv_transpose", g, pads, x, w, y))
        with npconv.use_algorithm("gemm"):
            grad = compute.conv_weight(x, y, g)
        close(grad, R.contraction("conv_weight", g, pads, x, w, y))

    check()


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("operand", ["x", "w"])
@pytest.mark.parametrize("stride", [1, 2, 4])
def test_in_place_nonfinite_like_direct_convolution(value, operand, stride, long_rows):
    """A NaN or Inf reaches exactly the outputs whose windows read it, padding included."""
    long_rows()
    k = 4 if stride == 4 else 3
    pad = 0 if stride == 4 else 1
    big = (16, 16)
    small = tuple((v + 2 * pad - k) // stride + 1 for v in big)
    g = Geometry((k, k), (stride, stride), (1, 1), (pad, pad), big, small, 1)
    x, w, y = operands(np.random.default_rng(stride), g, 3, 8, 2)
    if operand == "x":
        x[1, 2, 5, 6] = value
    else:
        w[5, 1, 2, 1] = value
    assert gemm._layout(g, 2, 8, w, in_place=True) == gemm.IN_PLACE
    pads = ((pad, pad), (pad, pad))
    with np.errstate(invalid="ignore", over="ignore"):
        want = R.contraction("conv", g, pads, x, w, y)
        with npconv.use_algorithm("gemm"):
            out = compute.conv(x, w, g)
    R.same_nonfinite(out, want)


def test_layouts_by_channels_and_positions():
    """Strided windows that cover the input gather channels last from LAST_CHANNELS big
    channels on, positions last in place below; stride 1 with long rows: in place below
    LAST_CHANNELS, the samples folded into one GEMM from it on."""
    g = Geometry((7, 7), (2, 2), (1, 1), (3, 3), (64, 64), (32, 32), 1)
    few = np.zeros((16, tuning.LAST_CHANNELS - 1, 7, 7))
    many = np.zeros((16, tuning.LAST_CHANNELS, 7, 7))
    assert gemm._layout(g, 2, 16, few, in_place=True) == gemm.IN_PLACE
    assert gemm._layout(g, 2, 16, few) == gemm.OWN  # a conv that cannot write in place
    assert gemm._layout(g, 2, 16, many, in_place=True) == gemm.LAST
    g = Geometry((3, 3), (1, 1), (1, 1), (1, 1), (64, 64), (64, 64), 1)
    for b, layout in ((tuning.LAST_CHANNELS - 1, gemm.IN_PLACE), (tuning.LAST_CHANNELS, gemm.OWN)):
        assert gemm._layout(g, 1, 16, np.zeros((16, b, 3, 3)), in_place=True) == layout


@pytest.mark.parametrize(
    "input_shape, weight_shape, options",
    [
        ((8, 3, 224, 224), (64, 3, 7, 7), dict(stride=2, padding=3)),  # a ResNet stem
        ((4, 3, 224, 224), (96, 3, 4, 4), dict(stride=4)),  # a patchify stem
        ((1, 3, 224, 224), (64, 3, 3, 3), dict(padding=1)),
        ((1, 1, 32, 32, 32), (32, 1, 3, 3, 3), dict(padding=1)),  # 3-d, one channel
        ((1, 1, 256, 256), (64, 1, 9, 9), dict(padding=4)),
    ],
)
def test_first_layers_run_gemm_in_place(input_shape, weight_shape, options):
    """gemm, where it runs a first layer (the heuristic's choice for a patchify stem, the
    direct loops' for the rest; forced), writes the product in place."""
    with npconv.use_algorithm("gemm"):
        plan = npconv.plan("conv", input_shape, weight_shape, **options)
    assert plan.algorithm == "gemm"
    assert plan.variant == f"columns {gemm.IN_PLACE}"


@pytest.mark.parametrize(
    "input_shape, weight_shape, options",
    [
        ((1, 1, 64, 64), (tuning.DIRECT_MAX_ROWS - 1, 1, 3, 3), dict(padding=1)),  # few rows
        ((1, 32, 64, 64), (1, 32, 5, 5), dict(padding=2)),  # one output channel
        ((8, 16, 32, 32), (16, 1, 3, 3), dict(padding=1, groups=16)),  # depthwise
    ],
)
def test_planner_keeps_direct_loops_for_few_rows(input_shape, weight_shape, options):
    assert npconv.plan("conv", input_shape, weight_shape, **options).algorithm == "depthwise"


def test_planner_rule_uses_its_thresholds(monkeypatch):
    """The rule reads DIRECT_MAX_ROWS and DIRECT_MAX_BIG from tuning."""
    g = Geometry((3, 3), (1, 1), (1, 1), (1, 1), (256, 256), (256, 256), 1)  # not indirect's
    p = planner.Problem("conv", g, 1, 16, 1, "float32", 2)
    monkeypatch.setattr(tuning, "DIRECT_MAX_ROWS", 16)
    assert planner.heuristic(p)[0] == "direct"
    monkeypatch.setattr(tuning, "DIRECT_MAX_ROWS", 17)
    assert planner.heuristic(p)[0] == "depthwise"
    monkeypatch.setattr(tuning, "DIRECT_MAX_ROWS", 16)
    monkeypatch.setattr(tuning, "DIRECT_MAX_BIG", 0)
    assert planner.heuristic(p)[0] == "depthwise"
