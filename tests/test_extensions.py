"""npconv beyond torch, each extension against an oracle that does not use npconv.

* asymmetric padding ((lo, hi) per dim): torch on an explicitly padded input
  (conv, unfold), or torch with padding 0 and then a crop (conv_transpose, fold);
* conv_transpose padding='same': onnx.reference's ConvTranspose with
  auto_pad='SAME_UPPER', and torch's full output cropped or extended by ONNX's split;
* conv_transpose padding_mode: torch autograd's input gradient of the conv with
  that padding and mode, plus the adjoint identity <conv(x), y> == <x, conv_transpose(y)>;
* N-d (4 spatial dims): sums of torch 3-d convs over slices; N-d unfold/fold:
  loops written here;
* every gradient of every extension by central differences in float64.
"""

import itertools
import math

import numpy as np
import onnx
import pytest

import optional

torch = optional.load("torch", "needs_torch")
from onnx.reference import ReferenceEvaluator  # noqa: E402

import npconv.functional as F  # noqa: E402
import npconv.grad as G  # noqa: E402
from npconv import nn  # noqa: E402

TF = optional.load("torch.nn.functional", "needs_torch")
TORCH_CONV = {1: TF.conv1d, 2: TF.conv2d, 3: TF.conv3d}
TORCH_CONV_TRANSPOSE = {1: TF.conv_transpose1d, 2: TF.conv_transpose2d, 3: TF.conv_transpose3d}
TORCH_PAD = {
    "zeros": "constant",
    "reflect": "reflect",
    "replicate": "replicate",
    "circular": "circular",
}
NUMPY_PAD = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}
MODES = ("zeros", "reflect", "replicate", "circular")


# --- oracles ---------------------------------------------------------------------------


def tensor(a):
    return None if a is None else torch.from_numpy(np.ascontiguousarray(a))


def pairs_of(padding, n):
    return ((padding, padding),) * n if isinstance(padding, int) else tuple(padding)


def torch_pad(x, pairs, mode):
    """torch.nn.functional.pad with one (lo, hi) pair per spatial dim, first dim first."""
    flat = [v for lo, hi in reversed(pairs) for v in (lo, hi)]
    return TF.pad(x, flat, mode=TORCH_PAD[mode])


def torch_padded_conv(x, w, b, stride, pairs, dilation, groups, mode="zeros"):
    """Pad explicitly in torch, then torch's conv with padding 0."""
    n = w.ndim - 2
    return TORCH_CONV[n](
        torch_pad(tensor(x), pairs, mode),
        tensor(w),
        tensor(b),
        stride=stride,
        dilation=dilation,
        groups=groups,
    ).numpy()


def crop_or_extend(full, pairs):
    """full[lo : size - hi] per spatial dim; a negative lo or hi adds that many zeros."""
    grow = [(max(-lo, 0), max(-hi, 0)) for lo, hi in pairs]
    full = np.pad(full, [(0, 0), (0, 0)] + grow)
    return full[
        (...,)
        + tuple(
            slice(max(lo, 0), size - max(hi, 0))
            for (lo, hi), size in zip(pairs, full.shape[2:], strict=True)
        )
    ]


def torch_cropped_conv_transpose(y, w, b, stride, pairs, output_padding, groups, dilation):
    """torch's conv_transpose with padding 0 (output_padding at the far end), then the crop."""
    n = w.ndim - 2
    full = TORCH_CONV_TRANSPOSE[n](
        tensor(y),
        tensor(w),
        None,
        stride=stride,
        output_padding=output_padding,
        groups=groups,
        dilation=dilation,
    ).numpy()
    out = crop_or_extend(full, pairs)
    return out if b is None else out + b.reshape((-1,) + (1,) * n)


def torch_conv_input_gradient(x_shape, w, y, stride, pairs, dilation, groups, mode):
    """d/dx <conv(x, w, padding, padding_mode), y> by torch autograd."""
    n = w.ndim - 2
    x = torch.zeros(x_shape, dtype=torch.float64, requires_grad=True)
    if all(lo == hi for lo, hi in pairs):
        # torch's own module with that padding_mode
        conv = getattr(torch.nn, f"Conv{n}d")(
            x_shape[1],
            w.shape[0],
            w.shape[2:],
            stride=stride,
            padding=tuple(lo for lo, _ in pairs),
            dilation=dilation,
            groups=groups,
            bias=False,
            padding_mode=mode,
            dtype=torch.float64,
        )
        with torch.no_grad():
            conv.weight.copy_(tensor(w))
        out = conv(x)
    else:
        out = TORCH_CONV[n](
            torch_pad(x, pairs, mode), tensor(w), stride=stride, dilation=dilation, groups=groups
        )
    assert tuple(out.shape) == y.shape
    (out * tensor(y)).sum().backward()
    return x.grad.numpy()


def onnx_conv_transpose_same(y, w, b, stride, dilation, output_padding):
    """onnx.reference's ConvTranspose with auto_pad='SAME_UPPER' (group 1)."""
    n = w.ndim - 2
    inputs = ["X", "W"] + (["B"] if b is not None else [])
    node = onnx.helper.make_node(
        "ConvTranspose",
        inputs,
        ["Y"],
        auto_pad="SAME_UPPER",
        strides=list(stride),
        dilations=list(dilation),
        output_padding=list(output_padding),
        kernel_shape=list(w.shape[2:]),
    )
    # without a bias, inputs names two: zip drops the None b
    feeds = dict(zip(inputs, (y, w, b), strict=False))
    (out,) = ReferenceEvaluator(node).run(None, feeds)
    assert out.ndim == n + 2
    return out


