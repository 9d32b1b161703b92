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
worker runs a slice of it (pool._Call.settle): workers write the caller's scratch
buffers, which its next call reuses.

The package's modules, each one job (the arrows: what each imports):

    local     the calling thread's role (thread-local state) and `inline`
    affinity  CPU affinity: hold the caller on its CPU, keep workers off it
    blas      NumPy's BLAS pools: their thread counts, `serial_blas`      <- local
    count     set_num_threads, get_num_threads, threads()                 <- blas
    pool      npconv's workers: split, split_blas, set_pinning  <- local, affinity, blas, count
    memory    the memory budget and the per-thread scratch buffers       <- local, count, pool
    sums      shares and each: per-thread sums on the pool                <- memory, pool
    products  matmul: one product split over the threads          <- local, blas, count, pool

This module re-exports what the rest of npconv calls. Module state (the count, the
pinning flag, BUDGET, the BLAS counts held by serial_blas) lives in, and is read from,
the module that defines it: a test that patches one must patch that module (say
`npconv._threads.memory.BUDGET`), as a patch of the name re-exported here changes
nothing the code reads.

>>> import npconv
>>> before = npconv.get_num_threads()
>>> npconv.set_num_threads(1)
>>> npconv.get_num_threads()
1
>>> npconv.set_num_threads(before)
"""

from .blas import serial_blas
from .count import MAX_THREADS, get_num_threads, set_num_threads, threads
from .local import inline
from .memory import (
    BUDGET,
    SCRATCH_BYTES,
    budget,
    drop_scratch,
    kept_scratch,
    parts_within,
    scratch,
)
from .pool import set_pinning, split, split_blas
from .products import SMALL, matmul
from .sums import each, shares

__all__ = [
    "BUDGET",
    "MAX_THREADS",
    "SCRATCH_BYTES",
    "SMALL",
    "budget",
    "drop_scratch",
    "each",
    "get_num_threads",
    "inline",
    "kept_scratch",
    "matmul",
    "parts_within",
    "scratch",
    "serial_blas",
    "set_num_threads",
    "set_pinning",
    "shares",
    "split",
    "split_blas",
    "threads",
]
