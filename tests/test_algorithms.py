"""Every kernel algorithm, forced directly (not through the planner), against the
loop reference on geometries chosen to reach each of its code paths; and the
planner's choices on the benchmark's layer shapes.
"""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import npconv
import reference as R
import strategies
from npconv import compute, windows
from npconv.compute import Geometry, planner
from npconv.compute import geometry as geometry_module

# name: (kernel, stride, dilation, (lo, hi) per dim, groups, B, M, big); written for 3 dims
CASES = {
    "plain": (3, 1, 1, (1, 1), 1, 3, 2, (9, 8, 7)),
    "dilated_groups": (3, 1, 2, (2, 1), 2, 2, 3, (11, 8, 7)),
    "crop": (3, 1, 1, (-1, 0), 1, 2, 2, (9, 8, 7)),
    "pointwise": (1, 1, 1, (0, 0), 3, 2, 2, (7, 6, 5)),
    "strided_overlap": (4, 2, 1, (1, 1), 1, 3, 2, (10, 9, 8)),
    "kernel_eq_stride": (2, 2, 1, (0, 0), 1, 3, 3, (8, 6, 6)),
    "kernel_eq_stride_padded": (2, 2, 1, (1, 1), 2, 2, 2, (8, 7, 6)),
    "kernel_lt_stride": (2, 3, 1, (0, 1), 1, 2, 2, (11, 9, 8)),
    "stride_dilation_coprime": (5, 3, 2, (1, 2), 1, 2, 2, (13, 11, 9)),
    "stride_dilation_shared": (3, 2, 2, (1, 0), 1, 2, 3, (11, 9, 8)),
    "mixed_dims": ((3, 2, 4), (2, 1, 3), (1, 2, 1), ((1, 0), (0, 1), (2, 1)), 2, 2, 1, (11, 9, 8)),
    "depthwise": (3, 1, 1, (1, 1), 6, 1, 1, (9, 8, 7)),
    "depthwise_strided": (6, 3, 1, (2, 2), 4, 1, 1, (12, 9, 9)),
    "depthwise_multiplier": (3, 2, 1, (1, 1), 3, 1, 2, (9, 8, 7)),
    # 2, 4, 8 taps: the depthwise loops' three-tap passes and their remainder
    "depthwise_even_taps": (2, 1, 1, (1, 0), 4, 1, 1, (9, 8, 7)),
    # the transposed loops' blocks of 2, 3 and 4 taps (stride 2 and 3: the cases above)
    "depthwise_stride4": (8, 4, 1, (3, 2), 2, 1, 1, (17, 13, 9)),
    # 3 taps per stride phase, dilated: the depthwise loops' polyphase canvas in 1-d too
    "depthwise_phases": (6, 2, 3, (4, 2), 3, 1, 1, (19, 17, 17)),
    "large_stride_overlap_add": (
        (20, 10, 9),
        (8, 9, 8),
        1,
        ((3, 2), (0, 1), (1, 0)),
        1,
        2,
        3,
        (45, 40, 30),
    ),
    "long_rows": (3, 1, 1, (1, 1), 1, 2, 2, (3, 3, 40)),
    "stride1_groups_asymmetric": (3, 1, 1, (2, 0), 2, 3, 2, (10, 9, 7)),
    "dilated_after_first": (3, 1, (1, 2, 3), ((1, 0), (2, 2), (0, 3)), 2, 2, 3, (8, 9, 10)),
    "strided_long_rows": (3, 2, 1, (1, 1), 2, 2, 3, (3, 3, 40)),
}


def per_dim(value, n):
    """Per-dim tuples are written for 3 dims: keep the first n; an int repeats."""
    return tuple(value[:n]) if isinstance(value, tuple) else (value,) * n


def geometry_of(name, n):
    kernel, stride, dilation, pads, groups, b, m, big = CASES[name]
    kernel, stride, dilation, big = (per_dim(v, n) for v in (kernel, stride, dilation, big))
    pads = tuple(pads[:n]) if isinstance(pads[0], tuple) else (pads,) * n
    small = tuple(
        (s + lo + hi - d * (k - 1) - 1) // st + 1
        for s, k, st, d, (lo, hi) in zip(big, kernel, stride, dilation, pads, strict=True)
    )
    return (
        Geometry(kernel, stride, dilation, tuple(lo for lo, _ in pads), big, small, groups),
        pads,
        b,
        m,
    )


def assert_close(actual, expected):
    assert actual.shape == expected.shape
    scale = max(1.0, float(np.abs(expected).max()))
    assert float(np.abs(actual - expected).max()) <= 1e-10 * scale


expected = R.contraction


def run(algorithm, op, g, pads, b, m, rng, dtype=np.float64, n=2):
    def make(shape):
        a = rng.standard_normal(shape)
        return (a + 1j * rng.standard_normal(shape) if np.dtype(dtype).kind == "c" else a).astype(
            dtype
        )

    x = make((n, g.groups * b) + g.big)
    w = make((g.groups * m, b) + g.kernel)
    y = make((n, g.groups * m) + g.small)
    args = {"conv": (x, w), "conv_transpose": (y, w), "conv_weight": (x, y)}[op]
    out = getattr(algorithm, op)(*args, g)
    assert out.dtype == np.dtype(dtype)
    assert_close(out, expected(op, g, pads, x, w, y))


OPS = ["conv", "conv_transpose", "conv_weight"]