def onnx_same_upper_split(size, kernel, stride, dilation, output_padding):
    """ONNX's crop pairs for SAME_UPPER, from the operator spec (floor division)."""
    pairs = []
    for m, k, s, d, op in zip(size, kernel, stride, dilation, output_padding, strict=True):
        total = s * (m - 1) + op + d * (k - 1) + 1 - m * s
        pairs.append((total // 2, total - total // 2))
    return tuple(pairs)


def unfold_loops(x, kernel, dilation, pairs, stride):
    """N-d unfold by plain loops: (N, C, *S) -> (N, C*prod(k), L)."""
    padded = np.pad(x, [(0, 0), (0, 0)] + list(pairs))
    blocks = [
        (size - d * (k - 1) - 1) // s + 1
        for size, k, d, s in zip(padded.shape[2:], kernel, dilation, stride, strict=True)
    ]
    out = np.zeros(x.shape[:2] + (math.prod(kernel), math.prod(blocks)), x.dtype)
    for col, o in enumerate(itertools.product(*map(range, blocks))):
        for row, j in enumerate(itertools.product(*map(range, kernel))):
            at = tuple(oi * s + ji * d for oi, ji, s, d in zip(o, j, stride, dilation, strict=True))
            out[:, :, row, col] = padded[(slice(None), slice(None)) + at]
    return out.reshape(x.shape[0], -1, math.prod(blocks))


def fold_loops(cols, size, kernel, dilation, pairs, stride):
    """N-d fold by plain loops: (N, C*prod(k), L) -> (N, C, *size)."""
    padded_size = [m + lo + hi for m, (lo, hi) in zip(size, pairs, strict=True)]
    blocks = [
        (m - d * (k - 1) - 1) // s + 1
        for m, k, d, s in zip(padded_size, kernel, dilation, stride, strict=True)
    ]
    n, c = cols.shape[0], cols.shape[1] // math.prod(kernel)
    cols = cols.reshape(n, c, math.prod(kernel), math.prod(blocks))
    out = np.zeros((n, c) + tuple(padded_size), cols.dtype)
    for col, o in enumerate(itertools.product(*map(range, blocks))):
        for row, j in enumerate(itertools.product(*map(range, kernel))):
            at = tuple(oi * s + ji * d for oi, ji, s, d in zip(o, j, stride, dilation, strict=True))
            out[(slice(None), slice(None)) + at] += cols[:, :, row, col]
    return out[(...,) + tuple(slice(lo, lo + m) for m, (lo, _) in zip(size, pairs, strict=True))]


def numeric_gradient(loss, a, eps=1e-5):
    """Central differences of the scalar loss() with respect to every entry of `a` (in place)."""
    grad = np.zeros(a.shape)
    for index in np.ndindex(a.shape):
        saved = a[index]
        a[index] = saved + eps
        plus = loss()
        a[index] = saved - eps
        minus = loss()
        a[index] = saved
        grad[index] = (plus - minus) / (2 * eps)
    return grad


def check_module_gradients(module, x, rng):
    """module.backward against central differences for input, weight and bias (float64)."""
    out = module(x)
    g = rng.standard_normal(out.shape)
    module.zero_grad()
    dx = module.backward(g)
    loss = lambda: float(np.vdot(module(x), g))  # noqa: E731
    np.testing.assert_allclose(dx, numeric_gradient(loss, x), rtol=1e-6, atol=1e-7)
    for name, param in module.named_parameters():
        np.testing.assert_allclose(
            param.grad, numeric_gradient(loss, param), rtol=1e-6, atol=1e-7, err_msg=name
        )


def adjoint_gap(x, w, y, **options):
    """<conv(x), y> - <x, conv_transpose(y)>, relative to their size."""
    left = np.vdot(F.conv(x, w, **options), y)
    transpose_options = dict(options)
    transpose_options["output_padding"] = tuple(
        (m + lo + hi - d * (k - 1) - 1) % s
        for m, (lo, hi), k, s, d in zip(
            x.shape[2:],
            options["padding"],
            w.shape[2:],
            options["stride"],
            options["dilation"],
            strict=True,
        )
    )
    right = np.vdot(x, F.conv_transpose(y, w, **transpose_options))
    return abs(left - right) / max(abs(left), 1.0)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


# --- asymmetric padding ------------------------------------------------------------------

# (spatial size, kernel, stride, dilation, groups, padding pairs)
ASYMMETRIC = [
    ((9,), (3,), (2,), (1,), 1, ((2, 0),)),
    ((8,), (2,), (1,), (3,), 2, ((0, 3),)),
    ((7, 6), (3, 2), (2, 1), (1, 2), 1, ((1, 2), (0, 1))),
    ((6, 7), (2, 3), (1, 3), (2, 1), 2, ((0, 1), (3, 0))),
    ((5, 4, 6), (2, 3, 2), (1, 2, 2), (2, 1, 1), 1, ((1, 0), (2, 1), (0, 2))),
]


@pytest.mark.needs_torch
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("size, kernel, stride, dilation, groups, pairs", ASYMMETRIC)
def test_conv_asymmetric_padding_is_explicit_pad_then_conv(
    rng, size, kernel, stride, dilation, groups, pairs, mode
):
    x = rng.standard_normal((2, 2 * groups) + size)
    w = rng.standard_normal((3 * groups, 2) + kernel)
    b = rng.standard_normal(3 * groups)
    got = F.conv(
        x, w, b, stride=stride, padding=pairs, dilation=dilation, groups=groups, padding_mode=mode
    )
    expected = torch_padded_conv(x, w, b, stride, pairs, dilation, groups, mode)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)
    named = getattr(F, f"conv{len(size)}d")
    np.testing.assert_allclose(
        named(x, w, b, stride, pairs, dilation, groups, padding_mode=mode),
        expected,
        rtol=1e-10,
        atol=1e-10,
    )
    # the same result with np.pad as the padding oracle
    padded = np.pad(x, [(0, 0), (0, 0)] + list(pairs), mode=NUMPY_PAD[mode])
    np.testing.assert_allclose(
        F.conv(padded, w, b, stride=stride, dilation=dilation, groups=groups),
        expected,
        rtol=1e-10,
        atol=1e-10,
    )


@pytest.mark.needs_torch
@pytest.mark.parametrize("size, kernel, stride, dilation, groups, pairs", ASYMMETRIC)
def test_conv_transpose_asymmetric_padding_is_full_then_crop(
    rng, size, kernel, stride, dilation, groups, pairs
):
    n = len(size)
    output_padding = tuple(1 if s > 1 else 0 for s in stride)
    y = rng.standard_normal((2, 2 * groups) + size)
    w = rng.standard_normal((2 * groups, 3) + kernel)
    b = rng.standard_normal(3 * groups)
    got = F.conv_transpose(
        y,
        w,
        b,
        stride=stride,
        padding=pairs,
        output_padding=output_padding,
        groups=groups,
        dilation=dilation,
    )
    expected = torch_cropped_conv_transpose(
        y, w, b, stride, pairs, output_padding, groups, dilation
    )
    assert got.shape[2:] == tuple(
        (m - 1) * s - lo - hi + d * (k - 1) + op + 1
        for m, s, (lo, hi), d, k, op in zip(
            size, stride, pairs, dilation, kernel, output_padding, strict=True
        )
    )
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)
    # the torch-named n-d form takes the pairs too
    named = getattr(F, f"conv_transpose{n}d")
    np.testing.assert_allclose(
        named(y, w, b, stride, pairs, output_padding, groups, dilation),
        expected,
        rtol=1e-10,
        atol=1e-10,
    )


