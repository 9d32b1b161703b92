"""npconv.nn modules against torch.nn: attributes, repr, state dicts,
initialisation, forward, lazy materialisation, N-d classes, dtypes and devices.

Every expected value comes from torch (or, for initialisation, from torch's
documented bound 1/sqrt(fan_in), which torch's own weights are checked against).
"""

import math

import numpy as np
import pytest

import npconv
import optional
from npconv import nn

torch = optional.load("torch", "needs_torch")

# torch warns that it copies the input for even 'same' kernels; that is its business
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")

DIMS = (1, 2, 3)
SIZES = (7, 6, 5)  # spatial input size, first n entries
TOL = {np.float16: 1e-2, np.float32: 1e-4, np.float64: 1e-10, np.complex64: 1e-4}
TORCH_DTYPE = {
    np.float16: torch.float16,
    np.float32: torch.float32,
    np.float64: torch.float64,
    np.complex64: torch.complex64,
}
ATTRIBUTES = (
    "in_channels",
    "out_channels",
    "kernel_size",
    "stride",
    "padding",
    "output_padding",
    "dilation",
    "groups",
    "padding_mode",
    "transposed",
)


def per_dim(values, n):
    return tuple(values[:n])


def conv_grid(n):
    """(args, kwargs) for Conv{n}d: torch-valid constructor arguments."""
    return [
        ((4, 6, 3), {}),
        (
            (4, 6, per_dim((3, 2, 1), n)),
            dict(
                stride=per_dim((2, 1, 3), n),
                padding=per_dim((1, 0, 2), n),
                dilation=per_dim((1, 2, 1), n),
            ),
        ),
        ((4, 8, 3), dict(groups=2, bias=False)),
        ((4, 4, 3), dict(padding="same", dilation=2, padding_mode="reflect")),
        ((3, 5, 4), dict(padding="same")),
        (
            (3, 5, per_dim((4, 2, 3), n)),
            dict(padding="same", dilation=per_dim((1, 2, 2), n), padding_mode="circular"),
        ),
        ((3, 5, 2), dict(padding="valid", stride=2)),
        ((4, 4, 3), dict(padding=2, padding_mode="circular", groups=4)),
        ((4, 2, 3), dict(padding=1, padding_mode="replicate", stride=2)),
        ((4, 2, 3), dict(padding=per_dim((2, 1, 0), n), padding_mode="reflect")),
        ((2, 3, 1), dict(stride=3, bias=True)),
    ]


def transpose_grid(n):
    """(args, kwargs) for ConvTranspose{n}d: torch-valid constructor arguments."""
    return [
        ((4, 6, 3), {}),
        (
            (4, 6, per_dim((3, 2, 2), n)),
            dict(
                stride=per_dim((2, 1, 3), n),
                padding=per_dim((1, 0, 1), n),
                output_padding=per_dim((1, 0, 2), n),
                dilation=per_dim((1, 2, 1), n),
            ),
        ),
        ((4, 8, 3), dict(groups=2, bias=False, stride=2, output_padding=1)),
        ((4, 6, 3), dict(dilation=2, padding=2)),
        ((6, 3, 2), dict(stride=2, groups=3)),
        ((3, 2, 1), dict(stride=2, dilation=3, output_padding=2)),
    ]


def cases(kind):
    grid = conv_grid if kind == "Conv" else transpose_grid
    return [(f"{kind}{n}d", n, a, k) for n in DIMS for a, k in grid(n)]


ALL_CASES = cases("Conv") + cases("ConvTranspose")
IDS = [f"{name}-{i}" for i, (name, *_) in enumerate(ALL_CASES)]


def randn(shape, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    if np.dtype(dtype).kind == "c":
        x = x + 1j * rng.standard_normal(shape)
    return x.astype(dtype)


def input_for(module, n, batch=2):
    shape = (module.in_channels,) + SIZES[:n]
    return randn(shape if batch is None else (batch,) + shape)


def torch_forward(module, x, **options):
    with torch.no_grad():
        return module(torch.from_numpy(x), **options).numpy()


def assert_same_output(ours, theirs, x, dtype=np.float32, **options):
    expected = torch_forward(theirs, x, **options)
    got = ours(x, **options)
    assert got.shape == expected.shape
    assert got.dtype == expected.dtype == np.dtype(dtype)
    tol = TOL[dtype]
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol)


def pair(name, args, kwargs, dtype=np.float32):
    """torch's module, and npconv's with the same arguments and torch's weights."""
    theirs = getattr(torch.nn, name)(*args, **kwargs, dtype=TORCH_DTYPE[dtype])
    ours = getattr(nn, name)(*args, **kwargs, dtype=dtype)
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs


