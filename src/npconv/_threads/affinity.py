"""CPU affinity: which CPU the calling thread runs on, holding it there for a call while
the pool's workers are kept off it, and letting everyone go again (Linux).

The mechanics only; whether to pin at all (set_pinning, NPCONV_PIN) is the pool's
policy (pool.py). Separate because it is the one part of the package that talks to the
OS scheduler and libc, and none of it is needed where there is no sched_setaffinity.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable

# libc's sched_getcpu, looked up on first use (None: there is none; False: not yet looked up)
_sched_getcpu: Callable[[], int] | bool | None = False


def _getcpu() -> Callable[[], int] | None:
    """libc's sched_getcpu, or None where there is none."""
    try:
        import ctypes

        getcpu = ctypes.CDLL(None).sched_getcpu
    except (ImportError, OSError, AttributeError):  # pragma: no cover  (not glibc / musl)
        return None
    getcpu.restype = ctypes.c_int
    getcpu.argtypes = []
    return getcpu


def _current_cpu() -> int | None:
    """The CPU the calling thread runs on, or None where that can not be asked."""
    global _sched_getcpu
    if _sched_getcpu is False:
        _sched_getcpu = _getcpu() if hasattr(os, "sched_setaffinity") else None
    cpu = _sched_getcpu() if callable(_sched_getcpu) else -1
    return cpu if cpu >= 0 else None


def hold_caller(workers: Iterable[int], away: int | None) -> tuple[int | None, set[int] | None]:
    """Hold the calling thread on the CPU it runs on and keep `workers` (native thread ids)
    off it, if the process has other CPUs; `away` is the CPU they are kept off already
    (None: none), and they are moved only when the caller's CPU is another.

    Returns (the CPU the workers are now kept off, the caller's CPU set to restore after
    the call, or None when the caller was not held)."""
    cpu = _current_cpu()
    if cpu is None:
        return away, None
    mine = os.sched_getaffinity(0)
    others = mine - {cpu}
    if not others:
        return away, None
    if cpu != away:
        away = cpu
        for tid in workers:
            try:
                os.sched_setaffinity(tid, others)
            except OSError:  # pragma: no cover  (a CPU set the worker may not take)
                pass
    try:
        os.sched_setaffinity(0, {cpu})
    except OSError:  # pragma: no cover  (the CPU left the caller's cpuset meanwhile)
        return away, None
    return away, mine


def restore_caller(held: set[int]) -> None:
    """Give the calling thread back the CPU set `hold_caller` returned."""
    try:
        os.sched_setaffinity(0, held)
    except OSError:  # pragma: no cover  (the cpuset changed meanwhile)
        pass


def release(workers: Iterable[int]) -> None:
    """Let `workers` (native thread ids) run on every CPU of the process again."""
    cpus = os.sched_getaffinity(0)
    for tid in workers:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(tid, cpus)
