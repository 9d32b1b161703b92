"""Sums over npconv's threads: `shares` runs a body for every item, one contiguous share
of the items per thread, and returns each share's sum; `each` adds those up in order.

Built on the pool (split_blas) and the scratch buffers (memory.py), which is why it is
neither: it is the one reduction pattern the algorithms use, with its rule that the
result does not depend on which thread took which share.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from .memory import _own_scratch, scratch
from .pool import split_blas


def shares(
    body: Callable[..., np.ndarray | None],
    items: Iterable[Any],
    *args: Any,
    slot: object = None,
    most: int | None = None,
) -> list[np.ndarray]:
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
    sums: dict[int, np.ndarray | None] = {}
    owner, order = _own_scratch(), itertools.count()

    def share(bounds: tuple[int, int]) -> None:
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
    return [total for first in sorted(sums) if (total := sums[first]) is not None]


def each(
    body: Callable[..., np.ndarray | None],
    items: Iterable[Any],
    *args: Any,
    most: int | None = None,
) -> np.ndarray | None:
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
