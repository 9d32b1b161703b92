"""npconv rejects what torch rejects, with ValueError/TypeError naming the argument.

Each bad call runs in both libraries: torch must raise (anything), npconv must
raise ValueError or TypeError (so never an AssertionError, IndexError or a
NumPy broadcast error). Where npconv mirrors torch's wording, torch's message
(normalised where torch prints torch-specific types) must be inside npconv's.
"""

import warnings
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import pytest

import npconv.functional as F
import optional
from npconv import nn

torch = optional.load("torch", "needs_torch")
TF = optional.load("torch.nn.functional", "needs_torch")


def randn(*shape, dtype=np.float32):
    return np.random.default_rng(0).standard_normal(shape).astype(dtype)


def T(a):
    return torch.from_numpy(a)


class Bad(NamedTuple):
    """A call both libraries must reject.

    mirror: True (torch's message is inside npconv's), a function that cuts
    torch's message down to the part npconv mirrors, or None (wording differs).
    names: fragments npconv's message must contain (the argument and its values).
    """

    id: str
    theirs: Callable
    ours: Callable
    mirror: object = True
    names: tuple = ()


def until(separator):
    return lambda message: message.split(separator)[0]


def reflect_core(message):
    """torch numbers 'Argument #k' and the dimension per pad kernel; the rest is shared."""
    return message.split(": ", 1)[1].split(" at dimension")[0]


x1, x2, x3 = randn(2, 4, 7), randn(2, 4, 7, 7), randn(2, 4, 5, 6, 7)
w1, w2, w3 = randn(6, 4, 3), randn(6, 4, 3, 3), randn(6, 4, 3, 3, 3)
t1, t2, t3 = randn(4, 6, 3), randn(4, 6, 3, 3), randn(4, 6, 3, 3, 3)  # transposed weights
wrong = randn(2, 5, 7, 7)  # 5 channels where 4 are expected


def both_modules(name, *args, **kwargs):
    """(torch's module, npconv's); without torch, its stand-in for the first (whose tests,
    marked needs_torch, do not run there)."""
    theirs = getattr(torch.nn, name)
    if optional.installed(torch):
        theirs = theirs(*args, **kwargs)
    return theirs, getattr(nn, name)(*args, **kwargs)


conv2d_t, conv2d_n = both_modules("Conv2d", 4, 6, 3)
up_t, up_n = both_modules("ConvTranspose2d", 4, 6, 3, stride=2, padding=1)
up1_t, up1_n = both_modules("ConvTranspose1d", 4, 6, 3, stride=3)
up3_t, up3_n = both_modules("ConvTranspose3d", 4, 6, 3, stride=2)
lazy_t, lazy_n = both_modules("LazyConv2d", 6, 3)
fold_t, fold_n = both_modules("Fold", (3, 3), 2)
unfold_t, unfold_n = both_modules("Unfold", 4)


def reflect(n, padding, shape):
    theirs, ours = both_modules(f"Conv{n}d", 4, 6, 3, padding=padding, padding_mode="reflect")
    x = randn(*shape)
    return (lambda: theirs(T(x))), (lambda: ours(x))


def circular(n, padding, shape):
    theirs, ours = both_modules(f"Conv{n}d", 4, 6, 3, padding=padding, padding_mode="circular")
    x = randn(*shape)
    return (lambda: theirs(T(x))), (lambda: ours(x))


