"""Memory bounded at any thread count: the work buffers that npconv's threads keep between
calls stay within _threads.memory.BUDGET together, and a call's peak of traced allocations
within the budget plus a few result-sized arrays, at 8 threads as at 1."""

import tracemalloc

import numpy as np
import pytest

import npconv
import npconv.functional as F
import npconv.grad as G
import reference as R
from npconv import _threads
from npconv._threads import memory

BUDGET = 4 << 20


@pytest.fixture
def eight_threads(monkeypatch):
    before = npconv.get_num_threads()
    npconv.set_num_threads(8)
    monkeypatch.setattr(memory, "BUDGET", BUDGET)  # where scratch() reads it
    _threads.drop_scratch()
    yield
    _threads.drop_scratch()
    npconv.set_num_threads(before)


def _calls(rng):
    """(name, call, the loop reference's result) of gemm, shifted and winograd paths."""
    x, w = rng.standard_normal((8, 64, 48, 48)), rng.standard_normal((128, 64, 3, 3))
    dy = rng.standard_normal((8, 128, 24, 24))
    yield (
        "gemm conv",
        lambda: F.conv2d(x, w, stride=2, padding=1),
        lambda: R.conv(x, w, stride=2, padding=1),
    )
    yield (
        "gemm conv_weight",
        lambda: G.conv2d_weight(x, w.shape, dy, stride=2, padding=1),
        lambda: R.conv_weight(x, dy, (3, 3), stride=2, padding=1),
    )
    xs, ws = rng.standard_normal((4, 8, 40, 40)), rng.standard_normal((8, 8, 3, 3))
    yield "shifted conv", lambda: F.conv2d(xs, ws, padding=1), lambda: R.conv(xs, ws, padding=1)
    xw, ww = rng.standard_normal((4, 32, 64, 64)), rng.standard_normal((32, 32, 3, 3))
    yield "winograd conv", lambda: F.conv2d(xw, ww, padding=1), lambda: R.conv(xw, ww, padding=1)
    dw = rng.standard_normal((4, 32, 64, 64))
    yield (
        "winograd conv_weight",
        lambda: G.conv2d_weight(xw, ww.shape, dw, padding=1),
        lambda: R.conv_weight(xw, dw, (3, 3), padding=1),
    )


def test_scratch_kept_by_threads_stays_within_the_budget(eight_threads):
    rng = np.random.default_rng(4)
    for name, call, _ in _calls(rng):
        for _ in range(2):
            call()
        assert _threads.kept_scratch() <= BUDGET, name


@pytest.mark.parametrize("case", ["gemm conv", "winograd conv", "winograd conv_weight"])
def test_a_calls_peak_stays_within_the_budget(eight_threads, case):
    rng = np.random.default_rng(4)
    name, call, expected = next(c for c in _calls(rng) if c[0] == case)
    want = expected()
    call()  # warm: compiled, scratch kept
    tracemalloc.start()
    try:
        result = call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    np.testing.assert_allclose(result, want, rtol=1e-10, atol=1e-10)
    assert peak <= BUDGET + 3 * result.nbytes + (1 << 20), (name, peak)
