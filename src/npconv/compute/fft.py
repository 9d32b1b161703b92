"""Convolution by FFT: the three contractions in O(L log L) per channel instead of O(L*K).

Every contraction here is one correlation on a zero-inserted source, subsampled:

    out[n, g*M + m, o] = sum_{b, j} w[g*M + m, b, j] * src_up[n, g*B + b, o*step + j*d - lo]

where src_up[i] = src[i / up] where up divides i, else 0. Its stride-1 result
z[t] = sum_u wd[u] * src_up[t + u - lo] (wd the kernel dilated: zeros between
taps, a sparse kernel on the grid) is a correlation, and out = z[::step]:

    conv            src = x, up = 1, step = stride, lo = lo
    conv_transpose  src = y, up = stride, step = 1: the mirrored conv of the
                    zero-inserted y with the flipped kernel (geometry.mirrored),
                    lo' = (k-1)*d - lo
    conv_weight     dw[u] = sum_t y_up[t] * x[t + u - lo]: the same correlation
                    with y (zero-inserted by the stride) in the kernel's place,
                    summed over samples and tiles, then dw = dw_dilated[::d]

Overlap-save tiles: the z positions [t0, t0 + T) read the source [t0 - lo,
t0 - lo + F) for an FFT size F >= T + (k-1)*d, and on the circle of F points
c[t] = sum_u a[u] * seg[(t + u) mod F] never wraps for t < T, so

    C = conj(DFT(conj(a))) * DFT(seg)      (a's DFT at -f; conj(rfft(a)) for real a)

Per frequency bin the channels contract as a small matrix product, (M, B) x (B, U)
for U units (a sample's tile) at once, in compiled loops (_spectral_loops.py); the
weight's spectrum is made once per call, and the weight gradient's spectrum is
summed over every unit before one inverse transform. Transforms run axis by axis
(scipy.fft, on npconv's threads with workers=), skipping the rows that are all
padding (a kernel's, a tile of y's) and the rows of the result that are cropped
or dropped by the stride.

The plan (tile sizes per dim, FFT sizes from next_fast_len, how many units per
batch, how many output and source channels per pass) minimises a cost model of the
transforms' flops, the contraction's multiply-adds and the memory passes,
keeping the weight's spectrum and one batch's buffers within FFT_BYTES, so a
signal of any length, and any number of channels, runs in bounded memory.
`preferred`, the planner's only rule for FFT, takes kernels of tuning.FFT_MIN_TAPS taps
or more whose cost is tuning.FFT_MARGIN times below the direct algorithms' (`direct_cost`,
multiply-adds at a measured rate). The rates and the crossover they were fitted to are in
docs/benchmarks.md, "FFT: long and large kernels".

Rounding: errors grow with the sum of magnitudes of a transform, not with each
product, so a small output next to large ones carries the large ones' error;
float32 results stay within 2e-5 of the largest output (tests/test_fft.py).
A NaN or Inf in an operand spreads over its whole tile (EXACT_NONFINITE).
"""

from __future__ import annotations

import functools
import itertools
import math
from typing import NamedTuple

import numpy as np

from .. import windows
from .._threads import split, threads
from . import tuning
from .geometry import flipped

EXACT_NONFINITE = False  # NaN/Inf smear over a tile: the planner sends such operands elsewhere
FFT_BYTES = 40 << 20  # the weight's spectrum and one batch's buffers

# Cost model, in seconds; rates of float32 (complex64) work, halved for float64, measured
# with `bench/fft_crossover.py calibrate` and fitted to its crossover (docs/benchmarks.md).
FLOP_RATE = 5.0e9  # transform flops (5 n log2 n per complex transform of n points)
CMAC_RATE = 7.0e8  # complex multiply-adds of the contraction
BYTE_RATE = 6.0e9  # bytes of the memory passes (gathers, copies, scatters)
CALL_SECONDS = 40e-6  # per batch: transform calls, thread hand-offs
GEMM_RATE = 14e9  # multiply-adds per second of the GEMM-based direct algorithms,
GEMM_CHANNELS = 24  # ... reached from this many channels on the wider side, falling off
GEMM_FALLOFF = 0.9  # ... as (channels / GEMM_CHANNELS) ** GEMM_FALLOFF below it
DEPTHWISE_RATE = 18e9  # ... and of the compiled depthwise loops
SPLIT_MACS = 1 << 23  # multiply-adds from which a contraction runs on npconv's threads


