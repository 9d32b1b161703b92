"""Gradients against torch: autograd through the same modules with the same
weights, torch.nn.grad for the conv{1,2,3}d_input/_weight functions, and
autograd through torch's functional ops for the rest (transposed convs,
padding modes, fold/unfold, complex dtypes).

Errors are measured as max|npconv - torch| / max|torch| per gradient.
"""

import numpy as np
import pytest

import optional

pytestmark = pytest.mark.needs_torch
torch = optional.load("torch", "needs_torch")
TF = optional.load("torch.nn.functional", "needs_torch")
TG = optional.load("torch.nn.grad", "needs_torch")

if optional.installed(torch):
    torch.set_num_threads(1)  # tiny arrays: threads only add overhead on a shared machine

import npconv.functional as F  # noqa: E402
import npconv.grad as G  # noqa: E402
import npconv.nn as nn  # noqa: E402
from npconv import conv as conv_op  # noqa: E402
from npconv import conv_transpose as conv_transpose_op  # noqa: E402

TOLERANCE = {np.float32: 2e-5, np.float64: 1e-12, np.complex64: 2e-5, np.complex128: 1e-12}
TORCH_DTYPE = {
    np.float32: torch.float32,
    np.float64: torch.float64,
    np.complex64: torch.complex64,
    np.complex128: torch.complex128,
}
FLOATS = [pytest.param(np.float32, id="float32"), pytest.param(np.float64, id="float64")]
MODES = ("reflect", "replicate", "circular")

BIG = {1: (9,), 2: (6, 7), 3: (5, 4, 5)}  # conv input sizes
SMALL = {1: (5,), 2: (4, 3), 3: (3, 4, 2)}  # conv_transpose input sizes
KERNEL = {1: (3,), 2: (3, 2), 3: (2, 3, 2)}


def random(rng, shape, dtype):
    a = rng.standard_normal(shape)
    if np.issubdtype(dtype, np.complexfloating):
        a = a + 1j * rng.standard_normal(shape)
    return a.astype(dtype)


def relative_error(actual, expected):
    expected = expected.detach().numpy() if isinstance(expected, torch.Tensor) else expected
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    scale = np.abs(expected).max(initial=0.0)
    return float(np.abs(actual - expected).max(initial=0.0) / (scale if scale > 0 else 1.0))


def assert_close(actual, expected, dtype):
    assert actual.dtype == dtype
    error = relative_error(actual, expected)
    assert error <= TOLERANCE[dtype], f"relative error {error:.3g}"


def tensor(a, grad=False):
    return torch.tensor(a, requires_grad=grad)


def fit(options, n):
    """Per-dim tuples (of ints or of (lo, hi) pairs) written for 3 dims cut to n."""
    return {k: (v[:n] if isinstance(v, tuple) else v) for k, v in options.items()}


# --- modules: autograd through torch.nn with the same weights ----------------------


def module_gradients(tmodule, module, x, g, **forward):
    """(input, weight, bias) gradient pairs (npconv, torch) after one backward each."""
    tx = tensor(x, grad=True)
    ty = tmodule(tx, **forward)
    ty.backward(tensor(g))
    y = module(x, **forward)
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-4, atol=1e-5)
    gx = module.backward(g)
    pairs = [(gx, tx.grad)]
    for name, p in tmodule.named_parameters():
        pairs.append((getattr(module, name).grad, p.grad))
    if getattr(tmodule, "bias", None) is None:
        assert getattr(module, "bias", None) is None
    return pairs


def module_pair(name, arguments, options, dtype, seed=0):
    """torch.nn.<name> and npconv.nn.<name> built alike; npconv gets torch's weights."""
    torch.manual_seed(seed)
    tmodule = getattr(torch.nn, name)(*arguments, **options, dtype=TORCH_DTYPE[dtype])
    module = getattr(nn, name)(*arguments, **options, dtype=dtype)
    module.load_state_dict(tmodule.state_dict())
    return tmodule, module


def check_modules(tmodule, module, x, dtype, rng, **forward):
    with torch.no_grad():
        shape = tmodule(tensor(x), **forward).shape
    g = random(rng, tuple(shape), dtype)
    for actual, expected in module_gradients(tmodule, module, x, g, **forward):
        assert_close(actual, expected, dtype)