@pytest.mark.needs_torch
@pytest.mark.parametrize(
    "size, kernel, stride, dilation, pairs",
    [
        ((6, 7), (2, 3), (1, 2), (1, 1), ((1, 0), (0, 2))),
        ((5, 5), (3, 2), (2, 1), (1, 2), ((2, 1), (1, 0))),
        ((4, 6), (1, 2), (1, 3), (2, 1), ((0, 3), (2, 2))),
    ],
)
def test_unfold_and_fold_asymmetric_padding_against_torch(
    rng, size, kernel, stride, dilation, pairs
):
    x = rng.standard_normal((2, 3) + size)
    expected = TF.unfold(
        torch_pad(tensor(x), pairs, "zeros"), kernel, dilation=dilation, stride=stride
    ).numpy()
    got = F.unfold(x, kernel, dilation=dilation, padding=pairs, stride=stride)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    module = nn.Unfold(kernel, dilation=dilation, padding=pairs, stride=stride)
    np.testing.assert_allclose(module(x), expected, rtol=1e-12, atol=1e-12)

    cols = rng.standard_normal(got.shape)
    padded_size = tuple(m + lo + hi for m, (lo, hi) in zip(size, pairs, strict=True))
    full = TF.fold(tensor(cols), padded_size, kernel, dilation=dilation, stride=stride).numpy()
    expected = crop_or_extend(full, pairs)
    np.testing.assert_allclose(
        F.fold(cols, size, kernel, dilation=dilation, padding=pairs, stride=stride),
        expected,
        rtol=1e-12,
        atol=1e-12,
    )
    module = nn.Fold(size, kernel, dilation=dilation, padding=pairs, stride=stride)
    np.testing.assert_allclose(module(cols), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.needs_torch
def test_loop_oracle_agrees_with_torch_in_2d(rng):
    """The N-d loop references used below reproduce torch's unfold and fold in 2-d."""
    x = rng.standard_normal((2, 3, 6, 5))
    kernel, dilation, pairs, stride = (2, 3), (2, 1), ((1, 2), (0, 1)), (1, 2)
    cols = unfold_loops(x, kernel, dilation, pairs, stride)
    expected = TF.unfold(
        torch_pad(tensor(x), pairs, "zeros"), kernel, dilation=dilation, stride=stride
    ).numpy()
    np.testing.assert_array_equal(cols, expected)
    full = TF.fold(tensor(cols), (9, 6), kernel, dilation=dilation, stride=stride).numpy()
    np.testing.assert_allclose(
        fold_loops(cols, (6, 5), kernel, dilation, pairs, stride),
        full[:, :, 1:7, 0:5],
        rtol=1e-12,
        atol=1e-12,
    )


@pytest.mark.needs_torch
def test_conv2d_module_with_pairs(rng):
    m = nn.Conv2d(2, 3, (3, 2), padding=((1, 2), (0, 1)), dtype=np.float64)
    assert "padding=((1, 2), (0, 1))" in repr(m)
    x = rng.standard_normal((2, 2, 5, 6))
    expected = torch_padded_conv(
        x, np.asarray(m.weight), np.asarray(m.bias), (1, 1), ((1, 2), (0, 1)), (1, 1), 1
    )
    assert expected.shape == (2, 3, 6, 6)
    np.testing.assert_allclose(m(x), expected, rtol=1e-12, atol=1e-12)
    check_module_gradients(m, x, rng)


@pytest.mark.needs_torch
@pytest.mark.parametrize(
    "name",
    [
        "Conv1d",
        "Conv2d",
        "Conv3d",
        "LazyConv1d",
        "LazyConv2d",
        "LazyConv3d",
        "ConvTranspose1d",
        "ConvTranspose2d",
        "ConvTranspose3d",
        "LazyConvTranspose1d",
        "LazyConvTranspose2d",
        "LazyConvTranspose3d",
    ],
)
def test_every_conv_module_takes_pairs(rng, name):
    n = int(name[-2])
    pairs = ((2, 0), (0, 1), (1, 2))[:n]
    options = dict(
        kernel_size=(3, 2, 2)[:n],
        stride=(2, 1, 2)[:n],
        padding=pairs,
        dilation=(1, 2, 1)[:n],
        groups=2,
        dtype=np.float64,
    )
    transposed = "Transpose" in name
    if transposed:
        options["output_padding"] = (1, 0, 1)[:n]
    cls = getattr(nn, name)
    m = cls(6, **options) if name.startswith("Lazy") else cls(4, 6, **options)
    x = rng.standard_normal((2, 4) + (5, 4, 6)[:n])
    out = m(x)
    assert f"padding={pairs}" in repr(m)
    w, b = np.asarray(m.weight), np.asarray(m.bias)
    if transposed:
        expected = torch_cropped_conv_transpose(
            x, w, b, options["stride"], pairs, options["output_padding"], 2, options["dilation"]
        )
    else:
        expected = torch_padded_conv(x, w, b, options["stride"], pairs, options["dilation"], 2)
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.needs_torch
def test_lazy_transposed_modules_take_same_and_modes(rng):
    m = nn.LazyConvTranspose2d(3, (3, 1), stride=(2, 3), padding="same", dtype=np.float64)
    y = rng.standard_normal((2, 2, 3, 2))
    out = m(y)
    assert out.shape == (2, 3, 6, 6) and "padding=same" in repr(m)
    expected = onnx_conv_transpose_same(
        y, np.asarray(m.weight), np.asarray(m.bias), (2, 3), (1, 1), (0, 0)
    )
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-10)

    m = nn.LazyConvTranspose1d(
        3,
        3,
        stride=2,
        padding=((2, 1),),
        output_padding=1,
        padding_mode="replicate",
        bias=False,
        dtype=np.float64,
    )
    y = rng.standard_normal((2, 2, 4))
    out = m(y)
    assert out.shape == (2, 3, 7)
    expected = torch_conv_input_gradient(
        (2, 3, 7), np.asarray(m.weight), y, (2,), ((2, 1),), (1,), 1, "replicate"
    )
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(
    "padding", [((1,),), ((1, 2, 3),), ((1, 2), (3, 4)), ((-1, 0),), (((1, 0),),)]
)
def test_malformed_pairs_are_rejected(padding):
    with pytest.raises((ValueError, TypeError)):
        F.conv1d(np.ones((1, 1, 5)), np.ones((1, 1, 2)), padding=padding)


