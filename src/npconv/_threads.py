"""How many threads npconv computes with: NumPy's BLAS pool and npconv's own.

The GEMMs run in whatever BLAS NumPy links (OpenBLAS, MKL, ...), reached
through threadpoolctl. The compiled depthwise loops run on npconv's own
threads (`split`): plain OS threads that block while idle, because a pool
that spins at a barrier (OpenMP's) stalls for a whole scheduler timeslice
whenever another process takes one of the cores (measured: 8 ms medians for a
1 ms loop on a shared 2-core machine). Both are set together and stay set
until the next call.

>>> import npconv
>>> before = npconv.get_num_threads()
>>> npconv.set_num_threads(1)
>>> npconv.get_num_threads()
1
>>> npconv.set_num_threads(before)
"""
from __future__ import annotations

import numbers
import os

import numpy as np
from concurrent.futures import ThreadPoolExecutor

_count = None       # set_num_threads' value; None: every usable CPU
_workers = None     # ThreadPoolExecutor for split, grown on demand
_blas = None        # threadpoolctl's controllers of the BLAS pools, found once


def _controller():
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError as error:  # pragma: no cover
        raise ImportError("npconv.set_num_threads / get_num_threads need threadpoolctl to reach "
                          "NumPy's BLAS: pip install threadpoolctl") from error
    return ThreadpoolController()


def set_num_threads(n):
    """Use n threads in BLAS and in npconv's compiled loops."""
    global _count
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"set_num_threads expects an int, but got n={n!r}")
    if n < 1:
        raise ValueError(f"set_num_threads expects a positive number of threads, but got n={n}")
    _controller().limit(limits=int(n), user_api="blas")
    _count = int(n)


def get_num_threads():
    """Threads of NumPy's BLAS pool (the largest, if NumPy loaded several)."""
    pools = [info["num_threads"] for info in _controller().info() if info["user_api"] == "blas"]
    if not pools:  # pragma: no cover
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


def split(loop, count, *args):
    """loop(*args, (first, last)) over items [0, count), in one slice per thread.

    The caller runs the last slice; `loop` must release the GIL (Numba nogil)
    and must not let two slices write the same memory.
    """
    global _workers
    parts = max(1, min(threads(), count))
    bounds = [count * i // parts for i in range(parts + 1)]
    if parts > 1 and (_workers is None or _workers._max_workers < parts - 1):
        _workers = ThreadPoolExecutor(parts - 1, thread_name_prefix="npconv")
    jobs = [_workers.submit(loop, *args, (bounds[i], bounds[i + 1])) for i in range(parts - 1)]
    loop(*args, (bounds[-2], bounds[-1]))
    for job in jobs:
        job.result()


def _blas_pools():
    global _blas
    if _blas is None:
        try:
            _blas = [lib for lib in _controller().lib_controllers if lib.user_api == "blas"]
        except ImportError:  # pragma: no cover
            _blas = []
    return _blas


def split_blas(loop, count, *args):
    """split, with NumPy's BLAS single-threaded meanwhile, for loops that call GEMMs.

    Each thread then runs its GEMMs on its own core over data it just wrote (in
    its cache), where one multi-threaded GEMM at a time would split every small
    product in two. The BLAS pools get their thread counts back afterwards (the
    count is process-wide: BLAS calls from other threads meanwhile run serially).
    """
    if min(threads(), count) <= 1:
        loop(*args, (0, count))
        return
    pools = _blas_pools()
    before = [pool.num_threads for pool in pools]
    for pool in pools:
        pool.set_num_threads(1)
    try:
        split(loop, count, *args)
    finally:
        for pool, number in zip(pools, before):
            pool.set_num_threads(number)


def each(body, items, *args):
    """body(*args, item) for every item, the items spread over npconv's threads in
    contiguous shares, each thread with a single-threaded BLAS (split_blas).

    Returns the sum of body's results (each thread sums its share in place, then
    the shares are added), or None if body returns nothing. The bodies of
    different items must not write the same memory.
    """
    items = list(items)
    sums = []

    def share(bounds):
        total = None
        for item in items[bounds[0]:bounds[1]]:
            part = body(*args, item)
            if part is not None:
                if total is None:
                    total = part
                else:
                    total += part
        sums.append(total)  # list.append is atomic under the GIL

    split_blas(share, len(items))
    parts = [total for total in sums if total is not None]
    if not parts:
        return None
    result = parts[0]
    for part in parts[1:]:
        result += part
    return result


def matmul(a, b):
    """a @ b for (..., M, K) @ (..., K, L) with the L columns cut into one block per
    thread, each thread multiplying its block in a single-threaded BLAS.

    For the wide products of overlap-add (unet_up4: (256, 128) @ (128, 65536)) this
    runs 35 -> 26 ms where the BLAS pool splits the product its own way; a product
    less than four times wider than tall goes to BLAS whole (unet_up1's square
    (2048, 1024) @ (1024, 1024) ran 30 -> 39 ms in halves)."""
    if b.shape[-1] < 4 * a.shape[-2]:
        return np.matmul(a, b)
    out = np.empty(np.broadcast_shapes(a.shape[:-2], b.shape[:-2]) + (a.shape[-2], b.shape[-1]),
                   dtype=np.result_type(a, b))
    width = b.shape[-1]
    parts = max(1, min(threads(), width // 256))
    bounds = [width * i // parts for i in range(parts + 1)]

    def block(items):
        for i in range(items[0], items[1]):
            # (..., M, K) @ (..., K, Li) -> (..., M, Li)
            np.matmul(a, b[..., bounds[i]:bounds[i + 1]], out=out[..., bounds[i]:bounds[i + 1]])

    split_blas(block, parts)
    return out