def supports(geometry):
    return True


class Problem(NamedTuple):
    """out[o] = sum_j w[j] src_up[o*step + j*d - lo], per spatial dim (see the module notes)."""

    kernel: tuple
    dilation: tuple
    lo: tuple
    size: tuple  # the source's spatial size (before zero insertion)
    up: tuple  # zero insertion of the source
    out: tuple  # output size
    step: tuple  # subsampling of the stride-1 result
    groups: int

    @property
    def reach(self):
        """The dilated kernel's extent, (k-1)*d + 1."""
        return tuple((k - 1) * d + 1 for k, d in zip(self.kernel, self.dilation, strict=True))

    @property
    def positions(self):
        """Extent of the stride-1 result that out samples, (out-1)*step + 1."""
        return tuple((o - 1) * s + 1 for o, s in zip(self.out, self.step, strict=True))


def forward_problem(g):
    """The correlation of a conv (and of its weight gradient, y in the kernel's place)."""
    ones = (1,) * len(g.kernel)
    return Problem(g.kernel, g.dilation, g.lo, g.big, ones, g.small, g.stride, g.groups)


def transpose_problem(g):
    """The correlation of a transposed conv: the mirrored conv of the zero-inserted y."""
    lo = tuple((k - 1) * d - lo for k, d, lo in zip(g.kernel, g.dilation, g.lo, strict=True))
    return Problem(
        g.kernel, g.dilation, lo, g.small, g.stride, g.big, (1,) * len(g.kernel), g.groups
    )


class Tiling(NamedTuple):
    """How a call runs: tiles per dim, units per batch, small channels per pass."""

    grid: tuple  # FFT size per dim
    valid: tuple  # stride-1 positions per tile and dim, a multiple of the step
    tiles: tuple  # tiles per dim
    chunk: int  # units (sample, tile) per batch
    outputs: int  # output channels per group per pass (the weight's spectrum is per pass)
    inputs: int  # source channels per group per pass
    seconds: float  # the cost model's estimate


