"""Sliding windows: gather them (unfold), scatter-add them back (fold), and the
padding modes with their adjoints. This is the reference indexing code that
every convolution in npconv composes.

One geometry serves all of it. For a spatial dimension with kernel k, stride s,
dilation d and a leading offset `lo`, window position o and kernel offset j
touch the input element

    i = o*s + j*d - lo

`gather` reads x[i] into cols[j, o] (zero where i is outside x); `scatter` is
its exact adjoint and adds cols[j, o] into out[i]. A positive `lo` pads the
start, a negative one crops it; the far end follows from the sizes.
"""

from __future__ import annotations

import itertools

import numpy as np
from numpy.lib.stride_tricks import as_strided

from . import _arguments as args
from . import shapes
from ._arguments import PaddingMode
from .shapes import Ints, Pairs


def overlap(
    starts: Ints, lengths: Ints, sizes: Ints
) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
    """(source, target) slices per dim of a window [start, start + length) over an array
    of `sizes`: the part inside the array, and where it sits in the window; empty
    slices where they do not meet."""
    source, target = [], []
    for st, ln, sz in zip(starts, lengths, sizes, strict=True):
        lo = max(st, 0)
        hi = max(min(st + ln, sz), lo)
        source.append(slice(lo, hi))
        target.append(slice(lo - st, hi - st))
    return tuple(source), tuple(target)


def region(a: np.ndarray, starts: Ints, lengths: Ints, out: np.ndarray | None = None) -> np.ndarray:
    """a[..., start:start+length] over the trailing dims, zero outside `a`.

    `starts` may be negative and the region may run past the end: the parts
    outside `a` read as zeros. Returns a view when no zeros are needed, else a new
    array, or `out` (of the region's shape and a's dtype) filled.
    """
    n = len(starts)
    size = a.shape[-n:]
    lead = a.shape[:-n]
    if all(0 <= st and st + ln <= sz for st, ln, sz in zip(starts, lengths, size, strict=True)):
        return a[(...,) + tuple(slice(st, st + ln) for st, ln in zip(starts, lengths, strict=True))]
    if out is None:
        out = np.empty(lead + tuple(lengths), dtype=a.dtype)
    src, dst = overlap(starts, lengths, size)
    zero_outside(out, (slice(None),) * len(lead) + dst)
    copy(out[(...,) + dst], a[(...,) + src])
    return out


def copy(out: np.ndarray, a: np.ndarray, block: int = 64) -> None:
    """out[...] = a, in bands of `block` along the last axis where a strides through memory
    there (a transposed view): copied whole, each element of a run comes from a new cache
    line, and the next run re-reads the same lines long after; in bands they stay in
    cache."""
    if a.ndim == 0 or a.strides[-1] in (0, a.itemsize) or a.shape[-1] <= block:
        np.copyto(out, a)
        return
    for start in range(0, a.shape[-1], block):
        np.copyto(out[..., start : start + block], a[..., start : start + block])


def zero_outside(a: np.ndarray, inside: tuple[slice, ...]) -> None:
    """Zero a outside the slices `inside` of its leading dims: the margins of a region whose
    inside is written next (one pass over the margins, not a fill of the whole array)."""
    for axis, part in enumerate(inside):
        start, stop, _ = part.indices(a.shape[axis])  # slice(None): no margin
        before = (slice(None),) * axis
        a[before + (slice(0, start),)] = 0
        a[before + (slice(stop, None),)] = 0


def gather(
    x: np.ndarray, kernel: Ints, stride: Ints, dilation: Ints, lo: Ints, blocks: Ints
) -> np.ndarray:
    """Windows of x as a strided view: (B, C, *S) -> (B, C, *kernel, *blocks).

    cols[b, c, *j, *o] = x[b, c, *(o*s + j*d - lo)], zero outside x.
    The result is a read-only view into x (or into a zero-padded copy of it).
    """
    n = len(kernel)
    # one block (or one tap) per dim: its stride (dilation) moves nothing; 1 keeps a huge
    # one from overflowing the byte strides below
    stride = tuple(1 if b == 1 else s for s, b in zip(stride, blocks, strict=True))
    dilation = tuple(1 if k == 1 else d for d, k in zip(dilation, kernel, strict=True))
    span = shapes.window_span(blocks, kernel, stride, dilation)
    padded = region(x, tuple(-p for p in lo), span)
    lead_strides = padded.strides[:-n]
    spatial_strides = padded.strides[-n:]
    shape = padded.shape[:-n] + tuple(kernel) + tuple(blocks)
    strides = (
        lead_strides
        + tuple(st * d for st, d in zip(spatial_strides, dilation, strict=True))
        + tuple(st * s for st, s in zip(spatial_strides, stride, strict=True))
    )
    return as_strided(padded, shape=shape, strides=strides, writeable=False)


