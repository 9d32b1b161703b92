"""The calling thread's role in npconv's threading, as thread-local state, and `inline`.

`_local` is read by every other module of the package: .worker (True on a pool's
threads and in the caller's own slices: a split there runs inline), .inline (inside
`inline()`: no splitting and no change of the BLAS), .pending (a call that has not
settled yet, see pool._settle) and .scratch (the thread's work buffers, memory.py).
It is its own module so that the pool, the BLAS control and the allocator share it
without importing one another.
"""

from __future__ import annotations

import threading

_local = threading.local()  # .worker: True on a pool's threads, and in the caller's slices


class inline:
    """Run npconv's work inside the block on the calling thread alone: `split` runs its whole
    range here and `serial_blas` leaves the BLAS's thread count as it is. For problems so
    small that waking a worker or switching the BLAS costs more than a second core saves
    (the BLAS itself runs such small products on one thread).

    A class rather than a generator context manager: it is entered on every small call,
    where a generator's frame and its two resumptions are a fair part of the call."""

    __slots__ = ("before",)

    def __enter__(self) -> None:
        self.before = getattr(_local, "worker", False), getattr(_local, "inline", False)
        _local.worker = _local.inline = True

    def __exit__(self, *exception: object) -> None:
        _local.worker, _local.inline = self.before
