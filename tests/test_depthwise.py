"""The depthwise loops, every layout (planes, channels last on small maps, flat runs over
blocks of channels for "same" stride-1 convs), on random depthwise geometries against
the loop reference; NaN and Inf where direct convolution puts them."""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import reference as R
from npconv.compute import Geometry, depthwise, tuning


def _small(big, kernel, stride, dilation, pads):
    """The conv output size per dim, written out here as the loop reference's oracle."""
    return tuple(
        (b + lo + hi - d * (k - 1) - 1) // s + 1
        for b, k, s, d, (lo, hi) in zip(big, kernel, stride, dilation, pads, strict=True)
    )


@st.composite
def depthwise_problems(draw):
    """(geometry, (lo, hi) pairs, M, N): groups of one input channel each, M outputs."""
    nd = draw(st.integers(1, 3))
    kernel, stride, dilation, pads, big = [], [], [], [], []
    for _ in range(nd):
        k = draw(st.integers(1, 7 if nd < 3 else 3))
        s, d = draw(st.integers(1, 4)), draw(st.integers(1, 2))
        lo, hi = draw(st.integers(-1, 3)), draw(st.integers(-1, 3))
        reach = d * (k - 1) + 1 - lo - hi  # smallest big with one output
        size = draw(st.integers(max(1, reach, lo + 1 if lo < 0 else 1), max(1, reach) + 6))
        kernel.append(k), stride.append(s), dilation.append(d), pads.append((lo, hi))
        big.append(size)
    small = _small(big, kernel, stride, dilation, pads)
    groups = draw(st.integers(1, 40))
    m = draw(st.sampled_from([1, 1, 1, 2]))  # mostly true depthwise: the lanes loop
    n = draw(st.integers(1, 3))
    g = Geometry(
        tuple(kernel),
        tuple(stride),
        tuple(dilation),
        tuple(lo for lo, _ in pads),
        tuple(big),
        small,
        groups,
    )
    return g, tuple(pads), m, n


def operands(rng, g, m, n, dtype):
    def make(shape):
        a = rng.standard_normal(shape)
        if np.dtype(dtype).kind == "c":
            a = a + 1j * rng.standard_normal(shape)
        return a.astype(dtype)

    return (
        make((n, g.groups) + g.big),
        make((g.groups * m, 1) + g.kernel),
        make((n, g.groups * m) + g.small),
    )


def check(problem, dtype, tolerance):
    g, pads, m, n = problem
    x, w, y = operands(np.random.default_rng(g.groups), g, m, n, dtype)
    for op, args in (("conv", (x, w)), ("conv_transpose", (y, w)), ("conv_weight", (x, y))):
        out = getattr(depthwise, op)(*args, g)
        want = R.contraction(op, g, pads, x, w, y)
        assert out.dtype == np.dtype(dtype) and out.shape == want.shape
        scale = max(1.0, float(np.abs(want).max()))
        assert float(np.abs(out - want).max()) <= tolerance * scale, op