def heuristic(op, g, b, m, n, dtype="float64"):
    """The heuristic planner's algorithm for one contraction."""
    return planner.heuristic(planner.Problem(op, g, b, m, n, dtype, 2))[0]


def supported(cases, ns, ops=OPS, keep=lambda name, case, n: True, dtype="float64"):
    """(name, case, n, op) cells for the algorithms that support each problem, so that no
    cell exists only to be skipped."""
    cells = []
    for name in sorted(compute.ALGORITHMS):
        for case in cases:
            for n in ns:
                g, _, b, m = geometry_of(case, n)
                for op in ops:
                    if keep(name, case, n) and planner.supports(
                        name, planner.Problem(op, g, b, m, 2, dtype, 2)
                    ):
                        cells.append(pytest.param(name, case, n, op, id=f"{name}-{case}-{n}d-{op}"))
    return cells


SLOW = ("large_stride_overlap_add", "long_rows", "strided_long_rows")


@pytest.mark.parametrize(
    "name, case, n, op",
    supported(
        CASES, [1, 2, 3], keep=lambda name, case, n: n < 3 or case not in SLOW or name == "gemm"
    ),
)
def test_algorithm_against_loops(name, n, case, op, rng):
    """Every algorithm on every case it supports; the reference loops are slow on the 3-d
    forms of the largest cases, so gemm alone covers those."""
    g, pads, b, m = geometry_of(case, n)
    run(compute.ALGORITHMS[name], op, g, pads, b, m, rng)


@pytest.mark.parametrize(
    "kernel, stride, pads, big",
    [
        ((7,), (3,), ((2, 1),), (30,)),  # a block of 3 taps and one tap alone
        ((8,), (4,), ((3, 2),), (41,)),  # two blocks of 4
        ((6,), (2,), ((0, 3),), (23,)),  # three blocks of 2
        ((3, 8), (2, 4), ((1, 1), (5, 0)), (5, 37)),  # blocks in the last dim only
    ],
)
def test_col2im_tap_blocks_against_loops(kernel, stride, pads, big, rng, monkeypatch):
    """The overlap-add's blocks of `stride` taps, with their edges tap by tap, on rows long
    enough for the tap-major path (kernel no longer than the rows); blocks forced on."""
    from npconv.compute import col2im

    monkeypatch.setattr(col2im, "BLOCK_ROWS", 1)
    small = tuple(
        (s + lo + hi - (k - 1) - 1) // st + 1
        for s, k, st, (lo, hi) in zip(big, kernel, stride, pads, strict=True)
    )
    assert kernel[-1] <= small[-1]
    g = Geometry(kernel, stride, (1,) * len(kernel), tuple(lo for lo, _ in pads), big, small, 1)
    run(col2im, "conv_transpose", g, pads, 3, 2, rng)


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("work_bytes", [None, 1, 5000])
@pytest.mark.parametrize(
    "kernel, stride, pads, big",
    [
        ((16,), (8,), ((4, 4),), (160,)),  # hifigan's: a large stride, rows longer than k
        ((12,), (8,), ((3, 0),), (99,)),  # windows that leave gaps between blocks
        ((3, 9), (2, 8), ((1, 0), (2, 5)), (6, 95)),
    ],
)
def test_col2im_patches_for_large_strides(
    kernel, stride, pads, big, work_bytes, threads, rng, monkeypatch
):
    """Large last-dim strides take the patch-major overlap-add even where rows are longer
    than the kernel; in channel tiles of every size, each thread taking whole tiles
    where there is one per thread, else each step split across the threads."""
    import npconv
    from npconv.compute import col2im

    if work_bytes is not None:
        monkeypatch.setattr(geometry_module, "WORK_BYTES", work_bytes)
    small = tuple(
        (s + lo + hi - (k - 1) - 1) // st + 1
        for s, k, st, (lo, hi) in zip(big, kernel, stride, pads, strict=True)
    )
    assert kernel[-1] <= small[-1]
    g = Geometry(kernel, stride, (1,) * len(kernel), tuple(lo for lo, _ in pads), big, small, 2)
    calls = []
    monkeypatch.setattr(col2im, "_taps", lambda *a: calls.append(a))
    previous = npconv.get_num_threads()
    npconv.set_num_threads(threads)
    try:
        run(col2im, "conv_transpose", g, pads, 5, 3, rng)
    finally:
        npconv.set_num_threads(previous)
    assert not calls