BAD_CALLS = [
    # wrong channel count
    Bad("channels conv2d", lambda: TF.conv2d(T(wrong), T(w2)), lambda: F.conv2d(wrong, w2)),
    Bad("channels conv1d", lambda: TF.conv1d(T(x1[:, :3]), T(w1)), lambda: F.conv1d(x1[:, :3], w1)),
    Bad(
        "channels conv3d unbatched",
        lambda: TF.conv3d(T(x3[0, :2]), T(w3)),
        lambda: F.conv3d(x3[0, :2], w3),
    ),
    Bad(
        "channels grouped",
        lambda: TF.conv2d(T(wrong), T(randn(6, 2, 3, 3)), groups=2),
        lambda: F.conv2d(wrong, randn(6, 2, 3, 3), groups=2),
    ),
    Bad(
        "channels conv_transpose2d",
        lambda: TF.conv_transpose2d(T(wrong), T(t2)),
        lambda: F.conv_transpose2d(wrong, t2),
    ),
    Bad("channels module", lambda: conv2d_t(T(wrong)), lambda: conv2d_n(wrong)),
    Bad("channels transposed module", lambda: up_t(T(wrong)), lambda: up_n(wrong)),
    # output padding too large
    Bad(
        "output_padding 2d",
        lambda: TF.conv_transpose2d(T(x2), T(t2), stride=2, output_padding=2),
        lambda: F.conv_transpose2d(x2, t2, stride=2, output_padding=2),
    ),
    Bad(
        "output_padding 3d",
        lambda: TF.conv_transpose3d(T(x3), T(t3), stride=(2, 1, 2), output_padding=(1, 1, 0)),
        lambda: F.conv_transpose3d(x3, t3, stride=(2, 1, 2), output_padding=(1, 1, 0)),
    ),
    # torch's 1-d message describes a 2-d call; the first sentence is shared
    Bad(
        "output_padding 1d",
        lambda: TF.conv_transpose1d(T(x1), T(t1), stride=2, output_padding=2),
        lambda: F.conv_transpose1d(x1, t1, stride=2, output_padding=2),
        until(", but got"),
        ("output_padding", "2"),
    ),
    Bad(
        "output_padding module",
        lambda: both_modules("ConvTranspose2d", 4, 6, 3, stride=2, output_padding=(0, 2))[0](T(x2)),
        lambda: nn.ConvTranspose2d(4, 6, 3, stride=2, output_padding=(0, 2))(x2),
    ),
    # kernel larger than the padded input
    Bad(
        "kernel too large 2d",
        lambda: TF.conv2d(T(x2[:, :, :2, :2]), T(w2)),
        lambda: F.conv2d(x2[:, :, :2, :2], w2),
    ),
    Bad(
        "kernel too large 1d dilated",
        lambda: TF.conv1d(T(x1), T(w1), dilation=4),
        lambda: F.conv1d(x1, w1, dilation=4),
    ),
    Bad(
        "kernel too large 3d padded",
        lambda: TF.conv3d(T(x3[:, :, :1]), T(w3), padding=(0, 1, 1)),
        lambda: F.conv3d(x3[:, :, :1], w3, padding=(0, 1, 1)),
    ),
    Bad(
        "kernel too large module", lambda: conv2d_t(T(x2[:, :, :2])), lambda: conv2d_n(x2[:, :, :2])
    ),
    # non-positive stride, dilation, groups; negative padding
    Bad("stride 0", lambda: TF.conv2d(T(x2), T(w2), stride=0), lambda: F.conv2d(x2, w2, stride=0)),
    Bad(
        "stride -1 transposed",
        lambda: TF.conv_transpose1d(T(x1), T(t1), stride=-1),
        lambda: F.conv_transpose1d(x1, t1, stride=-1),
    ),
    Bad(
        "stride (1, 0)",
        lambda: TF.conv2d(T(x2), T(w2), stride=(1, 0)),
        lambda: F.conv2d(x2, w2, stride=(1, 0)),
    ),
    # torch words non-positive dilation differently per backend; the values are named
    Bad(
        "dilation 0",
        lambda: TF.conv2d(T(x2), T(w2), dilation=0),
        lambda: F.conv2d(x2, w2, dilation=0),
        None,
        ("dilation", "0"),
    ),
    Bad(
        "dilation (1, 0)",
        lambda: TF.conv2d(T(x2), T(w2), dilation=(1, 0)),
        lambda: F.conv2d(x2, w2, dilation=(1, 0)),
        None,
        ("dilation", "[1, 0]"),
    ),
    Bad(
        "dilation -1 transposed",
        lambda: TF.conv_transpose3d(T(x3), T(t3), dilation=-1),
        lambda: F.conv_transpose3d(x3, t3, dilation=-1),
        until(", but got"),
        ("dilation", "-1"),
    ),
    Bad("groups 0", lambda: TF.conv2d(T(x2), T(w2), groups=0), lambda: F.conv2d(x2, w2, groups=0)),
    Bad(
        "groups -1 transposed",
        lambda: TF.conv_transpose2d(T(x2), T(t2), groups=-1),
        lambda: F.conv_transpose2d(x2, t2, groups=-1),
    ),
    Bad(
        "negative padding",
        lambda: TF.conv2d(T(x2), T(w2), padding=-1),
        lambda: F.conv2d(x2, w2, padding=-1),
    ),
    Bad(
        "negative padding tuple",
        lambda: TF.conv3d(T(x3), T(w3), padding=(0, -1, 0)),
        lambda: F.conv3d(x3, w3, padding=(0, -1, 0)),
    ),
    Bad(
        "negative padding transposed",
        lambda: TF.conv_transpose2d(T(x2), T(t2), padding=-2),
        lambda: F.conv_transpose2d(x2, t2, padding=-2),
    ),
    # groups that do not divide the channels
    Bad(
        "groups weight",
        lambda: TF.conv2d(T(x2), T(randn(5, 2, 3, 3)), groups=2),
        lambda: F.conv2d(x2, randn(5, 2, 3, 3), groups=2),
    ),
    Bad(
        "groups weight transposed",
        lambda: TF.conv_transpose1d(T(randn(1, 5, 6)), T(randn(5, 2, 3)), groups=2),
        lambda: F.conv_transpose1d(randn(1, 5, 6), randn(5, 2, 3), groups=2),
    ),
    Bad(
        "groups input",
        lambda: TF.conv2d(T(randn(1, 5, 5, 5)), T(randn(6, 2, 3, 3)), groups=2),
        lambda: F.conv2d(randn(1, 5, 5, 5), randn(6, 2, 3, 3), groups=2),
    ),
    # bias of the wrong size
    Bad(
        "bias size",
        lambda: TF.conv2d(T(x2), T(w2), T(randn(5))),
        lambda: F.conv2d(x2, w2, randn(5)),
    ),
    # padding strings
    # torch lists the valid strings as a set, in hash order
    Bad(
        "padding string module",
        lambda: torch.nn.Conv2d(4, 6, 3, padding="full"),
        lambda: nn.Conv2d(4, 6, 3, padding="full"),
        until(" {"),
        ("'same'", "'valid'"),
    ),
    Bad(
        "padding string module case",
        lambda: torch.nn.Conv1d(4, 6, 3, padding="SAME"),
        lambda: nn.Conv1d(4, 6, 3, padding="SAME"),
        until(" {"),
        ("'same'", "'valid'"),
    ),
    Bad(
        "padding string functional",
        lambda: TF.conv2d(T(x2), T(w2), padding="full"),
        lambda: F.conv2d(x2, w2, padding="full"),
        None,
        ("Invalid padding string", "'full'"),
    ),
    Bad(
        "same strided module",
        lambda: torch.nn.Conv2d(4, 6, 3, padding="same", stride=2),
        lambda: nn.Conv2d(4, 6, 3, padding="same", stride=2),
    ),
    Bad(
        "same strided module tuple",
        lambda: torch.nn.Conv3d(4, 6, 3, padding="same", stride=(1, 1, 2)),
        lambda: nn.Conv3d(4, 6, 3, padding="same", stride=(1, 1, 2)),
    ),
    Bad(
        "same strided functional",
        lambda: TF.conv1d(T(x1), T(w1), padding="same", stride=2),
        lambda: F.conv1d(x1, w1, padding="same", stride=2),
    ),
    # padding modes: torch prints the valid modes as a set, in hash order
    Bad(
        "padding mode",
        lambda: torch.nn.Conv2d(4, 6, 3, padding_mode="zero"),
        lambda: nn.Conv2d(4, 6, 3, padding_mode="zero"),
        None,
        (
            "padding_mode must be one of",
            "but got padding_mode='zero'",
            "'zeros'",
            "'reflect'",
            "'replicate'",
            "'circular'",
        ),
    ),
    Bad(
        "padding mode lazy",
        lambda: torch.nn.LazyConv1d(6, 3, padding_mode="mirror"),
        lambda: nn.LazyConv1d(6, 3, padding_mode="mirror"),
        None,
        ("padding_mode", "'mirror'"),
    ),
    Bad(
        "padding mode transposed",
        lambda: torch.nn.ConvTranspose2d(4, 6, 3, padding_mode="wrap"),
        lambda: nn.ConvTranspose2d(4, 6, 3, padding_mode="wrap"),
        None,
        ("padding_mode", "'wrap'"),
    ),
    # output_size out of range, and of the wrong length
    Bad(
        "output_size too large",
        lambda: up_t(T(x2), output_size=[15, 14]),
        lambda: up_n(x2, output_size=[15, 14]),
        until(" (for an input"),
        ("[7, 7]",),
    ),
    Bad(
        "output_size too small",
        lambda: up_t(T(x2), output_size=[12, 13]),
        lambda: up_n(x2, output_size=[12, 13]),
        until(" (for an input"),
        ("[7, 7]",),
    ),
    Bad(
        "output_size full form",
        lambda: up_t(T(x2), output_size=[2, 6, 20, 13]),
        lambda: up_n(x2, output_size=[2, 6, 20, 13]),
        until(" (for an input"),
    ),
    Bad(
        "output_size 1d",
        lambda: up1_t(T(x1), output_size=[25]),
        lambda: up1_n(x1, output_size=[25]),
        until(" (for an input"),
    ),
    Bad(
        "output_size length",
        lambda: up_t(T(x2), output_size=[13, 13, 13]),
        lambda: up_n(x2, output_size=[13, 13, 13]),
    ),
    Bad(
        "output_size length unbatched",
        lambda: up_t(T(x2[0]), output_size=[2, 6, 13, 13]),
        lambda: up_n(x2[0], output_size=[2, 6, 13, 13]),
    ),
    Bad(
        "output_size length 3d",
        lambda: up3_t(T(x3), output_size=[11]),
        lambda: up3_n(x3, output_size=[11]),
    ),
    # wrong input rank
    Bad("rank conv2d 2-d", lambda: TF.conv2d(T(x2[0, 0]), T(w2)), lambda: F.conv2d(x2[0, 0], w2)),
    Bad("rank conv2d 5-d", lambda: TF.conv2d(T(x3), T(w2)), lambda: F.conv2d(x3, w2)),
    Bad("rank conv1d", lambda: TF.conv1d(T(x1[0, 0]), T(w1)), lambda: F.conv1d(x1[0, 0], w1)),
    Bad(
        "rank conv_transpose3d",
        lambda: TF.conv_transpose3d(T(x2), T(t3)),
        lambda: F.conv_transpose3d(x2, t3),
    ),
    Bad("rank module", lambda: conv2d_t(T(x3)), lambda: conv2d_n(x3)),
    Bad("rank transposed module", lambda: up_t(T(x1)), lambda: up_n(x1)),
    Bad(
        "rank lazy module",
        lambda: lazy_t(T(x3)),
        lambda: lazy_n(x3),
        None,
        ("4D", "[2, 4, 5, 6, 7]"),
    ),
    # unfold and fold
    Bad(
        "unfold blocks",
        lambda: TF.unfold(T(x2[:, :, :3, :3]), 4),
        lambda: F.unfold(x2[:, :, :3, :3], 4),
    ),
    Bad(
        "unfold blocks dilated",
        lambda: TF.unfold(T(x2), (2, 3), dilation=(1, 5), padding=1),
        lambda: F.unfold(x2, (2, 3), dilation=(1, 5), padding=1),
    ),
    Bad("unfold module", lambda: unfold_t(T(x2[:, :, :3])), lambda: unfold_n(x2[:, :, :3])),
    Bad("unfold kernel 0", lambda: TF.unfold(T(x2), 0), lambda: F.unfold(x2, 0)),
    Bad(
        "unfold stride 0",
        lambda: TF.unfold(T(x2), 2, stride=(0, 1)),
        lambda: F.unfold(x2, 2, stride=(0, 1)),
    ),
    Bad(
        "unfold dilation 0",
        lambda: TF.unfold(T(x2), 2, dilation=0),
        lambda: F.unfold(x2, 2, dilation=0),
    ),
    Bad(
        "unfold padding -1",
        lambda: TF.unfold(T(x2), 2, padding=-1),
        lambda: F.unfold(x2, 2, padding=-1),
    ),
    Bad(
        "unfold rank",
        lambda: TF.unfold(T(x2[0, 0]), 2),
        lambda: F.unfold(x2[0, 0], 2),
        None,
        ("3D or 4D", "[7, 7]"),
    ),
    Bad(
        "fold divisibility",
        lambda: TF.fold(T(randn(1, 5, 4)), (3, 3), 2),
        lambda: F.fold(randn(1, 5, 4), (3, 3), 2),
    ),
    Bad(
        "fold blocks",
        lambda: TF.fold(T(randn(1, 8, 5)), (3, 3), 2),
        lambda: F.fold(randn(1, 8, 5), (3, 3), 2),
    ),
    Bad(
        "fold blocks strided",
        lambda: TF.fold(T(randn(2, 12, 5)), (5, 4), (2, 3), stride=2, padding=1),
        lambda: F.fold(randn(2, 12, 5), (5, 4), (2, 3), stride=2, padding=1),
    ),
    Bad(
        "fold no blocks",
        lambda: TF.fold(T(randn(1, 8, 1)), (1, 1), 2),
        lambda: F.fold(randn(1, 8, 1), (1, 1), 2),
    ),
    Bad("fold rank", lambda: TF.fold(T(randn(8)), (3, 3), 2), lambda: F.fold(randn(8), (3, 3), 2)),
    Bad(
        "fold kernel 0",
        lambda: TF.fold(T(randn(1, 8, 4)), (3, 3), 0),
        lambda: F.fold(randn(1, 8, 4), (3, 3), 0),
    ),
    Bad("fold module", lambda: fold_t(T(randn(1, 8, 5))), lambda: fold_n(randn(1, 8, 5))),
    # reflect padding too large; circular wrapping more than once
    Bad("reflect 2d", *reflect(2, 7, (2, 4, 7, 7)), reflect_core),
    Bad("reflect 2d height", *reflect(2, (7, 1), (2, 4, 7, 9)), reflect_core),
    Bad("reflect 1d", *reflect(1, 8, (2, 4, 7)), reflect_core),
    Bad("reflect 3d", *reflect(3, (1, 6, 1), (2, 4, 5, 6, 7)), reflect_core),
    Bad("reflect unbatched", *reflect(2, 7, (4, 7, 7)), reflect_core),
    Bad("circular 2d", *circular(2, 8, (2, 4, 7, 7)), lambda m: m.rstrip(".")),
    Bad("circular 1d", *circular(1, 8, (2, 4, 7)), lambda m: m.rstrip(".")),
    Bad("circular 3d", *circular(3, (6, 1, 1), (2, 4, 5, 6, 7)), lambda m: m.rstrip(".")),
]