SETTINGS = dict(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@pytest.mark.parametrize("canvas", [tuning.LANES_CANVAS, 64], ids=["default", "tiny-canvas"])
def test_depthwise_against_loops(canvas, monkeypatch):
    """A tiny canvas budget splits the channels into many blocks of 8 (the last shorter)."""
    monkeypatch.setattr(tuning, "LANES_CANVAS", canvas)

    @settings(**SETTINGS)
    @given(depthwise_problems())
    def run(problem):
        check(problem, np.float64, 1e-10)

    run()


@pytest.mark.parametrize("dtype", [np.float32, np.complex128])
def test_depthwise_other_dtypes(dtype):
    @settings(**dict(SETTINGS, max_examples=20))
    @given(depthwise_problems())
    def run(problem):
        check(problem, dtype, 1e-5 if dtype == np.float32 else 1e-10)

    run()


@st.composite
def same_problems(draw):
    """(geometry, (lo, hi) pairs, 1, N): true depthwise convs whose output planes have the
    input planes' shape, every stride 1, the padding split any way the kernel allows."""
    nd = draw(st.integers(1, 3))
    kernel, dilation, pads, big = [], [], [], []
    for _ in range(nd):
        k, d = draw(st.integers(1, 7 if nd < 3 else 3)), draw(st.integers(1, 3))
        lo = draw(st.integers(0, d * (k - 1)))
        kernel.append(k), dilation.append(d), pads.append((lo, d * (k - 1) - lo))
        big.append(draw(st.integers(1, 12 if nd < 3 else 5)))
    g = Geometry(
        tuple(kernel),
        (1,) * nd,
        tuple(dilation),
        tuple(lo for lo, _ in pads),
        tuple(big),
        tuple(big),
        draw(st.integers(1, 70)),
    )
    return g, tuple(pads), 1, draw(st.integers(1, 3))


@pytest.mark.parametrize("run", [tuning.FLAT_RUN, 1], ids=["default", "one-plane-blocks"])
def test_flat_runs_against_loops(run, monkeypatch):
    """Blocks of one plane each run short, and put most positions near a block's ends;
    every kernel size runs flat here (the rule's limit on taps is a matter of speed), and
    every drawn plane is small enough for the rule's weights."""
    monkeypatch.setattr(tuning, "FLAT_RUN", run)
    monkeypatch.setattr(tuning, "FLAT_TAPS", 1 << 10)

    @settings(**SETTINGS)
    @given(same_problems(), st.sampled_from([np.float64, np.float32]))
    def run_one(problem, dtype):
        g = problem[0]
        assert depthwise.flat("conv", g, 1, 1, np.dtype(dtype).itemsize)
        check(problem, dtype, 1e-10 if dtype == np.float64 else 1e-5)

    run_one()


def test_flat_runs_rule():
    same = Geometry((3, 3), (1, 1), (1, 1), (1, 1), (28, 28), (28, 28), 9)
    assert depthwise.flat("conv", same, 1, 1, 4)
    assert not depthwise.flat("conv", same, 1, 2, 4)  # a channel multiplier
    assert not depthwise.flat("conv_transpose", same, 1, 1, 4)
    smaller = Geometry((3, 3), (1, 1), (1, 1), (0, 0), (28, 28), (26, 26), 9)
    assert not depthwise.flat("conv", smaller, 1, 1, 4)
    big = Geometry((7, 7), (1, 1), (1, 1), (3, 3), (56, 56), (56, 56), 9)
    assert 49 * 56 * 56 * 4 > tuning.FLAT_WEIGHTS
    assert not depthwise.flat("conv", big, 1, 1, 4)
    many = Geometry((5, 5), (1, 1), (1, 1), (2, 2), (7, 7), (7, 7), 9)
    assert 25 > tuning.FLAT_TAPS and not depthwise.flat("conv", many, 1, 1, 4)
    assert not depthwise.flat("conv_weight", same, 1, 1, 4)


def _nonfinite_like_reference(g, pads, x, w):
    """depthwise.conv puts NaN, +Inf and -Inf exactly where the loop reference does, and
    the reference's values elsewhere."""
    with np.errstate(invalid="ignore", over="ignore"):
        want = R.contraction("conv", g, pads, x, w, None)
        out = depthwise.conv(x, w, g)
    assert np.isnan(want).any() or np.isinf(want).any()
    R.same_nonfinite(out, want, 1e-10)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("operand", ["x", "w"])
@pytest.mark.parametrize("where", ["first", "edge", "centre", "last"])
def test_flat_runs_nonfinite_like_direct_convolution(value, operand, where):
    """A non-finite value next to a plane's edge is read by a masked tap of the
    neighbouring plane's outputs; it still reaches exactly the outputs that read it."""
    g = Geometry((3, 3), (1, 1), (1, 1), (1, 1), (6, 6), (6, 6), 20)
    pads = ((1, 1), (1, 1))
    assert depthwise.flat("conv", g, 1, 1, 8)
    x, w, _ = operands(np.random.default_rng(7), g, 1, 2, np.float64)
    target = x if operand == "x" else w
    lead = {"first": (0, 0), "edge": (1, 9), "centre": (1, 9), "last": (1, 19)}[where]
    spot = (2, 2) if where == "centre" else ((0, 0) if where == "first" else (5, 5))
    if operand == "w":  # a tap of channel lead[1]'s kernel
        lead, spot = (lead[1], 0), {"first": (0, 0), "centre": (1, 1)}.get(where, (2, 2))
    target[lead + spot] = value
    _nonfinite_like_reference(g, pads, x, w)


def test_small_maps_run_channels_last_and_large_ones_by_planes(monkeypatch):
    """The rule picks the layout; both layouts give the reference's result (above)."""
    monkeypatch.setattr(tuning, "FLAT_WEIGHTS", 0)
    small = Geometry((3, 3), (1, 1), (1, 1), (1, 1), (7, 7), (7, 7), 9)
    large = Geometry((3, 3), (1, 1), (1, 1), (1, 1), (56, 56), (56, 56), 9)
    assert depthwise.lanes("conv", small, 1, 1)
    assert not depthwise.lanes("conv", large, 1, 1)
    assert not depthwise.lanes("conv", small, 1, 2)  # a channel multiplier: planes
    assert not depthwise.lanes("conv_transpose", small, 1, 1)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("operand", ["x", "w"])
@pytest.mark.parametrize("where", ["corner", "centre"])
def test_channels_last_nonfinite_like_direct_convolution(value, operand, where, monkeypatch):
    """A non-finite value reaches exactly the outputs that read it, with the reference's
    value (the padding's zeros times an infinite weight are NaN there too)."""
    monkeypatch.setattr(tuning, "FLAT_WEIGHTS", 0)  # the same-shaped conv runs channels last
    g = Geometry((3, 3), (1, 1), (1, 1), (1, 1), (7, 7), (7, 7), 20)
    pads = ((1, 1), (1, 1))
    assert depthwise.lanes("conv", g, 1, 1)
    x, w, _ = operands(np.random.default_rng(5), g, 1, 2, np.float64)
    target = x if operand == "x" else w
    lead = (1, 17) if operand == "x" else (17, 0)
    target[lead + ((0, 0) if where == "corner" else tuple(s // 2 for s in target.shape[2:]))] = (
        value
    )
    _nonfinite_like_reference(g, pads, x, w)


def _wide_rows(width, kernel, stride, lo, hi, dilation):
    """A 2-d depthwise geometry whose rows are `width` wide, too many positions for the
    lanes loop: the planes' loops, with their copies of rows into and out of the canvas
    as long as a vector of 16 floats and more (the random problems' rows are mostly
    shorter)."""
    big = (12, width)
    k, s, d = (3, kernel), (1, stride), (1, dilation)
    pads = ((1, 1), (lo, hi))
    return Geometry(k, s, d, (1, lo), big, _small(big, k, s, d, pads), 6), pads


@pytest.mark.parametrize("width", range(13, 38))
def test_wide_rows_against_loops(width):
    """Every row length around whole vectors of 16 floats, padded, cropped, strided and
    dilated along the rows, both dtypes and one or two outputs per group."""
    rng = np.random.default_rng(width)
    checked = 0
    for _ in range(4):
        kernel, stride = int(rng.integers(1, 6)), int(rng.integers(1, 3))
        lo, hi, dilation = (
            int(rng.integers(-1, 4)),
            int(rng.integers(-1, 4)),
            int(rng.integers(1, 3)),
        )
        g, pads = _wide_rows(width, kernel, stride, lo, hi, dilation)
        if min(g.small) < 1 or math.prod(g.small) <= tuning.LANES_POSITIONS:
            continue
        for m in (1, 2):
            check((g, pads, m, 2), np.float64, 1e-10)
            check((g, pads, m, 1), np.float32, 1e-5)
        checked += 1
    assert checked, "every drawn geometry was skipped"