# --- conv_transpose padding='same' -------------------------------------------------------


def _same_grid():
    """1-d: every small combination (kernel < stride, odd totals, dilation, output_padding);
    2-d and 3-d: mixed per-dim settings."""
    cases = []
    for size, k, s, d, op in itertools.product((1, 4), (1, 2, 3, 4), (1, 2, 3), (1, 2), (0, 1)):
        if op < s:  # onnx.reference mishandles output_padding >= stride (and torch forbids it)
            cases.append(((size,), (k,), (s,), (d,), (op,)))
    cases += [
        ((3, 4), (3, 1), (2, 3), (1, 1), (0, 0)),
        ((4, 3), (2, 4), (3, 2), (2, 1), (1, 1)),
        ((2, 5), (5, 2), (1, 2), (1, 3), (0, 1)),
        ((3, 2, 4), (2, 3, 1), (2, 1, 3), (1, 2, 1), (0, 0, 2)),
        ((2, 3, 2), (3, 1, 4), (3, 2, 2), (2, 1, 1), (2, 1, 0)),
    ]
    return cases


@pytest.mark.parametrize(
    "size, kernel, stride, dilation, output_padding",
    _same_grid(),
    ids=lambda v: "x".join(map(str, v)),
)
def test_conv_transpose_same_against_onnx_reference(size, kernel, stride, dilation, output_padding):
    rng = np.random.default_rng(sum(size) * 7 + sum(kernel))
    y = rng.standard_normal((2, 2) + size).astype(np.float32)
    w = rng.standard_normal((2, 3) + kernel).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32)
    expected = onnx_conv_transpose_same(y, w, b, stride, dilation, output_padding)
    got = F.conv_transpose(
        y, w, b, stride=stride, padding="same", output_padding=output_padding, dilation=dilation
    )
    assert (
        got.shape
        == expected.shape
        == (2, 3) + tuple(m * s for m, s in zip(size, stride, strict=True))
    )
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.needs_torch
@pytest.mark.parametrize("size, kernel, stride, dilation, output_padding", _same_grid()[::3])
def test_conv_transpose_same_with_groups_is_torch_full_then_onnx_split(
    rng, size, kernel, stride, dilation, output_padding
):
    """Groups (where onnx.reference cannot help): torch's full output, cut by ONNX's split."""
    y = rng.standard_normal((2, 4) + size)
    w = rng.standard_normal((4, 3) + kernel)
    b = rng.standard_normal(6)
    pairs = onnx_same_upper_split(size, kernel, stride, dilation, output_padding)
    expected = torch_cropped_conv_transpose(y, w, b, stride, pairs, output_padding, 2, dilation)
    got = F.conv_transpose(
        y,
        w,
        b,
        stride=stride,
        padding="same",
        output_padding=output_padding,
        groups=2,
        dilation=dilation,
    )
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.needs_torch
def test_conv_transpose_valid_is_padding_zero(rng):
    y, w = rng.standard_normal((1, 2, 4, 3)), rng.standard_normal((2, 3, 3, 2))
    expected = TF.conv_transpose2d(tensor(y), tensor(w), stride=(2, 3)).numpy()
    np.testing.assert_allclose(
        F.conv_transpose(y, w, stride=(2, 3), padding="valid"), expected, rtol=1e-12, atol=1e-12
    )


