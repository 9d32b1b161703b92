"""The planner: its public switches (plan, algorithms, use_algorithm, NPCONV_ALGORITHM,
the measured mode and its wisdom), and every algorithm it names, forced through
use_algorithm, against the loop reference on random geometries it supports.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import npconv
import reference as R
import strategies
from npconv import compute
from npconv import functional as F
from npconv.compute import Geometry, planner

OPS = ("conv", "conv_transpose", "conv_weight")


@pytest.fixture(autouse=True)
def heuristic_planner():
    """Every test starts and ends with the default planner and no wisdom."""
    planner.set_planner("heuristic")
    planner.forget_wisdom()
    yield
    planner.set_planner("heuristic")
    planner.forget_wisdom()


# --- random geometries each algorithm supports -------------------------------------------


problems = strategies.problems  # geometries each algorithm supports


expected = R.contraction  # the loop reference on geometry g


def operands(rng, g, b, m, n, dtype=np.float64):
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


def arguments(op, x, w, y):
    return {"conv": (x, w), "conv_transpose": (y, w), "conv_weight": (x, y)}[op]


def ran_with(monkeypatch):
    """The algorithms that ran each outermost contraction, recorded as they run."""
    names = []
    real = planner._execute

    def spy(name, op, first, second, g, p):
        if getattr(planner._local, "depth", 0) == 1:
            names.append(name)
        return real(name, op, first, second, g, p)

    monkeypatch.setattr(planner, "_execute", spy)
    return names


def check_forced(name, problem, dtype, monkeypatch):
    op, g, pads, b, m, n = problem
    p = planner.Problem(op, g, b, m, n, np.dtype(dtype).name, 2)
    assert planner.supports(name, p), (name, p)
    x, w, y = operands(np.random.default_rng(len(planner.algorithms())), g, b, m, n, dtype)
    names = ran_with(monkeypatch)
    with npconv.use_algorithm(name):
        out = getattr(compute, op)(*arguments(op, x, w, y), g)
    assert names[:1] == [name]
    want = expected(op, g, pads, x, w, y)
    assert out.shape == want.shape
    scale = max(1.0, float(np.abs(want).max()))
    assert float(np.abs(out - want).max()) <= 1e-9 * scale


@pytest.mark.parametrize("name", planner.algorithms())
def test_every_algorithm_forced_against_loops(name, monkeypatch):
    """Each algorithm alone, on random geometries it supports, all three contractions."""

    @settings(
        max_examples=40,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(problems(name))
    def check(problem):
        monkeypatch.undo()
        check_forced(name, problem, np.float64, monkeypatch)

    check()


@pytest.mark.parametrize("name", [n for n in planner.algorithms() if n != "winograd"])
def test_every_complex_algorithm_forced_against_loops(name, monkeypatch):
    @settings(
        max_examples=8,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(problems(name))
    def check(problem):
        monkeypatch.undo()
        check_forced(name, problem, np.complex128, monkeypatch)

    check()


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
def test_direct_channel_blocks_against_loops(dtype, monkeypatch):
    """direct's loops take output channels four at a time and the rest one at a time:
    random geometries with 4-9 output channels per group reach both, and its bands."""

    @settings(
        max_examples=30 if dtype is np.float64 else 8,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(problems("direct"), st.integers(4, 9), st.integers(1, 4))
    def check(problem, m, b):
        monkeypatch.undo()
        op, g, pads, _, _, n = problem
        check_forced("direct", (op, g, pads, b, m, n), dtype, monkeypatch)

    check()


def test_direct_bands_of_a_large_plane(monkeypatch):
    """A plane of many rows is cut into several bands per item; each band's rows land
    where the loop reference puts them."""
    monkeypatch.setattr(compute.direct, "RUN_BYTES", 256)
    g = Geometry((3, 5), (1, 2), (2, 1), (1, 2), (23, 40), (21, 20), 1)
    check_forced("direct", ("conv", g, ((1, 1), (2, 2)), 2, 6, 2), np.float64, monkeypatch)
    assert compute.direct._edges(*_direct_rows(g)).shape[0] > 3


def _direct_rows(g):
    rows = compute.depthwise._tables(g, True)[0]
    return rows, g.small[-1], rows.shape[0], 8


def test_winograd_supports_real_dtypes_only():
    g = Geometry((3, 3), (1, 1), (1, 1), (1, 1), (8, 8), (8, 8), 1)
    assert planner.supports("winograd", planner.Problem("conv", g, 2, 2, 1, "float32", 2))
    assert not planner.supports("winograd", planner.Problem("conv", g, 2, 2, 1, "complex128", 2))


# --- NaN and Inf reach exactly the outputs that read them ---------------------------------

NONFINITE_CASES = [
    # (op, kernel, stride, dilation, pads, big, groups, B, M): 2-d, padded, each algorithm's
    ("conv", (3, 3), (1, 1), (1, 1), ((1, 1), (1, 1)), (9, 9), 1, 16, 16),
    ("conv_weight", (3, 3), (1, 1), (1, 1), ((1, 1), (1, 1)), (9, 9), 1, 16, 16),
    ("conv_transpose", (3, 3), (1, 1), (1, 1), ((1, 1), (1, 1)), (9, 9), 1, 16, 16),
    ("conv", (4, 4), (2, 2), (1, 1), ((1, 1), (1, 1)), (8, 8), 1, 3, 4),
    ("conv_transpose", (4, 4), (2, 2), (1, 1), ((1, 1), (1, 1)), (8, 8), 1, 3, 4),
    ("conv_weight", (4, 4), (2, 2), (1, 1), ((1, 1), (1, 1)), (8, 8), 1, 3, 4),
    ("conv", (1, 1), (1, 1), (1, 1), ((0, 0), (0, 0)), (5, 5), 1, 3, 4),
    ("conv_transpose", (1, 1), (2, 2), (1, 1), ((0, 0), (0, 0)), (5, 5), 1, 3, 4),
]


def nonfinite_geometry(case):
    op, kernel, stride, dilation, pads, big, groups, b, m = case
    small = tuple(
        (s + lo + hi - d * (k - 1) - 1) // st + 1
        for s, k, st, d, (lo, hi) in zip(big, kernel, stride, dilation, pads, strict=True)
    )
    return (
        op,
        Geometry(kernel, stride, dilation, tuple(lo for lo, _ in pads), big, small, groups),
        pads,
        b,
        m,
    )


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("where", ["corner", "centre"])
@pytest.mark.parametrize("operand", [0, 1])
@pytest.mark.parametrize(
    "case", NONFINITE_CASES, ids=[f"{c[0]}-k{c[1][0]}s{c[2][0]}" for c in NONFINITE_CASES]
)
@pytest.mark.parametrize("name", planner.algorithms())
def test_nonfinite_like_direct_convolution(name, case, operand, where, value):
    """Forced or not, an algorithm that mixes values (Winograd) hands non-finite operands
    to an exact one; every algorithm that runs them matches the loop reference."""
    op, g, pads, b, m = nonfinite_geometry(case)
    rng = np.random.default_rng(3)
    x, w, y = operands(rng, g, b, m, 2)
    args = list(arguments(op, x, w, y))
    target = args[operand].copy()
    index = (0, 0) + (
        (0,) * len(g.big) if where == "corner" else tuple(s // 2 for s in target.shape[2:])
    )
    target[index] = value
    args[operand] = target
    x, w, y = {
        "conv": (args[0], args[1], y),
        "conv_transpose": (x, args[1], args[0]),
        "conv_weight": (args[0], w, args[1]),
    }[op]
    with np.errstate(invalid="ignore", over="ignore"):
        want = expected(op, g, pads, x, w, y)
        with npconv.use_algorithm(name):
            out = getattr(compute, op)(*arguments(op, x, w, y), g)
    R.same_nonfinite(out, want)


def test_winograd_hands_nonfinite_input_to_an_exact_algorithm(monkeypatch):
    g = Geometry((3, 3), (1, 1), (1, 1), (1, 1), (32, 32), (32, 32), 1)
    x, w, _ = operands(np.random.default_rng(0), g, 16, 16, 2)
    names = ran_with(monkeypatch)
    with npconv.use_algorithm("winograd"):
        compute.conv(x, w, g)
        x[0, 0, 5, 5] = np.nan
        compute.conv(x, w, g)
    assert names[0] == "winograd" and names[1] != "winograd"


# --- the public switches ------------------------------------------------------------------


def test_algorithms_are_the_planner_s():
    names = npconv.algorithms()
    assert len(names) == len(set(names)) >= 9
    assert set(names) == set(planner.ALGORITHMS)


@pytest.mark.parametrize("bad", ["fast", "", None, 3])
def test_unknown_algorithm_is_a_clear_error(bad):
    with pytest.raises(ValueError, match="unknown algorithm"):
        with npconv.use_algorithm(bad):
            pass


def test_environment_variable_forces_process_wide_and_is_checked():
    code = (
        "import numpy as np, npconv\n"
        "p = npconv.plan('conv', (1, 4, 9, 9), (4, 4, 3, 3), padding=1)\n"
        "print(p.algorithm, p.forward.reason)\n"
    )
    env = dict(os.environ, NPCONV_ALGORITHM="indirect")
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out[0] == "indirect" and "forced" in " ".join(out)
    env["NPCONV_ALGORITHM"] = "nonsense"
    failed = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert failed.returncode != 0
    assert "NPCONV_ALGORITHM='nonsense'" in failed.stderr


def test_plan_names_what_a_call_runs_without_computing(monkeypatch):
    for name in planner.algorithms():  # plan() must not run any algorithm
        for op in OPS:
            monkeypatch.setattr(planner.ALGORITHMS[name], op, None, raising=False)
    p = npconv.plan("conv", (8, 64, 56, 56), (64, 64, 3, 3), padding=1)
    assert p.algorithm in npconv.algorithms()
    assert p.forward.problem.op == "conv"
    assert p.input_gradient.problem.op == "conv_transpose"
    assert p.weight_gradient.problem.op == "conv_weight"
    t = npconv.plan("conv_transpose", (16, 8, 4, 4), (8, 3, 4, 4), stride=2, padding=1)
    assert t.forward.problem.op == "conv_transpose"
    assert t.forward.problem.geometry.small == (4, 4)
    assert t.forward.problem.geometry.big == (8, 8)
    assert "conv_transpose" in repr(t)


def test_plan_agrees_with_the_call(monkeypatch):
    names = ran_with(monkeypatch)
    x = np.ones((2, 8, 10, 10), np.float32)
    w = np.ones((6, 8, 3, 3), np.float32)
    F.conv2d(x, w, stride=2, padding=1)
    assert names == [npconv.plan("conv", x.shape, w.shape, stride=2, padding=1).algorithm]


def test_plan_rejects_what_the_call_rejects():
    with pytest.raises(ValueError, match="channels"):
        npconv.plan("conv", (1, 3, 9, 9), (4, 4, 3, 3))
    with pytest.raises(ValueError, match="op="):
        npconv.plan("pool", (1, 4, 9, 9), (4, 4, 3, 3))
    with pytest.raises(TypeError, match="unexpected keyword"):
        npconv.plan("conv", (1, 4, 9, 9), (4, 4, 3, 3), output_padding=1)
    with pytest.raises(TypeError, match="dtype"):
        npconv.plan("conv", (1, 4, 9, 9), (4, 4, 3, 3), dtype=np.int32)


def test_use_algorithm_only_where_supported_and_restores():
    shape, weight = (1, 4, 9, 9), (4, 4, 3, 3)
    before = npconv.plan("conv", shape, weight).algorithm
    with npconv.use_algorithm("pointwise"):  # a 3x3 kernel: not its problem
        assert npconv.plan("conv", shape, weight).algorithm == before
        assert npconv.plan("conv", shape, (4, 4, 1, 1)).algorithm == "pointwise"
        with npconv.use_algorithm("gemm"):
            assert npconv.plan("conv", shape, weight).algorithm == "gemm"
    assert npconv.plan("conv", shape, weight).algorithm == before


def test_measured_mode_times_once_then_keeps_the_winner(monkeypatch, tmp_path):
    x = np.random.default_rng(0).standard_normal((2, 8, 12, 12))
    w = np.random.default_rng(1).standard_normal((8, 8, 3, 3))
    want = R.conv(x, w, None, 1, 1)
    npconv.set_planner("measure")
    assert npconv.get_planner() == "measure"
    timed = []
    real = planner._timed
    monkeypatch.setattr(planner, "_timed", lambda name, *a: timed.append(name) or real(name, *a))
    np.testing.assert_allclose(F.conv2d(x, w, padding=1), want, rtol=1e-10, atol=1e-10)
    p = npconv.plan("conv", x.shape, w.shape, dtype=np.float64, padding=1)
    assert set(timed) == {
        n
        for n in npconv.algorithms()
        if planner.supports(n, p.forward.problem) and planner._worth_measuring(n, p.forward.problem)
    }
    assert p.forward.reason == "measured" and p.algorithm in timed
    count = len(timed)
    np.testing.assert_allclose(F.conv2d(x, w, padding=1), want, rtol=1e-10, atol=1e-10)
    assert len(timed) == count  # no second measurement

    path = tmp_path / "wisdom.json"
    assert npconv.save_wisdom(path) >= 1
    saved = json.loads(path.read_text())
    npconv.forget_wisdom()
    assert npconv.plan(
        "conv", x.shape, w.shape, dtype=np.float64, padding=1
    ).forward.reason.startswith("heuristic")
    assert npconv.load_wisdom(path) == len(saved["entries"])
    assert npconv.plan("conv", x.shape, w.shape, dtype=np.float64, padding=1).forward == p.forward

    npconv.forget_wisdom()  # another version: ignored
    other = dict(saved, npconv="0.0.0")
    path.write_text(json.dumps(other))
    assert npconv.load_wisdom(path) == 0
    other = dict(saved, cpus=saved["cpus"] + 1)  # another machine: ignored
    path.write_text(json.dumps(other))
    assert npconv.load_wisdom(path) == 0
    unknown = dict(saved, entries=dict.fromkeys(saved["entries"], "nonexistent"))
    path.write_text(json.dumps(unknown))
    assert npconv.load_wisdom(path) == 0
    path.write_text("not json")
    with pytest.raises(ValueError, match="wisdom"):
        npconv.load_wisdom(path)


def test_measured_mode_keeps_the_fastest_and_stops_timing_the_slow(monkeypatch):
    """Candidates take turns; one far slower than the fastest after its first timed run is
    timed no more, and the call returns the winner's own output."""
    x = np.random.default_rng(0).standard_normal((2, 8, 12, 12))
    w = np.random.default_rng(1).standard_normal((8, 8, 3, 3))
    p = npconv.plan("conv", x.shape, w.shape, dtype=np.float64, padding=1).forward.problem
    names = [n for n in planner.candidates(p) if planner._worth_measuring(n, p)]
    assert len(names) >= 3
    fast, slow = names[-1], names[0]  # the fast one is measured last, the slow one first
    cost = dict.fromkeys(names, 1.0) | {fast: 0.5, slow: 1.0 + 10 * planner.tuning.MEASURE_PATIENCE}
    runs = dict.fromkeys(names, 0)
    real = planner._timed

    def timed(name, *args):
        runs[name] += 1
        _, out = real(name, *args)
        return cost[name] * (1 + 0.01 * runs[name]), (name, out)

    monkeypatch.setattr(planner, "_timed", timed)
    name, (ran, out) = planner._measure(p, x, w, p.geometry, exact=False)
    assert name == fast and ran == fast
    np.testing.assert_allclose(out, R.conv(x, w, None, 1, 1), rtol=1e-10, atol=1e-10)
    assert runs[slow] == 2  # the warm-up and the first timed run
    rounds = max(planner.tuning.MEASURE_RUNS, 1)
    assert all(runs[n] == 1 + rounds for n in names if n != slow)
    assert planner._measured[p] == fast


