"""Winograd's minimal filtering F(2, 3) for stride-1 convs whose kernels are 3 wide
in their last two dims (the "inner" dims; a 1-d conv has one).

A tile of alpha = 4 input points per inner dim gives 2 outputs per inner dim as

    Y = A^T [ (G w G^T) (.) (B^T d B) ] A          (each product taken per inner dim)

so the channels meet once per transformed point: P = 4**inner GEMMs over the
tiles, where im2col does one GEMM with K = 9 * B over every output position;
multiplies per output fall from 9 to 4 in 2-d. The points are 0, +-1 and
infinity, whose matrices hold only 0, +-1 and 1/2: the GEMMs' float32 rounding
of each transformed point reaches the output almost unamplified, and the error
stays near a direct sum's. F(4, 3) (Lavin and Gray's 0, +-1, +-2, infinity) does
2.25 multiplies per output, but its outputs are differences of products many
times larger, each rounded in the float32 GEMM: an order of magnitude more error
than a direct sum in 2-d, and several times more even at the best-conditioned
points (issue 20; the figures are in docs/benchmarks.md). Dims
before the last two ("lead" dims, any kernel size) are not
transformed: their taps are summed inside the GEMM instead. With the
transformed input laid out (P, T, Z, C) (points, tiles of a plane, the input
planes along the lead dims, channels), the k taps of the last lead dim read k
consecutive planes, so for output plane o

    product[p] = V[p, :, z(o) : z(o) + k, :] (T, k*C)  @  U[p] (k*C, M)

one GEMM per point with the lead taps concatenated along K, read in place
(a strided view, no copy). 3x3x3 convs do 2.25x fewer multiplies than im2col
with 2-d accuracy.

The work goes in chunks: a band along the first dim of one sample, or, where a
whole sample is smaller than that, several samples, whose tiles then share each
GEMM. Without lead dims a band is tile rows, sized so that its transformed input
and product stay in the L2 cache. With lead dims it is output planes, each band
transforming the k - 1 input planes it shares with the next once more: bands of
one plane would transform every input plane k times, so a band holds as many
planes as BAND_BYTES of transformed input, which the GEMMs read from memory (their
K of k*C reuses each row M times), and the product and output transform go one
plane at a time, in the cache. Each of npconv's threads takes whole chunks and
runs its GEMMs in a single-threaded BLAS (`_threads.split_blas`): channels-last
padded slab (compiled copy) -> input transform (compiled) -> P GEMMs per output
plane -> output transform (compiled) -> y (compiled copy).

conv_transpose is the conv of the mirrored geometry (mirror.py), so it runs
here too; the weight gradient is the same product read the other way (see
conv_weight). Real float dtypes only (others go to shifted).
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .. import windows
from .._threads import budget, parts_within, split_blas, threads
from . import shifted
from .geometry import channels, flipped, mirrored, offsets, row_major, transposed

CHUNK_BYTES = 2 * 2**20  # transformed input + product of one chunk
# a thread's slab, transformed input and canvas of a band along a lead dim (the product
# is one output plane), within BUDGET for two threads: more planes a band transform the
# k - 1 halo planes it shares with the next band less often
BAND_BYTES = 16 * 2**20
INNER = 2  # dims transformed: the last two (all of a 1-d conv)
M, ALPHA = 2, 4  # outputs and points per inner dim of a tile

# (B^T, G, A^T) of F(2, 3), interpolating at 0, +-1 and infinity
MATRICES = (
    [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
    [[1, 0, 0], [1 / 2, 1 / 2, 1 / 2], [1 / 2, -1 / 2, 1 / 2], [0, 0, 1]],
    [[1, 1, 1, 0], [0, 1, -1, -1]],
)


def _lead(g):
    """Number of lead (untransformed) dims."""
    return max(0, len(g.kernel) - INNER)


DTYPES = ("float32", "float64")  # transforms in real arithmetic
EXACT_NONFINITE = False  # a tile's transform mixes every value of the tile


def variant(p):
    lead = _lead(p.geometry)
    name = "F(2, 3)" if len(p.geometry.kernel) == 1 else "F(2x2, 3x3)"
    return name + (f", {lead} lead dim(s) summed in the GEMMs" if lead else "")


def supports(geometry):
    g = geometry
    return (
        all(k == 3 for k in g.kernel[_lead(g) :])
        and all(s == 1 for s in g.stride)
        and all(d == 1 for d in g.dilation)
    )


def tiles(geometry, n):
    """Tiles of a call on n samples: output planes along the lead dims times M x M tiles of
    each (the rows that the call's GEMMs share out)."""
    g = geometry
    lead = _lead(g)
    return n * math.prod(g.small[:lead]) * math.prod(-(-s // M) for s in g.small[lead:])


def _real(dtype):
    return dtype in (np.float32, np.float64)


def _power(matrix, inner):
    """The Kronecker power of `matrix`: it applies matrix along each of `inner` axes at once,
    (rows^inner, cols^inner) on row-major flattened axes."""
    return functools.reduce(np.kron, [np.asarray(matrix, dtype=np.float64)] * inner)


def _transform_weight(a, matrix, first):
    """Apply `matrix` (rows, cols) along every axis from `first` on of a."""
    inner = a.ndim - first
    # (prod(...), cols^inner) @ (cols^inner, rows^inner) -> (prod(...), rows^inner): one 2-D
    # product, not a stack of row-vector products
    out = a.reshape(-1, a[(0,) * first].size) @ _power(matrix, inner).T
    return out.reshape(a.shape[:first] + (len(matrix),) * inner)


def weights(w, groups, lead):
    """(G*M, B, *lead_k, 3, 3) -> U = G w G^T over the inner dims as GEMM operands,
    (P, G, K, B, M) with K = prod(lead_k) lead taps, C-contiguous, in float64.

    One transposing copy of w into the operands' order, in w's dtype, then one product
    by G's Kronecker power: per-axis tensordots would add a transposing copy of U, and
    a float64 copy of w first would make the reshape of its transposed view copy again."""
    mo, b = channels(w, groups)
    inner = w.ndim - 2 - lead
    wg = w.reshape((groups, mo) + w.shape[1:])  # (G, M, B, *lead_k, 3, 3)
    # (G, M, B, *lead_k, 3, 3) -> (3, 3, G, *lead_k, B, M), copied -> (3^inner, G*K*B*M)
    axes = tuple(range(3 + lead, wg.ndim)) + (0,) + tuple(range(3, 3 + lead)) + (2, 1)
    flat = transposed(wg.transpose(axes)).reshape(3**inner, -1).astype(np.float64)
    # (P, 3^inner) @ (3^inner, G*K*B*M) -> (P, G*K*B*M)
    u = _power(MATRICES[1], inner) @ flat
    return u.reshape(len(u), groups, math.prod(w.shape[2 : 2 + lead]), b, mo)


class _Band(NamedTuple):
    """The tables of one chunk: a band [first, last) of units of the first dim, of each of
    nt samples. Tiles t of a plane run over (sample, tile of the sample's plane)."""

    slab: tuple  # shape of the padded channels-last input slab, (nt, *slab)
    inside: tuple  # the slab's slices that x fills ...
    source: tuple  # ... from these slices of x (after the samples)
    corners: np.ndarray  # per input tile (plane z, tile t): its corner row in the slab
    slab_steps: np.ndarray  # the slab's row steps along the inner dims
    v_rows: np.ndarray  # per input tile: its row t*Z + z in V = (P, T, Z, C)
    v_steps: np.ndarray  # V's row steps per transformed point
    sizes: tuple  # (O output planes, T tiles per plane, Z input planes)
    planes: np.ndarray  # per output plane o: the input plane z of its lead taps (0, ...)
    rows: np.ndarray  # per output tile t of a plane: its row t in the (P, T, M) product
    steps: np.ndarray  # the product's row steps per transformed point
    canvas: tuple  # shape of the channels-last out canvas (whole tiles), (nt, ...)
    out_corners: np.ndarray  # per output tile: its corner row in the out canvas
    out_steps: np.ndarray  # the canvas's row steps along the inner dims
    y_rows: slice  # the band's slice of y's first dim ...
    valid: tuple  # ... and the canvas's slices that land in y


class _Chunks:
    """Chunks, lead-tap runs and per-band tables of one call.

    Per dim, a band counts `unit` output positions per step (1 along a lead dim:
    output planes; M along an inner dim: tile rows) and reads `extra` input
    positions beyond them (k - 1 along a lead dim, ALPHA - M along an inner one).
    Only the first dim is cut into bands; the others are taken whole. A chunk is
    (samples, first, last): a band of one sample, or the whole of several."""

    def __init__(self, g, n, channels_in, channels_out, itemsize):
        self.g = g
        self.lead = lead = _lead(g)
        nd = len(g.kernel)
        self.points = ALPHA ** (nd - lead)
        self.taps = math.prod(g.kernel[:lead])
        self.unit = (1,) * lead + (M,) * (nd - lead)
        self.extra = tuple(k - 1 for k in g.kernel[:lead]) + (ALPHA - M,) * (nd - lead)
        self.units = tuple(-(-s // u) for s, u in zip(g.small, self.unit, strict=True))
        tiles_in, tiles_out = self._grids(0, 1)
        self.plane_steps = row_major(tiles_in[:lead])
        # a band's bytes per unit of the first dim: without lead dims its transformed input
        # and product; with them (the product one output plane at a time) its transformed
        # input, slab and canvas
        v_unit = self.points * math.prod(tiles_in[1:]) * channels_in
        if lead:
            slab, canvas = self._extents(tiles_out)
            unit_in = v_unit + math.prod(slab[1:]) * channels_in
            per_unit = itemsize * (unit_in + math.prod(canvas[1:]) * channels_out)
        else:
            unit_in = v_unit
            per_unit = itemsize * (v_unit + self.points * math.prod(tiles_out[1:]) * channels_out)
        halo = itemsize * unit_in * (tiles_in[0] - 1)
        first = self.units[0]
        parts = threads()
        limit = BAND_BYTES if lead else CHUNK_BYTES
        self.sample_bytes = whole = per_unit * first + halo  # one sample's chunk
        if n > 1 and 2 * whole <= limit:
            self.chunks = [(samples, 0, first) for samples in self._samples(n, whole, parts, limit)]
        else:
            count = -(-first // max(1, min(first, (limit - halo) // per_unit)))
            while count < first and (n * count < parts or n * count % parts):
                count += 1  # every thread gets as many chunks as the others
            self.chunks = [
                (slice(s, s + 1), first * i // count, first * (i + 1) // count)
                for s in range(n)
                for i in range(count)
            ]
        self.bands = {}

    @staticmethod
    def _samples(n, whole, parts, limit):
        """Runs of whole samples within `limit` bytes, as many per thread where there are
        enough samples."""
        count = -(-n // max(1, limit // whole))
        if n >= parts:
            count = -(-count // parts) * parts
        return [slice(n * i // count, n * (i + 1) // count) for i in range(count)]

    def _extents(self, tiles_out):
        """(slab, canvas) extents of a band of `tiles_out` output planes and tiles."""
        slab = tuple(v * u + e for v, u, e in zip(tiles_out, self.unit, self.extra, strict=True))
        return slab, tuple(v * u for v, u in zip(tiles_out, self.unit, strict=True))

    def _grids(self, first, last):
        """(input, output) planes along the lead dims and tiles along the inner dims of a
        band [first, last) of units of the first dim."""
        out = (last - first,) + self.units[1:]
        into = tuple(
            v + e if i < self.lead else v
            for i, (v, e) in enumerate(zip(out, self.extra, strict=True))
        )
        return into, out

    def runs(self, groups):
        """Lead taps as GEMM operands: (plane shift, first tap, count) per run of taps
        that read consecutive input planes. With one group the taps of the last lead dim
        are one run (consecutive planes, and their channels one run in V); else one run
        per tap."""
        shifts = offsets(self.g.kernel[: self.lead], self.plane_steps)
        count = self.g.kernel[self.lead - 1] if self.lead and groups == 1 else 1
        return [(int(shifts[i]), i, count) for i in range(0, self.taps, count)]

    def band(self, samples, first, last):
        """The _Band tables of a band [first, last) of units of the first dim of the
        chunk's samples, built once per band and sample count (chunks share them)."""
        key = samples.stop - samples.start, first, last
        if key not in self.bands:
            self.bands[key] = self._band(*key)  # a race builds the same tables twice
        return self.bands[key]

    def _band(self, nt, first, last):
        g, lead = self.g, self.lead
        tiles_in, tiles_out = self._grids(first, last)
        slab, canvas = self._extents(tiles_out)
        starts = (first * self.unit[0] - g.lo[0],) + tuple(-lo for lo in g.lo[1:])
        source, inside = windows.overlap(starts, slab, g.big)
        o, z = math.prod(tiles_out[:lead]), math.prod(tiles_in[:lead])
        t = nt * math.prod(tiles_out[lead:])
        point = np.array(row_major((ALPHA,) * (len(slab) - lead)), dtype=np.int64)
        steps, out_steps = row_major(slab), row_major(canvas)
        corner = [s * u for s, u in zip(steps, self.unit, strict=True)]
        out_corner = [s * u for s, u in zip(out_steps, self.unit, strict=True)]
        # a plane's tiles: (sample, tile of the sample), each sample one slab / canvas on
        in_tiles = np.add.outer(
            np.arange(nt, dtype=np.int64) * math.prod(slab), offsets(tiles_in[lead:], corner[lead:])
        ).ravel()
        out_tiles = np.add.outer(
            np.arange(nt, dtype=np.int64) * math.prod(canvas),
            offsets(tiles_out[lead:], out_corner[lead:]),
        ).ravel()
        y_rows = slice(first * self.unit[0], min(last * self.unit[0], g.small[0]))
        return _Band(
            (nt,) + slab,
            (slice(None),) + inside,
            source,
            # input tiles ordered (plane z, tile t)
            np.add.outer(offsets(tiles_in[:lead], corner[:lead]), in_tiles).ravel(),
            np.array(steps[lead:], dtype=np.int64),
            np.add.outer(np.arange(z, dtype=np.int64), np.arange(t, dtype=np.int64) * z).ravel(),
            point * t * z,
            (o, t, z),
            offsets(tiles_out[:lead], self.plane_steps),
            np.arange(t, dtype=np.int64),
            point * t,
            (nt,) + canvas,
            np.add.outer(offsets(tiles_out[:lead], out_corner[:lead]), out_tiles).ravel(),
            np.array(out_steps[lead:], dtype=np.int64),
            y_rows,
            (slice(None), slice(0, y_rows.stop - y_rows.start))
            + tuple(slice(0, s) for s in g.small[1:]),
        )

    def most(self, dtype, channels_in, channels_out, result_bytes, extra=0):
        """Threads for the chunks: each holds _Buffers for the largest chunk (and `extra`
        bytes), within the threads' budget for a call of this result size."""
        slab, v, product, canvas = self.largest()
        each = ((slab + v) * channels_in + (product + canvas) * channels_out) * np.dtype(
            dtype
        ).itemsize + extra
        return parts_within(each, budget(result_bytes))

    def largest(self):
        """Element counts (slab, V, product, canvas) per channel of the largest chunk."""
        chunk = max(self.chunks, key=lambda c: (c[0].stop - c[0].start) * (c[2] - c[1]))
        band = self.band(*chunk)
        _, t, z = band.sizes
        return (
            math.prod(band.slab),
            self.points * t * z,
            self.points * t,
            math.prod(band.canvas),
        )


class _Buffers:
    """One thread's work arrays, allocated once at the largest chunk's size and reused:
    fresh megabytes per chunk cost a page fault every 4 KiB."""

    def __init__(self, plan, dtype, channels_in, channels_out):
        slab, v, product, canvas = plan.largest()
        self.arrays = dict(
            slab=np.empty(slab * channels_in, dtype=dtype),
            v=np.empty(v * channels_in, dtype=dtype),
            product=np.empty(product * channels_out, dtype=dtype),
            out=np.empty(canvas * channels_out, dtype=dtype),
        )

    def take(self, name, shape):
        return self.arrays[name][: math.prod(shape)].reshape(shape)


def _operand(v, plane, count, first, width):
    """(P, T, count*width) view of V = (P, T, Z, C): channels [first, first + width) of
    input planes plane .. plane + count - 1, a run in memory when count == 1 or
    width == C."""
    part = v[:, :, plane:, first : first + width]
    return as_strided(
        part,
        part.shape[:2] + (count * width,),
        part.strides[:2] + part.strides[3:],
        writeable=False,
    )


def _lines(src, dst):
    """dst[...] = src for channels-last (nt, *S, C) views, one of them of channels-first
    planes: (L, W, C) blocks of lines (in 1-d, the samples' rows) copied along W."""
    from . import _winograd_loops

    for line in np.ndindex(dst.shape[:-3]):
        _winograd_loops.between(src[line], dst[line])


def _transformed_input(buffers, x_last, plan, samples, first, last):
    """A chunk's input, zero-padded channels last and transformed: V as (P, T, Z, C),
    with the chunk's tables."""
    from . import _winograd_loops

    band = plan.band(samples, first, last)
    c = x_last.shape[-1]
    slab = buffers.take("slab", band.slab + (c,))  # (nt, *slab, C)
    windows.zero_outside(slab, band.inside)
    _lines(x_last[(samples,) + band.source], slab[band.inside])
    _, t, z = band.sizes
    v = buffers.take("v", (plan.points, t, z, c))
    _winograd_loops.transform(
        slab.reshape(-1, c),
        band.corners,
        band.slab_steps,
        v.reshape(-1, c),
        band.v_rows,
        band.v_steps,
        _winograd_loops.INPUT,
    )
    return v, band


def _share(x, y, plan, groups):
    """A thread's set-up: channels per group, its buffers, x and y channels-last views."""
    b, mo = x.shape[1] // groups, y.shape[1] // groups
    buffers = _Buffers(plan, y.dtype, x.shape[1], y.shape[1])
    # (N, C, *big) -> (N, *big, C) and (N, G*M, *small) -> (N, *small, G*M), views
    return b, mo, buffers, np.moveaxis(x, 1, -1), np.moveaxis(y, 1, -1)


def _chunks(x, u, y, plan, groups, items):
    """Chunks [items[0], items[1]) of the conv, start to finish (one thread's share)."""
    from . import _winograd_loops

    b, mo, buffers, x_last, y_last = _share(x, y, plan, groups)
    runs = plan.runs(groups)
    # per group and run: (P, count*B, M), the run's taps stacked along K
    operands = [
        [u[:, gi, tap : tap + count].reshape(plan.points, count * b, mo) for _, tap, count in runs]
        for gi in range(groups)
    ]
    for samples, first, last in plan.chunks[items[0] : items[1]]:
        v, band = _transformed_input(buffers, x_last, plan, samples, first, last)
        _, t, _ = band.sizes
        product = buffers.take("product", (plan.points, t, groups * mo))
        out = buffers.take("out", band.canvas + (groups * mo,))
        # one output plane at a time: its product stays in the cache for the transform
        for o, plane in enumerate(band.planes):
            for gi in range(groups):
                part = product[:, :, gi * mo : (gi + 1) * mo]  # (P, T, M)
                for i, ((shift, _, count), w) in enumerate(zip(runs, operands[gi], strict=True)):
                    a = _operand(v, plane + shift, count, gi * b, b)
                    if i == 0:
                        # (P, T, count*B) @ (P, count*B, M) -> (P, T, M)
                        np.matmul(a, w, out=part)
                    else:
                        part += a @ w  # (P, T, M)
            _winograd_loops.transform(
                product.reshape(-1, groups * mo),
                band.rows,
                band.steps,
                out.reshape(-1, groups * mo),
                band.out_corners[o * t : (o + 1) * t],
                band.out_steps,
                _winograd_loops.OUTPUT,
            )
        # (nt, rows, *S[1:], C): (L, W, C) blocks of lines (in 1-d, the samples' rows)
        _lines(out[band.valid], y_last[samples, band.y_rows])


def conv(x, w, geometry):
    """(N, G*B, *big) x (G*M, B, *lead_k, 3, 3) -> (N, G*M, *small), stride 1."""
    g = geometry
    dtype = np.result_type(x, w)
    if not _real(dtype):
        return shifted.conv(x, w, g)
    mo, b = channels(w, g.groups)
    plan = _Chunks(g, x.shape[0], g.groups * b, g.groups * mo, dtype.itemsize)
    u = weights(w, g.groups, plan.lead).astype(dtype)  # (P, G, K, B, M)
    y = np.empty((x.shape[0], g.groups * mo) + tuple(g.small), dtype=dtype)
    split_blas(
        _chunks,
        len(plan.chunks),
        np.ascontiguousarray(x, dtype=dtype),
        u,
        y,
        plan,
        g.groups,
        most=plan.most(dtype, g.groups * b, g.groups * mo, y.nbytes),
    )
    return y


def _weight_chunks(x, y, plan, groups, sums, items):
    """One thread's share of the weight gradient in the transformed domain:
    sum over its tiles of (A dy A^T) (.) (B^T x B), as (P, G, M, K, B)."""
    from . import _winograd_loops

    b, mo, buffers, x_last, y_last = _share(x, y, plan, groups)
    runs = plan.runs(groups)
    total = np.zeros((plan.points, groups, mo, plan.taps, b), dtype=y.dtype)
    for samples, first, last in plan.chunks[items[0] : items[1]]:
        v, band = _transformed_input(buffers, x_last, plan, samples, first, last)
        _, t, _ = band.sizes
        canvas = buffers.take("out", band.canvas + (groups * mo,))
        windows.zero_outside(canvas, band.valid)  # zeros past small
        _lines(y_last[samples, band.y_rows], canvas[band.valid])
        dy = buffers.take("product", (plan.points, t, groups * mo))
        for o, plane in enumerate(band.planes):  # one output plane at a time
            _winograd_loops.transform(
                canvas.reshape(-1, groups * mo),
                band.out_corners[o * t : (o + 1) * t],
                band.out_steps,
                dy.reshape(-1, groups * mo),
                band.rows,
                band.steps,
                _winograd_loops.GRADIENT,
            )
            for gi in range(groups):
                d = dy[:, :, gi * mo : (gi + 1) * mo].transpose(0, 2, 1)  # (P, M, T)
                for shift, tap, count in runs:
                    a = _operand(v, plane + shift, count, gi * b, b)
                    # (P, M, T) @ (P, T, count*B) -> (P, M, count*B), summed over the tiles
                    total[:, gi, :, tap : tap + count] += (d @ a).reshape(plan.points, mo, count, b)
    sums.append(total)  # list.append is atomic under the GIL


def conv_transpose(y, w, geometry):
    """(N, G*M, *small) x (G*M, B, *k) -> (N, G*B, *big): the mirrored conv of y."""
    return conv(y, flipped(w, geometry.groups), mirrored(geometry))


def conv_weight(x, y, geometry):
    """(N, G*B, *big) x (N, G*M, *small) -> (G*M, B, *lead_k, 3, 3).

    With U = G w G^T the conv is y = A^T (U (.) V) A per tile, so the gradient of
    the weight is G^T [sum over tiles of (A dy A^T) (.) V] G: P GEMMs of
    (M, T) @ (T, B) per lead tap, summed over every tile, then one small transform."""
    g = geometry
    dtype = np.result_type(x, y)
    if not _real(dtype):
        return shifted.conv_weight(x, y, g)
    b, mo = x.shape[1] // g.groups, y.shape[1] // g.groups
    plan = _Chunks(g, x.shape[0], g.groups * b, g.groups * mo, dtype.itemsize)
    sums = []
    total = plan.points * g.groups * mo * plan.taps * b * dtype.itemsize  # a share's sum
    split_blas(
        _weight_chunks,
        len(plan.chunks),
        np.ascontiguousarray(x, dtype=dtype),
        np.ascontiguousarray(y, dtype=dtype),
        plan,
        g.groups,
        sums,
        most=plan.most(dtype, g.groups * b, g.groups * mo, 0, extra=total),
    )
    # the threads' shares summed in place in float64: no stacked copy of every share
    total = np.zeros((plan.points, g.groups, mo, plan.taps, b))
    for share in sums:
        total += share
    inner = len(g.kernel) - plan.lead
    # (P, G, M, K, B) -> (G, M, B, K, alpha, ..., alpha) -> G^T along each point axis
    points = total.reshape((ALPHA,) * inner + total.shape[1:])
    grad = np.moveaxis(points, tuple(range(inner)), tuple(range(-inner, 0))).swapaxes(2, 3)
    grad = _transform_weight(grad, np.asarray(MATRICES[1]).T, 4)
    return grad.reshape((g.groups * mo, b) + tuple(g.kernel)).astype(dtype)
