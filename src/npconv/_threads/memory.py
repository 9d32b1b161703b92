"""Memory: the budget that a call's threads hold work buffers within (`budget`,
`parts_within`), and the per-thread scratch buffers kept between calls (`scratch`).

Separate from the pool: it decides how much each thread may hold, and on how many
threads a call may run for that, not how the threads run; the pool only needs to
know that a cut-short call must settle before its buffers are reused (pool._settle).
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence

import numpy as np
from numpy.typing import DTypeLike

from .count import threads
from .local import _local
from .pool import _settle

SCRATCH_BYTES = 64 << 20  # the largest work buffer a thread keeps between calls (scratch)
BUDGET = 40 << 20  # work buffers of a call's threads together (of the 64 MiB bound)


def budget(result_bytes: int = 0) -> int:
    """Bytes that a call's threads may hold together for work buffers: BUDGET, or three
    quarters of the result's size where that is larger. A call's extra memory is bounded
    by max(64 MiB, its result): the rest is for its other temporaries, and for what
    the allocator keeps per thread (glibc's arenas: freed blocks stay with the thread
    that freed them, so more threads hold more pages for the same live buffers)."""
    return max(BUDGET, 3 * result_bytes // 4)


def parts_within(memory: int, limit: int | None = None) -> int:
    """Threads to run on when each holds `memory` bytes of work buffers: threads(), fewer
    where they would hold more than budget() together (or `limit` bytes), at least one."""
    total = budget() if limit is None else limit
    return max(1, min(threads(), total // max(1, memory)))


class _Scratch:
    """One thread's work buffers, {slot: 1-d uint8 array}; freed with its thread."""

    def __init__(self) -> None:
        self.buffers: dict[object, np.ndarray] = {}

    def kept(self) -> int:
        return sum(buffer.nbytes for buffer in self.buffers.values())


_every_scratch: weakref.WeakSet[_Scratch] = weakref.WeakSet()  # every thread's, for drop_scratch


def _own_scratch() -> _Scratch:
    buffers = getattr(_local, "scratch", None)
    if buffers is None:
        buffers = _local.scratch = _Scratch()
        _every_scratch.add(buffers)
    return buffers


def scratch(
    slot: object, shape: Sequence[int], dtype: DTypeLike, owner: _Scratch | None = None
) -> np.ndarray:
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


def kept_scratch() -> int:
    """Bytes of work buffers that every thread keeps between calls, together."""
    return sum(owner.kept() for owner in list(_every_scratch))


def drop_scratch() -> None:
    """Let go of every thread's work buffers (the next calls allocate them again)."""
    for owner in list(_every_scratch):
        owner.buffers.clear()