def test_set_planner_rejects_unknown_modes():
    with pytest.raises(ValueError, match="mode='fastest'"):
        npconv.set_planner("fastest")


def test_heuristic_picks_only_supported_algorithms_on_the_zoo():
    """Every contraction of every zoo and suite layer gets an algorithm that supports it."""
    import pathlib

    from npconv.bench import cases

    root = pathlib.Path(__file__).parent.parent / "bench"
    for path in ("suite.json", "zoo.json"):
        for case in cases.load(root / path):
            p = npconv.plan(case.op, case.input_shape, case.weight_shape, **case.options())
            for one in p:
                assert planner.supports(one.algorithm, one.problem), (case.name, one)


@pytest.mark.parametrize(
    "input_shape, weight_shape, options, algorithm",
    [
        ((8, 3, 64, 64), (64, 3, 7, 7), dict(stride=2, padding=3), "direct"),  # a stem
        ((1, 1, 32, 32, 32), (32, 1, 3, 3, 3), dict(padding=1), "direct"),
        ((4, 3, 224, 224), (96, 3, 4, 4), dict(stride=4), "gemm"),  # patchify: a reshape
        ((8, 16, 56, 56), (64, 16, 3, 3), dict(padding=1), "winograd"),  # not a first layer
    ],
)
def test_heuristic_sends_first_layers_to_direct(input_shape, weight_shape, options, algorithm):
    """Few input channels and many output ones, windows that overlap: the direct loops."""
    assert npconv.plan("conv", input_shape, weight_shape, **options).algorithm == algorithm


def test_direct_pads_a_few_samples_at_a_time(monkeypatch):
    """direct's canvases, each about a sample's size, are made for as many samples as fit
    the work budget at a time, and every sample's output is still right."""
    from npconv.compute import _direct_loops, direct

    budget = 1 << 20
    monkeypatch.setattr(direct, "work_bytes", lambda: budget)
    canvases = []
    pad = _direct_loops.pad_planes

    def spy(x, canvas, *rest):
        canvases.append(canvas.nbytes)
        return pad(x, canvas, *rest)

    monkeypatch.setattr(_direct_loops, "pad_planes", spy)
    rng = np.random.default_rng(9)
    g = Geometry((3, 3), (2, 2), (1, 1), (1, 1), (64, 64), (32, 32), 1)
    x, w, _ = operands(rng, g, 3, 16, 24)  # canvases of 2.4 MiB for all 24 samples
    out = direct.conv(x, w, g)
    np.testing.assert_allclose(out, expected("conv", g, ((1, 1), (1, 1)), x, w, None), atol=1e-9)
    assert len(canvases) > 1 and max(canvases) <= budget, canvases
