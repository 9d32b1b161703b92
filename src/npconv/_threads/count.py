"""How many threads npconv computes with: set_num_threads / get_num_threads, torch's
names, which set NumPy's BLAS pools and npconv's own together, and `threads()`, the
count npconv's own loops split over.

Separate from the pool so that the count is one small piece of state that the pool,
the memory budget and the threaded matmul all read, without importing one another.
"""

from __future__ import annotations

import numbers
import os

from .blas import _blas_pools, _controller

_count: int | None = None  # set_num_threads' value; None: every usable CPU
MAX_THREADS = max(64, 4 * (os.cpu_count() or 1))  # set_num_threads' bound


def set_num_threads(n: int) -> None:
    """Use n threads in BLAS and in npconv's compiled loops, as torch.set_num_threads does.

    Args:
        n: the number of threads, a positive int of at most MAX_THREADS (four per CPU, or
            64): npconv's worker pool and NumPy's BLAS pool both take it. Small calls still
            run inline on the calling thread.

    Raises TypeError for a non-int and ValueError for n < 1 or n > MAX_THREADS.

    >>> import npconv
    >>> before = npconv.get_num_threads()
    >>> npconv.set_num_threads(1)
    >>> npconv.get_num_threads()
    1
    >>> npconv.set_num_threads(before)
    """
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


def get_num_threads() -> int:
    """The threads of NumPy's BLAS pool, as torch.get_num_threads does.

    The largest pool if several BLAS libraries are loaded; after set_num_threads(n) it is
    n, which npconv's own loops use too.

    >>> import npconv
    >>> npconv.get_num_threads() >= 1
    True
    """
    pools = [pool.get() for pool in _blas_pools(refresh=True)]
    if not pools:  # pragma: no cover
        _controller()  # threadpoolctl missing: say so
        raise RuntimeError("threadpoolctl found no BLAS library loaded by NumPy")
    return max(pools)


def threads() -> int:
    """Threads for npconv's own loops: set_num_threads' value, else the usable CPUs."""
    if _count is not None:
        return _count
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover  (not on Linux)
        return os.cpu_count() or 1
