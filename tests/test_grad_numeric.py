"""Every gradient npconv computes, checked by central differences in float64.

For an operation f and a fixed random cotangent g, the scalar

    L(a) = Re <g, f(a)>

has the directional derivative Re <dL/da, v> along any direction v, and the
gradient npconv returns for grad_output g must match

    (L(a + eps v) - L(a - eps v)) / (2 eps)

for random directions v (a random projection of the whole gradient) and for a
few unit vectors (single entries). The oracle only ever evaluates forwards, so
it is independent of every backward formula. Arrays are tiny to keep it fast.
"""

import numpy as np
import pytest

import npconv.functional as F
import npconv.grad as G
import npconv.nn as nn
from npconv import conv as conv_op
from npconv import conv_transpose as conv_transpose_op

EPS = 1e-4
MODES = ("reflect", "replicate", "circular")


# --- the oracle --------------------------------------------------------------------


def random(rng, shape, dtype=np.float64):
    a = rng.standard_normal(shape)
    if np.issubdtype(dtype, np.complexfloating):
        a = a + 1j * rng.standard_normal(shape)
    return a.astype(dtype)


def directions(rng, a, singles=2):
    """Two random directions, then `singles` unit vectors at random entries."""
    for _ in range(2):
        yield random(rng, a.shape, a.dtype)
    for index in rng.choice(a.size, size=min(singles, a.size), replace=False):
        unit = np.zeros(a.size, a.dtype)
        unit[index] = 1
        yield unit.reshape(a.shape)


def assert_gradient(loss, a, grad, rng, singles=2):
    """`grad` is the gradient of the real scalar `loss` at `a` (torch's complex convention)."""
    a = np.asarray(a)
    assert grad is not None and grad.shape == a.shape and grad.dtype == a.dtype
    scale = 1 + abs(loss(a))
    for v in directions(rng, a, singles):
        numeric = (loss(a + EPS * v) - loss(a - EPS * v)) / (2 * EPS)
        analytic = np.vdot(grad, v).real
        assert analytic == pytest.approx(numeric, rel=1e-6, abs=1e-9 * scale), (
            f"directional derivative {analytic} != central difference {numeric}"
        )


def scalar(g, y):
    """Re <g, y>: the loss whose gradient for y is g."""
    return np.vdot(g, y).real


# --- the grid ----------------------------------------------------------------------

BIG = {1: (7,), 2: (5, 6), 3: (4, 5, 4), 4: (3, 4, 3, 3)}  # conv input sizes
SMALL = {1: (4,), 2: (3, 4), 3: (3, 2, 3), 4: (2, 3, 3, 2)}  # conv_transpose input sizes
KERNEL = {1: (3,), 2: (3, 2), 3: (2, 3, 2), 4: (2, 2, 2, 2)}
ASYMMETRIC = "asymmetric"  # replaced by pairs(n)


def pairs(n):
    return ((1, 0), (0, 2), (2, 1), (1, 1))[:n]


def resolve(options, n):
    options = dict(options)
    if options.get("padding") == ASYMMETRIC:
        options["padding"] = pairs(n)
    return options


CONV_OPTIONS = [
    ("default", {}),
    ("stride2", dict(stride=2)),
    ("padding1", dict(padding=1)),
    ("asymmetric", dict(padding=ASYMMETRIC)),
    ("same", dict(padding="same")),
    ("same-dilated", dict(padding="same", dilation=2)),
    ("valid", dict(padding="valid")),
    ("dilation2-padding1", dict(dilation=2, padding=1)),
    ("groups2", dict(groups=2)),
    ("no-bias", dict(bias=False)),
    ("unbatched", dict(unbatched=True)),
    *[(f"{mode}-padding1", dict(padding=1, padding_mode=mode)) for mode in MODES],
    *[
        (f"{mode}-asymmetric-stride2", dict(padding=ASYMMETRIC, stride=2, padding_mode=mode))
        for mode in MODES
    ],
    *[(f"{mode}-same", dict(padding="same", padding_mode=mode)) for mode in MODES],
    (
        "zeros-everything",
        dict(
            stride=(2, 1, 3, 1), padding=ASYMMETRIC, dilation=2, groups=2, bias=True, unbatched=True
        ),
    ),
    (
        "circular-everything",
        dict(
            stride=2,
            padding=ASYMMETRIC,
            dilation=2,
            groups=2,
            padding_mode="circular",
            unbatched=True,
        ),
    ),
]

