"""No side effects beyond the call (issue 17 item 5): by default no thread's CPU affinity
changes; NumPy's BLAS thread count comes back as found however a call ends (raised,
interrupted), serial BLAS holds from any thread, and set_num_threads has a bound."""

import _thread
import os
import signal
import threading
import time

import numpy as np
import pytest

import npconv
import npconv.grad as G
from npconv import _threads
from npconv._threads import blas, pool

linux = pytest.mark.skipif(
    not hasattr(os, "sched_getaffinity") or not os.path.isdir("/proc/self/task"),
    reason="needs Linux CPU affinity and /proc",
)


@pytest.fixture
def four_threads():
    before = npconv.get_num_threads()
    npconv.set_num_threads(4)
    yield
    npconv.set_num_threads(before)


@linux
def test_no_thread_changes_its_cpu_affinity_by_default(four_threads):
    assert not pool._pinning
    process = os.sched_getaffinity(0)
    seen = []

    def loop(bounds):
        seen.append(os.sched_getaffinity(0))  # this thread's, caller's or worker's
        time.sleep(0.001)

    for _ in range(5):
        _threads.split(loop, 16)
    assert seen and all(cpus == process for cpus in seen)
    assert os.sched_getaffinity(0) == process


def _blas_helper_ticks(a):
    """CPU ticks that threads other than the caller spend on three products a @ a."""

    def ticks():
        found = {}
        for tid in os.listdir("/proc/self/task"):
            try:
                with open(f"/proc/self/task/{tid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            found[int(tid)] = int(fields[11]) + int(fields[12])
        return found

    me = threading.get_native_id()
    before = ticks()
    for _ in range(3):
        a @ a
    after = ticks()
    return sum(v - before.get(t, 0) for t, v in after.items() if t != me)


@linux
def test_serial_blas_holds_on_a_thread_other_than_the_main_one():
    """OpenBLAS ignores openblas_set_num_threads from other threads; serial_blas must not."""
    before = npconv.get_num_threads()
    npconv.set_num_threads(2)
    a = np.random.default_rng(0).standard_normal((1200, 1200))
    found = {}

    def other():
        found["outside"] = _blas_helper_ticks(a)
        time.sleep(0.3)  # the pool spins a while after its last product
        with _threads.serial_blas():
            found["count"] = npconv.get_num_threads()
            found["inside"] = _blas_helper_ticks(a)
        found["after"] = npconv.get_num_threads()

    try:
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
    finally:
        npconv.set_num_threads(before)
    # the check below means something only if BLAS does use a helper thread when allowed
    assert found["outside"] > 0, "BLAS ran these products on one thread even when allowed two"
    assert found["count"] == 1 and found["inside"] <= 1 and found["after"] == 2


def test_set_num_threads_from_another_thread_takes_effect():
    before = npconv.get_num_threads()
    seen = []

    def other():
        npconv.set_num_threads(3)
        seen.append(npconv.get_num_threads())

    try:
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
        assert seen == [3] and npconv.get_num_threads() == 3
    finally:
        npconv.set_num_threads(before)


def test_blas_count_comes_back_after_a_call_that_raises(four_threads, monkeypatch):
    from npconv.compute import gemm

    found = npconv.get_num_threads()

    def fails(*args):
        assert npconv.get_num_threads() == 1  # serial meanwhile
        raise RuntimeError("a tile failed")

    monkeypatch.setattr(gemm, "_weight_tile", fails)
    x = np.ones((2, 16, 48, 48))  # large enough not to run inline
    with pytest.raises(RuntimeError, match="a tile failed"), npconv.use_algorithm("gemm"):
        G.conv2d_weight(x, (16, 16, 3, 3), np.ones((2, 16, 23, 23)), stride=2)
    assert npconv.get_num_threads() == found and blas._serial_depth == 0


@pytest.fixture
def default_sigint():
    """interrupt_main raises KeyboardInterrupt only under Python's own SIGINT handler, which
    an earlier test's library (a dask cluster, say) may have replaced."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


@pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(),
    reason="interrupts reach the main thread only",
)
def test_blas_count_and_affinity_come_back_after_interrupts(four_threads, default_sigint):
    found, cpus = (
        npconv.get_num_threads(),
        os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None,
    )
    rng = np.random.default_rng(5)
    x, dy = rng.standard_normal((8, 16, 24, 24)), rng.standard_normal((8, 16, 11, 11))

    def call():
        return G.conv2d_weight(x, (16, 16, 3, 3), dy, stride=2)

    took = float("inf")
    for _ in range(3):  # the first compiles or measures: the least of three is a call's time
        start = time.perf_counter()
        call()
        took = min(took, time.perf_counter() - start)
    cut = 0
    for _ in range(200):  # until five interrupts have landed inside a call
        if cut >= 5:
            break
        timer = threading.Timer(rng.uniform(0, took), _thread.interrupt_main)
        try:
            timer.start()
            call()
            timer.join()
            time.sleep(0.001)
        except KeyboardInterrupt:
            cut += 1
        timer.cancel()
        timer.join()
        assert npconv.get_num_threads() == found and blas._serial_depth == 0
        if cpus is not None:
            assert os.sched_getaffinity(0) == cpus
    assert cut >= 5


def test_set_num_threads_is_bounded():
    with pytest.raises(ValueError, match=f"at most {_threads.MAX_THREADS} threads.*n=100000"):
        npconv.set_num_threads(100000)
    assert _threads.MAX_THREADS >= 64


def test_set_pinning_wants_a_bool():
    with pytest.raises(TypeError, match="enabled=1"):
        npconv.set_pinning(1)
