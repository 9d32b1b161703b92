"""npconv's own thread pool (_threads.split, each): every item once, errors raised
in the caller, nesting runs inline, and the workers kept off the caller's CPU."""

import itertools
import os
import threading
import time

import numpy as np
import pytest

import npconv
import reference as R
from npconv import _threads
from npconv._threads import memory, pool


@pytest.fixture(params=[1, 2, 3])
def threads(request):
    before = npconv.get_num_threads()
    npconv.set_num_threads(request.param)
    yield request.param
    npconv.set_num_threads(before)


@pytest.mark.parametrize("count", [1, 2, 5, 17, 100])
@pytest.mark.parametrize("slices", [1, 4])
def test_split_covers_every_item_once(threads, count, slices):
    seen = np.zeros(count, dtype=np.int64)
    callers = set()

    def loop(marks, bounds):
        callers.add(threading.get_ident())
        marks[bounds[0] : bounds[1]] += 1

    _threads.split(loop, count, seen, slices=slices)
    np.testing.assert_array_equal(seen, np.ones(count, dtype=np.int64))
    assert len(callers) <= min(threads, count)


def test_split_raises_a_slice_error_in_the_caller(threads):
    def loop(bounds):
        if bounds[0] <= 3 < bounds[1]:
            raise ValueError(f"item 3 in {bounds}")

    with pytest.raises(ValueError, match="item 3"):
        _threads.split(loop, 8)
    _threads.split(lambda bounds: None, 8)  # the pool still works afterwards


def test_split_inside_a_slice_runs_inline(threads):
    """On the caller's slices as on the workers': the other threads are busy."""
    total = np.zeros(6, dtype=np.int64)
    moved = []

    def inner(row, outer_thread, bounds):
        total[row] += bounds[1] - bounds[0]
        if threading.get_ident() != outer_thread:
            moved.append(row)
        time.sleep(0.0005)  # a free worker could take the rest

    def outer(bounds):
        time.sleep(0.001)  # lets the workers take slices too
        for row in range(*bounds):
            _threads.split(inner, 10, row, threading.get_ident())

    _threads.split(outer, 6)
    np.testing.assert_array_equal(total, np.full(6, 10))
    assert moved == []


