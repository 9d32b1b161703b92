"""One matrix product split over npconv's threads: `matmul`, a block of the longer side
per thread, each in a single-threaded BLAS.

Separate from the pool and the sums because it is the one place that knows how to cut
a product (and below which size, SMALL, not to): the algorithms call it where they
would call np.matmul.
"""

from __future__ import annotations

import numpy as np

from .blas import serial_blas
from .count import threads
from .local import _local
from .pool import split_blas

SMALL = 1 << 22  # multiply-adds below which matmul does not split a product


def matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """a @ b for (..., M, K) @ (..., K, L) on npconv's threads, each multiplying a block of
    the longer of M and L in a single-threaded BLAS (serial_blas: the BLAS pool stays
    asleep); into `out` if given: on large products as fast as the BLAS's own threads.
    Products under SMALL multiply-adds run whole on the caller, and so does every
    product inside one of npconv's threads' shares (split runs there)."""
    if getattr(_local, "inline", False):  # small work: the caller, as it is
        return np.matmul(a, b) if out is None else np.matmul(a, b, out=out)
    rows, cols = a.shape[-2], b.shape[-1]  # M, L
    if out is None:
        out = np.empty(
            np.broadcast_shapes(a.shape[:-2], b.shape[:-2]) + (rows, cols),
            dtype=np.result_type(a, b),
        )
    longer = max(rows, cols)
    parts = max(1, min(threads(), longer // 64))
    if parts == 1 or out.size * a.shape[-1] < SMALL:
        with serial_blas():
            np.matmul(a, b, out=out)
        return out
    bounds = [longer * i // parts for i in range(parts + 1)]

    def block(items: tuple[int, int]) -> None:
        for i in range(items[0], items[1]):
            part = slice(bounds[i], bounds[i + 1])
            if cols >= rows:
                # (..., M, K) @ (..., K, Li) -> (..., M, Li)
                np.matmul(a, b[..., part], out=out[..., part])
            else:
                # (..., Mi, K) @ (..., K, L) -> (..., Mi, L)
                np.matmul(a[..., part, :], b, out=out[..., part, :])

    split_blas(block, parts)
    return out