@pytest.mark.parametrize("work_bytes", [None, 3000])
@pytest.mark.parametrize(
    "case",
    [
        "plain",
        "strided_overlap",
        "kernel_lt_stride",
        "mixed_dims",
        "strided_long_rows",
        "long_rows",
        "dilated_groups",
    ],
)
@pytest.mark.parametrize("n", [1, 2, 3])
def test_gemm_conv_both_against_loops(n, case, work_bytes, rng, monkeypatch):
    """One gather feeding a conv and a weight gradient, in every column layout."""
    from npconv.compute import gemm

    if work_bytes is not None:
        monkeypatch.setattr(geometry_module, "WORK_BYTES", work_bytes)
    g, pads, b, m = geometry_of(case, n)
    x = rng.standard_normal((2, g.groups * b) + g.big)
    w = rng.standard_normal((g.groups * m, b) + g.kernel)
    dy = rng.standard_normal((2, g.groups * m) + g.small)
    y, grad = gemm.conv_both(x, w, dy, g)
    assert_close(y, expected("conv", g, pads, x, w, dy))
    assert_close(grad, expected("conv_weight", g, pads, x, w, dy))


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("case", ["plain", "strided_long_rows"])
def test_gemm_one_tile_on_every_thread(case, threads, rng):
    """A call of one tile (one sample within the work budget) splits its products across
    the threads: conv, weight gradient and both at once, in both column layouts."""
    import npconv
    from npconv import _threads
    from npconv.compute import gemm

    kernel, stride, pads = (3, 3), {"plain": (1, 1), "strided_long_rows": (2, 2)}[case], (1, 1)
    big = {"plain": (24, 40), "strided_long_rows": (48, 60)}[case]
    small = tuple(
        (s + 2 * p - k) // st + 1 for s, k, st, p in zip(big, kernel, stride, pads, strict=True)
    )
    g = Geometry(kernel, stride, (1, 1), pads, big, small, 1)
    b, m = 40, 48
    x = rng.standard_normal((1, b) + big)
    w = rng.standard_normal((m, b) + kernel)
    dy = rng.standard_normal((1, m) + small)
    assert m * b * 9 * math.prod(small) >= _threads.SMALL
    row_bytes = gemm._row_bytes(g, 9 * b + m, x.itemsize)  # the conv's own tiles
    assert len(list(geometry_module.bands(1, small[0], row_bytes, parts=threads))) == 1
    before = npconv.get_num_threads()
    npconv.set_num_threads(threads)
    try:
        both = gemm.conv_both(x, w, dy, g)
        for y, grad in ((gemm.conv(x, w, g), gemm.conv_weight(x, dy, g)), both):
            assert_close(y, expected("conv", g, tuple(zip(pads, pads, strict=True)), x, w, dy))
            assert_close(
                grad, expected("conv_weight", g, tuple(zip(pads, pads, strict=True)), x, w, dy)
            )
    finally:
        npconv.set_num_threads(before)


@pytest.mark.parametrize("case", ["plain", "strided_overlap", "mixed_dims", "dilated_groups"])
@pytest.mark.parametrize("n", [1, 2, 3])
def test_gemm_weight_larger_than_columns(n, case, rng, monkeypatch):
    """Short rows whose call has fewer positions than the weight has rows gather positions
    last: in the weight's own order, or offsets outer for a strided view of a weight;
    conv, weight gradient and both at once."""
    from npconv.compute import gemm

    monkeypatch.setattr(gemm, "SHORT", 64)  # every row here is short
    g, pads, b, _ = geometry_of(case, n)
    m = 2 * math.prod(g.small) + 1  # more rows than two samples' positions
    x = rng.standard_normal((2, g.groups * b) + g.big)
    dy = rng.standard_normal((2, g.groups * m) + g.small)
    w = rng.standard_normal((g.groups * m, b) + g.kernel)
    view = np.flip(rng.standard_normal((g.groups * m, b) + g.kernel), axis=1)
    assert gemm._layout(g, 2, 1, w) == gemm.LAST
    assert gemm._layout(g, 2, m) == gemm.OWN
    for weight, layout in ((w, gemm.OWN), (view, gemm.TAPS)):
        assert gemm._layout(g, 2, m, weight) == layout
        both = gemm.conv_both(x, weight, dy, g)
        for y, grad in ((gemm.conv(x, weight, g), gemm.conv_weight(x, dy, g)), both):
            assert_close(y, expected("conv", g, pads, x, weight, dy))
            assert_close(grad, expected("conv_weight", g, pads, x, weight, dy))


@pytest.mark.parametrize(
    "name, case, n, op",
    [
        cell
        for cell in supported(
            ["dilated_groups", "stride_dilation_shared", "pointwise"], [2], dtype="complex128"
        )
        if cell.values[1]
        == {"phase": "stride_dilation_shared", "pointwise": "pointwise"}.get(
            cell.values[0], "dilated_groups"
        )
    ],
)
def test_algorithm_complex(name, case, n, op, rng):
    g, pads, b, m = geometry_of(case, n)
    run(compute.ALGORITHMS[name], op, g, pads, b, m, rng, dtype=np.complex128)


@pytest.mark.parametrize("work_bytes", [1, 3000])
@pytest.mark.parametrize(
    "name, case, n, op",
    supported(
        [
            "plain",
            "strided_overlap",
            "large_stride_overlap_add",
            "kernel_eq_stride",
            "kernel_lt_stride",
            "pointwise",
        ],
        [2],
    ),
)
def test_algorithm_in_tiles(name, case, n, op, work_bytes, rng, monkeypatch):
    """A tiny work budget cuts every call into bands of rows or groups of samples."""
    monkeypatch.setattr(geometry_module, "WORK_BYTES", work_bytes)
    g, pads, b, m = geometry_of(case, 2 if case != "large_stride_overlap_add" else 1)
    run(compute.ALGORITHMS[name], op, g, pads, b, m, rng, n=3)


