"""NumPy's BLAS pools: finding the BLAS libraries NumPy loaded, reading and setting their
thread counts from any thread, and `serial_blas`, which keeps them single-threaded while
npconv's own threads run the products.

Separate from npconv's own pool: it reaches a different pool (the BLAS library's,
through threadpoolctl and OpenBLAS's own entry point) and keeps process-wide state of
its own (the counts to restore, under a lock).
"""

from __future__ import annotations

import os
import threading
from typing import Any, Literal

from .local import _local

_blas: list[_Blas] | None = None  # threadpoolctl's controllers of the BLAS pools, found once
_serial_lock = threading.Lock()
_serial_depth = 0  # serial_blas blocks open (nested calls, other threads)
_serial_before: list[tuple[_Blas, int]] | None = None  # (pool, thread count) of each BLAS pool
# before the outermost serial_blas block


def _controller() -> Any:
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError as error:  # pragma: no cover
        raise ImportError(
            "npconv.set_num_threads / get_num_threads need threadpoolctl to reach "
            "NumPy's BLAS: pip install threadpoolctl"
        ) from error
    return ThreadpoolController()


class _Blas:
    """One BLAS library NumPy loaded: its thread count, read and set from any thread.

    OpenBLAS ignores openblas_set_num_threads from any thread but the main one (0.3.31
    with pthreads: the count reads back unchanged and products still split), so where it
    has openblas_set_num_threads_local, which works from every thread (and, built with
    pthreads, sets the count for the process), that is used; other libraries go through
    threadpoolctl."""

    def __init__(self, controller: Any) -> None:
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

    def get(self) -> int:
        return self.controller.num_threads

    def set(self, n: int) -> None:
        if self.local is not None:
            self.local(n)
        else:
            self.controller.set_num_threads(n)


def _blas_pools(refresh: bool = False) -> list[_Blas]:
    """The BLAS libraries loaded, found once (a scan of the loaded libraries), again
    with `refresh` (set_num_threads and get_num_threads: SciPy, say, loads its own)."""
    global _blas
    if _blas is None or refresh:
        try:
            _blas = [_Blas(lib) for lib in _controller().lib_controllers if lib.user_api == "blas"]
        except ImportError:  # pragma: no cover
            _blas = []
    return _blas


def _restore(before: list[tuple[_Blas, int]]) -> KeyboardInterrupt | None:
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

    def __enter__(self) -> serial_blas:
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

    def __exit__(self, *exc: object) -> Literal[False]:
        if not self.active:
            return False
        with _serial_lock:
            interrupt = self._leave()
        if interrupt is not None and exc[0] is None:
            raise interrupt
        return False

    @staticmethod
    def _leave() -> KeyboardInterrupt | None:
        """One block fewer; the counts back if it was the outermost (under _serial_lock)."""
        global _serial_depth, _serial_before
        _serial_depth -= 1
        interrupt = None
        if _serial_depth == 0 and _serial_before is not None:
            interrupt = _restore(_serial_before)
            _serial_before = None
        return interrupt


def _after_fork() -> None:
    """A forked child has only the forking thread: no serial_blas block is open in it."""
    global _serial_lock, _serial_depth
    _serial_lock, _serial_depth = threading.Lock(), 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