def test_each_sums_shares_in_item_order(threads):
    values = [np.float32(v) for v in (1e8, 1.0, -1e8, 1.0, 3.0)]
    result = _threads.each(lambda item: np.array([values[item]]), range(len(values)))
    parts = max(1, min(threads, len(values)))
    bounds = [len(values) * i // parts for i in range(parts + 1)]
    expected = None
    for first, last in itertools.pairwise(bounds):  # the same sums, by hand, in order
        share = np.array([values[first]])
        for v in values[first + 1 : last]:
            share += np.array([v])
        expected = share if expected is None else expected + share
    np.testing.assert_array_equal(result, expected)


@pytest.mark.parametrize("slow", [None, "caller", "worker"])
def test_shares_in_scratch_keep_apart(threads, slow):
    """With a slot, every body returns the same scratch buffer of its thread and each share
    is summed in a scratch buffer of its own, even where one thread claims every share
    (a slow worker) or runs a share whose first item's part it then overwrites."""
    caller = threading.get_ident()

    def body(item):
        if slow == ("caller" if threading.get_ident() == caller else "worker"):
            time.sleep(0.002)
        part = _threads.scratch("part", (3,), np.float64)
        part[...] = 10.0**item
        return part

    for _ in range(5):
        sums = _threads.shares(body, range(6), slot="sum")
        parts = max(1, min(threads, 6))
        bounds = [6 * i // parts for i in range(parts + 1)]
        expected = [sum(10.0**i for i in range(a, z)) for a, z in itertools.pairwise(bounds)]
        assert [s[0] for s in sums] == expected


def test_shares_in_scratch_survive_another_callers_shares():
    """A caller's share sums stay intact while another thread's call runs shares on the
    same workers: the sums are the caller's scratch, not the worker's that summed them."""
    before = npconv.get_num_threads()
    npconv.set_num_threads(2)
    try:

        def body(value, item):
            if threading.get_ident() == callers[-1]:
                time.sleep(0.005)  # lets the worker claim a share of this call
            part = _threads.scratch("part", (2,), np.float64)
            part[...] = value + item
            return part

        callers = [threading.get_ident()]
        first = _threads.shares(body, range(2), 100.0, slot="sum")
        kept = [s.copy() for s in first]

        def other():
            callers.append(threading.get_ident())
            _threads.shares(body, range(2), 200.0, slot="sum")

        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
        assert [s.tolist() for s in first] == [k.tolist() for k in kept]
    finally:
        npconv.set_num_threads(before)


def test_a_finished_threads_buffers_go_with_it():
    """Buffers are per thread and die with it: short-lived callers leave nothing behind."""
    import gc

    before = len(memory._every_scratch)
    done = []
    for _ in range(3):
        caller = threading.Thread(
            target=lambda: done.append(_threads.scratch("x", (1000,), np.float32).shape)
        )
        caller.start()
        caller.join()
    gc.collect()
    assert done == [(1000,)] * 3
    assert len(memory._every_scratch) == before


def test_scratch_reuses_a_slot_and_grows_it():
    a = _threads.scratch("test slot", (4, 5), np.float32)
    b = _threads.scratch("test slot", (2, 3), np.float64)
    assert a.shape == (4, 5) and a.dtype == np.float32 and b.dtype == np.float64
    assert np.shares_memory(a, b)  # the same buffer, read another way
    c = _threads.scratch("test slot", (100, 100), np.float32)
    assert c.shape == (100, 100) and not np.shares_memory(a, c)
    assert not np.shares_memory(c, _threads.scratch("other slot", (100, 100), np.float32))
    big = _threads.SCRATCH_BYTES // 4 + 1
    assert not np.shares_memory(
        _threads.scratch("test slot", (big,), np.float32),
        _threads.scratch("test slot", (big,), np.float32),
    )


@pytest.mark.skipif(
    not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
    reason="needs Linux CPU affinity and two usable CPUs",
)
def test_workers_stay_off_the_callers_cpu_with_pinning():
    before = npconv.get_num_threads()
    npconv.set_num_threads(2)
    npconv.set_pinning(True)
    try:
        placed = {}
        both_in = threading.Barrier(2, timeout=30)

        def loop(bounds):
            placed["caller" if threading.get_native_id() == caller else "worker"] = (
                os.sched_getaffinity(0)
            )
            both_in.wait()  # BrokenBarrierError: the worker never took a slice within 30 s

        caller = threading.get_native_id()
        _threads.split(loop, 2, slices=1)
        assert len(placed["caller"]) == 1, placed
        assert not placed["caller"] & placed["worker"], placed
    finally:
        npconv.set_pinning(False)
        npconv.set_num_threads(before)


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="needs Linux CPU affinity")
@pytest.mark.parametrize("pinning", [False, True])
def test_the_callers_cpus_come_back(threads, pinning, monkeypatch):
    """The caller is held on one CPU only for the length of a call, failed or not; the
    workers stay off the caller's CPU after a pinned call, and on every CPU otherwise."""
    monkeypatch.setattr(pool, "_pinning", pinning)  # where split reads it
    before = os.sched_getaffinity(0)
    _threads.split(lambda bounds: time.sleep(0.001), 4)
    assert os.sched_getaffinity(0) == before
    if threads > 1 and len(before) > 1:  # the workers ran: their CPUs show the pinning
        workers = [os.sched_getaffinity(tid) for tid in pool._pool.ids]
        if pinning:
            assert all(cpus < before and len(cpus) == len(before) - 1 for cpus in workers)
        else:
            assert all(cpus == before for cpus in workers), workers

    def fails(bounds):
        time.sleep(0.001)
        raise RuntimeError("slice failed")

    with pytest.raises(RuntimeError):
        _threads.split(fails, 4)
    assert os.sched_getaffinity(0) == before


def at_once(run):
    """run(0) and run(1) on two threads of their own, started together."""
    callers = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()


def test_calls_from_two_threads_at_once(threads, rng):
    """Two callers share the pool: each gets its own results, as when called alone."""
    from npconv import functional as F

    xs = [rng.standard_normal((4, 6, 20, 20)).astype(np.float32) for _ in range(2)]
    w = rng.standard_normal((6, 1, 3, 3)).astype(np.float32)
    alone = [F.conv(x, w, padding=1, groups=6) for x in xs]
    together = [None, None]

    def run(i):
        for _ in range(20):
            together[i] = F.conv(xs[i], w, padding=1, groups=6)

    at_once(run)
    for a, b in zip(together, alone, strict=True):
        np.testing.assert_array_equal(a, b)


def test_weight_gradients_from_two_threads_at_once(threads, rng, monkeypatch):
    """Two callers' weight gradients by tiles (partial sums kept in work buffers between
    calls) on the same workers: each as when computed alone."""
    from npconv.compute import Geometry, gemm, geometry

    monkeypatch.setattr(geometry, "WORK_BYTES", 20000)  # several tiles a call
    g = Geometry((3, 3), (2, 2), (1, 1), (1, 1), (16, 16), (8, 8), 1)
    xs = [rng.standard_normal((4, 8) + g.big) for _ in range(2)]
    ys = [rng.standard_normal((4, 16) + g.small) for _ in range(2)]
    alone = [gemm.conv_weight(x, y, g) for x, y in zip(xs, ys, strict=True)]
    for x, y, a in zip(xs, ys, alone, strict=True):  # right alone, by the loops
        np.testing.assert_allclose(
            a, R.conv_weight(x, y, g.kernel, g.stride, 1), rtol=1e-10, atol=1e-10
        )
    together = [[], []]

    def run(i):
        for _ in range(20):
            together[i].append(gemm.conv_weight(xs[i], ys[i], g))

    at_once(run)
    for results, expected in zip(together, alone, strict=True):
        for result in results:
            np.testing.assert_array_equal(result, expected)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_starts_its_own_workers(rng):
    """The parent's workers do not exist in a forked child: it must not wait for them."""
    from npconv import functional as F

    before = npconv.get_num_threads()
    npconv.set_num_threads(2)
    try:
        x = rng.standard_normal((4, 6, 20, 20)).astype(np.float32)
        w = rng.standard_normal((6, 1, 3, 3)).astype(np.float32)
        expected = F.conv(x, w, padding=1, groups=6)  # the parent's pool exists
        pid = os.fork()
        if pid == 0:  # pragma: no cover  (the child reports through its exit code)
            same = np.array_equal(F.conv(x, w, padding=1, groups=6), expected)
            os._exit(0 if same else 1)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.05)
        else:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("the forked child waited for workers it does not have")
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        npconv.set_num_threads(before)


@pytest.mark.parametrize("shape", [(300, 40, 500), (700, 30, 260), (2, 200, 64, 400)])
def test_matmul_splits_into_out(shape, threads, rng):
    """Products over SMALL multiply-adds split across the threads by blocks of the longer
    side, into a given `out` (a view of a larger buffer) as into a fresh array."""
    *batch, m, k, n = shape
    a = rng.standard_normal(tuple(batch) + (m, k))
    b = rng.standard_normal(tuple(batch) + (k, n))
    assert a.size * n >= _threads.SMALL
    expected = np.einsum("...mk,...kn->...mn", a, b)
    np.testing.assert_allclose(_threads.matmul(a, b), expected, rtol=1e-12, atol=1e-12)
    buffer = np.full(expected.size + 7, np.nan)
    out = buffer[3 : 3 + expected.size].reshape(expected.shape)
    assert _threads.matmul(a, b, out=out) is out
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    assert np.isnan(buffer[:3]).all() and np.isnan(buffer[3 + expected.size :]).all()
