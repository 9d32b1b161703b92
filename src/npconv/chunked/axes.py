"""Per-dimension window arithmetic for chunked arrays: which input positions an output
block reads, and where block boundaries fall. Pure integer NumPy, no Dask.

Along one spatial dimension a layer is one of two maps (kernel k, stride s,
dilation d, extent e = d*(k-1) + 1, padding (lo, hi) in `mode`):

    gather  (conv, unfold):   out[o] reads  pad(x)[o*s + j*d]          j < k
    scatter (conv_transpose, fold):
                              full[q] gets  y[o] at q = o*s + j*d      j < k
                              out = pad_adjoint(full)    ('zeros': out[i] = full[i + lo])

An output block [a, b) of a gather reads the padded positions [a*s, (b-1)*s + e),
each of which copies one input index (or is a zero): `sources`. An output block of
a scatter collects the full positions that fold onto it, in contiguous runs
[q0, q1) (the interior, and for 'circular' the wrapped border), and each run is
reached by the inputs [ceil((q0 - (e-1))/s), floor((q1-1)/s) + 1): `runs`. Both
read the padding from the global array, so border blocks see what the NumPy call
sees, never a per-block padding.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._arguments import PaddingMode
from ..windows import _source_index


class Axis(NamedTuple):
    """One spatial dimension of one layer; `lo` may be negative for a scatter (an extension)."""

    scatter: bool
    kernel: int
    stride: int
    dilation: int
    lo: int
    hi: int
    mode: PaddingMode
    n_in: int
    n_out: int

    @property
    def extent(self) -> int:
        return self.dilation * (self.kernel - 1) + 1

    def out_bounds(self, bounds):
        """Output block boundaries from input ones: each output position goes to the block
        holding the centre of its window (gather) or of the footprint of its input
        (scatter); empty blocks are dropped. Returns (out_bounds, kept) with `kept` the
        indices of the input boundaries that survive."""
        b = np.asarray(bounds, dtype=np.int64)
        centre = (self.extent - 1) // 2
        if self.scatter:
            mapped = b * self.stride - self.lo + centre
        else:
            mapped = -((-(b + self.lo - centre)) // self.stride)  # ceil division
        mapped = np.clip(mapped, 0, self.n_out)
        mapped[0], mapped[-1] = 0, self.n_out
        kept = [0]
        for i in range(1, len(mapped)):
            if mapped[i] > mapped[kept[-1]]:
                kept.append(i)
        kept[-1] = len(mapped) - 1  # the last input boundary maps to n_out
        return mapped[kept], np.asarray(kept)

    # --- gather ------------------------------------------------------------------------
    def sources(self, a: int, b: int) -> np.ndarray:
        """Input index each padded position of output block [a, b) copies; -1 for a zero."""
        p = np.arange(a * self.stride, (b - 1) * self.stride + self.extent)
        if self.mode == "zeros":
            g = p - self.lo
            return np.where((g >= 0) & (g < self.n_in), g, -1)
        return _source_index(self.n_in, self.lo, self.hi, self.mode)[p]

    # --- scatter -----------------------------------------------------------------------
    def runs(self, a: int, b: int):
        """[(q0, q1, targets)]: contiguous runs of full positions folding onto [a, b), with
        the output index (relative to a) each lands on."""
        if self.mode == "zeros":
            return [(a + self.lo, b + self.lo, np.arange(b - a))]
        source = _source_index(self.n_out, self.lo, self.hi, self.mode)
        p = np.flatnonzero((source >= a) & (source < b))
        cuts = np.flatnonzero(np.diff(p) != 1) + 1
        return [(int(r[0]), int(r[-1]) + 1, source[r] - a) for r in np.split(p, cuts)]

    def reach(self, q0: int, q1: int):
        """Inputs [o0, o1) whose footprint meets full positions [q0, q1) (o1 <= o0: none)."""
        o0 = max(0, -((-(q0 - self.extent + 1)) // self.stride))
        o1 = min(self.n_in, (q1 - 1) // self.stride + 1)
        return o0, max(o1, o0)

    def nearest(self, a: int) -> int:
        """An input index near output position a (for a block that reads none)."""
        guess = (a + self.lo) // self.stride if self.scatter else a * self.stride - self.lo
        return min(max(guess, 0), self.n_in - 1)

    # --- both --------------------------------------------------------------------------
    def step(self, a: int, b: int):
        """What output block [a, b) needs: sources (gather) or runs (scatter)."""
        return self.runs(a, b) if self.scatter else self.sources(a, b)

    def needed(self, step) -> np.ndarray:
        """Sorted input indices a step reads."""
        if not self.scatter:
            return np.unique(step[step >= 0])
        parts = [np.arange(*self.reach(q0, q1)) for q0, q1, _ in step]
        return np.unique(np.concatenate(parts)) if parts else np.zeros(0, np.int64)


def identity(n: int) -> Axis:
    """A pointwise layer (an activation): each output reads its own input."""
    return Axis(False, 1, 1, 1, 0, 0, "zeros", n, n)


class Coords(NamedTuple):
    """Where global input indices sit in a local array made of pieces [start, stop)."""

    starts: np.ndarray
    stops: np.ndarray
    local: np.ndarray

    @classmethod
    def span(cls, start: int, stop: int) -> Coords:
        return cls(np.array([start]), np.array([stop]), np.array([0]))

    def map(self, g: np.ndarray) -> np.ndarray:
        """Local index of each global index g (-1 stays -1)."""
        g = np.asarray(g)
        piece = np.clip(np.searchsorted(self.starts, g, side="right") - 1, 0, None)
        inside = (g >= self.starts[piece]) & (g < self.stops[piece])
        if np.any((g >= 0) & ~inside):
            raise AssertionError("a window reads an index its block set does not hold")
        return np.where(g >= 0, self.local[piece] + g - self.starts[piece], -1)


def blocks_holding(needed: np.ndarray, bounds: np.ndarray):
    """The blocks (between `bounds`) that hold `needed`: their indices, the part of each
    the task reads (a slice relative to the block: from its first to its last needed
    index, so a halo copies only what it needs), and the Coords of those parts."""
    owner = np.searchsorted(bounds, needed, side="right") - 1
    ids, first = np.unique(owner, return_index=True)
    last = np.append(first[1:], len(needed)) - 1
    starts, stops = needed[first], needed[last] + 1
    local = np.concatenate([[0], np.cumsum(stops - starts)[:-1]])
    trims = tuple(
        slice(int(a - bounds[i]), int(b - bounds[i]))
        for i, a, b in zip(ids, starts, stops, strict=True)
    )
    return [int(i) for i in ids], trims, Coords(starts, stops, local)


class LocalStep(NamedTuple):
    """One layer's step on one dim in a task's local coordinates."""

    sources: np.ndarray | None  # gather: local index per padded position (-1: zero)
    runs: tuple | None  # scatter: (o_start, o_count, crop_lo, crop_hi, length,
    size: int  #           targets) per run; size: output block length


def localise(axis: Axis, step, a: int, b: int, coords: Coords) -> LocalStep:
    """A step with its global indices turned into positions in the task's input array."""
    if not axis.scatter:
        return LocalStep(coords.map(step), None, b - a)
    runs = []
    for q0, q1, targets in step:
        o0, o1 = axis.reach(q0, q1)
        start = int(coords.map(np.array([o0]))[0]) if o1 > o0 else 0
        # the inputs' full footprint [o0*s, (o1-1)*s + e) cropped to [q0, q1); a negative
        # crop is an extension by zeros (no input reaches there)
        crop_lo = q0 - o0 * axis.stride
        crop_hi = (o1 - 1) * axis.stride + axis.extent - q1
        contiguous = bool(np.all(np.diff(targets) == 1))
        runs.append(
            (start, o1 - o0, crop_lo, crop_hi, q1 - q0, int(targets[0]) if contiguous else targets)
        )
    return LocalStep(None, tuple(runs), b - a)


def chain(axes, a: int, b: int, bounds: np.ndarray):
    """Plan output block [a, b) of a stack of layers along one dim.

    Walks the layers backwards: each layer's needed inputs become the output range
    (their hull) the layer before must produce. Returns the input blocks the first
    layer reads and the part of each it reads, each layer's LocalStep, and the hull
    (first, last) of the first layer's inputs.
    """
    plans = []
    for axis in reversed(axes):
        step = axis.step(a, b)
        need = axis.needed(step)
        if need.size == 0:  # the block reads padding only: keep one input
            need = np.array([axis.nearest(a)])
        plans.append((axis, step, a, b, need))
        a, b = int(need[0]), int(need[-1]) + 1
    plans.reverse()
    first_need = plans[0][4]
    ids, trims, coords = blocks_holding(first_need, bounds)
    steps = []
    for axis, step, a, b, _need in plans:
        steps.append(localise(axis, step, a, b, coords))
        coords = Coords.span(a, b)
    return ids, trims, tuple(steps), (int(first_need[0]), int(first_need[-1]) + 1)