def _bins(grid, real):
    """Frequency bins per dim of a transform of `grid` (the last dim halved if real)."""
    return tuple(grid[:-1]) + ((grid[-1] // 2 + 1) if real else grid[-1],)


def _transform_flops(extent, grid, real):
    """Flops of a forward transform, axis by axis from the last, of an array whose
    nonzero part is `extent` in a grid of `grid`: each axis transforms only the rows
    that are not all padding yet."""
    bins = _bins(grid, real)
    flops = 0.0
    for axis in reversed(range(len(grid))):
        rows = math.prod(extent[:axis]) * math.prod(bins[axis + 1 :])
        size = grid[axis]
        per_row = (
            5 * size * math.log2(max(size, 2)) * (0.5 if real and axis == len(grid) - 1 else 1)
        )
        flops += rows * per_row
    return flops


def _inverse_flops(keep, grid, real):
    """Flops of an inverse transform, the first axes first, each cropped to `keep` before the
    next (the last axis real if real)."""
    bins = _bins(grid, real)
    flops = 0.0
    for axis in range(len(grid)):
        rows = math.prod(keep[:axis]) * math.prod(bins[axis + 1 :])
        size = grid[axis]
        per_row = (
            5 * size * math.log2(max(size, 2)) * (0.5 if real and axis == len(grid) - 1 else 1)
        )
        flops += rows * per_row
    return flops


def _fast_len(n, real):
    import scipy.fft

    return scipy.fft.next_fast_len(int(n), real=real)


def _axis_options(positions, reach, step, real, many):
    """(grid, valid, tiles) options for one dim: one tile, tiles of about equal size, and
    powers of two from twice the kernel's reach (many: long dims, 1-d)."""
    need = -(-positions // step) * step  # whole steps
    sizes = set()
    counts = (1, 2, 3, 4, 6, 8, 12, 16) if not many else (1, 2, 3, 4)
    for count in counts:
        valid = -(-need // (count * step)) * step
        sizes.add(_fast_len(valid + reach - 1, real))
    if many:
        top = _fast_len(need + reach - 1, real)
        size = 1 << max(1, (2 * reach - 1).bit_length())
        while size < top:
            sizes.add(_fast_len(size, real))
            size *= 2
    options = {}
    for size in sizes:
        valid = (size - reach + 1) // step * step
        if valid <= 0:
            continue
        valid = min(valid, need)
        tiles = -(-need // valid)
        valid = -(-need // (tiles * step)) * step  # the same tiles, evened out
        size = _fast_len(valid + reach - 1, real)
        options[(size, valid)] = (size, valid, tiles)
    return sorted(options.values())


def _sizes(p, grid, valid, outputs, inputs, itemsize, real):
    """(weight bytes, bytes per unit) of a pass of `outputs` small and `inputs` source
    channels per group: the weight's spectrum (its blocked copy, the dilated kernel), and
    per unit the source segment and spectra, the output's spectra and its tile."""
    g = p.groups
    bins = math.prod(_bins(grid, real))
    complex_size = 2 * itemsize if real else itemsize  # real_size: itemsize
    kept = math.prod(-(-v // s) for v, s in zip(valid, p.step, strict=True))
    weight = g * outputs * inputs * (2 * bins * complex_size + math.prod(p.reach) * itemsize)
    unit = g * (
        inputs * (math.prod(grid) * itemsize + 2 * bins * complex_size)
        + outputs * (2 * bins * complex_size + kept * itemsize)
    )
    return weight, unit


def _seconds(op, p, grid, valid, tiles, b, m, n, outputs, inputs, chunk, itemsize, real):
    """The cost model's estimate of a plan: see the module notes."""
    g = p.groups
    bins = math.prod(_bins(grid, real))
    units = n * math.prod(tiles)
    batches = -(-units // chunk)
    out_passes, in_passes = -(-m // outputs), -(-b // inputs)
    kept = tuple(-(-v // s) for v, s in zip(valid, p.step, strict=True))
    source = out_passes * units * g * b * _transform_flops(grid, grid, real)
    if op == "conv_weight":
        # each pass: its units' source and y tiles; the sum's inverse once per pass
        flops = source + in_passes * units * g * m * _transform_flops(valid, grid, real)
        flops += g * m * b * _inverse_flops(p.reach, grid, real)
    else:
        # the weight's spectrum once per pass, or per batch where the sources come in passes
        weights = g * m * b * _transform_flops(p.reach, grid, real)
        flops = source + units * g * m * _inverse_flops(kept[:-1] + (valid[-1],), grid, real)
        flops += weights * (batches if in_passes > 1 else 1)
    macs = units * g * m * b * bins
    weight_bytes, unit_bytes = _sizes(p, grid, valid, outputs, inputs, itemsize, real)
    moved = out_passes * in_passes * (units * unit_bytes + batches * weight_bytes)
    scale = itemsize / 4 if real else itemsize / 8
    return (
        scale * (flops / FLOP_RATE + macs / CMAC_RATE + moved / BYTE_RATE)
        + batches * out_passes * in_passes * CALL_SECONDS
    )


@functools.lru_cache(maxsize=256)
def tiling(op, p, b, m, n, dtype):
    """The cheapest Tiling for `op` ("conv" for conv and conv_transpose, or "conv_weight")
    on problem p with b source and m output channels per group and n samples, in the
    numpy dtype `dtype` (its result dtype); within FFT_BYTES if any plan is."""
    dtype = np.dtype(dtype)
    real = dtype.kind != "c"
    nd = len(p.kernel)
    per_dim = [
        _axis_options(z, r, s, real and i == nd - 1, nd == 1)
        for i, (z, r, s) in enumerate(zip(p.positions, p.reach, p.step, strict=True))
    ]
    best = None
    for option in itertools.product(*per_dim):
        grid, valid, tiles = (tuple(o[i] for o in option) for i in range(3))
        units = n * math.prod(tiles)
        outputs, inputs = m, b
        while True:  # channels in passes, the wider side halved, until one unit fits
            weight_bytes, unit_bytes = _sizes(p, grid, valid, outputs, inputs, dtype.itemsize, real)
            if weight_bytes + unit_bytes <= FFT_BYTES or outputs == inputs == 1:
                break
            if outputs >= inputs:
                outputs = -(-outputs // 2)
            else:
                inputs = -(-inputs // 2)
        fits = weight_bytes + unit_bytes <= FFT_BYTES
        chunk = int(max(1, min(units, (FFT_BYTES - weight_bytes) // unit_bytes)))
        seconds = _seconds(
            op, p, grid, valid, tiles, b, m, n, outputs, inputs, chunk, dtype.itemsize, real
        )
        key = (0, seconds) if fits else (1, weight_bytes + unit_bytes)  # else the smallest
        if best is None or key < best[0]:
            best = key, Tiling(grid, valid, tiles, chunk, outputs, inputs, seconds)
    return best[1]


def direct_cost(op, g, b, m, n, dtype=np.float32):
    """Estimated seconds of the direct algorithms on the call: its multiply-adds at the
    measured rate of GEMM-based convolution, which falls off with few channels (their
    GEMMs are thin), or of the compiled loops for groups of at most 4 channel pairs;
    halved for float64, a quarter for complex."""
    macs = n * g.groups * m * b * math.prod(g.kernel) * math.prod(g.small)
    dtype = np.dtype(dtype)
    if g.groups > 1 and b * m <= 4:
        rate = DEPTHWISE_RATE
    else:
        rate = GEMM_RATE * min(1.0, max(b, m) / GEMM_CHANNELS) ** GEMM_FALLOFF
    scale = dtype.itemsize / 4 if dtype.kind != "c" else dtype.itemsize / 2  # 4 real per complex
    return macs * scale / rate


def _problem_channels(op, g, b, m):
    """(problem, source channels, output channels) per group of a planner op."""
    if op == "conv_transpose":
        return transpose_problem(g), m, b
    return forward_problem(g), b, m


def cost(op, g, b, m, n, dtype=np.float32):
    """Estimated seconds of `op` ("conv", "conv_transpose", "conv_weight") by FFT on
    geometry g with b big and m small channels per group, for n samples."""
    problem, source, outputs = _problem_channels(op, g, b, m)
    kind = "conv_weight" if op == "conv_weight" else "conv"
    return tiling(kind, problem, source, outputs, n, np.dtype(dtype).str).seconds


def preferred(op, g, b, m, n, dtype=np.float32):
    """Whether the planner sends `op` to FFT: a kernel of tuning.FFT_MIN_TAPS taps or more,
    estimated tuning.FFT_MARGIN times faster than direct.

    Below FFT_MIN_TAPS FFT can still measure faster (a few channels, 5x5x5 in 3-d), but by
    little, and its rounding is relative to the largest output rather than each one;
    the direct algorithms keep those layers (every layer of the benchmark's suite and zoo).
    """
    if not supports(g) or n == 0 or b * m == 0 or math.prod(g.kernel) < tuning.FFT_MIN_TAPS:
        return False
    return tuning.FFT_MARGIN * cost(op, g, b, m, n, dtype) < direct_cost(op, g, b, m, n, dtype)


def variant(p) -> str:
    """How the planner's problem p would run: real or complex transforms, tiles."""
    kind = "real" if np.dtype(p.dtype).kind == "f" else "complex"
    return f"{kind} FFTs, overlap-save tiles"


def worth_measuring(p) -> bool:
    """For the measured planner: time FFT only where the cost model gives it a chance
    (at most twice the direct estimate), not on the 3x3 layers it would lose by far."""
    if p.batch == 0 or p.big_channels * p.small_channels == 0:
        return False
    args = (p.op, p.geometry, p.big_channels, p.small_channels, p.batch, np.dtype(p.dtype))
    return cost(*args) <= 2 * direct_cost(*args)


# --- transforms ---------------------------------------------------------------------


def _spectrum(a, grid, real):
    """DFT over the trailing len(grid) axes of a, zero-padded to `grid`, axis by axis from
    the last (rfft there if real): rows that are all padding are never transformed."""
    import scipy.fft

    workers = threads()
    nd = len(grid)
    lead = a.ndim - nd
    a = (scipy.fft.rfft if real else scipy.fft.fft)(a, n=grid[-1], axis=-1, workers=workers)
    for axis in reversed(range(nd - 1)):
        a = scipy.fft.fft(a, n=grid[axis], axis=lead + axis, workers=workers, overwrite_x=True)
    return a


def _inverse(a, grid, keep, step, real):
    """The inverse of _spectrum, cropped to the first `keep` positions per dim and
    subsampled by `step`, the first axes first so that later ones transform kept rows."""
    import scipy.fft

    workers = threads()
    nd = len(grid)
    lead = a.ndim - nd
    for axis in range(nd - 1):
        a = scipy.fft.ifft(a, axis=lead + axis, workers=workers, overwrite_x=True)
        a = a[(slice(None),) * (lead + axis) + (slice(0, keep[axis], step[axis]),)]
    if real:
        a = scipy.fft.irfft(a, n=grid[-1], axis=-1, workers=workers)
    else:
        a = scipy.fft.ifft(a, axis=-1, workers=workers, overwrite_x=True)
    return a[..., : keep[-1] : step[-1]]


def _blocked(spectrum, groups):
    """(G*M, B, *bins) -> (G, blocks, M, B, BLOCK): the weight's spectrum as the compiled
    loops read it, a block of bins at a time, zeros past the last bin."""
    from ._spectral_loops import BLOCK

    gm, b = spectrum.shape[:2]
    flat = spectrum.reshape(groups, gm // groups, b, -1)  # (G, M, B, F)
    count = -(-flat.shape[-1] // BLOCK)
    out = np.zeros((groups, count, gm // groups, b, BLOCK), dtype=spectrum.dtype)
    for block in range(count):  # (G, M, B, BLOCK) slabs into the blocked layout
        part = slice(block * BLOCK, min(flat.shape[-1], (block + 1) * BLOCK))
        out[:, block, :, :, : part.stop - part.start] = flat[..., part]
    return out


def _unblocked(blocked, bins):
    """(G, blocks, M, B, BLOCK) -> (G*M, B, *bins), the inverse of _blocked."""
    g, count, m, b, block = blocked.shape
    flat = blocked.transpose(0, 2, 3, 1, 4).reshape(g, m, b, count * block)  # (G, M, B, F')
    return flat[..., : math.prod(bins)].reshape((g * m, b) + tuple(bins))


def _contract(loop, first, second, out, *flags):
    """loop(first, second, out, *flags, block0, block1) over every block of bins (the
    blocked operand's axis 1), the blocks split over npconv's threads."""
    count = (first if first.ndim == 5 else out).shape[1]

    def run(bounds):
        loop(first, second, out, *flags, bounds[0], bounds[1])

    blocked = first if first.ndim == 5 else out  # (G, blocks, M, B, BLOCK)
    macs = (out if first.ndim == 5 else first).size * blocked.shape[3]  # U*G*M*B*bins
    if macs < SPLIT_MACS:  # a thread hand-off would cost more than it saves
        run((0, count))
    else:
        split(run, count)


# --- gathers --------------------------------------------------------------------------


def _segment(src, starts, lengths, up, out):
    """out = src_up[..., start:start+length] over the trailing dims, src_up the source
    zero-inserted by `up` (src[i // up] where up divides i), zero outside."""
    if all(u == 1 for u in up):
        region = windows.region(src, starts, lengths, out=out)
        if region is not out:
            np.copyto(out, region)
        return
    out.fill(0)
    target, source = [], []
    for start, length, u, size in zip(starts, lengths, up, src.shape[-len(up) :], strict=True):
        first = max(0, -(-start // u))
        stop = min(size, -(-(start + length) // u))
        if stop <= first:
            return
        target.append(slice(first * u - start, (stop - 1) * u - start + 1, u))
        source.append(slice(first, stop))
    out[(...,) + tuple(target)] = src[(...,) + tuple(source)]


def _units(n, tiles):
    """Every (sample, tile index) of a call, samples outer."""
    return list(itertools.product(range(n), itertools.product(*(range(t) for t in tiles))))


def _batches(units, chunk):
    for start in range(0, len(units), chunk):
        yield units[start : start + chunk]


def _source_spectra(src, batch, p, pl, columns, real, dtype):
    """The spectra of the batch's source segments for the source channels `columns` of
    every group: (U, G, Bp, bins)."""
    n, c = src.shape[:2]
    grouped = src.reshape((n, p.groups, c // p.groups) + src.shape[2:])  # (N, G, B, *size)
    inputs = columns.stop - columns.start
    segments = np.empty((len(batch), p.groups, inputs) + pl.grid, dtype=dtype)
    for i, (sample, tile) in enumerate(batch):
        starts = tuple(t * v - lo for t, v, lo in zip(tile, pl.valid, p.lo, strict=True))
        _segment(grouped[sample, :, columns], starts, pl.grid, p.up, segments[i])
    spectra = _spectrum(segments, pl.grid, real)  # (U, G, Bp, *bins)
    del segments
    return spectra.reshape(len(batch), p.groups, inputs, -1)  # (U, G, Bp, bins)


def _weight_spectrum(w, p, pl, real, dtype):
    """The spectrum at -f of the dilated kernel of w (G, Mp, Bp, *k), blocked:
    (G, blocks, Mp, Bp, BLOCK)."""
    dilated = np.zeros(w.shape[:3] + p.reach, dtype=dtype)
    dilated[(slice(None),) * 3 + tuple(slice(None, None, d) for d in p.dilation)] = w
    if not real:
        np.conjugate(dilated, out=dilated)
    spectrum = _spectrum(dilated.reshape((-1,) + dilated.shape[2:]), pl.grid, real)
    del dilated
    np.conjugate(spectrum, out=spectrum)  # (G*Mp, Bp, *bins)
    return _blocked(spectrum, p.groups)


def _passes(count, step):
    """Slices of `step` channels covering `count`."""
    return [slice(first, min(count, first + step)) for first in range(0, count, step)]


def _correlate(src, w, p, dtype):
    """out (N, G*M, *p.out) of problem p for source src (N, G*B, *p.size) and w (G*M, B, *k).

    Passes over blocks of output channels, each with its weight's spectrum; per batch of
    units the source channels in blocks too, their products summed in the spectrum."""
    from . import _spectral_loops

    n = src.shape[0]
    m, b = w.shape[0] // p.groups, w.shape[1]
    real = dtype.kind != "c"
    pl = tiling("conv", p, b, m, n, dtype.str)
    out = np.empty((n, p.groups * m) + tuple(p.out), dtype=dtype)
    grouped = out.reshape((n, p.groups, m) + tuple(p.out))  # (N, G, M, *out)
    kept = tuple(-(-v // s) for v, s in zip(pl.valid, p.step, strict=True))
    bins = _bins(pl.grid, real)
    units = _units(n, pl.tiles)
    weights = w.reshape((p.groups, m) + w.shape[1:])  # (G, M, B, *k)
    columns = _passes(b, pl.inputs)
    for rows in _passes(m, pl.outputs):
        mp = rows.stop - rows.start
        spectrum = None
        for batch in _batches(units, pl.chunk):
            y = np.empty(
                (len(batch), p.groups, mp, math.prod(bins)),
                dtype=np.result_type(dtype, np.complex64),
            )  # (U, G, Mp, bins)
            for part in columns:
                if spectrum is None or len(columns) > 1:
                    spectrum = None  # one alive at a time
                    spectrum = _weight_spectrum(weights[:, rows, part], p, pl, real, dtype)
                x = _source_spectra(src, batch, p, pl, part, real, dtype)  # (U, G, Bp, bins)
                _contract(_spectral_loops.conv_bins, spectrum, x, y, part.start > 0)
                del x
            tiles = _inverse(
                y.reshape((len(batch), p.groups * mp) + bins), pl.grid, pl.valid, p.step, real
            )  # (U, G*Mp, *kept)
            del y
            tiles = tiles.reshape((len(batch), p.groups, mp) + tiles.shape[2:])
            for i, (sample, tile) in enumerate(batch):
                origin = tuple(t * k for t, k in zip(tile, kept, strict=True))
                count = tuple(min(k, o - s) for k, o, s in zip(kept, p.out, origin, strict=True))
                target = tuple(slice(s, s + c) for s, c in zip(origin, count, strict=True))
                np.copyto(
                    grouped[(sample, slice(None), rows) + target],
                    tiles[(i,) + (slice(None),) * 2 + tuple(slice(0, c) for c in count)],
                )
            del tiles
        del spectrum
    return out


def _dtype(a, b):
    return np.result_type(a, b)


def conv(x, w, geometry):
    """(N, G*B, *big) x (G*M, B, *k) -> (N, G*M, *small)."""
    return _correlate(x, w, forward_problem(geometry), _dtype(x, w))


def conv_transpose(y, w, geometry):
    """(N, G*M, *small) x (G*M, B, *k) -> (N, G*B, *big): the mirrored conv of y
    zero-inserted by the stride, with the flipped kernel."""
    return _correlate(y, flipped(w, geometry.groups), transpose_problem(geometry), _dtype(y, w))


def _tile_spectra(dy, batch, rows, p, pl, kept, real, dtype):
    """The spectra at -f of the batch's tiles of dy (N, G, M, *small), channels `rows`,
    zero-inserted by the stride: (U, G, Mp, bins)."""
    mp = rows.stop - rows.start
    tiles = np.zeros((len(batch), p.groups, mp) + pl.valid, dtype=dtype)
    for i, (sample, tile) in enumerate(batch):
        origin = tuple(t * k for t, k in zip(tile, kept, strict=True))
        count = tuple(max(0, min(k, o - s)) for k, o, s in zip(kept, p.out, origin, strict=True))
        source = tuple(slice(s, s + c) for s, c in zip(origin, count, strict=True))
        target = tuple(slice(0, c * s, s) for c, s in zip(count, p.step, strict=True))
        tiles[(i, slice(None), slice(None)) + target] = dy[(sample, slice(None), rows) + source]
    if not real:
        np.conjugate(tiles, out=tiles)
    spectra = _spectrum(tiles.reshape((len(batch), -1) + pl.valid), pl.grid, real)
    del tiles
    np.conjugate(spectra, out=spectra)
    return spectra.reshape(len(batch), p.groups, mp, -1)  # (U, G, Mp, bins)


def conv_weight(x, y, geometry):
    """(N, G*B, *big) x (N, G*M, *small) -> (G*M, B, *k): every unit's product summed in
    the spectrum, one inverse per pass of channels."""
    from . import _spectral_loops

    g = geometry
    p = forward_problem(g)
    dtype = _dtype(x, y)
    real = dtype.kind != "c"
    n = x.shape[0]
    b, m = x.shape[1] // g.groups, y.shape[1] // g.groups
    pl = tiling("conv_weight", p, b, m, n, dtype.str)
    kept = tuple(-(-v // s) for v, s in zip(pl.valid, p.step, strict=True))
    bins = _bins(pl.grid, real)
    units = _units(n, pl.tiles)
    grad = np.empty((g.groups * m, b) + tuple(g.kernel), dtype=dtype)
    grouped = grad.reshape((g.groups, m, b) + tuple(g.kernel))  # (G, M, B, *k)
    dy = y.reshape((n, g.groups, m) + tuple(g.small))  # (N, G, M, *small)
    from ._spectral_loops import BLOCK

    for rows in _passes(m, pl.outputs):
        mp = rows.stop - rows.start
        for columns in _passes(b, pl.inputs):
            total = np.zeros(
                (g.groups, -(-math.prod(bins) // BLOCK), mp, columns.stop - columns.start, BLOCK),
                dtype=np.result_type(dtype, np.complex64),
            )  # (G, blocks, Mp, Bp, ..)
            for batch in _batches(units, pl.chunk):
                x_spectra = _source_spectra(x, batch, p, pl, columns, real, dtype)
                y_spectra = _tile_spectra(dy, batch, rows, p, pl, kept, real, dtype)
                _contract(_spectral_loops.weight_bins, y_spectra, x_spectra, total)
                del x_spectra, y_spectra
            part = _inverse(_unblocked(total, bins), pl.grid, p.reach, p.dilation, real)
            del total
            np.copyto(grouped[:, rows, columns], part.reshape((g.groups, mp, -1) + tuple(g.kernel)))
    return grad
