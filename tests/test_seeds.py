"""The seed blogs' examples, each run in npconv and in torch with the same weights.

Shapes must be identical and values close at float32 precision. Batches that
the blogs make large are cut (the spatial shapes are kept); each case says so.
"""

import numpy as np
import pytest

import optional
from npconv import nn

pytestmark = pytest.mark.needs_torch
torch = optional.load("torch", "needs_torch")

RTOL, ATOL = 1e-4, 1e-5


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape, dtype=np.float32)


def twin(name, *args, **kwargs):
    """torch.nn.<name> and npconv.nn.<name> with the same arguments and torch's weights."""
    theirs = getattr(torch.nn, name)(*args, **kwargs)
    ours = getattr(nn, name)(*args, **kwargs)
    ours.load_state_dict(theirs.state_dict())
    return theirs, ours


def run_both(theirs, ours, x, **options):
    with torch.no_grad():
        expected = theirs(torch.from_numpy(x), **options).numpy()
    got = ours(x, **options)
    assert got.shape == expected.shape
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL)
    return got, expected


# (seed, layer class, args, kwargs, input shape); batch cut from 20 where marked.
SEED_LAYERS = [
    # seed 002, 1.4 nn.Conv1d
    ("002", "Conv1d", (16, 33, 3), dict(stride=2), (20, 16, 50)),
    ("002", "Conv1d", (16, 33, 5), dict(stride=2), (20, 16, 50)),
    ("002", "Conv1d", (16, 33, 3), dict(stride=3), (20, 16, 50)),
    ("002", "Conv1d", (16, 33, 3), dict(stride=2, padding=2), (20, 16, 50)),
    ("002", "Conv1d", (16, 33, 3), dict(stride=2, dilation=3), (20, 16, 50)),
    ("002", "Conv1d", (16, 33, 3), dict(stride=2, bias=True), (20, 16, 50)),
    ("002", "Conv1d", (16, 24, 3), dict(stride=2), (20, 16, 50)),
    ("002", "Conv1d", (16, 24, 3), dict(stride=2, groups=2), (20, 16, 50)),
    # seed 002, 2.4 nn.Conv2d (batch 2 instead of 20)
    ("002", "Conv2d", (16, 33, 3), dict(stride=2), (2, 16, 50, 100)),
    ("002", "Conv2d", (16, 33, (3, 5)), dict(stride=(2, 1), padding=(4, 2)), (2, 16, 50, 100)),
    (
        "002",
        "Conv2d",
        (16, 33, (3, 5)),
        dict(stride=(2, 1), padding=(4, 2), dilation=(3, 1)),
        (2, 16, 50, 100),
    ),
    # seed 002, 3.4 nn.Conv3d (batch 1 instead of 20)
    ("002", "Conv3d", (16, 33, 3), dict(stride=2), (1, 16, 10, 50, 100)),
    (
        "002",
        "Conv3d",
        (16, 33, (3, 5, 2)),
        dict(stride=(2, 1, 1), padding=(4, 2, 0)),
        (1, 16, 10, 50, 100),
    ),
    # seed 002, nn.ConvTranspose1d
    ("002", "ConvTranspose1d", (16, 33, 3), dict(stride=2), (20, 16, 30)),
    ("002", "ConvTranspose1d", (16, 33, 3), dict(stride=2, padding=2), (20, 16, 30)),
    (
        "002",
        "ConvTranspose1d",
        (16, 33, 3),
        dict(stride=2, padding=2, output_padding=1),
        (20, 16, 30),
    ),
    (
        "002",
        "ConvTranspose1d",
        (16, 33, 3),
        dict(stride=2, padding=2, output_padding=1, dilation=3),
        (20, 16, 30),
    ),
    # seeds 000 and 002, nn.ConvTranspose2d (batch 2 instead of 20)
    ("000", "ConvTranspose2d", (16, 33, 3), dict(stride=2), (2, 16, 50, 100)),
    (
        "000",
        "ConvTranspose2d",
        (16, 33, (3, 5)),
        dict(stride=(2, 1), padding=(4, 2)),
        (2, 16, 50, 100),
    ),
    (
        "002",
        "ConvTranspose2d",
        (16, 33, 3),
        dict(stride=(2, 1), padding=(4, 2), output_padding=(1, 0)),
        (2, 16, 50, 100),
    ),
    # seed 002, nn.ConvTranspose3d (batch 1 instead of 20)
    ("002", "ConvTranspose3d", (16, 33, 3), dict(stride=2), (1, 16, 10, 50, 100)),
    (
        "002",
        "ConvTranspose3d",
        (16, 33, (3, 5, 2)),
        dict(stride=(2, 1, 1), padding=(0, 4, 2)),
        (1, 16, 10, 50, 100),
    ),
    (
        "002",
        "ConvTranspose3d",
        (16, 33, (3, 5, 2)),
        dict(stride=(2, 1, 1), padding=(0, 4, 2), output_padding=(1, 0, 0)),
        (1, 16, 10, 50, 100),
    ),
    # seed 003, MegEngine's ConvTranspose3d (batch 1 instead of 16)
    ("003", "ConvTranspose3d", (3, 64, 3), dict(stride=2, padding=1), (1, 3, 32, 32, 32)),
    # seed 004
    (
        "004",
        "ConvTranspose1d",
        (),
        dict(in_channels=16, out_channels=33, kernel_size=3, stride=2, padding=1, output_padding=0),
        (20, 16, 50),
    ),
    (
        "004",
        "ConvTranspose3d",
        (),
        dict(
            in_channels=16,
            out_channels=33,
            kernel_size=(3, 3, 3),
            stride=(2, 2, 2),
            padding=(1, 1, 1),
            output_padding=(0, 1, 1),
        ),
        (1, 16, 10, 50, 100),
    ),
]


