"""How many threads npconv computes with: NumPy's BLAS pool and npconv's own.

The GEMMs run in whatever BLAS NumPy links (OpenBLAS, MKL, ...), reached
through threadpoolctl. The compiled loops (depthwise, col2im, Winograd's
tiles) run on npconv's own threads (`split`): plain OS threads that block
while idle, because a pool that spins at a barrier (OpenMP's) stalls for a
whole scheduler timeslice whenever another process takes one of the cores. The
threads claim slices of the work in turn; with set_pinning(True) (or NPCONV_PIN=1)
they are kept off the caller's CPU, which is held on its own for the call. By
default npconv changes no thread's CPU affinity. Both pools are set together and
stay set until the next call.

A call that raises or is interrupted (KeyboardInterrupt) returns only once no
worker runs a slice of it (_Call.settle): workers write the caller's scratch
buffers, which its next call reuses.

>>> import npconv
>>> before = npconv.get_num_threads()
>>> npconv.set_num_threads(1)
>>> npconv.get_num_threads()
1
>>> npconv.set_num_threads(before)
"""

from __future__ import annotations

import contextlib
import itertools
import numbers
import os
import queue
import threading
import weakref

import numpy as np

_count = None  # set_num_threads' value; None: every usable CPU
_pool = None  # the workers of split, grown on demand
_local = threading.local()  # .worker: True on a pool's threads, and in the caller's slices
_sched_getcpu = False  # libc's sched_getcpu, looked up on first use (None: none)
_blas = None  # threadpoolctl's controllers of the BLAS pools, found once
_serial_lock = threading.Lock()
_serial_depth = 0  # serial_blas blocks open (nested calls, other threads)
_serial_before = None  # (pool, thread count) of each BLAS pool before the outermost one
_pinning = os.environ.get("NPCONV_PIN", "").strip().lower() in ("1", "true", "yes", "on")
_every_scratch = weakref.WeakSet()  # every thread's _Scratch, for drop_scratch
SMALL = 1 << 22  # multiply-adds below which matmul does not split a product
SCRATCH_BYTES = 64 << 20  # the largest work buffer a thread keeps between calls (scratch)
BUDGET = 40 << 20  # work buffers of a call's threads together (of the 64 MiB bound)
MAX_THREADS = max(64, 4 * (os.cpu_count() or 1))  # set_num_threads' bound


def _controller():
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError as error:  # pragma: no cover
        raise ImportError(
            "npconv.set_num_threads / get_num_threads need threadpoolctl to reach "
            "NumPy's BLAS: pip install threadpoolctl"
        ) from error
    return ThreadpoolController()


def set_num_threads(n):
    """Use n threads in BLAS and in npconv's compiled loops (at most MAX_THREADS: four per
    CPU, or 64)."""
    global _count
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"set_num_threads expects an int, but got n={n!r}")
    if n < 1:
        raise ValueError(f"set_num_threads expects a positive number of threads, but got n={n}")
    if n > MAX_THREADS:
        raise ValueError(
            f"set_num_threads expects at most {MAX_THREADS} threads (four per CPU, "
            f"or 64), but got n={n}"
        )
    if not _blas_pools(refresh=True):
        _controller()  # threadpoolctl missing: say so
    for pool in _blas_pools():
        pool.set(int(n))
    _count = int(n)


def set_pinning(enabled: bool) -> None:
    """Hold the calling thread on its CPU for the length of a threaded call and keep
    npconv's workers off it (Linux), or not (the default; also NPCONV_PIN=1 to enable).

    It saves a woken worker landing on the caller's CPU and sharing its core (on a busy
    machine, small layers gain the most: docs/benchmarks.md), at the price of changing
    the CPU affinity of the caller during the call and of the workers until they exit.

    Args:
        enabled: True to pin during threaded calls, False (the default) to leave every
            thread's CPU affinity alone.

    >>> import npconv
    >>> npconv.set_pinning(False)
    """
    global _pinning
    if not isinstance(enabled, bool):
        raise TypeError(f"set_pinning expects a bool, but got enabled={enabled!r}")
    _pinning = enabled
    if not enabled and _pool is not None and _pool.away is not None:
        _pool.release()