def test_conv_transpose1d_module_same(rng):
    m = nn.ConvTranspose1d(2, 4, 3, stride=2, padding="same", dtype=np.float64)
    assert "padding=same" in repr(m)
    x = rng.standard_normal((2, 2, 5))
    out = m(x)
    assert out.shape == (2, 4, 10)
    expected = onnx_conv_transpose_same(
        x, np.asarray(m.weight), np.asarray(m.bias), (2,), (1,), (0,)
    )
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-10)
    check_module_gradients(m, x, rng)


# --- conv_transpose padding_mode -----------------------------------------------------------

# (spatial size of the conv input, kernel, stride, dilation, groups, padding)
MODE_CASES = [
    ((7,), (3,), (1,), (1,), 1, 1),
    ((8,), (3,), (2,), (1,), 2, ((2, 1),)),
    ((9,), (2,), (3,), (2,), 1, ((0, 2),)),
    ((6, 7), (3, 2), (2, 1), (1, 1), 1, 1),
    ((7, 6), (3, 3), (1, 2), (2, 1), 2, ((1, 2), (2, 0))),
    ((5, 6), (2, 3), (2, 2), (1, 1), 1, ((1, 0), (0, 2))),
    ((4, 5, 4), (2, 3, 2), (1, 2, 1), (1, 1, 1), 1, ((1, 0), (1, 2), (0, 1))),
    ((5, 4, 5), (3, 2, 3), (2, 2, 2), (1, 1, 2), 2, 1),
]


def _mode_operands(rng, size, kernel, stride, dilation, groups, padding):
    n = len(size)
    pairs = pairs_of(padding, n)
    w = rng.standard_normal((3 * groups, 2) + kernel)
    out = tuple(
        (m + lo + hi - d * (k - 1) - 1) // s + 1
        for m, (lo, hi), k, s, d in zip(size, pairs, kernel, stride, dilation, strict=True)
    )
    y = rng.standard_normal((2, 3 * groups) + out)
    output_padding = tuple(
        (m + lo + hi - d * (k - 1) - 1) % s
        for m, (lo, hi), k, s, d in zip(size, pairs, kernel, stride, dilation, strict=True)
    )
    return pairs, w, y, output_padding


@pytest.mark.needs_torch
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("size, kernel, stride, dilation, groups, padding", MODE_CASES)
def test_conv_transpose_mode_is_torch_conv_input_gradient(
    rng, size, kernel, stride, dilation, groups, padding, mode
):
    pairs, w, y, output_padding = _mode_operands(
        rng, size, kernel, stride, dilation, groups, padding
    )
    expected = torch_conv_input_gradient(
        (2, 2 * groups) + size, w, y, stride, pairs, dilation, groups, mode
    )
    got = F.conv_transpose(
        y,
        w,
        stride=stride,
        padding=padding,
        output_padding=output_padding,
        groups=groups,
        dilation=dilation,
        padding_mode=mode,
    )
    # output size: torch's transposed-conv formula for the same padding
    assert (
        got.shape[2:]
        == tuple(
            (m - 1) * s - lo - hi + d * (k - 1) + op + 1
            for m, s, (lo, hi), d, k, op in zip(
                y.shape[2:], stride, pairs, dilation, kernel, output_padding, strict=True
            )
        )
        == size
    )
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)
    # npconv.grad's conv_input is the same operation
    np.testing.assert_allclose(
        G.conv_input(
            (2, 2 * groups) + size,
            w,
            y,
            stride=stride,
            padding=padding,
            dilation=dilation,
            groups=groups,
            padding_mode=mode,
        ),
        expected,
        rtol=1e-10,
        atol=1e-10,
    )


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("size, kernel, stride, dilation, groups, padding", MODE_CASES)
def test_adjoint_identity_in_every_mode(rng, size, kernel, stride, dilation, groups, padding, mode):
    pairs, w, y, _ = _mode_operands(rng, size, kernel, stride, dilation, groups, padding)
    x = rng.standard_normal((2, 2 * groups) + size)
    assert (
        adjoint_gap(
            x,
            w,
            y,
            stride=stride,
            padding=pairs,
            dilation=dilation,
            groups=groups,
            padding_mode=mode,
        )
        < 1e-12
    )


@pytest.mark.needs_torch
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("size, padding", [((5, 6), 1), ((4, 7), (2, 1)), ((6, 5), 0)])
def test_conv_transpose_mode_output_shape_is_torchs(rng, size, padding, mode):
    """Same padding, same output shape as torch's (zeros-only) ConvTranspose2d, in every mode."""
    reference = torch.nn.ConvTranspose2d(
        2, 3, (3, 2), stride=(2, 1), padding=padding, output_padding=(1, 0), dtype=torch.float64
    )
    y = rng.standard_normal((1, 2) + size)
    out = F.conv_transpose(
        y,
        np.asarray(reference.weight.detach()),
        stride=(2, 1),
        padding=padding,
        output_padding=(1, 0),
        padding_mode=mode,
    )
    assert out.shape == tuple(reference(tensor(y)).shape)