# --- attributes, repr, state dict keys ------------------------------------------------


@pytest.mark.needs_torch
@pytest.mark.parametrize("name, n, args, kwargs", ALL_CASES, ids=IDS)
def test_attributes_repr_and_keys(name, n, args, kwargs):
    theirs = getattr(torch.nn, name)(*args, **kwargs)
    ours = getattr(nn, name)(*args, **kwargs)
    for attribute in ATTRIBUTES:
        assert getattr(ours, attribute) == getattr(theirs, attribute), attribute
    assert isinstance(ours.kernel_size, tuple) and len(ours.kernel_size) == n
    assert ours.weight.shape == tuple(theirs.weight.shape)
    assert ours.weight.dtype == np.float32
    if theirs.bias is None:
        assert ours.bias is None
    else:
        assert ours.bias.shape == tuple(theirs.bias.shape)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())


# --- forward against torch --------------------------------------------------------------


@pytest.mark.needs_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name, n, args, kwargs", ALL_CASES, ids=IDS)
def test_forward_matches_torch(name, n, args, kwargs, dtype):
    ours, theirs = pair(name, args, kwargs, dtype)
    assert ours.weight.dtype == dtype
    x = input_for(ours, n).astype(dtype)
    assert_same_output(ours, theirs, x, dtype)
    assert_same_output(ours, theirs, x[0], dtype)  # unbatched


@pytest.mark.needs_torch
@pytest.mark.parametrize("dtype", [np.float16, np.complex64])
@pytest.mark.parametrize("name", ["Conv2d", "ConvTranspose2d"])
def test_forward_other_dtypes(name, dtype):
    ours, theirs = pair(name, (3, 4, 3), dict(stride=2), dtype)
    assert ours.weight.dtype == dtype
    assert_same_output(ours, theirs, randn((2, 3, 6, 5), dtype), dtype)


@pytest.mark.needs_torch
@pytest.mark.parametrize("n", DIMS)
@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("padding", [1, 2, "same", "valid", "tuple"])
def test_conv_padding_modes(n, mode, padding):
    if padding == "tuple":
        padding = per_dim((2, 0, 1), n)
    stride = 1 if padding == "same" else per_dim((2, 1, 2), n)
    ours, theirs = pair(
        f"Conv{n}d",
        (3, 4, 3),
        dict(padding=padding, padding_mode=mode, stride=stride, dilation=per_dim((1, 2, 1), n)),
    )
    assert_same_output(ours, theirs, randn((2, 3) + SIZES[:n]))


@pytest.mark.needs_torch
@pytest.mark.parametrize("n", DIMS)
@pytest.mark.parametrize(
    "kernel, dilation", [(2, 1), (4, 1), (2, 3), (4, 2), (3, 3), (5, 1), ((2, 5, 4), (3, 1, 2))]
)
def test_conv_same_padding(n, kernel, dilation):
    if isinstance(kernel, tuple):
        kernel, dilation = per_dim(kernel, n), per_dim(dilation, n)
    ours, theirs = pair(f"Conv{n}d", (2, 3, kernel), dict(padding="same", dilation=dilation))
    x = randn((2, 2) + SIZES[:n])
    assert_same_output(ours, theirs, x)
    assert ours(x).shape[2:] == x.shape[2:]


# --- output_size -----------------------------------------------------------------------


@pytest.mark.needs_torch
@pytest.mark.parametrize("n", DIMS)
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("form", ["spatial", "full"])
@pytest.mark.parametrize("extra", [0, 1, 2])
def test_output_size(n, batched, form, extra):
    """output_size = the smallest size + extra (stride 3 allows extra in 0..2)."""
    ours, theirs = pair(f"ConvTranspose{n}d", (3, 2, 3), dict(stride=3, padding=1))
    x = randn(((2,) if batched else ()) + (3,) + SIZES[:n])
    smallest = theirs(torch.from_numpy(x)).shape[-n:]
    spatial = [s + extra for s in smallest]
    leading = list(x.shape[: -n - 1]) + [2]
    size = spatial if form == "spatial" else leading + spatial
    assert_same_output(ours, theirs, x, output_size=size)
    assert list(ours(x, output_size=tuple(size)).shape[-n:]) == spatial


# --- state dicts -------------------------------------------------------------------------


@pytest.fixture
def conv_pair():
    return nn.Conv2d(4, 6, 3), torch.nn.Conv2d(4, 6, 3)


def load_errors(ours, theirs, state):
    with pytest.raises(RuntimeError) as their_error:
        theirs.load_state_dict(state)
    with pytest.raises(ValueError) as our_error:
        ours.load_state_dict(state)
    return str(our_error.value), str(their_error.value)


