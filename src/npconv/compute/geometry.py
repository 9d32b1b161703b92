"""The Geometry every algorithm receives, and the identities that rewrite one
geometry as another: the transposed conv of a stride-1 geometry as a conv with
the flipped kernel, and the sizes every algorithm bounds its buffers by.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from typing import NamedTuple

import numpy as np

from .. import shapes, windows
from .._threads import budget, split

WORK_BYTES = 8 * 2**20  # bound on one tile's work buffers (columns, canvas slab, partial output)
SPLIT_BYTES = 2**20  # transposed copies from this size run on npconv's threads


class Geometry(NamedTuple):
    """Where a window lands: kernel, stride, dilation, leading offset and both sizes."""

    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    lo: tuple[int, ...]  # leading padding (>0) or crop (<0) of the big side
    big: tuple[int, ...]  # spatial size of the conv input / transposed-conv output
    small: tuple[int, ...]  # spatial size of the conv output / transposed-conv input
    groups: int


def extent(blocks: Sequence[int], g: Geometry) -> tuple[int, ...]:
    """Span of the big side that `blocks` windows of g cover: (o-1)*s + (k-1)*d + 1 per dim."""
    return shapes.window_span(blocks, g.kernel, g.stride, g.dilation)


def row_major(shape: Sequence[int]) -> tuple[int, ...]:
    """Element strides of a C-contiguous array of `shape`."""
    return tuple(math.prod(shape[i + 1 :]) for i in range(len(shape)))


def channels(w: np.ndarray, groups: int) -> tuple[int, int]:
    """(M, B): small and big channels per group of a (G*M, B, *k) weight."""
    return w.shape[0] // groups, w.shape[1]


def offsets(sizes: Sequence[int], steps: Sequence[int]) -> np.ndarray:
    """Flat offsets sum_i v_i * steps_i over the row-major grid v < sizes, as int64."""
    total = np.zeros((), dtype=np.int64)
    for size, step in zip(sizes, steps, strict=True):
        total = np.add.outer(total, np.arange(size, dtype=np.int64) * step)
    return total.ravel()


def flipped(w: np.ndarray, groups: int) -> np.ndarray:
    """The weight of the mirrored geometry: (G*M, B, *k) -> (G*B, M, *k), kernel reversed.

    wf[g*B + b, m, u] = w[g*M + m, b, k - 1 - u]; a view when groups == 1.
    """
    m, b = channels(w, groups)
    k = w.shape[2:]
    reverse = (slice(None),) * 3 + (slice(None, None, -1),) * len(k)
    # (G*M, B, *k) -> (G, M, B, *k) -> (G, B, M, *k) -> (G*B, M, *k)
    wg = w.reshape((groups, m, b) + k).transpose((0, 2, 1) + tuple(range(3, 3 + len(k))))
    return wg[reverse].reshape((groups * b, m) + k)


def transposed(a: np.ndarray, block: int = 64) -> np.ndarray:
    """A C-contiguous copy of a transposed view, in bands of `block` along its last axis
    (windows.copy: a band's cache lines stay in cache from one run to the next). Large
    arrays (SPLIT_BYTES and up) spread their bands over npconv's threads.
    """
    out = np.empty(a.shape, dtype=a.dtype)

    def copy(bands):
        part = slice(bands[0] * block, bands[1] * block)
        windows.copy(out[..., part], a[..., part], block)

    count = -(-a.shape[-1] // block)
    if a.nbytes >= SPLIT_BYTES:
        split(copy, count)  # the bands on npconv's threads
    else:
        copy((0, count))
    return out


def matrix(w: np.ndarray, groups: int) -> np.ndarray:
    """(G*M, B, *k) -> (G, M, K*B): the weight as GEMM rows, kernel offsets outer.

    Channels are the inner index so that the copy runs along them, not along
    the few kernel offsets.
    """
    m, b = channels(w, groups)
    wg = w.reshape((groups, m, b) + w.shape[2:])  # (G, M, B, *k)
    return transposed(np.moveaxis(wg, 2, -1)).reshape(groups, m, -1)


def conv_output(x: np.ndarray, w: np.ndarray, g: Geometry) -> np.ndarray:
    """The empty output (N, G*M, *small) of a conv of x with w, in the result dtype."""
    return np.empty((x.shape[0], w.shape[0]) + tuple(g.small), dtype=np.result_type(x, w))


def gemm_operands(x: np.ndarray, w: np.ndarray, g: Geometry) -> tuple[np.ndarray, np.ndarray]:
    """(w2, y) of an im2col-style conv: the weight as GEMM rows, (G, M, K*B), and
    the empty output (N, G*M, *small) in the result dtype."""
    return matrix(w, g.groups), conv_output(x, w, g)  # (G, M, K*B), y


def unmatrix(
    a: np.ndarray, groups: int, kernel: Sequence[int], out: np.ndarray | None = None
) -> np.ndarray:
    """(G, M, K*B) -> (G*M, B, *k), the inverse of matrix; or into `out`, a (G, M, B, *k)
    array or view of M rows, returned."""
    m = a.shape[1]
    b = a.shape[2] // math.prod(kernel)
    w = np.empty((groups * m, b) + tuple(kernel), dtype=a.dtype) if out is None else out
    # copy along B: (G, M, *k, B) views of both
    np.copyto(
        np.moveaxis(w.reshape((groups, m, b) + tuple(kernel)), 2, -1),
        a.reshape((groups, m) + tuple(kernel) + (b,)),
    )
    return w


def mirrored(geometry: Geometry) -> Geometry:
    """A stride-1 transposed conv as a conv of the small side with the flipped kernel.

    x[i] = sum_j w[j] y[i - j*d + lo] = sum_u wf[u] y[i + u*d - ((k-1)*d - lo)],
    so big and small swap and lo becomes (k-1)*d - lo.
    """
    g = geometry
    if any(s != 1 for s in g.stride):
        raise ValueError(f"only a stride-1 geometry has a mirrored conv, got stride={g.stride}")
    lo = tuple((k - 1) * d - lo for k, d, lo in zip(g.kernel, g.dilation, g.lo, strict=True))
    return Geometry(g.kernel, g.stride, g.dilation, lo, g.small, g.big, g.groups)


def work_bytes(parts: int = 1) -> int:
    """Bytes of one tile's work buffers: WORK_BYTES, less where `parts` threads, each on a
    tile, would hold more than the threads' budget together (a tile's padded input,
    columns and product: two and a half tiles' worth, the product being the smallest);
    WORK_BYTES up to two threads."""
    return min(WORK_BYTES, 2 * budget() // (5 * max(1, parts)))


def bands(
    n: int, rows: int, row_bytes: int, halo: int = 0, parts: int = 1, work: int | None = None
) -> Iterator[tuple[slice, slice]]:
    """(samples, rows) tiles of an (n, rows, ...) grid whose work stays within `work`
    bytes (default work_bytes(parts)).

    A tile of nt samples and r rows costs nt * (r + halo) * row_bytes: several whole
    samples when one fits, else bands of rows of one sample (a row at least).
    Bands of one sample are of equal size. With parts > 1 (the threads that will
    share the tiles) tiles are cut into a multiple of `parts` tiles of equal size
    (where there are enough samples, for whole samples), so that no thread waits
    for another's extra tile.
    """
    work = work_bytes(parts) if work is None else work
    sample = (rows + halo) * row_bytes
    if sample <= work:
        step = max(1, work // sample)
        count = max(1, -(-n // step))
        if parts > 1 and n >= parts:
            count = min(n, -(-count // parts) * parts)  # a multiple of parts
        edges = [n * i // count for i in range(count + 1)]  # sizes differ by 1 at most
        for start, stop in itertools.pairwise(edges):
            yield slice(start, stop), slice(0, rows)
        return
    band = max(1, work // row_bytes - halo)
    count = -(-rows // band)
    if parts > 1:
        count = -(-count // parts) * parts  # a multiple of parts
    count = min(count, rows)
    edges = [rows * i // count for i in range(count + 1)]  # sizes differ by 1 at most
    for sample in range(n):
        for start, stop in itertools.pairwise(edges):
            yield slice(sample, sample + 1), slice(start, stop)


def group_major(a: np.ndarray, samples: slice, rows: slice, groups: int) -> np.ndarray:
    """View of a[samples, :, rows] of an (n, G*C, *S) array as (G, C, nt, rows, *S[1:])."""
    part = a[samples, :, rows]  # (nt, G*C, rows, ...)
    # (nt, G*C, rows, ...) -> (nt, G, C, rows, ...) -> (G, C, nt, rows, ...)
    part = part.reshape((part.shape[0], groups, -1) + part.shape[2:])
    return np.moveaxis(part, 0, 2)


def tap_block(g: Geometry) -> int:
    """Consecutive last-dim taps a compiled loop takes at once: the stride, when it is 2 to
    4 with dilation 1 (a strided run of each of those taps then interleaves with the
    others' into one contiguous stretch), else 1."""
    step = g.stride[-1]
    return step if g.dilation[-1] == 1 and 2 <= step <= 4 else 1