def test_conv_transpose_mode_errors():
    y, w = np.ones((1, 1, 4)), np.ones((1, 1, 3))  # full output 6
    # reflect: padding must be smaller than the output (6 - 2*2 = 2)
    with pytest.raises(ValueError, match="Padding size should be less than"):
        F.conv_transpose(y, w, padding=2, padding_mode="reflect")
    # circular: padding 3 would wrap an output of 0 ... 2 more than once
    with pytest.raises(ValueError, match="wrapping around more than once"):
        F.conv_transpose(np.ones((1, 1, 6)), w, padding=3, padding_mode="circular")
    # 'same' that extends (kernel < stride) has no border to fold back
    for mode in ("reflect", "replicate", "circular"):
        with pytest.raises(ValueError, match="extends the output"):
            F.conv_transpose(y, np.ones((1, 1, 1)), stride=3, padding="same", padding_mode=mode)
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        F.conv_transpose(y, w, padding_mode="symmetric")
    # the limits are the conv's: reflect 1 < 2 and circular 2 <= 2 are fine
    F.conv_transpose(np.ones((1, 1, 2)), np.ones((1, 1, 3)), padding=1, padding_mode="reflect")
    F.conv_transpose(np.ones((1, 1, 4)), np.ones((1, 1, 3)), padding=2, padding_mode="circular")


@pytest.mark.needs_torch
def test_conv_transpose2d_module_reflect(rng):
    m = nn.ConvTranspose2d(
        2, 3, 3, stride=2, padding=1, output_padding=1, padding_mode="reflect", dtype=np.float64
    )
    assert "padding_mode=reflect" in repr(m)
    y = rng.standard_normal((2, 2, 4, 3))
    out = m(y)
    assert out.shape == (2, 3, 8, 6)
    # module weight (in, out, k, k) is the weight of a conv from 3 to 2 channels
    expected = torch_conv_input_gradient(
        (2, 3, 8, 6), np.asarray(m.weight), y, (2, 2), ((1, 1), (1, 1)), (1, 1), 1, "reflect"
    )
    np.testing.assert_allclose(
        out, expected + np.asarray(m.bias).reshape(3, 1, 1), rtol=1e-10, atol=1e-10
    )
    check_module_gradients(m, y, rng)


# --- N-d: 4 spatial dims, composed from torch's 3-d ops -------------------------------------


def conv4d_from_slices(x, w, b, stride, pairs, dilation, groups, mode):
    """A 4-d conv is, per output index along dim 0, a sum over kernel dim 0 of 3-d convs."""
    padded = np.pad(x, [(0, 0), (0, 0)] + list(pairs), mode=NUMPY_PAD[mode])
    s0, d0, k0 = stride[0], dilation[0], w.shape[2]
    out0 = (padded.shape[2] - d0 * (k0 - 1) - 1) // s0 + 1
    slices = []
    for o in range(out0):
        slices.append(
            sum(
                TF.conv3d(
                    tensor(padded[:, :, o * s0 + j * d0]),
                    tensor(w[:, :, j]),
                    stride=stride[1:],
                    dilation=dilation[1:],
                    groups=groups,
                ).numpy()
                for j in range(k0)
            )
        )
    return np.stack(slices, axis=2) + b.reshape(-1, 1, 1, 1, 1)


def conv_transpose4d_from_slices(y, w, b, stride, pairs, output_padding, dilation, groups):
    """A 4-d transposed conv scatters 3-d transposed convs along dim 0, then crops."""
    s0, d0, k0 = stride[0], dilation[0], w.shape[2]
    length = (y.shape[2] - 1) * s0 + d0 * (k0 - 1) + 1 + output_padding[0]
    full = None
    for i in range(y.shape[2]):
        for j in range(k0):
            part = TF.conv_transpose3d(
                tensor(y[:, :, i]),
                tensor(w[:, :, j]),
                stride=stride[1:],
                output_padding=output_padding[1:],
                groups=groups,
                dilation=dilation[1:],
            ).numpy()
            if full is None:
                full = np.zeros(part.shape[:2] + (length,) + part.shape[2:])
            full[:, :, i * s0 + j * d0] += part
    return crop_or_extend(full, pairs) + b.reshape(-1, 1, 1, 1, 1)


ND_CASES = [  # (size, kernel, stride, dilation, groups, pairs)
    ((5, 4, 4, 3), (2, 2, 3, 1), (1, 2, 1, 1), (2, 1, 1, 1), 1, ((1, 0), (0, 1), (1, 1), (0, 2))),
    ((4, 5, 3, 4), (3, 1, 2, 2), (2, 1, 1, 2), (1, 1, 2, 1), 2, ((2, 1), (0, 0), (1, 2), (1, 0))),
]


@pytest.mark.needs_torch
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("size, kernel, stride, dilation, groups, pairs", ND_CASES)
def test_conv_4d_is_a_sum_of_3d_convs(rng, size, kernel, stride, dilation, groups, pairs, mode):
    x = rng.standard_normal((2, 2 * groups) + size)
    w = rng.standard_normal((2 * groups, 2) + kernel)
    b = rng.standard_normal(2 * groups)
    expected = conv4d_from_slices(x, w, b, stride, pairs, dilation, groups, mode)
    got = F.conv(
        x, w, b, stride=stride, padding=pairs, dilation=dilation, groups=groups, padding_mode=mode
    )
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.needs_torch
@pytest.mark.parametrize("size, kernel, stride, dilation, groups, pairs", ND_CASES)
def test_conv_transpose_4d_is_a_scatter_of_3d_transposed_convs(
    rng, size, kernel, stride, dilation, groups, pairs
):
    output_padding = tuple(s - 1 for s in stride)
    y = rng.standard_normal((2, 2 * groups) + size)
    w = rng.standard_normal((2 * groups, 2) + kernel)
    b = rng.standard_normal(2 * groups)
    expected = conv_transpose4d_from_slices(
        y, w, b, stride, pairs, output_padding, dilation, groups
    )
    got = F.conv_transpose(
        y,
        w,
        b,
        stride=stride,
        padding=pairs,
        output_padding=output_padding,
        groups=groups,
        dilation=dilation,
    )
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.needs_torch
def test_nd_modules_in_4d(rng):
    size, kernel, stride, dilation, _, pairs = ND_CASES[0]
    conv = nn.ConvNd(
        2,
        3,
        kernel,
        stride=stride,
        padding=pairs,
        dilation=dilation,
        padding_mode="circular",
        dtype=np.float64,
    )
    x = rng.standard_normal((1, 2) + size)
    np.testing.assert_allclose(
        conv(x),
        conv4d_from_slices(
            x,
            np.asarray(conv.weight),
            np.asarray(conv.bias),
            stride,
            pairs,
            dilation,
            1,
            "circular",
        ),
        rtol=1e-10,
        atol=1e-10,
    )
    transposed = nn.ConvTransposeNd(
        2,
        3,
        kernel,
        stride=stride,
        padding=pairs,
        dilation=dilation,
        output_padding=(0, 1, 0, 0),
        dtype=np.float64,
    )
    np.testing.assert_allclose(
        transposed(x),
        conv_transpose4d_from_slices(
            x,
            np.asarray(transposed.weight),
            np.asarray(transposed.bias),
            stride,
            pairs,
            (0, 1, 0, 0),
            dilation,
            1,
        ),
        rtol=1e-10,
        atol=1e-10,
    )