CONV_MODULE_OPTIONS = [
    ("default", {}),
    ("stride2-padding1", dict(stride=2, padding=1)),
    ("tuples", dict(stride=(1, 2, 1), padding=(1, 0, 1), dilation=(2, 1, 1))),
    ("same-dilated", dict(padding="same", dilation=2)),
    ("valid", dict(padding="valid")),
    *[(f"{mode}-padding1", dict(padding=1, padding_mode=mode)) for mode in MODES],
    ("reflect-same", dict(padding="same", padding_mode="reflect")),
    ("circular-stride2", dict(padding=2, stride=2, padding_mode="circular")),
    ("groups2-dilation2", dict(groups=2, dilation=2, padding=2)),
    ("depthwise", dict(groups=4)),
    ("no-bias", dict(bias=False)),
    ("unbatched", dict(unbatched=True)),
]

CONV_TRANSPOSE_MODULE_OPTIONS = [
    ("default", {}),
    ("stride2-padding1-output_padding1", dict(stride=2, padding=1, output_padding=1)),
    ("tuples", dict(stride=(2, 1, 3), padding=(0, 1, 1), output_padding=(1, 0, 2))),
    ("output_size", dict(stride=3, padding=1, output_size=2)),
    ("output_size-unbatched", dict(stride=2, output_size=1, unbatched=True)),
    ("groups2-dilation2", dict(groups=2, dilation=2, padding=1)),
    ("dilation2-output_padding1", dict(dilation=2, output_padding=1)),
    ("no-bias", dict(bias=False)),
    ("unbatched", dict(unbatched=True)),
]


def module_grid(option_list):
    return [
        pytest.param(n, options, id=f"{n}d-{name}")
        for n in (1, 2, 3)
        for name, options in option_list
    ]


def module_input(rng, n, options, dtype, transposed=False):
    channels = 8 if transposed else 4
    x = random(rng, (2, channels) + (SMALL if transposed else BIG)[n], dtype)
    return x[0] if options.pop("unbatched", False) else x


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("n, options", module_grid(CONV_MODULE_OPTIONS))
def test_conv_module(n, options, dtype):
    rng = np.random.default_rng(n)
    options = fit(options, n)
    x = module_input(rng, n, options, dtype)
    tmodule, module = module_pair(f"Conv{n}d", (4, 8, KERNEL[n]), options, dtype)
    check_modules(tmodule, module, x, dtype, rng)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("n, options", module_grid(CONV_TRANSPOSE_MODULE_OPTIONS))
def test_conv_transpose_module(n, options, dtype):
    rng = np.random.default_rng(10 + n)
    options = fit(options, n)
    x = module_input(rng, n, options, dtype, transposed=True)
    forward = {}
    extra = options.pop("output_size", None)
    if extra is not None:
        # `extra` beyond the smallest output in every dim (below the stride)
        padding = options.get("padding", 0)
        forward["output_size"] = [
            (s - 1) * options["stride"] - 2 * padding + k + extra
            for s, k in zip(SMALL[n], KERNEL[n], strict=True)
        ]
    tmodule, module = module_pair(f"ConvTranspose{n}d", (8, 4, KERNEL[n]), options, dtype)
    check_modules(tmodule, module, x, dtype, rng, **forward)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("n", (1, 2, 3))
@pytest.mark.parametrize("kind", ("Conv", "ConvTranspose"))
@pytest.mark.parametrize("materialise", ("by-input", "by-state-dict"))
def test_lazy_module(kind, n, materialise, dtype):
    """Lazy modules, materialised by a first input or by loading torch's weights."""
    rng = np.random.default_rng(20 + n)
    transposed = kind == "ConvTranspose"
    options = dict(stride=2, padding=1, groups=2) if transposed else dict(padding=1, groups=2)
    x = module_input(rng, n, {}, dtype, transposed)
    name = f"Lazy{kind}{n}d"
    torch.manual_seed(0)
    tmodule = getattr(torch.nn, name)(4, KERNEL[n], **options, dtype=TORCH_DTYPE[dtype])
    tmodule(tensor(x))  # torch materialises on its first input
    module = getattr(nn, name)(4, KERNEL[n], **options, dtype=dtype)
    if materialise == "by-input":
        module(x)
    module.load_state_dict(tmodule.state_dict())
    assert type(module).__name__ == f"{kind}{n}d"
    check_modules(tmodule, module, x, dtype, rng)