@pytest.mark.parametrize(
    "seed, name, args, kwargs, shape",
    SEED_LAYERS,
    ids=[f"{c[0]}-{c[1]}-{i}" for i, c in enumerate(SEED_LAYERS)],
)
def test_seed_layer(seed, name, args, kwargs, shape):
    theirs, ours = twin(name, *args, **kwargs)
    run_both(theirs, ours, randn(*shape))


def test_seed_004_wrong_shape_in_blog():
    """Seed 004 prints [20, 33, 101, 201]; torch gives [20, 33, 100, 200]: npconv follows torch."""
    theirs, ours = twin(
        "ConvTranspose2d",
        in_channels=16,
        out_channels=33,
        kernel_size=3,
        stride=2,
        padding=1,
        output_padding=1,
    )
    got, expected = run_both(theirs, ours, randn(20, 16, 50, 100))
    assert got.shape == tuple(expected.shape) == (20, 33, 100, 200)
    assert got.shape != (20, 33, 101, 201)


@pytest.mark.parametrize("size_form", ["array shape", "torch.Size", "spatial only"])
def test_seed_000_downsample_upsample_output_size(size_form):
    """Seeds 000 and 002: upsample(h, output_size=input.size()) restores 12x12 from 6x6."""
    x = randn(1, 16, 12, 12)
    down_t, down = twin("Conv2d", 16, 16, 3, stride=2, padding=1)
    up_t, up = twin("ConvTranspose2d", 16, 16, 3, stride=2, padding=1)
    h, h_t = run_both(down_t, down, x)
    size = {"array shape": x.shape, "torch.Size": torch.Size(x.shape), "spatial only": x.shape[2:]}[
        size_form
    ]
    with torch.no_grad():
        expected = up_t(torch.from_numpy(h_t), output_size=list(size)).numpy()
    got = up(h, output_size=size)
    assert got.shape == expected.shape == x.shape
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL)


def test_seed_001_round_trip_shapes():
    """Seed 001: Conv2d(3, 5, 5, padding=1) then ConvTranspose2d(5, 3, 5, padding=1) on 7x9."""
    x = randn(1, 3, 7, 9)
    conv_t, conv = twin("Conv2d", 3, 5, 5, padding=1)
    tconv_t, tconv = twin("ConvTranspose2d", 5, 3, 5, padding=1)
    h, _ = run_both(conv_t, conv, x)
    back, _ = run_both(tconv_t, tconv, h)
    assert back.shape == x.shape


def test_seed_001_my_transpose2d():
    """Seed 001's MyTranspose2d check: kernel 5, padding 2, stride 2 on (2, 1, 2, 2)."""
    theirs, ours = twin("ConvTranspose2d", 1, 1, 5, padding=2, stride=2)
    got, expected = run_both(theirs, ours, randn(2, 1, 2, 2))
    assert np.abs(got - expected).max() < 1e-6