CONV_TRANSPOSE_OPTIONS = [
    ("default", {}),
    ("stride2", dict(stride=2)),
    ("stride2-output_padding1", dict(stride=2, output_padding=1)),
    ("stride2-padding1", dict(stride=2, padding=1)),
    ("asymmetric-stride2", dict(stride=2, padding=ASYMMETRIC)),
    ("same", dict(padding="same")),
    ("same-stride2", dict(padding="same", stride=2)),
    ("same-stride3", dict(padding="same", stride=3)),  # kernel < stride: the output grows
    ("valid", dict(padding="valid", stride=2)),
    ("dilation2-output_padding1", dict(dilation=2, output_padding=1)),
    ("groups2", dict(groups=2)),
    ("no-bias", dict(bias=False)),
    ("unbatched", dict(unbatched=True)),
    *[(f"{mode}-padding1-stride2", dict(padding=1, stride=2, padding_mode=mode)) for mode in MODES],
    *[
        (f"{mode}-asymmetric-stride2", dict(padding=ASYMMETRIC, stride=2, padding_mode=mode))
        for mode in MODES
    ],
    *[
        (f"{mode}-same-stride2", dict(padding="same", stride=2, padding_mode=mode))
        for mode in MODES
    ],
    (
        "zeros-everything",
        dict(stride=2, padding=ASYMMETRIC, output_padding=1, dilation=2, groups=2, unbatched=True),
    ),
    (
        "reflect-everything",
        dict(
            stride=2,
            padding=ASYMMETRIC,
            output_padding=1,
            groups=2,
            padding_mode="reflect",
            unbatched=True,
        ),
    ),
]


def fit(options, n):
    """Per-dim tuples cut to n dims (the grid writes some for 4 dims)."""
    return {
        k: (v[:n] if isinstance(v, tuple) and k != "padding" else v) for k, v in options.items()
    }


def grid(option_list, dims=(1, 2, 3, 4)):
    return [
        pytest.param(n, options, id=f"{n}d-{name}") for n in dims for name, options in option_list
    ]