@pytest.mark.needs_torch
def test_load_state_dict_missing(conv_pair):
    ours, theirs = conv_pair
    state = theirs.state_dict()
    del state["bias"]
    our_message, their_message = load_errors(ours, theirs, state)
    assert our_message == their_message


@pytest.mark.needs_torch
def test_load_state_dict_unexpected(conv_pair):
    ours, theirs = conv_pair
    state = theirs.state_dict()
    state["running_mean"] = torch.zeros(3)
    our_message, their_message = load_errors(ours, theirs, state)
    assert our_message == their_message


@pytest.mark.needs_torch
def test_load_state_dict_size_mismatch(conv_pair):
    ours, theirs = conv_pair
    state = theirs.state_dict()
    state["weight"] = torch.zeros(6, 4, 3, 2)
    before = np.array(ours.weight)
    our_message, their_message = load_errors(ours, theirs, state)
    assert "size mismatch for weight" in our_message
    assert "(6, 4, 3, 2)" in our_message and "(6, 4, 3, 3)" in our_message
    # torch spells shapes torch.Size([...]); everything else is the same text
    assert our_message == their_message.replace("torch.Size([6, 4, 3, 2])", "(6, 4, 3, 2)").replace(
        "torch.Size([6, 4, 3, 3])", "(6, 4, 3, 3)"
    )
    np.testing.assert_array_equal(ours.weight, before)  # nothing was loaded


@pytest.mark.needs_torch
def test_load_state_dict_all_errors_reported(conv_pair):
    ours, theirs = conv_pair
    state = theirs.state_dict()
    del state["bias"]
    state["extra"] = torch.zeros(1)
    state["weight"] = torch.zeros(1)
    our_message, their_message = load_errors(ours, theirs, state)
    for line in (
        their_message.replace("torch.Size([1])", "(1,)")
        .replace("torch.Size([6, 4, 3, 3])", "(6, 4, 3, 3)")
        .split("\n")
    ):
        assert line in our_message


@pytest.mark.needs_torch
def test_load_state_dict_not_strict(conv_pair):
    ours, theirs = conv_pair
    state = theirs.state_dict()
    del state["bias"]
    state["extra"] = torch.zeros(1)
    bias = np.array(ours.bias)
    their_result = theirs.load_state_dict(state, strict=False)
    our_result = ours.load_state_dict(state, strict=False)
    assert our_result.missing_keys == their_result.missing_keys == ["bias"]
    assert our_result.unexpected_keys == their_result.unexpected_keys == ["extra"]
    np.testing.assert_array_equal(ours.weight, theirs.weight.detach().numpy())
    np.testing.assert_array_equal(ours.bias, bias)


@pytest.mark.needs_torch
@pytest.mark.parametrize(
    "module_dtype, state_dtype",
    [(np.float32, torch.float64), (np.float64, torch.float32), (np.float16, torch.float32)],
)
def test_load_state_dict_casts_to_module_dtype(module_dtype, state_dtype):
    theirs = torch.nn.ConvTranspose2d(3, 4, 3, dtype=state_dtype)
    ours = nn.ConvTranspose2d(3, 4, 3, dtype=module_dtype)
    ours.load_state_dict(theirs.state_dict())
    for key, value in theirs.state_dict().items():
        got = ours.state_dict()[key]
        assert got.dtype == module_dtype
        np.testing.assert_array_equal(got, value.numpy().astype(module_dtype))


@pytest.mark.needs_torch
def test_load_state_dict_from_numpy_and_back(conv_pair):
    ours, theirs = conv_pair
    theirs.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in ours.state_dict().items()})
    x = randn((2, 4, 6, 5))
    assert_same_output(ours, theirs, x)


# --- initialisation ------------------------------------------------------------------------

INIT_CASES = [
    ("Conv2d", (64, 128, 3), {}),
    ("Conv1d", (96, 64, 5), dict(groups=4)),
    ("ConvTranspose2d", (128, 64, 3), {}),
    ("ConvTranspose3d", (32, 64, 3), dict(groups=2)),
    ("Conv3d", (16, 200, (2, 3, 4)), {}),
]


def fan_in_bound(weight_shape):
    """torch's documented bound: 1/sqrt(weight.shape[1] * prod(kernel_size))."""
    return 1 / math.sqrt(weight_shape[1] * math.prod(weight_shape[2:]))


