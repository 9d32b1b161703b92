"""How many threads npconv computes with: NumPy's BLAS pool and Numba's.

The GEMMs run in whatever BLAS NumPy links (OpenBLAS, MKL, ...), reached
through threadpoolctl; the depthwise loops run in Numba's pool. Both are set
together and stay set until the next call.

>>> import npconv
>>> before = npconv.get_num_threads()
>>> npconv.set_num_threads(1)
>>> npconv.get_num_threads()
1
>>> npconv.set_num_threads(before)
"""
from __future__ import annotations

import numbers


def _controller():
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError as error:  # pragma: no cover
        raise ImportError("npconv.set_num_threads / get_num_threads need threadpoolctl to reach "
                          "NumPy's BLAS: pip install threadpoolctl") from error
    return ThreadpoolController()


def _numba():
    try:
        import numba
    except ImportError:  # pragma: no cover
        return None
    return numba


def set_num_threads(n):
    """Use n threads in BLAS and in Numba's pool (capped there by NUMBA_NUM_THREADS)."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"set_num_threads expects an int, but got n={n!r}")
    if n < 1:
        raise ValueError(f"set_num_threads expects a positive number of threads, but got n={n}")
    _controller().limit(limits=int(n), user_api="blas")
    numba = _numba()
    if numba is not None:
        numba.set_num_threads(min(int(n), numba.config.NUMBA_NUM_THREADS))


def get_num_threads():
    """Threads of NumPy's BLAS pool (the largest, if NumPy loaded several)."""
    pools = [info["num_threads"] for info in _controller().info() if info["user_api"] == "blas"]
    if not pools:  # pragma: no cover
        raise RuntimeError("threadpoolctl found no BLAS library loaded by NumPy")
    return max(pools)