BLOCK_OPTIONS = [
    ("default", dict(kernel_size=2)),
    ("everything", dict(kernel_size=(2, 3), dilation=(1, 2), padding=(1, 0), stride=(2, 1))),
    ("unbatched", dict(kernel_size=(3, 2), stride=2, padding=1, unbatched=True)),
]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("options", [pytest.param(o, id=i) for i, o in BLOCK_OPTIONS])
def test_unfold_module(options, dtype):
    rng = np.random.default_rng(30)
    options = dict(options)
    x = random(rng, (2, 3, 6, 7), dtype)
    x = x[0] if options.pop("unbatched", False) else x
    check_modules(torch.nn.Unfold(**options), nn.Unfold(**options), x, dtype, rng)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("options", [pytest.param(o, id=i) for i, o in BLOCK_OPTIONS])
def test_fold_module(options, dtype):
    rng = np.random.default_rng(31)
    options = dict(options)
    unbatched = options.pop("unbatched", False)
    size = (6, 7)
    cols = random(rng, tuple(TF.unfold(torch.zeros((2, 3) + size), **options).shape), dtype)
    cols = cols[0] if unbatched else cols
    check_modules(torch.nn.Fold(size, **options), nn.Fold(size, **options), cols, dtype, rng)


# --- npconv.grad against torch.nn.grad ----------------------------------------------

GRAD_OPTIONS = [
    ("default", {}),
    ("stride2-padding1", dict(stride=2, padding=1)),
    ("tuples", dict(stride=(2, 1, 1), padding=(0, 1, 2), dilation=(1, 2, 1))),
    ("groups2-dilation2", dict(groups=2, dilation=2, padding=1)),
]


def grad_grid(option_list):
    return [
        pytest.param(n, options, id=f"{n}d-{name}")
        for n in (1, 2, 3)
        for name, options in option_list
    ]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("nd_name", (False, True), ids=("named", "nd"))