def get_num_threads():
    """Threads of NumPy's BLAS pool (the largest, if several BLAS libraries are loaded)."""
    pools = [pool.get() for pool in _blas_pools(refresh=True)]
    if not pools:  # pragma: no cover
        _controller()  # threadpoolctl missing: say so
        raise RuntimeError("threadpoolctl found no BLAS library loaded by NumPy")
    return max(pools)


def threads():
    """Threads for npconv's own loops: set_num_threads' value, else the usable CPUs."""
    if _count is not None:
        return _count
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover  (not on Linux)
        return os.cpu_count() or 1


class _Pool:
    """Persistent worker threads, each with its own queue of jobs.

    A woken thread lands where the scheduler thinks best, and on Linux that is
    often the waker's own CPU, above all after a pause: both halves of a split
    loop then run on one CPU, one after the other. The caller, woken after
    waiting for the GIL, likewise moved onto the worker's CPU. So with pinning on
    (set_pinning), for the length of a call the caller is held on its CPU and the
    workers are kept off it (`_place`), where the machine has another CPU.
    """

    def __init__(self, size):
        self.jobs = [queue.SimpleQueue() for _ in range(size)]
        self.away = None  # the caller's CPU the workers were last kept off
        started = queue.SimpleQueue()
        for jobs in self.jobs:
            threading.Thread(
                target=self._work, args=(jobs, started), daemon=True, name="npconv"
            ).start()
        self.ids = [started.get() for _ in self.jobs]  # the workers' native thread ids

    @staticmethod
    def _work(jobs, started):
        _local.worker = True
        started.put(threading.get_native_id())
        while True:
            call, ticket = jobs.get()
            if ticket.setdefault("state", "taken") != "taken":
                continue  # withdrawn: the caller has finished without us
            try:
                call.claim()
            except BaseException as error:  # noqa: BLE001 - handed to the caller, raised there
                ticket["error"] = error
                call.stop.append(True)
            ticket["done"] = True
            call.done.put(None)

    def release(self):
        """Let the workers run on every CPU of the process again (pinning turned off)."""
        self.away = None
        cpus = os.sched_getaffinity(0)
        for tid in self.ids:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(tid, cpus)

    def _place(self):
        """Hold the caller on the CPU it runs on and keep the workers off it, if the machine
        has other CPUs; returns the caller's CPU set to restore afterwards, or None."""
        cpu = _current_cpu()
        if cpu is None:
            return None
        mine = os.sched_getaffinity(0)
        others = mine - {cpu}
        if not others:
            return None
        if cpu != self.away:
            self.away = cpu
            for tid in self.ids:
                try:
                    os.sched_setaffinity(tid, others)
                except OSError:  # pragma: no cover  (a CPU set the worker may not take)
                    pass
        try:
            os.sched_setaffinity(0, {cpu})
        except OSError:  # pragma: no cover  (the CPU left the caller's cpuset meanwhile)
            return None
        return mine

    def run(self, loop, args, bounds, threads):
        """loop(*args, (bounds[i], bounds[i + 1])) for every i, on the caller and threads - 1
        workers, each claiming the next slice when it is free: a worker that wakes late
        (tens of microseconds on a virtual machine) or a core that is busy elsewhere
        then costs only what the others can not take over.

        Returns only when no worker runs a slice of this call, however it ends: a slice
        that raises, or an interrupt (KeyboardInterrupt) in the caller, stops the slices
        not yet claimed, and the caller waits for the claimed ones before it raises, so
        that no worker goes on writing buffers the caller reuses (_Call)."""
        call = _Call(loop, args, bounds, threads - 1)
        _local.pending = call  # until it settles: see _settle
        held, finished = None, False
        try:
            if _pinning:
                held = self._place()
            elif self.away is not None:
                self.release()  # pinning was turned off since
            for jobs, ticket in zip(self.jobs, call.tickets):
                jobs.put((call, ticket))
            _local.worker = True  # a split inside the caller's slices runs inline too
            try:
                call.claim()
            finally:
                _local.worker = False
            finished = True
        finally:
            failure = call.settle(stopped=not finished)
            if held is not None:
                try:
                    os.sched_setaffinity(0, held)
                except OSError:  # pragma: no cover  (the cpuset changed meanwhile)
                    pass
        if failure is not None:
            raise failure