@pytest.mark.needs_torch
@pytest.mark.parametrize("name, args, kwargs", INIT_CASES)
def test_initialisation_statistics(name, args, kwargs):
    npconv.manual_seed(0)
    ours = getattr(nn, name)(*args, **kwargs)
    theirs = getattr(torch.nn, name)(*args, **kwargs)
    bound = fan_in_bound(ours.weight.shape)
    for weight, bias in (
        (np.asarray(ours.weight), np.asarray(ours.bias)),
        (theirs.weight.detach().numpy(), theirs.bias.detach().numpy()),
    ):
        assert np.abs(weight).max() <= bound
        assert np.abs(weight).max() > 0.99 * bound
        assert abs(weight.mean()) < 0.02 * bound
        assert abs(weight.std() - bound / math.sqrt(3)) < 0.02 * bound
        histogram, _ = np.histogram(weight, bins=10, range=(-bound, bound))
        assert np.all(np.abs(histogram / weight.size - 0.1) < 0.015)
        assert np.abs(bias).max() <= bound
        assert np.abs(bias).max() > 0.5 * bound


def test_initialisation_small_fan_in():
    """A 1x1 conv with one input channel: bound 1, weights and bias in [-1, 1]."""
    npconv.manual_seed(1)
    m = nn.Conv2d(1, 1000, 1)
    assert np.abs(m.weight).max() <= 1 and np.abs(m.weight).max() > 0.99
    assert np.abs(m.bias).max() <= 1 and np.abs(m.bias).max() > 0.99


@pytest.mark.parametrize("name", ["Conv2d", "ConvTranspose1d", "LazyConv3d"])
def test_manual_seed_reproducible(name):
    def build(seed):
        npconv.manual_seed(seed)
        m = getattr(nn, name)(*(() if name.startswith("Lazy") else (3,)), 4, 3)
        if name.startswith("Lazy"):
            m(randn((1, 3, 4, 4, 4)))
        return m.state_dict()

    a, b, c = build(7), build(7), build(8)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
        assert not np.array_equal(a[key], c[key])


# --- lazy modules ----------------------------------------------------------------------------

LAZY_CASES = [
    (n, kind, kwargs)
    for n in DIMS
    for kind, kwargs in [
        ("Conv", {}),
        ("Conv", dict(stride=2, padding=1, groups=2, bias=False)),
        ("Conv", dict(padding="same", padding_mode="reflect")),
        ("ConvTranspose", {}),
        ("ConvTranspose", dict(stride=2, output_padding=1, groups=2)),
    ]
]


@pytest.mark.needs_torch
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("n, kind, kwargs", LAZY_CASES)
def test_lazy_materialises_on_first_input(n, kind, kwargs, batched):
    ours = getattr(nn, f"Lazy{kind}{n}d")(6, 3, **kwargs)
    theirs = getattr(torch.nn, f"Lazy{kind}{n}d")(6, 3, **kwargs)
    assert repr(ours) == repr(theirs)
    assert ours.in_channels == 0
    assert isinstance(ours.weight, nn.UninitializedParameter)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    x = randn(((2,) if batched else ()) + (4,) + SIZES[:n])
    expected_shape = torch_forward(theirs, x).shape
    assert ours(x).shape == expected_shape
    eager = getattr(nn, f"{kind}{n}d")
    assert type(ours) is eager
    assert ours.in_channels == theirs.in_channels == 4
    assert ours.weight.shape == tuple(theirs.weight.shape)
    assert repr(ours) == repr(theirs)
    ours.load_state_dict(theirs.state_dict())
    assert_same_output(ours, theirs, x)


@pytest.mark.needs_torch
@pytest.mark.parametrize("n, kind, kwargs", LAZY_CASES)
def test_lazy_load_state_dict_materialises(n, kind, kwargs):
    """torch keeps a lazy module lazy here; npconv materialises it from the state's shapes,
    so the oracle is an eager torch module with those weights."""
    theirs = getattr(torch.nn, f"{kind}{n}d")(4, 6, 3, **kwargs)
    ours = getattr(nn, f"Lazy{kind}{n}d")(6, 3, **kwargs)
    ours.load_state_dict(theirs.state_dict())
    assert type(ours) is getattr(nn, f"{kind}{n}d")
    assert ours.in_channels == 4
    assert repr(ours) == repr(theirs)
    assert_same_output(ours, theirs, randn((2, 4) + SIZES[:n]))


def test_lazy_keeps_dtype():
    ours = nn.LazyConvTranspose2d(3, 2, dtype=np.float64)
    ours(randn((1, 5, 4, 4), np.float64))
    assert ours.weight.dtype == ours.bias.dtype == np.float64
    assert ours.weight.shape == (5, 3, 2, 2)


# --- batch of zero, N-d classes, device, dtype ---------------------------------------------------