@pytest.mark.parametrize("mode", ("reflect", "replicate", "circular"))
def test_conv_transpose_4d_modes_satisfy_the_adjoint_identity(rng, mode):
    size, kernel, stride, dilation, groups, pairs = ND_CASES[1]
    x = rng.standard_normal((1, 2 * groups) + size)
    w = rng.standard_normal((2 * groups, 2) + kernel)
    y = F.conv(
        x, w, stride=stride, padding=pairs, dilation=dilation, groups=groups, padding_mode=mode
    )
    y = rng.standard_normal(y.shape)
    assert (
        adjoint_gap(
            x,
            w,
            y,
            stride=stride,
            padding=pairs,
            dilation=dilation,
            groups=groups,
            padding_mode=mode,
        )
        < 1e-12
    )


@pytest.mark.parametrize(
    "size, kernel, dilation, pairs, stride",
    [
        ((7,), (3,), (2,), ((1, 2),), (2,)),
        ((4, 5, 4), (2, 3, 2), (1, 1, 2), ((1, 0), (0, 2), (1, 1)), (1, 2, 1)),
        ((3, 4, 3, 4), (2, 2, 1, 3), (1, 2, 1, 1), ((0, 1), (1, 0), (0, 0), (2, 1)), (2, 1, 1, 2)),
    ],
)
def test_unfold_and_fold_nd_against_loops(rng, size, kernel, dilation, pairs, stride):
    x = rng.standard_normal((2, 3) + size)
    expected = unfold_loops(x, kernel, dilation, pairs, stride)
    np.testing.assert_array_equal(F.unfold(x, kernel, dilation, pairs, stride), expected)
    cols = rng.standard_normal(expected.shape)
    np.testing.assert_allclose(
        F.fold(cols, size, kernel, dilation, pairs, stride),
        fold_loops(cols, size, kernel, dilation, pairs, stride),
        rtol=1e-12,
        atol=1e-12,
    )


@pytest.mark.needs_torch
def test_unfold_3d_is_torch_2d_unfold_per_depth_offset(rng):
    """The 3-d block rows for depth offset j are torch's 2-d unfold of depth slice o*s + j*d."""
    x = rng.standard_normal((2, 2, 5, 4, 6))
    kernel, dilation, stride = (2, 2, 3), (2, 1, 1), (1, 2, 1)
    got = F.unfold(x, kernel, dilation=dilation, stride=stride)
    depth_blocks = (5 - 2 - 1) // 1 + 1
    got = got.reshape(2, 2, 2, 6, depth_blocks, -1)  # (N, C, k_depth, k_h*k_w, o_depth, L_hw)
    for j in range(2):
        for o in range(depth_blocks):
            plane = TF.unfold(
                tensor(x[:, :, o * stride[0] + j * dilation[0]]),
                kernel[1:],
                dilation=dilation[1:],
                stride=stride[1:],
            ).numpy()
            np.testing.assert_array_equal(got[:, :, j, :, o], plane.reshape(2, 2, 6, -1))


# --- gradients of every extension by central differences (float64) ----------------------