@pytest.mark.needs_torch
@pytest.mark.parametrize("bad", BAD_CALLS, ids=[b.id for b in BAD_CALLS])
def test_npconv_rejects_what_torch_rejects(bad):
    with pytest.raises(Exception) as their_error:  # torch raises several types
        bad.theirs()
    with pytest.raises((ValueError, TypeError)) as our_error:
        bad.ours()
    ours, theirs = str(our_error.value), str(their_error.value)
    if bad.mirror is not None:
        shared = theirs if bad.mirror is True else bad.mirror(theirs)
        assert shared and shared in ours, f"torch: {theirs!r}\nnpconv: {ours!r}"
    for name in bad.names:
        assert name in ours


# --- limits that are not errors: the same calls, one step inside them, match torch ---------


@pytest.mark.needs_torch
@pytest.mark.parametrize("mode, padding", [("reflect", 6), ("circular", 7), ("replicate", 9)])
@pytest.mark.parametrize("n", [1, 2, 3])
def test_largest_mode_padding_accepted(n, mode, padding):
    theirs, ours = both_modules(f"Conv{n}d", 4, 6, 3, padding=padding, padding_mode=mode)
    ours.load_state_dict(theirs.state_dict())
    x = randn(*(2, 4) + (7,) * n)
    with torch.no_grad():
        expected = theirs(T(x)).numpy()
    np.testing.assert_allclose(ours(x), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.needs_torch
@pytest.mark.parametrize("extra", [0, 1])
def test_output_size_range_edges_accepted(extra):
    smallest = up_t(T(x2)).shape[-2:]
    size = [s + extra for s in smallest]
    assert up_n(x2, output_size=size).shape == tuple(up_t(T(x2), output_size=size).shape)


# --- dtypes --------------------------------------------------------------------------------

MIXED = [
    ("conv2d input", lambda x, w: TF.conv2d(x, w), lambda x, w: F.conv2d(x, w)),
    (
        "conv_transpose1d input",
        lambda x, w: TF.conv_transpose1d(x[..., 0], w[..., 0]),
        lambda x, w: F.conv_transpose1d(x[..., 0], w[..., 0]),
    ),
]


@pytest.mark.needs_torch
@pytest.mark.parametrize(
    "input_dtype, weight_dtype",
    [(np.float64, np.float32), (np.float32, np.float64), (np.float16, np.float32)],
)
@pytest.mark.parametrize("name, theirs, ours", MIXED, ids=[m[0] for m in MIXED])
def test_mixed_dtypes(name, theirs, ours, input_dtype, weight_dtype):
    x, w = randn(1, 4, 6, 6, dtype=input_dtype), randn(4, 4, 3, 3, dtype=weight_dtype)
    with pytest.raises(Exception):  # noqa: B017
        theirs(T(x), T(w))
    with pytest.raises(TypeError) as error:
        ours(x, w)
    message = str(error.value)
    assert np.dtype(input_dtype).name in message and np.dtype(weight_dtype).name in message


@pytest.mark.needs_torch
def test_mixed_dtype_bias():
    with pytest.raises(RuntimeError):
        TF.conv2d(T(x2), T(w2), T(randn(6, dtype=np.float64)))
    with pytest.raises(TypeError, match=r"float32.*float64"):
        F.conv2d(x2, w2, randn(6, dtype=np.float64))


@pytest.mark.needs_torch
@pytest.mark.parametrize("name", ["Conv2d", "ConvTranspose2d"])
def test_mixed_dtype_module(name):
    theirs, ours = both_modules(name, 4, 6, 3)
    x = randn(2, 4, 7, 7, dtype=np.float64)
    with pytest.raises(RuntimeError):
        theirs(T(x))
    with pytest.raises(TypeError) as error:
        ours(x)
    assert "float64" in str(error.value) and "float32" in str(error.value)


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint8, np.bool_])
@pytest.mark.parametrize(
    "call",
    [
        lambda x: F.conv2d(x, x[:3]),
        lambda x: F.conv_transpose2d(x, x),
        lambda x: nn.Conv2d(2, 3, 2)(x),
        lambda x: nn.ConvTranspose2d(2, 3, 2)(x),
        lambda x: F.unfold(x, 2),
        lambda x: nn.Fold((3, 3), 2)(x[0]),
    ],
    ids=["conv2d", "conv_transpose2d", "Conv2d", "ConvTranspose2d", "unfold", "Fold"],
)
def test_integer_and_bool_inputs_rejected(call, dtype):
    """torch computes some integer convolutions; npconv refuses them all by dtype."""
    x = np.ones((2, 2, 3, 3), dtype=dtype)
    with pytest.raises(TypeError, match=np.dtype(dtype).name):
        call(x)