@pytest.mark.needs_torch
@pytest.mark.parametrize("name, n, args, kwargs", ALL_CASES[::3], ids=IDS[::3])
def test_zero_batch(name, n, args, kwargs):
    ours, theirs = pair(name, args, kwargs)
    x = input_for(ours, n, batch=0)
    assert_same_output(ours, theirs, x)


@pytest.mark.needs_torch
@pytest.mark.parametrize("name, n, args, kwargs", ALL_CASES, ids=IDS)
def test_nd_classes_match_torch(name, n, args, kwargs):
    """ConvNd / ConvTransposeNd take n from len(kernel_size): 1-3 dims against torch."""
    nd_name = "ConvTransposeNd" if name.startswith("ConvTranspose") else "ConvNd"
    in_channels, out_channels, kernel = args
    kernel = kernel if isinstance(kernel, tuple) else (kernel,) * n
    theirs = getattr(torch.nn, name)(*args, **kwargs)
    ours = getattr(nn, nd_name)(in_channels, out_channels, kernel, **kwargs)
    for attribute in ATTRIBUTES:
        assert getattr(ours, attribute) == getattr(theirs, attribute), attribute
    assert repr(ours) == repr(theirs).replace(name, nd_name, 1)
    ours.load_state_dict(theirs.state_dict())
    assert_same_output(ours, theirs, input_for(ours, n))


@pytest.mark.needs_torch
@pytest.mark.parametrize("device", [None, "cpu", "torch.device('cpu')"])
@pytest.mark.parametrize("name", ["Conv2d", "ConvTranspose3d", "LazyConv1d"])
def test_cpu_device_accepted(name, device):
    if device == "torch.device('cpu')":
        device = torch.device("cpu")
    args = (3, 3) if name.startswith("Lazy") else (2, 3, 3)
    getattr(nn, name)(*args, device=device)


@pytest.mark.parametrize("device", ["cuda", "cuda:0", "mps"])
@pytest.mark.parametrize("name", ["Conv2d", "ConvTranspose3d", "LazyConv1d"])
def test_other_devices_rejected(name, device):
    args = (3, 3) if name.startswith("Lazy") else (2, 3, 3)
    with pytest.raises(ValueError, match="device"):
        getattr(nn, name)(*args, device=device)


@pytest.mark.parametrize(
    "dtype", [np.float16, np.float32, np.float64, np.complex64, np.complex128, "float64", None]
)
def test_module_dtype(dtype):
    m = nn.ConvTranspose1d(2, 3, 3, dtype=dtype)
    expected = np.dtype(np.float32 if dtype is None else dtype)
    assert m.weight.dtype == m.bias.dtype == expected
    assert m(np.zeros((1, 2, 4), expected)).dtype == expected


# --- Fold and Unfold -------------------------------------------------------------------------

UNFOLD_CASES = [
    dict(kernel_size=3),
    dict(kernel_size=(2, 3), dilation=(1, 2), padding=1, stride=(2, 1)),
    dict(kernel_size=(3, 1), padding=(1, 0), stride=2),
    dict(kernel_size=1),
]
FOLD_CASES = [dict(output_size=(5, 6), **kwargs) for kwargs in UNFOLD_CASES] + [
    dict(output_size=7, kernel_size=2, stride=2, padding=1)
]


@pytest.mark.needs_torch
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("kwargs", UNFOLD_CASES)
def test_unfold_module(kwargs, batched):
    ours, theirs = nn.Unfold(**kwargs), torch.nn.Unfold(**kwargs)
    assert repr(ours) == repr(theirs)
    for attribute in ("kernel_size", "dilation", "padding", "stride"):
        assert getattr(ours, attribute) == getattr(theirs, attribute)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == []
    x = randn(((2,) if batched else ()) + (3, 5, 6))
    assert_same_output(ours, theirs, x)


@pytest.mark.needs_torch
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("kwargs", FOLD_CASES)
def test_fold_module(kwargs, batched):
    ours, theirs = nn.Fold(**kwargs), torch.nn.Fold(**kwargs)
    assert repr(ours) == repr(theirs)
    for attribute in ("output_size", "kernel_size", "dilation", "padding", "stride"):
        assert getattr(ours, attribute) == getattr(theirs, attribute)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == []
    size = kwargs["output_size"]
    size = size if isinstance(size, tuple) else (size, size)
    blocks = nn.Unfold(**{k: v for k, v in kwargs.items() if k != "output_size"})(
        np.zeros((1, 1) + size)
    ).shape
    x = randn(((2,) if batched else ()) + (3 * blocks[1], blocks[2]))
    assert_same_output(ours, theirs, x)