@pytest.mark.parametrize("n, options", grad_grid(GRAD_OPTIONS))
def test_conv_grad_functions(n, options, nd_name, dtype):
    """G.conv{n}d_input/_weight (and the N-d conv_input/conv_weight) vs torch.nn.grad."""
    rng = np.random.default_rng(40 + n)
    options = fit(options, n)
    x = random(rng, (2, 4) + BIG[n], dtype)
    w = random(rng, (6, 4 // options.get("groups", 1)) + KERNEL[n], dtype)
    g = random(rng, F.conv(x, w, **options).shape, dtype)
    conv_input = G.conv_input if nd_name else getattr(G, f"conv{n}d_input")
    conv_weight = G.conv_weight if nd_name else getattr(G, f"conv{n}d_weight")
    expected_input = getattr(TG, f"conv{n}d_input")(x.shape, tensor(w), tensor(g), **options)
    expected_weight = getattr(TG, f"conv{n}d_weight")(tensor(x), w.shape, tensor(g), **options)
    assert_close(conv_input(x.shape, w, g, **options), expected_input, dtype)
    assert_close(conv_weight(x, w.shape, g, **options), expected_weight, dtype)


def torch_conv(x, w, n, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"):
    """torch's conv with npconv's padding forms: pairs by F.pad, modes by an nn module."""
    if isinstance(padding, tuple) and isinstance(padding[0], tuple):
        flat = [v for pair in reversed(padding) for v in pair]
        x = TF.pad(x, flat, mode="constant" if padding_mode == "zeros" else padding_mode)
        return getattr(TF, f"conv{n}d")(x, w, stride=stride, dilation=dilation, groups=groups)
    module = getattr(torch.nn, f"Conv{n}d")(
        w.shape[1] * groups,
        w.shape[0],
        tuple(w.shape[2:]),
        stride,
        padding,
        dilation,
        groups,
        bias=False,
        padding_mode=padding_mode,
        dtype=w.dtype,
    )
    return module._conv_forward(x, w, None)


PADDING_GRAD_OPTIONS = [
    ("same", dict(padding="same", dilation=2)),
    ("asymmetric", dict(padding=((1, 0), (0, 2), (2, 1)), stride=2)),
    *[(f"{mode}-padding1", dict(padding=1, padding_mode=mode)) for mode in MODES],
    *[(f"{mode}-same", dict(padding="same", padding_mode=mode)) for mode in MODES],
    (
        "circular-asymmetric-groups2",
        dict(padding=((2, 1), (1, 0), (0, 1)), groups=2, padding_mode="circular"),
    ),
]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("n, options", grad_grid(PADDING_GRAD_OPTIONS))
def test_conv_grad_functions_padding_forms(n, options, dtype):
    """padding='same', (lo, hi) pairs and padding_mode= against torch autograd."""
    rng = np.random.default_rng(50 + n)
    options = fit(options, n)
    x = random(rng, (2, 4) + BIG[n], dtype)
    w = random(rng, (6, 4 // options.get("groups", 1)) + KERNEL[n], dtype)
    tx, tw = tensor(x, grad=True), tensor(w, grad=True)
    ty = torch_conv(tx, tw, n, **options)
    g = random(rng, tuple(ty.shape), dtype)
    ty.backward(tensor(g))
    assert_close(G.conv_input(x.shape, w, g, **options), tx.grad, dtype)
    assert_close(G.conv_weight(x, w.shape, g, **options), tw.grad, dtype)


TRANSPOSE_GRAD_OPTIONS = [
    ("default", {}),
    ("stride2-padding1-output_padding1", dict(stride=2, padding=1, output_padding=1)),
    ("tuples", dict(stride=(2, 1, 3), padding=(1, 0, 1), output_padding=(0, 0, 2))),
    ("groups2-dilation2", dict(groups=2, dilation=2, padding=1)),
]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("nd_name", (False, True), ids=("named", "nd"))
@pytest.mark.parametrize("n, options", grad_grid(TRANSPOSE_GRAD_OPTIONS))
def test_conv_transpose_grad_functions(n, options, nd_name, dtype):
    """G.conv_transpose{n}d_input/_weight vs torch autograd (torch.nn.grad has none)."""
    rng = np.random.default_rng(60 + n)
    options = fit(options, n)
    x = random(rng, (2, 6) + SMALL[n], dtype)
    w = random(rng, (6, 4 // options.get("groups", 1)) + KERNEL[n], dtype)
    tx, tw = tensor(x, grad=True), tensor(w, grad=True)
    ty = getattr(TF, f"conv_transpose{n}d")(tx, tw, **options)
    g = random(rng, tuple(ty.shape), dtype)
    ty.backward(tensor(g))
    transpose_input = G.conv_transpose_input if nd_name else getattr(G, f"conv_transpose{n}d_input")
    transpose_weight = (
        G.conv_transpose_weight if nd_name else getattr(G, f"conv_transpose{n}d_weight")
    )
    assert_close(transpose_input(x.shape, w, g, **options), tx.grad, dtype)
    assert_close(transpose_weight(x, w.shape, g, **options), tw.grad, dtype)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("options", [pytest.param(o, id=i) for i, o in BLOCK_OPTIONS])
def test_fold_unfold_grad_functions(options, dtype):
    """G.unfold_input and G.fold_input vs autograd through torch's unfold and fold."""
    rng = np.random.default_rng(70)
    options = dict(options)
    x = random(rng, (2, 3, 6, 7), dtype)
    x = x[0] if options.pop("unbatched", False) else x
    tx = tensor(x, grad=True)
    cols = TF.unfold(tx, **options)
    g = random(rng, tuple(cols.shape), dtype)
    cols.backward(tensor(g))
    assert_close(G.unfold_input(x.shape, g, **options), tx.grad, dtype)
    tc = tensor(g, grad=True)
    folded = TF.fold(tc, x.shape[-2:], **options)
    h = random(rng, tuple(folded.shape), dtype)
    folded.backward(tensor(h))
    assert_close(G.fold_input(h, **options), tc.grad, dtype)


# --- complex dtypes: F.conv and F.conv_transpose vs torch autograd ------------------

COMPLEX = [pytest.param(np.complex64, id="complex64"), pytest.param(np.complex128, id="complex128")]


def check_engine_against_autograd(op, torch_op, x, w, b, options, dtype, rng):
    tx, tw, tb = tensor(x, grad=True), tensor(w, grad=True), tensor(b, grad=True)
    ty = torch_op(tx, tw, tb, **options)
    g = random(rng, tuple(ty.shape), dtype)
    ty.backward(tensor(g))
    dx, dw, db = op.gradients(op.prepare(x, w, b, **options), g)
    for actual, expected in ((dx, tx.grad), (dw, tw.grad), (db, tb.grad)):
        assert_close(actual, expected, dtype)


@pytest.mark.parametrize("dtype", COMPLEX)
@pytest.mark.parametrize("n", (1, 2, 3))
@pytest.mark.parametrize(
    "options",
    [
        pytest.param({}, id="default"),
        pytest.param(dict(stride=2, padding=1, groups=2), id="stride2-padding1-groups2"),
        pytest.param(dict(dilation=2, padding=2), id="dilation2"),
    ],
)
def test_complex_conv_gradients(options, n, dtype):
    rng = np.random.default_rng(80 + n)
    x = random(rng, (2, 4) + BIG[n], dtype)
    w = random(rng, (6, 4 // options.get("groups", 1)) + KERNEL[n], dtype)
    b = random(rng, (6,), dtype)
    check_engine_against_autograd(conv_op, getattr(TF, f"conv{n}d"), x, w, b, options, dtype, rng)


@pytest.mark.parametrize("dtype", COMPLEX)
@pytest.mark.parametrize("mode", MODES)
def test_complex_conv_gradients_padding_modes(mode, dtype):
    """Complex input through reflect/replicate/circular padding: torch pads with F.pad."""
    rng = np.random.default_rng(85)
    x = random(rng, (2, 4, 6, 5), dtype)
    w = random(rng, (6, 2, 3, 2), dtype)
    b = random(rng, (6,), dtype)
    options = dict(padding=((1, 2), (1, 0)), stride=(1, 2), groups=2, padding_mode=mode)

    def torch_op(tx, tw, tb, **options):
        return torch_conv(tx, tw, 2, **options) + tb.reshape(-1, 1, 1)

    check_engine_against_autograd(conv_op, torch_op, x, w, b, options, dtype, rng)


@pytest.mark.parametrize("dtype", COMPLEX)
@pytest.mark.parametrize("n", (1, 2, 3))
@pytest.mark.parametrize(
    "options",
    [
        pytest.param({}, id="default"),
        pytest.param(dict(stride=2, padding=1, output_padding=1, groups=2), id="stride2-groups2"),
        pytest.param(dict(dilation=2, padding=1), id="dilation2"),
    ],
)
def test_complex_conv_transpose_gradients(options, n, dtype):
    rng = np.random.default_rng(90 + n)
    x = random(rng, (2, 6) + SMALL[n], dtype)
    w = random(rng, (6, 4 // options.get("groups", 1)) + KERNEL[n], dtype)
    b = random(rng, (4,), dtype)
    check_engine_against_autograd(
        conv_transpose_op, getattr(TF, f"conv_transpose{n}d"), x, w, b, options, dtype, rng
    )


# --- the headline figure ------------------------------------------------------------

REPORT_CASES = [
    ("Conv1d", dict(stride=2, padding=1)),
    ("Conv2d", dict(padding="same", dilation=2)),
    ("Conv2d", dict(padding=1, padding_mode="reflect", groups=2)),
    ("Conv3d", dict(padding=1, padding_mode="circular", stride=2)),
    ("Conv3d", dict(padding="same", padding_mode="replicate")),
    ("ConvTranspose1d", dict(stride=2, padding=1, output_padding=1)),
    ("ConvTranspose2d", dict(stride=(2, 3), groups=2, dilation=2)),
    ("ConvTranspose3d", dict(stride=2, padding=1, bias=False)),
]


def report_errors(dtype):
    """Largest relative gradient error over REPORT_CASES (input, weight and bias grads)."""
    rng = np.random.default_rng(100)
    worst = 0.0
    for name, options in REPORT_CASES:
        n = int(name[-2])
        transposed = name.startswith("ConvTranspose")
        x = random(rng, (4, 8) + (SMALL if transposed else BIG)[n], dtype)
        channels = (8, 4) if transposed else (8, 6)
        tmodule, module = module_pair(name, channels + (KERNEL[n],), options, dtype)
        with torch.no_grad():
            g = random(rng, tuple(tmodule(tensor(x)).shape), dtype)
        for actual, expected in module_gradients(tmodule, module, x, g):
            worst = max(worst, relative_error(actual, expected))
    return worst


def test_report_max_gradient_errors():
    errors = {np.float32: report_errors(np.float32), np.float64: report_errors(np.float64)}
    print(
        f"\nmax relative gradient error vs torch over {len(REPORT_CASES)} module cases: "
        f"float32 {errors[np.float32]:.2e}, float64 {errors[np.float64]:.2e}"
    )
    assert errors[np.float32] <= 1e-5
    assert errors[np.float64] <= 1e-13