def conv_operands(rng, n, options, dtype=np.float64, transposed=False):
    """x, w, b for a conv (4 -> 6 channels) or transposed conv (6 -> 4), batch 2."""
    groups = options.get("groups", 1)
    kernel = options.get("kernel", KERNEL[n])
    if transposed:
        x = random(rng, (2, 6) + SMALL[n], dtype)
        w = random(rng, (6, 4 // groups) + kernel, dtype)
        b = random(rng, (4,), dtype)
    else:
        x = random(rng, (2, 4) + BIG[n], dtype)
        w = random(rng, (6, 4 // groups) + kernel, dtype)
        b = random(rng, (6,), dtype)
    if options.get("unbatched"):
        x = x[0]
    return x, w, b if options.get("bias", True) else None


def op_options(options, n):
    options = fit(resolve(options, n), n)
    options.pop("unbatched", None)
    options.pop("bias", None)
    options.pop("kernel", None)
    return options


# --- F.conv and F.conv_transpose: x, weight, bias -----------------------------------


def check_op(op, function, x, w, b, options, rng):
    """The engine's gradients for (x, w, b) against central differences of `function`."""
    y = function(x, w, b, **options)
    g = random(rng, y.shape, y.dtype)
    dx, dw, db = op.gradients(op.prepare(x, w, b, **options), g)
    assert_gradient(lambda a: scalar(g, function(a, w, b, **options)), x, dx, rng)
    assert_gradient(lambda a: scalar(g, function(x, a, b, **options)), w, dw, rng)
    if b is None:
        assert db is None
    else:
        assert_gradient(lambda a: scalar(g, function(x, w, a, **options)), b, db, rng)
    return g


@pytest.mark.parametrize("n, options", grid(CONV_OPTIONS))
def test_conv_gradients(n, options):
    rng = np.random.default_rng(n)
    x, w, b = conv_operands(rng, n, options)
    options = op_options(options, n)
    g = check_op(conv_op, F.conv, x, w, b, options, rng)
    # npconv.grad's functions are the same gradients without a prepared call
    assert_gradient(
        lambda a: scalar(g, F.conv(a, w, b, **options)),
        x,
        G.conv_input(x.shape, w, g, **options),
        rng,
        singles=0,
    )
    assert_gradient(
        lambda a: scalar(g, F.conv(x, a, b, **options)),
        w,
        G.conv_weight(x, w.shape, g, **options),
        rng,
        singles=0,
    )


@pytest.mark.parametrize("n, options", grid(CONV_TRANSPOSE_OPTIONS))
def test_conv_transpose_gradients(n, options):
    rng = np.random.default_rng(10 + n)
    x, w, b = conv_operands(rng, n, options, transposed=True)
    options = op_options(options, n)
    g = check_op(conv_transpose_op, F.conv_transpose, x, w, b, options, rng)
    assert_gradient(
        lambda a: scalar(g, F.conv_transpose(a, w, b, **options)),
        x,
        G.conv_transpose_input(x.shape, w, g, **options),
        rng,
        singles=0,
    )
    assert_gradient(
        lambda a: scalar(g, F.conv_transpose(x, a, b, **options)),
        w,
        G.conv_transpose_weight(x, w.shape, g, **options),
        rng,
        singles=0,
    )


@pytest.mark.parametrize("dtype", [np.complex128])
@pytest.mark.parametrize(
    "transposed, options",
    [
        (False, dict(stride=2, padding=((1, 0), (0, 2)), groups=2)),
        (False, dict(padding="same", dilation=2, padding_mode="reflect")),
        (True, dict(stride=2, padding=1, output_padding=1, groups=2)),
        (True, dict(padding="same", stride=2, padding_mode="circular")),
    ],
)
def test_complex_gradients(transposed, options, dtype):
    """Complex gradients follow torch: for L = Re <g, f(a)>, dL = Re <grad, da>."""
    rng = np.random.default_rng(20)
    x, w, b = conv_operands(rng, 2, options, dtype, transposed)
    op, function = (conv_transpose_op, F.conv_transpose) if transposed else (conv_op, F.conv)
    check_op(op, function, x, w, b, options, rng)


def test_conv_gradients_single_entries_everywhere():
    """Every entry of a small 2-d gradient, one unit vector at a time."""
    rng = np.random.default_rng(30)
    x, w, b = random(rng, (1, 2, 4, 3)), random(rng, (2, 2, 2, 2)), random(rng, (2,))
    options = dict(stride=(2, 1), padding=((1, 0), (0, 1)), dilation=(1, 2), padding_mode="reflect")
    y = F.conv(x, w, b, **options)
    g = random(rng, y.shape)
    dx, dw, db = conv_op.gradients(conv_op.prepare(x, w, b, **options), g)
    for a, grad, place in ((x, dx, 0), (w, dw, 1), (b, db, 2)):
        for index in np.ndindex(a.shape):

            def loss(value, index=index, a=a, place=place):
                operands = [x, w, b]
                operands[place] = value
                return scalar(g, F.conv(*operands, **options))

            step = np.zeros_like(a)
            step[index] = EPS
            numeric = (loss(a + step) - loss(a - step)) / (2 * EPS)
            assert grad[index] == pytest.approx(numeric, rel=1e-6, abs=1e-9)


# --- F.unfold and F.fold ------------------------------------------------------------

BLOCK_OPTIONS = [
    ("default", {}),
    ("stride2", dict(stride=2)),
    ("padding1", dict(padding=1)),
    ("asymmetric", dict(padding=ASYMMETRIC)),
    ("dilation2-padding1", dict(dilation=2, padding=1)),
    ("everything", dict(stride=2, dilation=2, padding=ASYMMETRIC, unbatched=True)),
]


def block_case(rng, n, options):
    options = fit(resolve(options, n), n)
    unbatched = options.pop("unbatched", False)
    x = random(rng, (2, 3) + BIG[n])
    return (x[0] if unbatched else x), dict(kernel_size=KERNEL[n], **options)


@pytest.mark.parametrize("n, options", grid(BLOCK_OPTIONS, dims=(1, 2, 3)))
def test_unfold_gradient(n, options):
    rng = np.random.default_rng(40 + n)
    x, options = block_case(rng, n, options)
    g = random(rng, F.unfold(x, **options).shape)
    assert_gradient(
        lambda a: scalar(g, F.unfold(a, **options)), x, G.unfold_input(x.shape, g, **options), rng
    )


@pytest.mark.parametrize("n, options", grid(BLOCK_OPTIONS, dims=(1, 2, 3)))
def test_fold_gradient(n, options):
    rng = np.random.default_rng(50 + n)
    x, options = block_case(rng, n, options)
    size = x.shape[-n:]
    cols = random(rng, F.unfold(np.zeros_like(x), **options).shape)
    g = random(rng, x.shape)
    assert_gradient(
        lambda a: scalar(g, F.fold(a, size, **options)), cols, G.fold_input(g, **options), rng
    )


# --- the modules' backward ----------------------------------------------------------


def check_module(module, x, rng, **forward_options):
    """module.backward against central differences in the input and every parameter."""
    y = module(x, **forward_options)
    g = random(rng, y.shape, y.dtype)
    module.zero_grad()
    gx = module.backward(g)
    assert_gradient(lambda a: scalar(g, module(a, **forward_options)), x, gx, rng)
    for p in module.parameters():

        def loss(a, p=p):
            saved = np.array(p)
            p[...] = a
            try:
                return scalar(g, module(x, **forward_options))
            finally:
                p[...] = saved

        assert_gradient(loss, np.array(p), p.grad, rng)


CONV_MODULES = [(nn.Conv1d, 1), (nn.Conv2d, 2), (nn.Conv3d, 3), (nn.ConvNd, 4)]
CONV_TRANSPOSE_MODULES = [
    (nn.ConvTranspose1d, 1),
    (nn.ConvTranspose2d, 2),
    (nn.ConvTranspose3d, 3),
    (nn.ConvTransposeNd, 4),
]

MODULE_OPTIONS = [
    ("default", {}),
    ("stride2-asymmetric", dict(stride=2, padding=ASYMMETRIC)),
    ("same-dilated", dict(padding="same", dilation=2)),
    ("groups2-no-bias", dict(groups=2, bias=False)),
    ("unbatched", dict(unbatched=True)),
    *[(f"{mode}-padding1", dict(padding=1, padding_mode=mode)) for mode in MODES],
]

MODULE_TRANSPOSE_OPTIONS = [
    ("default", {}),
    ("stride2-output_padding1", dict(stride=2, output_padding=1, padding=1)),
    ("output_size", dict(stride=2, padding=1, output_size=True)),
    ("output_size-unbatched", dict(stride=2, output_size=True, unbatched=True)),
    ("same-stride2", dict(padding="same", stride=2)),
    ("groups2-dilation2-no-bias", dict(groups=2, dilation=2, bias=False)),
    *[
        (f"{mode}-same-stride2", dict(padding="same", stride=2, padding_mode=mode))
        for mode in MODES
    ],
]


def module_grid(classes, option_list):
    return [
        pytest.param(cls, n, options, id=f"{cls.__name__}-{name}")
        for cls, n in classes
        for name, options in option_list
    ]


@pytest.mark.parametrize("cls, n, options", module_grid(CONV_MODULES, MODULE_OPTIONS))
def test_conv_module_backward(cls, n, options):
    rng = np.random.default_rng(60 + n)
    x, _, _ = conv_operands(rng, n, options)
    options = fit(resolve(options, n), n)
    options.pop("unbatched", None)
    module = cls(4, 6, KERNEL[n], dtype=np.float64, **options)
    check_module(module, x, rng)


@pytest.mark.parametrize(
    "cls, n, options", module_grid(CONV_TRANSPOSE_MODULES, MODULE_TRANSPOSE_OPTIONS)
)
def test_conv_transpose_module_backward(cls, n, options):
    rng = np.random.default_rng(70 + n)
    x, _, _ = conv_operands(rng, n, options, transposed=True)
    options = fit(resolve(options, n), n)
    options.pop("unbatched", None)
    forward = {}
    if options.pop("output_size", False):
        # one more than the smallest output in every dim: output_padding 1 (stride 2)
        padding = options.get("padding", 0)
        forward["output_size"] = tuple(
            (s - 1) * 2 - 2 * padding + k + 1 for s, k in zip(SMALL[n], KERNEL[n], strict=True)
        )
    module = cls(6, 4, KERNEL[n], dtype=np.float64, **options)
    check_module(module, x, rng, **forward)
    if forward:
        assert module(x, **forward).shape[-n:] == forward["output_size"]


@pytest.mark.parametrize("n, options", grid(BLOCK_OPTIONS, dims=(1, 2, 3)))
def test_unfold_module_backward(n, options):
    rng = np.random.default_rng(80 + n)
    x, options = block_case(rng, n, options)
    check_module(nn.Unfold(**options), x, rng)


@pytest.mark.parametrize("n, options", grid(BLOCK_OPTIONS, dims=(1, 2, 3)))
def test_fold_module_backward(n, options):
    rng = np.random.default_rng(90 + n)
    x, options = block_case(rng, n, options)
    cols = random(rng, F.unfold(np.zeros_like(x), **options).shape)
    check_module(nn.Fold(x.shape[-n:], **options), cols, rng)


# --- every kernel algorithm -----------------------------------------------------------

ALGORITHM_CASES = [
    pytest.param(False, 2, dict(padding=1), id="conv-2d-padding1"),
    pytest.param(False, 2, dict(padding=(2, 0), kernel=(3, 3)), id="conv-2d-3x3"),
    pytest.param(False, 3, dict(padding="same", dilation=2, groups=2), id="conv-3d-same-groups2"),
    pytest.param(
        False,
        2,
        dict(stride=(2, 1), padding=ASYMMETRIC, padding_mode="reflect"),
        id="conv-2d-stride2-reflect",
    ),
    pytest.param(False, 1, dict(stride=3, dilation=2, padding=2, groups=2), id="conv-1d-stride3"),
    pytest.param(True, 2, dict(padding=ASYMMETRIC, dilation=(2, 1)), id="transpose-2d-asymmetric"),
    pytest.param(
        True,
        3,
        dict(stride=2, padding=1, output_padding=1, groups=2),
        id="transpose-3d-stride2-groups2",
    ),
    pytest.param(True, 2, dict(padding="same", stride=3), id="transpose-2d-same-stride3"),
    pytest.param(
        True,
        1,
        dict(stride=2, padding=1, padding_mode="circular"),
        id="transpose-1d-stride2-circular",
    ),
]


def force_algorithm(monkeypatch, name):
    """Run every top-level contraction with algorithm `name` where it supports the problem
    (npconv.use_algorithm, for the rest of the test). Returns the names of the
    contractions the algorithm actually ran, and of those it supports."""
    import npconv
    from npconv.compute import planner

    ran, supported = [], []
    real = planner._execute

    def spy(algorithm, op, first, second, g, p):
        if getattr(planner._local, "depth", 0) == 1:
            if planner.supports(name, p):
                supported.append(op)
            if algorithm == name:
                ran.append(op)
        return real(algorithm, op, first, second, g, p)

    monkeypatch.setattr(planner, "_execute", spy)
    forcing = npconv.use_algorithm(name)
    forcing.__enter__()
    _forcing.append(forcing)  # left by _stop_forcing after the test
    return ran, supported


_forcing = []


@pytest.fixture(autouse=True)
def _stop_forcing():
    yield
    while _forcing:
        _forcing.pop().__exit__(None, None, None)


def algorithm_names():
    from npconv.compute import planner

    return list(planner.algorithms())


@pytest.mark.parametrize("transposed, n, options", ALGORITHM_CASES)
@pytest.mark.parametrize("name", algorithm_names())
def test_gradients_through_every_algorithm(name, transposed, n, options, monkeypatch):
    """The planner picks by size, so tiny tests would only ever see one algorithm."""
    rng = np.random.default_rng(100 + n)
    x, w, b = conv_operands(rng, n, options, transposed=transposed)
    ran, supported = force_algorithm(monkeypatch, name)
    op, function = (conv_transpose_op, F.conv_transpose) if transposed else (conv_op, F.conv)
    check_op(op, function, x, w, b, op_options(options, n), rng)
    assert set(ran) == set(supported)  # forced wherever it supports the problem


@pytest.mark.parametrize("work_bytes", [1, 8000], ids=["row-bands", "sample-tiles"])
@pytest.mark.parametrize("transposed, n, options", ALGORITHM_CASES)
@pytest.mark.parametrize("name", algorithm_names())
def test_gradients_across_tiles(name, transposed, n, options, work_bytes, monkeypatch):
    """A tiny work budget splits every call into tiles (bands of rows, or a few
    samples each): gradients must not depend on where the tiles are cut."""
    from npconv.compute import geometry

    monkeypatch.setattr(geometry, "WORK_BYTES", work_bytes)
    rng = np.random.default_rng(110 + n)
    x, w, b = conv_operands(rng, n, options, transposed=transposed)
    if x.ndim == n + 2:
        x = np.concatenate([x, x[:1] * 0.5])  # three samples: uneven sample tiles
    force_algorithm(monkeypatch, name)
    op, function = (conv_transpose_op, F.conv_transpose) if transposed else (conv_op, F.conv)
    check_op(op, function, x, w, b, op_options(options, n), rng)