@pytest.mark.needs_torch
@pytest.mark.parametrize("dtype", [np.int64, np.bool_])
def test_integer_input_to_float_module_torch_rejects_too(dtype):
    theirs, ours = both_modules("Conv2d", 2, 3, 2)
    x = np.ones((1, 2, 3, 3), dtype=dtype)
    with pytest.raises(Exception):  # noqa: B017
        theirs(T(x))
    with pytest.raises(TypeError, match=np.dtype(dtype).name):
        ours(x)


def test_module_dtype_rejected():
    with pytest.raises(TypeError, match="int32"):
        nn.Conv2d(2, 3, 2, dtype=np.int32)


# --- construction-time errors: npconv raises at once, torch often only at forward -------------

CONSTRUCTION = [
    # (class, args, kwargs, fragments of npconv's message)
    ("Conv2d", (4, 6, 0), {}, ("kernel_size", "0")),
    ("Conv2d", (4, 6, -1), {}, ("kernel_size", "-1")),
    ("Conv1d", (4, 6, (0,)), {}, ("kernel_size", "(0,)")),
    ("Conv2d", (4, 6, 3), dict(stride=0), ("stride", "0")),
    ("Conv3d", (4, 6, 3), dict(stride=(1, 0, 1)), ("stride", "(1, 0, 1)")),
    ("Conv2d", (4, 6, 3), dict(padding=-1), ("padding", "-1")),
    ("Conv2d", (4, 6, 3), dict(padding=(1, -1)), ("padding", "(1, -1)")),
    ("Conv2d", (4, 6, 3), dict(dilation=0), ("dilation", "0")),
    ("Conv2d", (4, 6, (3, 3, 3)), {}, ("kernel_size", "[3, 3, 3]", "2 values")),
    ("Conv1d", (4, 6, (3, 3)), {}, ("kernel_size", "[3, 3]", "1 values")),
    ("Conv3d", (4, 6, (3, 3)), {}, ("kernel_size", "[3, 3]", "3 values")),
    ("Conv2d", (4, 6, 3), dict(stride=(1, 2, 3)), ("stride", "[1, 2, 3]")),
    ("Conv2d", (4, 6, 3), dict(padding=(1, 2, 3)), ("padding", "[1, 2, 3]")),
    ("Conv2d", (4, 6, 3), dict(dilation=(1, 2, 3)), ("dilation", "[1, 2, 3]")),
    ("Conv2d", (4, 6, 3), dict(groups=0), ("groups",)),
    ("Conv2d", (4, 6, 3), dict(groups=-2), ("groups",)),
    ("Conv2d", (4, 6, 3), dict(groups=3), ("in_channels", "groups")),
    ("Conv2d", (4, 6, 3), dict(groups=4), ("out_channels", "groups")),
    ("Conv2d", (4, 6, 3.0), {}, ("kernel_size", "3.0")),
    ("Conv2d", (4, 6, 3), dict(stride=1.5), ("stride", "1.5")),
    ("Conv2d", (4.0, 6, 3), {}, ("in_channels", "4.0")),
    ("Conv2d", (-1, 6, 3), {}, ("in_channels", "-1")),
    ("Conv2d", (4, -6, 3), {}, ("out_channels", "-6")),
    ("ConvTranspose2d", (4, 6, 0), {}, ("kernel_size", "0")),
    ("ConvTranspose2d", (4, 6, 3), dict(stride=0), ("stride", "0")),
    ("ConvTranspose2d", (4, 6, 3), dict(padding=-1), ("padding", "-1")),
    ("ConvTranspose2d", (4, 6, 3), dict(output_padding=-1), ("output_padding", "-1")),
    ("ConvTranspose2d", (4, 6, 3), dict(dilation=0), ("dilation", "0")),
    ("ConvTranspose2d", (4, 6, 3), dict(groups=0), ("groups",)),
    ("ConvTranspose2d", (4, 6, 3), dict(groups=4), ("out_channels", "groups")),
    ("ConvTranspose2d", (4, 6, (3, 3, 3)), {}, ("kernel_size", "[3, 3, 3]")),
    ("ConvTranspose2d", (4, 6, 3), dict(output_padding=(1, 1, 1)), ("output_padding",)),
    ("ConvTranspose3d", (4, 6, 3), dict(stride=(2, 2)), ("stride", "[2, 2]")),
    ("LazyConv2d", (6, 0), {}, ("kernel_size", "0")),
    ("LazyConv2d", (6, 3), dict(stride=0), ("stride", "0")),
    ("LazyConv2d", (6, 3), dict(groups=0), ("groups",)),
    ("LazyConv2d", (6, 3), dict(groups=4), ("out_channels", "groups")),
    ("LazyConvTranspose2d", (6, 3), dict(padding=-1), ("padding", "-1")),
    ("LazyConvTranspose1d", (6, 3), dict(output_padding=-1), ("output_padding", "-1")),
    ("Unfold", (0,), {}, ("kernel", "0")),
    ("Unfold", (2,), dict(stride=0), ("stride", "0")),
    ("Unfold", (2,), dict(padding=-1), ("pad", "-1")),
    ("Unfold", (2,), dict(dilation=0), ("dilation", "0")),
    ("Fold", ((4, 4), 0), {}, ("kernel", "0")),
    ("Fold", ((4, 4), 2), dict(stride=0), ("stride", "0")),
]


def torch_input(name, n):
    if name == "Fold":
        return torch.randn(1, 4, 9)
    return torch.randn((2, 4) + (7,) * n)


@pytest.mark.needs_torch
@pytest.mark.parametrize(
    "name, args, kwargs, names",
    CONSTRUCTION,
    ids=[f"{c[0]}-{i}" for i, c in enumerate(CONSTRUCTION)],
)
def test_construction_errors(name, args, kwargs, names):
    with pytest.raises((ValueError, TypeError)) as error:
        getattr(nn, name)(*args, **kwargs)
    for fragment in names:
        assert fragment in str(error.value)
    # torch rejects the same arguments, if not at construction then at the first forward
    n = int(name[-2]) if "Conv" in name else 2
    with pytest.raises(Exception), warnings.catch_warnings():  # noqa: B017
        warnings.simplefilter("ignore")  # torch warns while it builds zero-element weights
        getattr(torch.nn, name)(*args, **kwargs)(torch_input(name, n))
