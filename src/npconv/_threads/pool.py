"""npconv's own worker threads: `split` runs a loop's slices on the caller and on
persistent OS threads that block while idle, `split_blas` does so with NumPy's BLAS
single-threaded meanwhile, and `set_pinning` says whether the workers are kept off the
caller's CPU for a call (the mechanics are in affinity.py).

A call that raises or is interrupted (KeyboardInterrupt) returns only once no worker
runs a slice of it (_Call.settle): workers write the caller's scratch buffers, which
its next call reuses. This module is the pool alone: the thread count is count.py's,
the buffers memory.py's, the sums and products built on `split` sums.py's and
products.py's.
"""

from __future__ import annotations

import itertools
import os
import queue
import threading
from collections.abc import Callable, Sequence
from typing import Any

from . import affinity
from .blas import serial_blas
from .count import threads
from .local import _local

_pool: _Pool | None = None  # the workers of split, grown on demand
_pinning = os.environ.get("NPCONV_PIN", "").strip().lower() in ("1", "true", "yes", "on")

Ticket = dict[str, Any]  # a job's state on a worker, see _Call


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


class _Pool:
    """Persistent worker threads, each with its own queue of jobs.

    A woken thread lands where the scheduler thinks best, and on Linux that is
    often the waker's own CPU, above all after a pause: both halves of a split
    loop then run on one CPU, one after the other. The caller, woken after
    waiting for the GIL, likewise moved onto the worker's CPU. So with pinning on
    (set_pinning), for the length of a call the caller is held on its CPU and the
    workers are kept off it (`_place`), where the machine has another CPU.
    """

    def __init__(self, size: int) -> None:
        self.jobs: list[queue.SimpleQueue[tuple[_Call, Ticket]]] = [
            queue.SimpleQueue() for _ in range(size)
        ]
        self.away: int | None = None  # the caller's CPU the workers were last kept off
        started: queue.SimpleQueue[int] = queue.SimpleQueue()
        for jobs in self.jobs:
            threading.Thread(
                target=self._work, args=(jobs, started), daemon=True, name="npconv"
            ).start()
        self.ids = [started.get() for _ in self.jobs]  # the workers' native thread ids

    @staticmethod
    def _work(
        jobs: queue.SimpleQueue[tuple[_Call, Ticket]], started: queue.SimpleQueue[int]
    ) -> None:
        _local.worker = True
        started.put(threading.get_native_id())
        while True:
            call, ticket = jobs.get()
            if ticket.setdefault("state", "taken") != "taken":
                continue  # withdrawn: the caller has finished without us
            try:
                call.claim()
            except BaseException as error:  # handed to the caller, raised there
                ticket["error"] = error
                call.stop.append(True)
            ticket["done"] = True
            call.done.put(None)

    def release(self) -> None:
        """Let the workers run on every CPU of the process again (pinning turned off)."""
        self.away = None
        affinity.release(self.ids)

    def _place(self) -> set[int] | None:
        """Hold the caller on the CPU it runs on and keep the workers off it, if the machine
        has other CPUs; returns the caller's CPU set to restore afterwards, or None."""
        self.away, held = affinity.hold_caller(self.ids, self.away)
        return held

    def run(
        self, loop: Callable[..., object], args: tuple, bounds: Sequence[int], threads: int
    ) -> None:
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
            # the pool may have more workers than this call has tickets
            for jobs, ticket in zip(self.jobs, call.tickets, strict=False):
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
                affinity.restore_caller(held)
        if failure is not None:
            raise failure


class _Call:
    """One run's slices, and the tickets of its jobs on the workers.

    A ticket is taken by its worker, or withdrawn by the caller once it needs no more
    help, whichever comes first (dict.setdefault is atomic under the GIL); a taken
    ticket is marked done when its worker has finished. The caller waits on `done`
    for the taken ones only, checking the marks before every wait, so an interrupt
    anywhere in the wait loses no wake-up."""

    def __init__(
        self, loop: Callable[..., object], args: tuple, bounds: Sequence[int], workers: int
    ) -> None:
        self.loop, self.args, self.bounds = loop, args, bounds
        self.slices = itertools.count()
        self.stop: list[bool] = []  # non-empty: claim no more slices
        self.done: queue.SimpleQueue[None] = queue.SimpleQueue()
        self.tickets: list[Ticket] = [{} for _ in range(workers)]

    def claim(self) -> None:
        bounds, count = self.bounds, len(self.bounds) - 1
        for i in self.slices:  # next() on a count is atomic under the GIL
            if i >= count or self.stop:
                return
            self.loop(*self.args, (bounds[i], bounds[i + 1]))

    def _busy(self) -> list[Ticket]:
        return [t for t in self.tickets if t["state"] == "taken" and not t.get("done")]

    def settle(self, stopped: bool) -> BaseException | None:
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
            except BaseException as raised:  # an interrupt: wait on, then raise
                stopped = True
                interrupt = interrupt or raised
        if getattr(_local, "pending", None) is self:
            _local.pending = None
        errors = [t["error"] for t in self.tickets if "error" in t]
        return errors[0] if errors else interrupt


def _settle() -> None:
    """Wait for a call of this thread's that an interrupt cut short before it could wait
    for its workers itself (one landing between the statements of run's cleanup): its
    workers may still write this thread's scratch buffers, which the next call reuses."""
    call = getattr(_local, "pending", None)
    if call is not None and not getattr(_local, "worker", False):
        call.settle(stopped=True)


def _after_fork() -> None:
    """A forked child has none of the parent's workers, and only the forking thread."""
    global _pool
    _pool = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


def split(
    loop: Callable[..., object],
    count: int,
    *args: Any,
    slices: int = 4,
    most: int | None = None,
) -> None:
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


def split_blas(
    loop: Callable[..., object],
    count: int,
    *args: Any,
    slices: int = 1,
    most: int | None = None,
) -> None:
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