class _Call:
    """One run's slices, and the tickets of its jobs on the workers.

    A ticket is taken by its worker, or withdrawn by the caller once it needs no more
    help, whichever comes first (dict.setdefault is atomic under the GIL); a taken
    ticket is marked done when its worker has finished. The caller waits on `done`
    for the taken ones only, checking the marks before every wait, so an interrupt
    anywhere in the wait loses no wake-up."""

    def __init__(self, loop, args, bounds, workers):
        self.loop, self.args, self.bounds = loop, args, bounds
        self.slices = itertools.count()
        self.stop = []  # non-empty: claim no more slices
        self.done = queue.SimpleQueue()
        self.tickets = [{} for _ in range(workers)]

    def claim(self):
        bounds, count = self.bounds, len(self.bounds) - 1
        for i in self.slices:  # next() on a count is atomic under the GIL
            if i >= count or self.stop:
                return
            self.loop(*self.args, (bounds[i], bounds[i + 1]))

    def _busy(self):
        return [t for t in self.tickets if t["state"] == "taken" and not t.get("done")]

    def settle(self, stopped):
        """Withdraw the tickets no worker has taken and wait until the taken ones are done
        (stopping the unclaimed slices first if `stopped`); returns the first worker's
        error, else an interrupt that came while waiting, else None. Interrupts do not
        end the wait: they stop the slices and are returned once it is over."""
        interrupt = None
        while True:
            try:
                if stopped:
                    self.stop.append(True)
                for ticket in self.tickets:
                    ticket.setdefault("state", "withdrawn")
                while self._busy():
                    self.done.get()
                break
            except BaseException as raised:  # noqa: BLE001 - an interrupt: wait on, then raise
                stopped = True
                interrupt = interrupt or raised
        if getattr(_local, "pending", None) is self:
            _local.pending = None
        errors = [t["error"] for t in self.tickets if "error" in t]
        return errors[0] if errors else interrupt


def _settle():
    """Wait for a call of this thread's that an interrupt cut short before it could wait
    for its workers itself (one landing between the statements of run's cleanup): its
    workers may still write this thread's scratch buffers, which the next call reuses."""
    call = getattr(_local, "pending", None)
    if call is not None and not getattr(_local, "worker", False):
        call.settle(stopped=True)


def _getcpu():
    """libc's sched_getcpu, or None where there is none."""
    try:
        import ctypes

        getcpu = ctypes.CDLL(None).sched_getcpu
    except (ImportError, OSError, AttributeError):  # pragma: no cover  (not glibc / musl)
        return None
    getcpu.restype = ctypes.c_int
    getcpu.argtypes = []
    return getcpu


def _current_cpu():
    """The CPU the calling thread runs on, or None where that can not be asked."""
    global _sched_getcpu
    if _sched_getcpu is False:
        _sched_getcpu = _getcpu() if hasattr(os, "sched_setaffinity") else None
    cpu = _sched_getcpu() if _sched_getcpu is not None else -1
    return cpu if cpu >= 0 else None


def _after_fork():
    """A forked child has none of the parent's workers, and only the forking thread."""
    global _pool, _serial_lock, _serial_depth
    _pool = None
    _serial_lock, _serial_depth = threading.Lock(), 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


