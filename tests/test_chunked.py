"""npconv on Dask arrays: every op and module gives the NumPy call's shape, dtype and values
(the oracle is the same npconv call on the NumPy array), lazily, with a graph linear in
the number of chunks, on random geometries and random (uneven, size-1) chunkings."""

import itertools
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import npconv
import npconv.functional as F
import optional
from npconv import nn

da = optional.load("dask.array", "needs_dask")
dask = optional.load("dask", "needs_dask")

MODES = ["zeros", "reflect", "replicate", "circular"]
SETTINGS = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.filter_too_much],
}


@pytest.fixture(autouse=True)
def synchronous(request):
    """Dask's tests run on the synchronous scheduler (the one test without dask: as it is)."""
    if request.node.get_closest_marker("needs_dask") is None:
        yield
        return
    with dask.config.set(scheduler="synchronous"):
        yield


def close(lazy, expected, rtol=1e-12):
    """The Dask result has the NumPy result's shape and dtype, and its values to rtol."""
    assert isinstance(lazy, da.Array)
    assert lazy.shape == expected.shape and lazy.dtype == expected.dtype
    got = lazy.compute()
    assert got.shape == expected.shape and got.dtype == expected.dtype
    scale = max(float(np.abs(expected).max(initial=0.0)), 1e-300)
    assert float(np.abs(got - expected).max(initial=0.0)) <= rtol * scale


@st.composite
def chunking(draw, size):
    """Chunk sizes of an axis of `size`: random cuts, so uneven chunks and chunks of 1."""
    if size <= 1:
        return (size,)
    cuts = sorted(draw(st.sets(st.integers(1, size - 1), max_size=size - 1)))
    bounds = [0] + cuts + [size]
    return tuple(b - a for a, b in itertools.pairwise(bounds))


@st.composite
def chunked_array(draw, shape):
    """A random float64 array of `shape` and the same values as a Dask array chunked at random
    along every axis."""
    seed = draw(st.integers(0, 2**32 - 1))
    x = np.random.default_rng(seed).standard_normal(shape)
    chunks = tuple(draw(chunking(s)) for s in shape)
    return x, da.from_array(x, chunks=chunks)


@st.composite
def geometry(draw):
    n = draw(st.integers(1, 3))
    groups = draw(st.integers(1, 2))

    def per_dim(lo, hi):
        return tuple(draw(st.integers(lo, hi)) for _ in range(n))

    return dict(
        n=n,
        groups=groups,
        kernel=per_dim(1, 3),
        stride=per_dim(1, 3),
        dilation=per_dim(1, 2),
        mode=draw(st.sampled_from(MODES)),
        size=per_dim(1, 8 if n < 3 else 5),
        batch=draw(st.integers(1, 2)),
        cin=groups * draw(st.integers(1, 2)),
        cout=groups * draw(st.integers(1, 2)),
        bias=draw(st.booleans()),
    )


def padding(draw, n):
    return draw(
        st.one_of(
            st.integers(0, 2),
            st.sampled_from(["same", "valid"]),
            st.tuples(*[st.tuples(st.integers(0, 2), st.integers(0, 2))] * n),
        )
    )