def scatter(cols: np.ndarray, size: Ints, stride: Ints, dilation: Ints, lo: Ints) -> np.ndarray:
    """Adjoint of gather: (B, C, *kernel, *blocks) -> (B, C, *size).

    out[b, c, i] = sum of cols[b, c, j, o] over all (j, o) with o*s + j*d - lo = i.
    Loops over kernel offsets (prod(kernel) strided adds), never over positions.
    """
    n = len(size)
    kernel = cols.shape[-2 * n : -n]
    blocks = cols.shape[-n:]
    lead = cols.shape[: -2 * n]
    canvas = np.zeros(lead + shapes.window_span(blocks, kernel, stride, dilation), dtype=cols.dtype)
    for offset in itertools.product(*(range(k) for k in kernel)):
        target = tuple(
            slice(j * d, j * d + (b - 1) * s + 1, s)
            for j, d, b, s in zip(offset, dilation, blocks, stride, strict=True)
        )
        canvas[(...,) + target] += cols[(...,) + offset + (slice(None),) * n]
    return region(canvas, lo, size)


# --- padding modes -----------------------------------------------------------------


def _source_index(n: int, lo: int, hi: int, mode: PaddingMode) -> np.ndarray:
    """For each padded position, the input index it copies (reflect/replicate/circular)."""
    i = np.arange(-lo, n + hi)
    if mode == "reflect":
        period = 2 * (n - 1) if n > 1 else 1
        i = np.abs(i) % period
        return np.where(i >= n, period - i, i)
    if mode == "replicate":
        return np.clip(i, 0, n - 1)
    return i % n  # circular


def check_mode_padding(
    size: Ints, padding: Pairs, mode: PaddingMode, input_shape: tuple[int, ...]
) -> None:
    """torch's limits: reflect needs pad < size, circular pad <= size, replicate size > 0."""
    for axis, (n, (lo, hi)) in enumerate(zip(size, padding, strict=True)):
        dim = len(input_shape) - len(size) + axis
        if mode == "reflect" and max(lo, hi) >= n:
            raise ValueError(
                f"Argument #4: Padding size should be less than the corresponding input "
                f"dimension, but got: padding ({lo}, {hi}) at dimension {dim} of input "
                f"{list(input_shape)}"
            )
        if mode == "circular" and max(lo, hi) > n:
            raise ValueError(
                f"Padding value causes wrapping around more than once: padding ({lo}, {hi}) "
                f"at dimension {dim} of input {list(input_shape)}"
            )
        if mode == "replicate" and n == 0 and lo + hi > 0:
            raise ValueError(
                f"replicate padding needs a non-empty dimension {dim} of input {list(input_shape)}"
            )


def pad(x: np.ndarray, padding: Pairs, mode: PaddingMode) -> np.ndarray:
    """Pad the trailing len(padding) dims of x by (lo, hi) pairs in `mode`."""
    if mode == "zeros" and not any(lo or hi for lo, hi in padding):
        return x  # what every zero-padded plan holds
    args.padding_mode(mode)
    n = len(padding)
    if mode == "zeros":
        size = x.shape[-n:]
        return region(
            x,
            tuple(-lo for lo, _ in padding),
            tuple(s + lo + hi for s, (lo, hi) in zip(size, padding, strict=True)),
        )
    for axis, (lo, hi) in zip(range(x.ndim - n, x.ndim), padding, strict=True):
        if lo or hi:
            x = np.take(x, _source_index(x.shape[axis], lo, hi, mode), axis=axis)
    return x


def pad_adjoint(g: np.ndarray, padding: Pairs, mode: PaddingMode) -> np.ndarray:
    """Adjoint of pad: fold the border of g back onto the interior it was copied from.

    zeros crops; circular adds wrapped borders; reflect adds mirrored ones;
    replicate adds the border into the edge element. Dims are undone in the
    reverse order of pad, so the composition is the exact transpose.
    """
    if mode == "zeros" and not any(lo or hi for lo, hi in padding):
        return g
    args.padding_mode(mode)
    n = len(padding)
    if mode == "zeros":
        size = g.shape[-n:]
        return region(
            g,
            tuple(lo for lo, _ in padding),
            tuple(s - lo - hi for s, (lo, hi) in zip(size, padding, strict=True)),
        )
    for axis, (lo, hi) in reversed(list(zip(range(g.ndim - n, g.ndim), padding, strict=True))):
        if not (lo or hi):
            continue
        size = g.shape[axis] - lo - hi
        source = _source_index(size, lo, hi, mode)
        g = np.moveaxis(g, axis, -1)
        out = g[..., lo : lo + size].copy()
        for position in itertools.chain(range(lo), range(lo + size, lo + size + hi)):
            out[..., source[position]] += g[..., position]
        g = np.moveaxis(out, -1, axis)
    return g