def budget(result_bytes=0):
    """Bytes that a call's threads may hold together for work buffers: BUDGET, or three
    quarters of the result's size where that is larger. A call's extra memory is bounded
    by max(64 MiB, its result): the rest is for its other temporaries, and for what
    the allocator keeps per thread (glibc's arenas: freed blocks stay with the thread
    that freed them, so more threads hold more pages for the same live buffers)."""
    return max(BUDGET, 3 * result_bytes // 4)


def parts_within(memory, limit=None):
    """Threads to run on when each holds `memory` bytes of work buffers: threads(), fewer
    where they would hold more than budget() together (or `limit` bytes), at least one."""
    total = budget() if limit is None else limit
    return max(1, min(threads(), total // max(1, memory)))


def split(loop, count, *args, slices=4, most=None):
    """loop(*args, (first, last)) over items [0, count), in `slices` contiguous slices per
    thread that the threads claim in turn, on at most `most` threads if given (see
    parts_within: a memory budget).

    The caller runs slices too; `loop` must release the GIL (Numba nogil, BLAS,
    NumPy's copies) and must not let two slices write the same memory. Called from
    inside a slice, on any thread, it runs the whole range there (the others are
    busy with their own slices).
    """
    global _pool
    _settle()
    parts = max(1, min(threads() if most is None else min(most, threads()), count))
    if parts == 1 or getattr(_local, "worker", False):
        loop(*args, (0, count))
        return
    if _pool is None or len(_pool.jobs) < parts - 1:
        _pool = _Pool(parts - 1)
    pieces = min(count, parts * slices)
    _pool.run(loop, args, [count * i // pieces for i in range(pieces + 1)], parts)


class _Blas:
    """One BLAS library NumPy loaded: its thread count, read and set from any thread.

    OpenBLAS ignores openblas_set_num_threads from any thread but the main one (0.3.31
    with pthreads: the count reads back unchanged and products still split), so where it
    has openblas_set_num_threads_local, which works from every thread (and, built with
    pthreads, sets the count for the process), that is used; other libraries go through
    threadpoolctl."""

    def __init__(self, controller):
        self.controller = controller
        self.local = None
        if controller.internal_api == "openblas":
            try:
                import ctypes

                function = controller.dynlib.openblas_set_num_threads_local
            except (AttributeError, ImportError, OSError):
                function = None
            if function is not None:
                function.restype, function.argtypes = ctypes.c_int, [ctypes.c_int]
                self.local = function

    def get(self):
        return self.controller.num_threads

    def set(self, n):
        if self.local is not None:
            self.local(n)
        else:
            self.controller.set_num_threads(n)


def _blas_pools(refresh=False):
    """The BLAS libraries loaded, found once (a scan of the loaded libraries), again
    with `refresh` (set_num_threads and get_num_threads: SciPy, say, loads its own)."""
    global _blas
    if _blas is None or refresh:
        try:
            _blas = [_Blas(lib) for lib in _controller().lib_controllers if lib.user_api == "blas"]
        except ImportError:  # pragma: no cover
            _blas = []
    return _blas


def _restore(before):
    """Set each (pool, count) of `before` back, finishing even if interrupted."""
    interrupt = None
    for pool, number in before:
        while True:
            try:
                pool.set(number)
                break
            except KeyboardInterrupt as raised:
                interrupt = raised
    return interrupt


class serial_blas:  # lower case: used as a function, `with serial_blas():`
    """NumPy's BLAS single-threaded meanwhile: npconv's own threads run its products.

    A BLAS pool that has just run a product spins for a while before its threads
    sleep (OpenBLAS: up to ~0.1 s), and meanwhile takes the cores from npconv's
    threads, even after a product too small to need it. So the kernels never wake the
    pool; the counts come back, as they were found, when the outermost block ends,
    however it ends (they are process-wide: BLAS calls from other threads meanwhile run
    serially).

    A class, not a generator: a generator whose `with` an interrupt cuts short between
    its yield and the block keeps its count until the garbage collector closes it.
    """

    def __enter__(self):
        global _serial_depth, _serial_before
        self.active = not getattr(_local, "inline", False)
        if not self.active:
            return self  # inline work leaves the BLAS as it is (see inline)
        with _serial_lock:
            _serial_depth += 1
            try:
                if _serial_depth == 1:
                    _serial_before = None
                    before = [(pool, pool.get()) for pool in _blas_pools()]
                    _serial_before = before
                    for pool, _ in before:
                        pool.set(1)
            except BaseException:
                self._leave()
                raise
        return self

    def __exit__(self, *exc):
        if not self.active:
            return False
        with _serial_lock:
            interrupt = self._leave()
        if interrupt is not None and exc[0] is None:
            raise interrupt
        return False

    @staticmethod
    def _leave():
        """One block fewer; the counts back if it was the outermost (under _serial_lock)."""
        global _serial_depth, _serial_before
        _serial_depth -= 1
        interrupt = None
        if _serial_depth == 0 and _serial_before is not None:
            interrupt = _restore(_serial_before)
            _serial_before = None
        return interrupt


@contextlib.contextmanager
def inline():
    """Run npconv's work inside the block on the calling thread alone: `split` runs its whole
    range here and `serial_blas` leaves the BLAS's thread count as it is. For problems so
    small that waking a worker or switching the BLAS costs more than a second core saves
    (the BLAS itself runs such small products on one thread)."""
    before = getattr(_local, "worker", False), getattr(_local, "inline", False)
    _local.worker = _local.inline = True
    try:
        yield
    finally:
        _local.worker, _local.inline = before


def split_blas(loop, count, *args, slices=1, most=None):
    """split, with NumPy's BLAS single-threaded meanwhile (serial_blas), for loops that
    call GEMMs. One slice per thread by default: such loops set up work arrays per call.

    Each thread then runs its GEMMs on its own core over data it just wrote (in
    its cache), where one multi-threaded GEMM at a time would split every small
    product in two.
    """
    if min(threads() if most is None else most, count) <= 1:
        loop(*args, (0, count))
        return
    with serial_blas():
        split(loop, count, *args, slices=slices, most=most)


def shares(body, items, *args, slot=None, most=None):
    """body(*args, item) for every item, the items spread over npconv's threads in
    one contiguous share per thread, each thread with a single-threaded BLAS
    (split_blas).

    Returns each share's sum of body's results (summed in place), in the order of
    the items, leaving out shares whose bodies return nothing. The bodies of
    different items must not write the same memory. With a `slot`, body may return
    its thread's scratch arrays: each share is summed in a scratch buffer of the
    calling thread's, valid until its next shares() with this slot. (Not the worker's:
    a worker may go on to a share of another caller's call before this one reads
    its sums.)
    """
    items = list(items)
    sums = {}
    owner, order = _own_scratch(), itertools.count()

    def share(bounds):
        total = None
        for item in items[bounds[0] : bounds[1]]:
            part = body(*args, item)
            if part is not None:
                if total is None and slot is not None:
                    # one buffer per share, numbered as they start (next() on a count is
                    # atomic under the GIL): as many as there are threads
                    total = scratch((slot, next(order)), part.shape, part.dtype, owner)
                    np.copyto(total, part)
                elif total is None:
                    total = part
                else:
                    total += part
        sums[bounds[0]] = total  # dict assignment is atomic under the GIL

    split_blas(share, len(items), most=most)
    return [sums[first] for first in sorted(sums) if sums[first] is not None]


def each(body, items, *args, most=None):
    """body(*args, item) for every item, as `shares` runs them; the sum of body's results
    (the shares added in order, so the result does not depend on which thread took
    which share), or None if body returns nothing."""
    parts = shares(body, items, *args, most=most)
    if not parts:
        return None
    result = parts[0]
    for part in parts[1:]:
        result += part
    return result


class _Scratch:
    """One thread's work buffers, {slot: 1-d uint8 array}; freed with its thread."""

    def __init__(self):
        self.buffers = {}

    def kept(self):
        return sum(buffer.nbytes for buffer in self.buffers.values())


def _own_scratch():
    buffers = getattr(_local, "scratch", None)
    if buffers is None:
        buffers = _local.scratch = _Scratch()
        _every_scratch.add(buffers)
    return buffers


def scratch(slot, shape, dtype, owner=None):
    """An uninitialised array of `shape` and `dtype` in this thread's work buffer `slot`,
    which the thread keeps for its next call while its buffers stay within its part of
    the budget, BUDGET / threads() (and each within SCRATCH_BYTES): the threads keep
    BUDGET at most together, at any thread count. Beyond it, a fresh array.

    Valid until this thread's next scratch(slot); for a tile's temporaries only, never
    for a result. With `owner` (another thread's _own_scratch()), the buffer is that
    thread's. A fresh buffer costs a page fault per 4 KiB page on every call once
    glibc returns freed memory to the system.
    """
    _settle()
    dtype = np.dtype(dtype)
    size = dtype.itemsize
    for v in shape:
        size *= v
    if size > SCRATCH_BYTES:
        return np.empty(shape, dtype=dtype)
    buffers = (_own_scratch() if owner is None else owner).buffers
    buffer = buffers.get(slot)
    if buffer is None or buffer.nbytes < size:
        others = sum(b.nbytes for key, b in buffers.items() if key != slot)
        if others + size > BUDGET // max(1, threads()):
            return np.empty(shape, dtype=dtype)  # over this thread's part: not kept
        buffer = buffers[slot] = np.empty(max(size, 1), dtype=np.uint8)
    return buffer[:size].view(dtype).reshape(shape)  # (size,) bytes -> shape


def kept_scratch():
    """Bytes of work buffers that every thread keeps between calls, together."""
    return sum(owner.kept() for owner in list(_every_scratch))


def drop_scratch():
    """Let go of every thread's work buffers (the next calls allocate them again)."""
    for owner in list(_every_scratch):
        owner.buffers.clear()


def matmul(a, b, out=None):
    """a @ b for (..., M, K) @ (..., K, L) on npconv's threads, each multiplying a block of
    the longer of M and L in a single-threaded BLAS (serial_blas: the BLAS pool stays
    asleep); into `out` if given: on large products as fast as the BLAS's own threads.
    Products under SMALL multiply-adds run whole on the caller, and so does every
    product inside one of npconv's threads' shares (split runs there)."""
    if getattr(_local, "inline", False):  # small work: the caller, as it is
        return np.matmul(a, b) if out is None else np.matmul(a, b, out=out)
    m, l = a.shape[-2], b.shape[-1]
    if out is None:
        out = np.empty(
            np.broadcast_shapes(a.shape[:-2], b.shape[:-2]) + (m, l), dtype=np.result_type(a, b)
        )
    longer = max(m, l)
    parts = max(1, min(threads(), longer // 64))
    if parts == 1 or out.size * a.shape[-1] < SMALL:
        with serial_blas():
            np.matmul(a, b, out=out)
        return out
    bounds = [longer * i // parts for i in range(parts + 1)]

    def block(items):
        for i in range(items[0], items[1]):
            part = slice(bounds[i], bounds[i + 1])
            if l >= m:
                # (..., M, K) @ (..., K, Li) -> (..., M, Li)
                np.matmul(a, b[..., part], out=out[..., part])
            else:
                # (..., Mi, K) @ (..., K, L) -> (..., Mi, L)
                np.matmul(a[..., part, :], b, out=out[..., part, :])

    split_blas(block, parts)
    return out