GRADIENT_MODULES = (
    [
        (
            "conv1d pairs",
            lambda: nn.Conv1d(2, 2, 3, stride=2, padding=((2, 0),), dtype=np.float64),
            (1, 2, 7),
        ),
        (
            "conv2d pairs reflect",
            lambda: nn.Conv2d(
                2, 2, (2, 3), padding=((1, 0), (0, 2)), padding_mode="reflect", dtype=np.float64
            ),
            (1, 2, 4, 5),
        ),
        (
            "conv3d pairs",
            lambda: nn.Conv3d(
                1, 2, 2, stride=(1, 2, 1), padding=((0, 1), (1, 0), (1, 1)), dtype=np.float64
            ),
            (1, 1, 3, 4, 3),
        ),
        (
            "conv_transpose1d pairs",
            lambda: nn.ConvTranspose1d(
                2, 2, 3, stride=2, output_padding=1, padding=((2, 1),), dtype=np.float64
            ),
            (1, 2, 5),
        ),
        (
            "conv_transpose2d pairs groups",
            lambda: nn.ConvTranspose2d(
                2, 4, (3, 2), stride=(2, 1), padding=((0, 2), (1, 0)), groups=2, dtype=np.float64
            ),
            (1, 2, 3, 4),
        ),
        (
            "conv_transpose3d pairs",
            lambda: nn.ConvTranspose3d(
                1, 2, 2, stride=(2, 1, 1), padding=((1, 0), (0, 1), (0, 0)), dtype=np.float64
            ),
            (1, 1, 2, 3, 2),
        ),
        (
            "conv_transpose1d same k<s",
            lambda: nn.ConvTranspose1d(2, 2, 1, stride=3, padding="same", dtype=np.float64),
            (1, 2, 4),
        ),
        (
            "conv_transpose2d same odd",
            lambda: nn.ConvTranspose2d(
                2, 2, (4, 3), stride=(2, 1), dilation=(1, 2), padding="same", dtype=np.float64
            ),
            (1, 2, 3, 4),
        ),
        (
            "conv_transpose3d same",
            lambda: nn.ConvTranspose3d(
                1, 2, (3, 1, 2), stride=(2, 2, 1), padding="same", dtype=np.float64
            ),
            (1, 1, 2, 3, 2),
        ),
    ]
    + [
        (
            f"conv_transpose2d {mode}",
            lambda mode=mode: nn.ConvTranspose2d(
                2,
                2,
                3,
                stride=2,
                padding=((1, 2), (2, 1)),
                output_padding=1,
                padding_mode=mode,
                dtype=np.float64,
            ),
            (1, 2, 3, 3),
        )
        for mode in ("reflect", "replicate", "circular")
    ]
    + [
        (
            "conv_transpose1d circular groups",
            lambda: nn.ConvTranspose1d(
                4, 2, 3, stride=2, padding=2, groups=2, padding_mode="circular", dtype=np.float64
            ),
            (1, 4, 5),
        ),
        (
            "conv_transpose3d replicate",
            lambda: nn.ConvTranspose3d(
                1,
                2,
                2,
                stride=(1, 2, 1),
                padding=((1, 0), (0, 1), (1, 1)),
                padding_mode="replicate",
                dtype=np.float64,
            ),
            (1, 1, 3, 2, 3),
        ),
        (
            "conv_transpose4d reflect",
            lambda: nn.ConvTransposeNd(
                1,
                1,
                (2, 1, 2, 2),
                stride=(1, 2, 1, 1),
                padding=((1, 0), (0, 0), (0, 1), (1, 0)),
                padding_mode="reflect",
                dtype=np.float64,
            ),
            (1, 1, 2, 2, 3, 2),
        ),
    ]
)


@pytest.mark.parametrize(
    "name, make_module, shape", GRADIENT_MODULES, ids=[case[0] for case in GRADIENT_MODULES]
)
def test_module_gradients_by_central_differences(rng, name, make_module, shape):
    check_module_gradients(make_module(), rng.standard_normal(shape), rng)


@pytest.mark.parametrize(
    "padding, mode",
    [
        (((1, 2), (0, 1)), "zeros"),
        ("same", "zeros"),
        (((1, 0), (1, 1)), "reflect"),
        (((0, 1), (1, 1)), "replicate"),
        (((2, 1), (0, 2)), "circular"),
    ],
)
def test_grad_functions_by_central_differences(rng, padding, mode):
    """npconv.grad's transposed-conv input and weight gradients with the extensions."""
    options = dict(
        stride=(2, 1), padding=padding, output_padding=(1, 0), dilation=(1, 2), padding_mode=mode
    )
    y = rng.standard_normal((1, 2, 3, 3))
    w = rng.standard_normal((2, 2, 2, 2))
    g = rng.standard_normal(F.conv_transpose(y, w, **options).shape)
    loss = lambda: float(np.vdot(F.conv_transpose(y, w, **options), g))  # noqa: E731
    np.testing.assert_allclose(
        G.conv_transpose_input(y.shape, w, g, **options),
        numeric_gradient(loss, y),
        rtol=1e-6,
        atol=1e-7,
    )
    np.testing.assert_allclose(
        G.conv_transpose_weight(y, w.shape, g, **options),
        numeric_gradient(loss, w),
        rtol=1e-6,
        atol=1e-7,
    )


@pytest.mark.parametrize(
    "kernel, dilation, padding, stride, size",
    [
        ((2, 2, 2), (1, 2, 1), ((1, 0), (0, 1), (1, 1)), (1, 1, 2), (3, 4, 3)),
        ((2, 1, 2, 2), 1, ((0, 1), (1, 0), (0, 0), (1, 1)), (2, 1, 1, 1), (3, 2, 2, 3)),
        ((3,), (2,), ((2, 1),), (2,), (6,)),
    ],
)
def test_nd_unfold_and_fold_gradients_by_central_differences(
    rng, kernel, dilation, padding, stride, size
):
    unfold = nn.Unfold(kernel, dilation=dilation, padding=padding, stride=stride)
    x = rng.standard_normal((1, 2) + size)
    g = rng.standard_normal(unfold(x).shape)
    loss = lambda: float(np.vdot(unfold(x), g))  # noqa: E731
    numeric = numeric_gradient(loss, x)
    unfold(x)
    np.testing.assert_allclose(unfold.backward(g), numeric, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(
        G.unfold_input(x.shape, g, kernel, dilation, padding, stride), numeric, rtol=1e-6, atol=1e-7
    )

    fold = nn.Fold(size, kernel, dilation=dilation, padding=padding, stride=stride)
    cols = rng.standard_normal(g.shape)
    h = rng.standard_normal(x.shape)
    loss = lambda: float(np.vdot(fold(cols), h))  # noqa: E731
    numeric = numeric_gradient(loss, cols)
    fold(cols)
    np.testing.assert_allclose(fold.backward(h), numeric, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(
        G.fold_input(h, kernel, dilation, padding, stride), numeric, rtol=1e-6, atol=1e-7
    )