@pytest.mark.needs_dask
@settings(max_examples=70, **SETTINGS)
@given(g=geometry(), data=st.data())
def test_conv_matches_numpy(g, data):
    n = g["n"]
    pad = padding(data.draw, n)
    if pad == "same":
        g["stride"] = (1,) * n
    rng = np.random.default_rng(1)
    w = rng.standard_normal((g["cout"], g["cin"] // g["groups"]) + g["kernel"])
    b = rng.standard_normal(g["cout"]) if g["bias"] else None
    x, xd = data.draw(chunked_array((g["batch"], g["cin"]) + g["size"]))
    options = dict(
        stride=g["stride"],
        padding=pad,
        dilation=g["dilation"],
        groups=g["groups"],
        padding_mode=g["mode"],
    )
    try:
        expected = F.conv(x, w, b, **options)
    except ValueError:
        assume(False)
    close(F.conv(xd, w, b, **options), expected)


@pytest.mark.needs_dask
@settings(max_examples=70, **SETTINGS)
@given(g=geometry(), data=st.data())
def test_conv_transpose_matches_numpy(g, data):
    n = g["n"]
    pad = padding(data.draw, n)
    output_padding = tuple(
        data.draw(st.integers(0, max(s, d) - 1))
        for s, d in zip(g["stride"], g["dilation"], strict=True)
    )
    rng = np.random.default_rng(2)
    w = rng.standard_normal((g["cin"], g["cout"] // g["groups"]) + g["kernel"])
    b = rng.standard_normal(g["cout"]) if g["bias"] else None
    y, yd = data.draw(chunked_array((g["batch"], g["cin"]) + g["size"]))
    options = dict(
        stride=g["stride"],
        padding=pad,
        output_padding=output_padding,
        groups=g["groups"],
        dilation=g["dilation"],
        padding_mode=g["mode"],
    )
    try:
        expected = F.conv_transpose(y, w, b, **options)
    except ValueError:
        assume(False)
    close(F.conv_transpose(yd, w, b, **options), expected)


@pytest.mark.needs_dask
@settings(max_examples=30, **SETTINGS)
@given(g=geometry(), data=st.data())
def test_conv_transpose_module_output_size_matches_numpy(g, data):
    """ConvTransposeNd(...)(x, output_size=...) with a size drawn from torch's valid range."""
    n = g["n"]
    npconv.manual_seed(0)
    module = nn.ConvTransposeNd(
        g["cin"],
        g["cout"],
        g["kernel"],
        stride=g["stride"],
        padding=data.draw(st.integers(0, 2)),
        groups=g["groups"],
        bias=g["bias"],
        dilation=g["dilation"],
        dtype=np.float64,
    )
    y, yd = data.draw(chunked_array((g["batch"], g["cin"]) + g["size"]))
    pairs = tuple((p, p) for p in module.padding)
    smallest, largest = npconv.shapes.conv_transpose_size_range(
        g["size"], g["kernel"], g["stride"], pairs, g["dilation"]
    )
    size = tuple(data.draw(st.integers(lo, hi)) for lo, hi in zip(smallest, largest, strict=True))
    try:
        expected = module(y, output_size=size)
    except ValueError:
        assume(False)
    close(module(yd, output_size=size), expected)
    assert len(size) == n


@pytest.mark.needs_dask
@settings(max_examples=30, **SETTINGS)
@given(g=geometry(), data=st.data())
def test_unfold_and_fold_match_numpy(g, data):
    n = g["n"]
    pad = data.draw(st.integers(0, 2))
    options = dict(kernel_size=g["kernel"], dilation=g["dilation"], padding=pad, stride=g["stride"])
    x, xd = data.draw(chunked_array((g["batch"], g["cin"]) + g["size"]))
    try:
        cols = F.unfold(x, **options)
    except ValueError:
        assume(False)
    close(F.unfold(xd, **options), cols)
    c, cd = data.draw(chunked_array(cols.shape))
    close(F.fold(cd, g["size"], **options), F.fold(c, g["size"], **options))
    assert n == len(g["kernel"])


@pytest.mark.needs_dask
@settings(max_examples=25, **SETTINGS)
@given(data=st.data(), mode=st.sampled_from(MODES), n=st.integers(1, 3))
def test_encoder_decoder_stack_matches_numpy(data, mode, n):
    """A fused Sequential (strided conv, activation, transposed conv with output_padding)."""
    npconv.manual_seed(data.draw(st.integers(0, 1000)))
    stride = data.draw(st.integers(1, 3))
    model = nn.Sequential(
        nn.ConvNd(2, 3, (3,) * n, stride=stride, padding=1, padding_mode=mode, dtype=np.float64),
        nn.LeakyReLU(0.1),
        nn.ConvNd(3, 3, (3,) * n, padding=2, dilation=2, padding_mode=mode, dtype=np.float64),
        nn.Tanh(),
        nn.ConvTransposeNd(
            3,
            2,
            (3,) * n,
            stride=stride,
            padding=1,
            output_padding=stride - 1,
            padding_mode=mode,
            dtype=np.float64,
        ),
    )
    x, xd = data.draw(chunked_array((2, 2) + (data.draw(st.integers(4, 9 if n < 3 else 6)),) * n))
    try:
        expected = model(x)
    except ValueError:
        assume(False)
    close(model(xd), expected)


@pytest.mark.needs_dask
def test_other_dtypes_keep_the_numpy_dtype(make):
    for dtype, rtol in ((np.float32, 1e-5), (np.float16, 2e-3), (np.complex128, 1e-12)):
        x = make((2, 3, 9, 7), dtype)
        w = make((4, 3, 3, 3), dtype)
        xd = da.from_array(x, chunks=(1, 2, 4, 3))
        close(
            F.conv2d(xd, w, stride=2, padding=1, padding_mode="reflect"),
            F.conv2d(x, w, stride=2, padding=1, padding_mode="reflect"),
            rtol,
        )
        wt = make((3, 2, 3, 3), dtype)
        close(
            F.conv_transpose2d(xd, wt, stride=2, padding=1, output_padding=1),
            F.conv_transpose2d(x, wt, stride=2, padding=1, output_padding=1),
            rtol,
        )


@pytest.mark.needs_dask
def test_modules_lazy_fold_unfold_activations(make):
    npconv.manual_seed(0)
    x = make((2, 3, 10, 9))
    xd = da.from_array(x, chunks=(1, 2, 3, 4))
    for module in (
        nn.LazyConv2d(4, 3, padding=1, padding_mode="replicate", dtype=np.float64),
        nn.LazyConvTranspose2d(4, (2, 3), stride=(2, 1), dtype=np.float64),
        nn.Unfold((2, 3), padding=1, stride=2),
        nn.ReLU(),
        nn.Sigmoid(),
        nn.Tanh(),
        nn.LeakyReLU(0.3),
    ):
        close(module(xd), module(x))
    up = nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, dtype=np.float64)
    close(up(xd, output_size=(20, 18)), up(x, output_size=(20, 18)))
    close(up(xd[0], output_size=(20, 18)), up(x[0], output_size=(20, 18)))  # unbatched
    cols = make((2, 12, 15))
    fold = nn.Fold((6, 7), 2, stride=(1, 2))
    close(fold(da.from_array(cols, chunks=(1, 5, 3))), fold(cols))


@pytest.mark.needs_dask
def test_sequential_plan_splits_and_says_why(make):
    npconv.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(2, 4, 3, stride=2, padding=1, dtype=np.float64),
        nn.ReLU(),
        nn.Conv2d(4, 4, 3, padding=1, padding_mode="circular", dtype=np.float64),
        nn.Unfold(2),
        nn.Fold((5, 6), 2),
        nn.Sequential(
            nn.LazyConvTranspose2d(2, 3, stride=2, padding=1, output_padding=1, dtype=np.float64),
            nn.Tanh(),
        ),
    )
    x = make((2, 2, 9, 12))
    xd = da.from_array(x, chunks=(1, 1, 4, 5))
    plan = npconv.chunked.plan(model, xd)
    text = repr(plan)
    assert "5 segments" in text
    assert "layers 0-1 (Conv2d, ReLU)" in text
    assert "circular padding reads the far end" in text
    assert "Unfold changes the layout" in text and "Fold changes the layout" in text
    assert "layers 5-6 (ConvTranspose2d, Tanh)" in text
    close(plan.output, model(x))


class Residual(nn.Module):
    """A user's module with its own forward: x + conv(x)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 3, padding=1, padding_mode="reflect", dtype=np.float64)

    def forward(self, x):
        return x + self.conv(x)


@pytest.mark.needs_dask
def test_a_users_module_runs_its_own_forward_lazily(make):
    npconv.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 2, 3, padding=1, dtype=np.float64), Residual(), nn.ReLU())
    x = make((2, 2, 9, 8))
    xd = da.from_array(x, chunks=(1, 1, 4, 3))
    assert "Residual is not a layer npconv.chunked knows" in repr(npconv.chunked.plan(model, xd))
    close(model(xd), model(x))
    residual = Residual()
    close(residual(xd[0]), residual(x[0]))


@pytest.mark.needs_dask
def test_fused_stack_is_one_task_per_output_block(make):
    npconv.manual_seed(0)
    model = nn.Sequential(
        nn.Conv3d(1, 4, 3, stride=2, padding=1, dtype=np.float64),
        nn.ReLU(),
        nn.ConvTranspose3d(4, 1, 3, stride=2, padding=1, output_padding=1, dtype=np.float64),
    )
    x = make((1, 1, 16, 16, 16))
    xd = da.from_array(x, chunks=8)
    y = model(xd)
    graph = dict(y.__dask_graph__())
    own = [key for key in graph if isinstance(key, tuple) and key[0] == y.name]
    assert len(own) == y.npartitions == 8
    assert len(y.__dask_graph__().layers) == 2  # the input and the stack, nothing between
    assert repr(npconv.chunked.plan(model, xd)).count("segment ") == 1
    close(y, model(x))


def _edges(array):
    graph = dict(array.__dask_graph__())
    keys = set(graph)
    return sum(
        len(dependencies & keys)
        for dependencies in (dask.core.get_dependencies(graph, key) for key in graph)
    )


@pytest.mark.needs_dask
def test_graph_grows_linearly_with_chunks():
    """Tasks and edges per input block stay bounded for 8, 64 and 512 chunks of a 3-d array:
    per block its load, one task cutting the halos its neighbours read, one output task."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal((2, 2, 3, 3, 3))
    counts = []
    for per_dim in (2, 4, 8):
        x = da.zeros((1, 2) + (4 * per_dim,) * 3, chunks=(1, 2, 4, 4, 4))
        ys = [
            F.conv3d(x, w, padding=1, padding_mode="reflect"),
            F.conv_transpose3d(x, w, stride=2, padding=1, output_padding=1),
        ]
        counts.append([(len(y.__dask_graph__()), _edges(y)) for y in ys])
    chunks = np.array([8, 64, 512])
    for op in range(2):
        tasks = np.array([counts[i][op][0] for i in range(3)])
        edges = np.array([counts[i][op][1] for i in range(3)])
        assert np.all(tasks <= 3 * chunks + 1)
        # an output task reads at most its 27 neighbours' parts and the stored layers; a
        # halo task its block
        assert np.all(edges <= chunks * (27 + 1 + 1))
        assert np.diff(tasks)[1] / np.diff(chunks)[1] <= 3
        per_block = np.diff(edges) / np.diff(chunks)
        assert per_block[1] <= per_block[0] * 1.5


@pytest.mark.needs_dask
def test_nothing_is_computed_at_call_time():
    calls = []

    def source(block):
        calls.append(block.shape)
        return block

    x = da.ones((2, 2, 12, 12), chunks=(1, 1, 5, 5)).map_blocks(source, meta=np.empty((0, 0, 0, 0)))
    npconv.manual_seed(0)
    model = nn.Sequential(
        nn.LazyConv2d(3, 3, padding=1, dtype=np.float64),
        nn.ReLU(),
        nn.LazyConvTranspose2d(2, 2, stride=2, dtype=np.float64),
    )
    ys = [
        F.conv2d(x, np.ones((2, 2, 3, 3)), padding=1, padding_mode="circular"),
        F.conv_transpose2d(x, np.ones((2, 2, 3, 3)), stride=2),
        F.unfold(x, 3),
        model(x),
        nn.Tanh()(x),
    ]
    assert calls == []
    assert [y.shape for y in ys[:2]] == [(2, 2, 12, 12), (2, 2, 25, 25)]
    dask.compute(*ys)
    assert calls


@pytest.mark.needs_dask
def test_bad_arguments_raise_the_numpy_error(make):
    x = make((1, 2, 6, 6))
    xd = da.from_array(x, chunks=3)
    for call in (
        lambda a: F.conv2d(a, np.ones((1, 3, 3, 3))),
        lambda a: F.conv2d(a, np.ones((1, 2, 3, 3)), padding=6, padding_mode="reflect"),
        lambda a: F.conv_transpose2d(a, np.ones((2, 1, 3, 3)), stride=2, output_padding=2),
        lambda a: F.fold(a, (4, 4), 2),
    ):
        with pytest.raises(ValueError) as numpy_error:
            call(x)
        with pytest.raises(ValueError) as dask_error:
            call(xd)
        assert str(dask_error.value) == str(numpy_error.value)
    with pytest.raises(TypeError, match="weight type"):
        F.conv2d(xd, np.ones((1, 2, 3, 3), np.float32))


@pytest.mark.needs_dask
def test_backward_after_a_dask_forward_raises(make):
    model = nn.Sequential(nn.Conv2d(2, 2, 3, dtype=np.float64), nn.ReLU())
    model(da.from_array(make((1, 2, 6, 6)), chunks=3))
    with pytest.raises(RuntimeError, match="Dask array is not supported"):
        model.backward(np.ones((1, 2, 4, 4)))


def test_import_npconv_does_not_import_dask():
    code = "import sys, npconv, npconv.nn, npconv.functional; print('dask' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.needs_dask
def test_local_cluster_zarr_round_trip(tmp_path, make):
    """The encoder-decoder stack on a real dask.distributed cluster, zarr to zarr."""
    import distributed
    import zarr

    npconv.manual_seed(0)
    model = nn.Sequential(
        nn.Conv3d(1, 4, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.ConvTranspose3d(4, 1, 3, stride=2, padding=1, output_padding=1),
    )
    x = make((1, 1, 20, 18, 16), np.float32)
    source = zarr.open_array(
        str(tmp_path / "in.zarr"), mode="w", shape=x.shape, chunks=(1, 1, 8, 6, 16), dtype=x.dtype
    )
    source[...] = x
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=2, processes=False, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        y = model(da.from_zarr(str(tmp_path / "in.zarr")))
        client.compute(da.to_zarr(y, str(tmp_path / "out.zarr"), compute=False)).result()
    got = zarr.open_array(str(tmp_path / "out.zarr"), mode="r")[...]
    expected = model(x)
    assert got.shape == expected.shape and got.dtype == expected.dtype
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