@pytest.mark.parametrize("work_bytes", [1, 3000, None])
@pytest.mark.parametrize("op", ["conv", "conv_weight"])
@pytest.mark.parametrize(
    "case", ["plain", "crop", "stride1_groups_asymmetric", "long_rows", "dilated_after_first"]
)
@pytest.mark.parametrize("n", [2, 3])
def test_shifted_by_planes(n, case, op, work_bytes, rng, monkeypatch):
    """shifted's plane path (columns per plane of the first dim, shared by the output
    planes that read them), forced on small shapes, in bands of every size."""
    monkeypatch.setattr(compute.shifted, "PLANE", 1)
    if work_bytes is not None:
        monkeypatch.setattr(geometry_module, "WORK_BYTES", work_bytes)
    g, pads, b, m = geometry_of(case, n)
    assert compute.shifted._by_planes(g)
    run(compute.shifted, op, g, pads, b, m, rng, n=2)


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_winograd_transforms_match_their_matrices(dims, rng):
    """The compiled transforms (written out by hand) against the published matrices
    B^T, A^T and A = (A^T)^T applied along every dim of a tile, with NumPy."""
    from npconv.compute import _winograd_loops

    bt, _, at = (np.asarray(a, dtype=np.float64) for a in compute.winograd.MATRICES)
    alpha, channels_ = compute.winograd.ALPHA, 5
    for kind, matrix in (
        (_winograd_loops.INPUT, bt),
        (_winograd_loops.OUTPUT, at),
        (_winograd_loops.GRADIENT, at.T),
    ):
        size_in, size_out = matrix.shape[1], matrix.shape[0]
        tile = rng.standard_normal((size_in,) * dims + (channels_,))
        expected = tile
        for axis in range(dims):
            expected = np.moveaxis(np.tensordot(matrix, expected, axes=([1], [axis])), 0, axis)
        # source and target laid out as (alpha,)*dims grids of channel rows
        src = np.zeros((alpha,) * dims + (channels_,))
        src[(slice(0, size_in),) * dims] = tile
        dst = np.zeros_like(src)
        steps = np.array([alpha ** (dims - 1 - i) for i in range(dims)], dtype=np.int64)
        origin = np.zeros(1, dtype=np.int64)
        _winograd_loops.transform(
            src.reshape(-1, channels_),
            origin,
            steps,
            dst.reshape(-1, channels_),
            origin,
            steps,
            kind,
        )
        assert np.allclose(dst[(slice(0, size_out),) * dims], expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("case", ["plain", "crop", "stride1_groups_asymmetric"])
def test_winograd_chunks_and_threads(case, threads, rng, monkeypatch):
    """A one-byte chunk budget gives one band of tile rows per chunk, spread over threads
    (conv and the weight gradient, whose per-thread sums are then added); float32
    stays within a few float32 roundings of the loops."""
    import npconv

    assert compute.winograd.supports(geometry_of(case, 2)[0])
    monkeypatch.setattr(compute.winograd, "CHUNK_BYTES", 1)
    monkeypatch.setattr(compute.winograd, "BAND_BYTES", 1)  # bands of one output plane
    before = npconv.get_num_threads()
    npconv.set_num_threads(threads)
    try:
        for n in (1, 2, 3):
            g, pads, b, m = geometry_of(case, n)
            run(compute.winograd, "conv", g, pads, b, m, rng, n=3)
            x = rng.standard_normal((3, g.groups * b) + g.big).astype(np.float32)
            w = rng.standard_normal((g.groups * m, b) + g.kernel).astype(np.float32)
            out = compute.winograd.conv(x, w, g)
            exact = R.conv(
                x.astype(np.float64),
                w.astype(np.float64),
                None,
                g.stride,
                pads,
                g.dilation,
                g.groups,
            )
            assert out.dtype == np.float32
            assert np.abs(out - exact).max() <= 1e-5 * np.abs(exact).max()
            run(compute.winograd, "conv_weight", g, pads, b, m, rng, n=3)
            y = rng.standard_normal((3, g.groups * m) + g.small).astype(np.float32)
            grad = compute.winograd.conv_weight(x, y, g)
            exact = R.conv_weight(
                x.astype(np.float64),
                y.astype(np.float64),
                g.kernel,
                g.stride,
                pads,
                g.dilation,
                g.groups,
            )
            assert grad.dtype == np.float32
            assert np.abs(grad - exact).max() <= 1e-5 * np.abs(exact).max()
    finally:
        npconv.set_num_threads(before)


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("n", [1, 3, 5])
@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("case", ["plain", "crop", "stride1_groups_asymmetric"])
def test_winograd_several_samples_per_chunk(case, dims, n, threads, rng, monkeypatch):
    """Small samples share a chunk, their tiles one GEMM per point; runs of samples of
    every length, over 1-3 threads (each thread's weight-gradient sums then added)."""
    import npconv

    g, pads, b, m = geometry_of(case, dims)
    sample = compute.winograd._Chunks(g, n, g.groups * b, g.groups * m, 8).sample_bytes
    monkeypatch.setattr(compute.winograd, "CHUNK_BYTES", 2 * sample)  # two samples a chunk
    monkeypatch.setattr(compute.winograd, "BAND_BYTES", 2 * sample)  # (with lead dims)
    plan = compute.winograd._Chunks(g, n, g.groups * b, g.groups * m, 8)
    if n > 1:
        assert max(c[0].stop - c[0].start for c in plan.chunks) > 1
    before = npconv.get_num_threads()
    npconv.set_num_threads(threads)
    try:
        for op in OPS:
            run(compute.winograd, op, g, pads, b, m, rng, n=n)
    finally:
        npconv.set_num_threads(before)


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize(
    "kernel, pads, big",
    [
        ((5, 3, 3), ((2, 1), (1, 1), (0, 2)), (9, 7, 10)),
        ((2, 3, 3, 3), ((1, 0), (0, 1), (1, 1), (2, 0)), (4, 5, 6, 7)),
    ],
)
def test_winograd_lead_dims(kernel, pads, big, groups, op, rng, monkeypatch):
    """Dims before the last two keep their taps (any size), summed inside the GEMMs:
    one run of consecutive planes per outer tap with one group, a run per tap with
    several; in bands of one plane, of several and of the whole sample."""
    n = len(kernel)
    small = tuple(s + lo + hi - k + 1 for s, k, (lo, hi) in zip(big, kernel, pads, strict=True))
    g = Geometry(kernel, (1,) * n, (1,) * n, tuple(lo for lo, _ in pads), big, small, groups)
    sample = compute.winograd._Chunks(g, 1, groups * 2, groups * 3, 8).sample_bytes
    for limit, widths in ((1, {1}), (3 * sample // 4, range(2, small[0])), (2 * sample, None)):
        monkeypatch.setattr(compute.winograd, "BAND_BYTES", limit)
        plan = compute.winograd._Chunks(g, 1, groups * 2, groups * 3, 8)
        assert widths is None or max(last - first for _, first, last in plan.chunks) in widths
        run(compute.winograd, op, g, pads, 2, 3, rng)


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize(
    "kernel, pads, big, groups, b, m, n",
    [
        ((3,), ((1, 1),), (300,), 1, 64, 64, 4),
        ((3, 3), ((1, 1), (1, 1)), (24, 22), 1, 64, 48, 2),
        ((3, 3), ((0, 2), (2, 0)), (21, 19), 2, 32, 32, 2),
        ((3, 3, 3), ((1, 1), (1, 1), (1, 1)), (6, 12, 10), 1, 32, 32, 1),
    ],
)
def test_winograd_float32_error_near_direct(kernel, pads, big, groups, b, m, n, op, rng):
    """Winograd's float32 error (max abs error over max abs value against the float64
    loops) stays within 3x of the float32 gemm path's on the same operands: its transform
    interpolates at 0, +-1 and infinity, whose products cancel little (issue 20)."""
    small = tuple(s + lo + hi - k + 1 for s, k, (lo, hi) in zip(big, kernel, pads, strict=True))
    nd = len(kernel)
    g = Geometry(kernel, (1,) * nd, (1,) * nd, tuple(lo for lo, _ in pads), big, small, groups)
    assert compute.winograd.supports(g)
    x = rng.standard_normal((n, groups * b) + big).astype(np.float32)
    w = (rng.standard_normal((groups * m, b) + kernel) / math.sqrt(b * 3**nd)).astype(np.float32)
    y = rng.standard_normal((n, groups * m) + small).astype(np.float32)
    args = {"conv": (x, w), "conv_transpose": (y, w), "conv_weight": (x, y)}[op]
    wide = tuple(a.astype(np.float64) for a in (x, w, y))
    exact = expected(op, g, pads, *wide)

    def error(algorithm):
        out = getattr(algorithm, op)(*args, g)
        assert out.dtype == np.float32
        return float(np.abs(out - exact).max() / np.abs(exact).max())

    assert error(compute.winograd) <= 3 * error(compute.gemm)


@pytest.mark.parametrize("op", OPS)
def test_float32_stays_float32(op, rng):
    g, pads, b, m = geometry_of("strided_overlap", 2)
    for algorithm in compute.ALGORITHMS.values():
        if algorithm.supports(g):
            run(algorithm, op, g, pads, b, m, rng, dtype=np.float64)  # exact path above
            x = rng.standard_normal((2, g.groups * b) + g.big).astype(np.float32)
            w = rng.standard_normal((g.groups * m, b) + g.kernel).astype(np.float32)
            y = rng.standard_normal((2, g.groups * m) + g.small).astype(np.float32)
            args = {"conv": (x, w), "conv_transpose": (y, w), "conv_weight": (x, y)}[op]
            assert getattr(algorithm, op)(*args, g).dtype == np.float32


@pytest.mark.parametrize("name", sorted(compute.ALGORITHMS))
def test_algorithm_on_random_geometries(name, monkeypatch):
    """Each algorithm module called directly on geometries drawn within what it supports
    (strategies.problems), in tiles of every size and on 1-3 threads."""
    import npconv

    @settings(
        max_examples=50,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(
        strategies.problems(name),
        st.sampled_from([None, 1, 3000]),
        st.integers(1, 3),
        st.integers(0, 2**32 - 1),
    )
    def check(problem, work_bytes, threads, seed):
        op, g, pads, b, m, n = problem
        assert planner.supports(name, planner.Problem(op, g, b, m, n, "float64", threads))
        previous = npconv.get_num_threads()
        with monkeypatch.context() as patch:
            if work_bytes is not None:
                patch.setattr(geometry_module, "WORK_BYTES", work_bytes)
            npconv.set_num_threads(threads)
            try:
                run(compute.ALGORITHMS[name], op, g, pads, b, m, np.random.default_rng(seed), n=n)
            finally:
                npconv.set_num_threads(previous)

    check()


# --- the planner ------------------------------------------------------------------


def suite_geometry(kernel, stride, lo, big, small, groups=1):
    n = len(big)
    return Geometry((kernel,) * n, (stride,) * n, (1,) * n, (lo,) * n, big, small, groups)


@pytest.mark.parametrize(
    "op, g, b, m, n, chosen",
    [
        # dcgan_g2: rows of 4 -> gemm's channels-last columns and canvas, col2im's compiled add
        ("conv_transpose", suite_geometry(4, 2, 1, (8, 8), (4, 4)), 256, 512, 64, "col2im"),
        # vae_dec, fcn32s, unet_up1: one tall GEMM and the compiled overlap-add
        ("conv_transpose", suite_geometry(3, 2, 1, (64, 64), (32, 32)), 64, 128, 16, "col2im"),
        ("conv_transpose", suite_geometry(64, 32, 0, (544, 544), (16, 16)), 21, 21, 1, "col2im"),
        ("conv_transpose", suite_geometry(2, 2, 0, (64, 64), (32, 32)), 512, 1024, 1, "col2im"),
        # mobilenet_dw: depthwise
        ("conv", suite_geometry(3, 1, 1, (28, 28), (28, 28), groups=256), 1, 1, 8, "depthwise"),
        # resnet_3x3 and its weight gradient: Winograd
        ("conv", suite_geometry(3, 1, 1, (56, 56), (56, 56)), 64, 64, 8, "winograd"),
        ("conv_weight", suite_geometry(3, 1, 1, (56, 56), (56, 56)), 64, 64, 8, "winograd"),
        # its input gradient: the mirrored conv (which is Winograd's again)
        ("conv_transpose", suite_geometry(3, 1, 1, (56, 56), (56, 56)), 64, 64, 8, "mirror"),
        # conv3d_3x3: Winograd over the last two dims, the depth taps summed in the GEMMs
        ("conv", suite_geometry(3, 1, 1, (32, 32, 32), (32, 32, 32)), 32, 32, 1, "winograd"),
        ("conv_weight", suite_geometry(3, 1, 1, (32, 32, 32), (32, 32, 32)), 32, 32, 1, "winograd"),
        # ResNet's 3x3 layers on 14x14 and 7x7 (392 and 128 2x2 tiles): 392 tiles of 256
        # channels repay Winograd's transforms, 128 of 512 do not; the 7x7 margins are too
        # wide for shifted
        ("conv", suite_geometry(3, 1, 1, (14, 14), (14, 14)), 256, 256, 8, "winograd"),
        ("conv_weight", suite_geometry(3, 1, 1, (7, 7), (7, 7)), 512, 512, 8, "gemm"),
        # ... and at batch 1 (r18_b1_256) gemm's columns by the cached gather, one product
        ("conv", suite_geometry(3, 1, 1, (14, 14), (14, 14)), 256, 256, 1, "indirect"),
        # ... but a single window is x itself to gemm: its columns cost no gather
        ("conv", suite_geometry(4, 1, 0, (4, 4), (1, 1)), 512, 100, 1, "gemm"),
        ("conv", suite_geometry(3, 1, 1, (28, 28), (28, 28)), 128, 128, 8, "winograd"),
        # wave_conv1d: 7 taps, shifted slices
        ("conv", suite_geometry(7, 1, 3, (16384,), (16384,)), 64, 64, 4, "shifted"),
        # dcgan_g2's backward: its weight gradient by phases, its input gradient by im2col
        ("conv_weight", suite_geometry(4, 2, 1, (8, 8), (4, 4)), 256, 512, 64, "phase"),
        ("conv", suite_geometry(4, 2, 1, (8, 8), (4, 4)), 256, 512, 64, "gemm"),
        # vae_dec's weight gradient: windows that barely overlap, as the conv's -> indirect
        ("conv_weight", suite_geometry(3, 2, 1, (64, 64), (32, 32)), 64, 128, 16, "indirect"),
        # ... but not with few big channels: gemm
        ("conv_weight", suite_geometry(3, 2, 1, (64, 64), (32, 32)), 4, 128, 16, "gemm"),
        # resnet_down: a 3x3 stride-2 conv, windows that barely overlap -> indirect
        ("conv", suite_geometry(3, 2, 1, (28, 28), (14, 14)), 128, 256, 8, "indirect"),
        # 4x4 stride 2 overlaps more: im2col
        ("conv", suite_geometry(4, 2, 1, (28, 28), (14, 14)), 128, 256, 8, "gemm"),
        # a depthwise transposed conv of stride 1: the direct loops' conv of the small side
        ("conv_transpose", suite_geometry(3, 1, 1, (56, 56), (56, 56), 144), 1, 1, 8, "mirror"),
        ("conv_transpose", suite_geometry(3, 2, 1, (56, 56), (28, 28), 144), 1, 1, 8, "depthwise"),
        # few big channels under many small ones: col2im's columns are the smaller ones
        ("conv_transpose", suite_geometry(2, 1, 1, (32, 32), (32, 32)), 3, 64, 1, "col2im"),
    ],
)
def test_planner_rules(op, g, b, m, n, chosen, monkeypatch):
    # the structural rules alone, at the thresholds the cases were written for
    for name, value in (("INDIRECT_COLUMNS", 0), ("DIRECT_PAIRS", 4), ("MAX_PHASES", 16)):
        monkeypatch.setattr(planner.tuning, name, value)
    assert heuristic(op, g, b, m, n) == chosen


@pytest.mark.parametrize(
    "g, b, m, both",
    [
        # dcgan_g2's backward (fewer channels): phase would take its weight gradient alone;
        # beside gemm's conv the two share one gather
        (suite_geometry(4, 2, 1, (8, 8), (4, 4)), 8, 16, True),
        # vae_dec's backward (smaller): gemm for both anyway
        (suite_geometry(3, 2, 1, (16, 16), (8, 8)), 4, 8, True),
        # resnet_3x3-like, stride 1, 512 tiles: Winograd for both, one call each
        (suite_geometry(3, 1, 1, (64, 64), (64, 64)), 16, 16, False),
    ],
)
def test_planner_conv_both(g, b, m, both, rng, monkeypatch):
    """conv_both gathers once (gemm.conv_both) where gemm takes the conv; the results are
    the loop reference's either way."""
    # the structural rules alone, at the thresholds the cases were written for (no
    # indirect for barely overlapping strided windows: the cases are gemm's)
    for name, value in (
        ("INDIRECT_COLUMNS", 0),
        ("INDIRECT_OVERLAP", 0),
        ("DIRECT_PAIRS", 4),
        ("MAX_PHASES", 16),
    ):
        monkeypatch.setattr(planner.tuning, name, value)
    assert conv_both_gathers_once(g, b, m, rng, monkeypatch) == both


def conv_both_gathers_once(g, b, m, rng, monkeypatch):
    """Whether compute.conv_both ran gemm's shared gather (gemm.conv_both) on random
    operands of g, after checking both its results against the loop reference."""
    from npconv.compute import gemm

    calls = []
    shared = gemm.conv_both
    monkeypatch.setattr(gemm, "conv_both", lambda *a: calls.append(1) or shared(*a))
    x = rng.standard_normal((2, b) + g.big)
    w = rng.standard_normal((m, b) + g.kernel)
    dy = rng.standard_normal((2, m) + g.small)
    y, grad = compute.conv_both(x, w, dy, g)
    pads = tuple((lo, lo) for lo in g.lo)
    assert_close(y, expected("conv", g, pads, x, w, dy))
    assert_close(grad, expected("conv_weight", g, pads, x, w, dy))
    return bool(calls)


@pytest.mark.parametrize(
    "g, b, m",
    [
        # vae_dec's backward, smaller: a 3x3 stride-2 conv whose windows barely overlap
        (suite_geometry(3, 2, 1, (32, 32), (16, 16)), 8, 16),
        # unet3d_up's backward, in 2-d: 2x2 stride 2, windows side by side
        (suite_geometry(2, 2, 0, (32, 32), (16, 16)), 8, 16),
    ],
)
def test_planner_barely_overlapping_backward_runs_indirect(g, b, m, rng, monkeypatch):
    """A transposed conv's backward whose windows barely overlap gives both gradients to
    indirect (the conv and the weight gradient by the same rule), each alone: no shared
    gemm gather; the results are the loop reference's. With gemm forced the two share
    gemm's one gather."""
    for name, value in (("INDIRECT_COLUMNS", 0), ("DIRECT_PAIRS", 4)):
        monkeypatch.setattr(planner.tuning, name, value)
    assert heuristic("conv", g, b, m, 2) == "indirect"
    assert heuristic("conv_weight", g, b, m, 2) == "indirect"
    assert not conv_both_gathers_once(g, b, m, rng, monkeypatch)
    with npconv.use_algorithm("gemm"):
        assert conv_both_gathers_once(g, b, m, rng, monkeypatch)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex128])
@pytest.mark.parametrize("shape", [(2, 3, 5), (3, 4, 70, 90), (2, 5, 6, 30, 40), (1, 2, 1)])
def test_add_bias_matches_broadcast(shape, dtype, rng):
    """Large real outputs take the compiled per-plane loop, the rest NumPy's add."""
    y = rng.standard_normal(shape).astype(dtype)
    b = rng.standard_normal(shape[1]).astype(dtype)
    expected = y + b.reshape((1, -1) + (1,) * (len(shape) - 2))
    compute.add_bias(y, b)
    np.testing.assert_array_equal(y, expected)


def test_add_bias_on_a_strided_output(rng):
    y = rng.standard_normal((3, 4, 200, 200))[:, :, ::2]
    b = rng.standard_normal(4)
    expected = y + b[:, None, None]
    compute.add_bias(y, b)
    np.testing.assert_array_equal(y, expected)


@pytest.mark.parametrize(
    "n, rows, row_bytes, halo",
    [
        (1, 1024, 12288, 0),  # one sample in bands: 683 + 341 rows before bands were equal
        (3, 100, 7, 2),
        (1, 65536, 1536, 0),
        (5, 9, 3000, 1),
        (64, 16, 40000, 0),
        (2, 7, 10**8, 0),
    ],
)
@pytest.mark.parametrize("parts", [1, 2, 3])
def test_bands_cover_within_budget_equally(n, rows, row_bytes, halo, parts, monkeypatch):
    """Every (sample, row) in exactly one tile; each tile within WORK_BYTES unless a
    single row is over it; bands of one sample differ by at most one row, and with
    parts > 1 their count is a multiple of parts, as is that of whole-sample tiles
    where there are at least `parts` samples."""
    budget = 8 * 2**20
    monkeypatch.setattr(geometry_module, "WORK_BYTES", budget)
    tiles = list(geometry_module.bands(n, rows, row_bytes, halo, parts=parts))
    seen = np.zeros((n, rows), dtype=int)
    for samples, span in tiles:
        seen[samples, span] += 1
        cost = (samples.stop - samples.start) * (span.stop - span.start + halo) * row_bytes
        assert cost <= budget or (samples.stop - samples.start, span.stop - span.start) == (1, 1)
    assert (seen == 1).all()
    if tiles[0][1] != slice(0, rows):  # bands of one sample
        per_sample = [span.stop - span.start for samples, span in tiles if samples.start == 0]
        assert max(per_sample) - min(per_sample) <= 1
        assert len(per_sample) % parts == 0 or len(per_sample) == rows
    elif n >= parts:
        assert len(tiles) % parts == 0


@pytest.mark.parametrize(
    "shape, axes",
    [
        ((3, 130, 7), (0, 2, 1)),
        ((5, 4, 64, 3), (2, 0, 3, 1)),
        ((1, 1), (1, 0)),
        ((600, 700), (1, 0)),
    ],
)
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_transposed_copies_in_bands_on_threads(shape, axes, threads, rng, monkeypatch):
    """geometry.transposed equals NumPy's contiguous copy, its bands split over any
    number of threads (SPLIT_BYTES forced to 0) or copied on the caller."""
    import npconv

    monkeypatch.setattr(geometry_module, "SPLIT_BYTES", 0)
    a = rng.standard_normal(shape).transpose(axes)
    previous = npconv.get_num_threads()
    npconv.set_num_threads(threads)
    try:
        out = geometry_module.transposed(a, block=16)
    finally:
        npconv.set_num_threads(previous)
    assert out.flags.c_contiguous
    np.testing.assert_array_equal(out, np.ascontiguousarray(a))


@pytest.mark.parametrize(
    "shape, axes",
    [
        ((130,), (0,)),
        ((7, 130), (1, 0)),
        ((3, 9, 70), (0, 2, 1)),
        ((2, 5, 4, 66), (0, 2, 3, 1)),
        ((2, 3, 4, 5, 67), (0, 2, 3, 4, 1)),
        ((2, 2, 3, 4, 5, 65), (5, 0, 2, 1, 3, 4)),
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_copy_of_transposed_views(shape, axes, dtype, rng):
    """windows.copy writes a strided (transposed, sliced) view into a strided target,
    in bands, exactly as NumPy's copyto."""
    a = (rng.standard_normal(shape) * 100).astype(dtype).transpose(axes)[..., 1:]
    canvas = np.zeros(tuple(s + 2 for s in a.shape), dtype=dtype)
    inside = tuple(slice(1, 1 + s) for s in a.shape[:-1]) + (slice(2, 2 + a.shape[-1]),)
    windows.copy(canvas[inside], a, block=16)
    expected = np.zeros_like(canvas)
    expected[inside] = a
    np.testing.assert_array_equal(canvas, expected)


def test_zero_outside_keeps_whole_axes():
    """zero_outside zeroes the margins only: slice(None) marks an axis with no margin."""
    a = np.ones((3, 5, 6))
    windows.zero_outside(a, (slice(None), slice(1, 4), slice(2, None)))
    expected = np.zeros((3, 5, 6))
    expected[:, 1:4, 2:] = 1
    np.testing.assert_array_equal(a, expected)


@pytest.mark.parametrize("work_bytes", [1, 3000, None])
@pytest.mark.parametrize("op", ["conv", "conv_weight"])
@pytest.mark.parametrize("case", ["plain", "crop", "dilated_groups", "stride1_groups_asymmetric"])
@pytest.mark.parametrize("samples", [1, 3])
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_shifted_bands_of_a_signal(samples, threads, case, op, work_bytes, rng, monkeypatch):
    """A 1-d conv in bands of one signal (inside it and at its padded edges) or of several
    samples, on any number of threads."""
    import npconv

    if work_bytes is not None:
        monkeypatch.setattr(geometry_module, "WORK_BYTES", work_bytes)
    g, pads, b, m = geometry_of(case, 1)
    previous = npconv.get_num_threads()
    npconv.set_num_threads(threads)
    try:
        run(compute.shifted, op, g, pads, b, m, rng, n=samples)
    finally:
        npconv.set_num_threads(previous)


@pytest.mark.parametrize(
    "kernel, dilation, groups, b, m",
    [
        ((4, 4), (1, 1), 1, 6, 5),  # a DCGAN-style first layer: 1x1 -> 4x4
        ((3, 2), (1, 1), 2, 3, 4),  # groups
        ((2, 1, 3), (1, 3, 1), 1, 2, 3),  # 3-d; a dilated dim of one tap
        ((1,), (1,), 1, 4, 4),  # 1x1 to 1x1: a pointwise product
    ],
)
def test_col2im_one_window(kernel, dilation, groups, b, m, rng):
    """A 1x1 input whose window is the whole output: col2im multiplies it straight into the
    output (no overlap-add); the result is the loop reference's."""
    from npconv.compute import col2im

    nd = len(kernel)
    g = Geometry(kernel, (2,) * nd, dilation, (0,) * nd, kernel, (1,) * nd, groups)
    assert col2im._one_window(g)
    y = rng.standard_normal((3, groups * m) + (1,) * nd)
    w = rng.standard_normal((groups * m, b) + kernel)
    x = rng.standard_normal((3, groups * b) + kernel)
    pads = ((0, 0),) * nd
    assert_close(col2im.conv_transpose(y, w, g), expected("conv_transpose", g, pads, x, w, y))


def test_col2im_one_window_only_where_exact():
    """Padding that crops the window, a dilated window with holes, or a larger output keep
    the overlap-add."""
    from npconv.compute import col2im

    for kernel, dilation, lo, big in (
        ((4, 4), (1, 1), (1, 1), (2, 2)),
        ((3, 3), (2, 2), (0, 0), (5, 5)),
        ((3, 3), (1, 1), (0, 0), (4, 4)),
    ):
        assert not col2im._one_window(Geometry(kernel, (1, 1), dilation, lo, big, (1, 1), 1))
