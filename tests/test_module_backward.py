"""The module backward protocol: `gx = m.backward(grad_output)` returns the input
gradient of the last forward and ADDS into weight.grad / bias.grad.

Gradients are checked against the loop reference (tests/reference.py): a
conv's input gradient is the reference transposed conv of grad_output, its
weight gradient is reference.conv_weight, and the other way round for
transposed convs; fold and unfold are each other's gradient.
"""

import numpy as np
import pytest

import npconv.nn as nn
import reference

# (class, constructor arguments, input shape): zero padding, so the reference applies
CONV_CASES = [
    pytest.param(nn.Conv1d, (4, 6, 3), dict(stride=2, padding=1, groups=2), (2, 4, 8), id="Conv1d"),
    pytest.param(
        nn.Conv2d, (4, 6, (3, 2)), dict(padding=(1, 0), dilation=(1, 2)), (2, 4, 5, 6), id="Conv2d"
    ),
    pytest.param(nn.Conv3d, (2, 4, 2), dict(stride=(1, 2, 1)), (2, 2, 3, 5, 4), id="Conv3d"),
    pytest.param(
        nn.ConvNd, (2, 2, (2, 1, 2, 2)), dict(padding=1), (1, 2, 3, 2, 3, 3), id="ConvNd-4d"
    ),
]
TRANSPOSE_CASES = [
    pytest.param(
        nn.ConvTranspose1d,
        (6, 4, 3),
        dict(stride=2, padding=1, output_padding=1, groups=2),
        (2, 6, 5),
        id="ConvTranspose1d",
    ),
    pytest.param(
        nn.ConvTranspose2d, (4, 6, (2, 3)), dict(stride=(2, 1)), (2, 4, 3, 4), id="ConvTranspose2d"
    ),
    pytest.param(
        nn.ConvTranspose3d,
        (2, 4, 2),
        dict(stride=2, dilation=(1, 1, 2)),
        (2, 2, 2, 3, 2),
        id="ConvTranspose3d",
    ),
    pytest.param(
        nn.ConvTransposeNd,
        (2, 2, (2, 2, 1, 2)),
        dict(stride=(1, 2, 1, 1)),
        (1, 2, 2, 2, 3, 2),
        id="ConvTransposeNd-4d",
    ),
]
ALL_CASES = CONV_CASES + TRANSPOSE_CASES


def random(rng, shape, dtype=np.float64):
    return rng.standard_normal(shape).astype(dtype)


def expected_gradients(module, x, g):
    """(dx, dw, db) of a zero-padded conv or transposed-conv module, from the loop reference."""
    x, g, w = (np.asarray(a, np.float64) for a in (x, g, module.weight))
    options = dict(stride=module.stride, dilation=module.dilation, groups=module.groups)
    padding = module.padding
    if module.transposed:
        # z = conv_transpose(x, w): dx = conv(g, w), dw = conv_weight with big side g
        dx = reference.conv(g, w, padding=padding, **options)
        dw = reference.conv_weight(g, x, module.kernel_size, padding=padding, **options)
    else:
        # y = conv(x, w): dx = conv_transpose(g, w) cut to x's size, dw = conv_weight
        full = [
            (o - 1) * s - 2 * p + d * (k - 1) + 1
            for o, s, p, d, k in zip(
                g.shape[2:],
                module.stride,
                padding,
                module.dilation,
                module.kernel_size,
                strict=True,
            )
        ]
        output_padding = [size - f for size, f in zip(x.shape[2:], full, strict=True)]
        dx = reference.conv_transpose(
            g, w, padding=padding, output_padding=output_padding, **options
        )
        dw = reference.conv_weight(x, g, module.kernel_size, padding=padding, **options)
    db = g.sum(axis=(0,) + tuple(range(2, g.ndim)))
    return dx, dw, db


def build(cls, arguments, options, dtype=np.float64, **extra):
    return cls(*arguments, **options, **extra, dtype=dtype)


def run(module, x, rng):
    y = module(x)
    g = random(rng, y.shape, y.dtype)
    return g, module.backward(g)


# --- accumulation and zero_grad ------------------------------------------------------


@pytest.mark.parametrize("cls, arguments, options, shape", ALL_CASES)
def test_backward_accumulates(cls, arguments, options, shape, rng):
    module = build(cls, arguments, options)
    x = random(rng, shape)
    g1, gx1 = run(module, x, rng)
    dx1, dw1, db1 = expected_gradients(module, x, g1)
    np.testing.assert_allclose(gx1, dx1, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(module.weight.grad, dw1, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(module.bias.grad, db1, rtol=1e-10, atol=1e-12)

    # the same grad_output again: every parameter gradient doubles, the input one does not
    module(x)
    gx2 = module.backward(g1)
    np.testing.assert_allclose(gx2, dx1, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(module.weight.grad, 2 * dw1, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(module.bias.grad, 2 * db1, rtol=1e-10, atol=1e-12)

    # a different input and grad_output add their own gradients
    x3 = random(rng, shape)
    g3, _ = run(module, x3, rng)
    _, dw3, db3 = expected_gradients(module, x3, g3)
    np.testing.assert_allclose(module.weight.grad, 2 * dw1 + dw3, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(module.bias.grad, 2 * db1 + db3, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cls, arguments, options, shape", ALL_CASES)
def test_zero_grad(cls, arguments, options, shape, rng):
    module = build(cls, arguments, options)
    x = random(rng, shape)
    run(module, x, rng)
    assert module.weight.grad is not None and module.bias.grad is not None
    module.zero_grad()
    assert module.weight.grad is None and module.bias.grad is None
    g, _ = run(module, x, rng)
    _, dw, db = expected_gradients(module, x, g)
    np.testing.assert_allclose(module.weight.grad, dw, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(module.bias.grad, db, rtol=1e-10, atol=1e-12)


def test_backward_uses_the_last_forward(rng):
    module = nn.Conv2d(2, 3, 2, dtype=np.float64)
    first, last = random(rng, (1, 2, 4, 4)), random(rng, (2, 2, 3, 5))
    module(first)
    g, _ = run(module, last, rng)
    dx, dw, db = expected_gradients(module, last, g)
    module.zero_grad()
    np.testing.assert_allclose(module.backward(g), dx, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(module.weight.grad, dw, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(module.bias.grad, db, rtol=1e-10, atol=1e-12)


def test_parameter_gradients_are_not_views_of_each_other(rng):
    """Accumulating must not write into arrays handed out by an earlier backward."""
    module = nn.Conv1d(2, 2, 2, dtype=np.float64)
    x = random(rng, (1, 2, 5))
    run(module, x, rng)
    first = module.weight.grad
    kept = first.copy()
    run(module, x, rng)
    np.testing.assert_array_equal(first, kept)


# --- misuse raises ------------------------------------------------------------------

BLOCK_MODULES = [
    pytest.param(lambda: nn.Unfold((2, 2), stride=2), (1, 3, 4, 6), id="Unfold"),
    pytest.param(lambda: nn.Fold((4, 6), (2, 2), stride=2), (1, 12, 6), id="Fold"),
]


def every_module():
    for case in ALL_CASES:
        cls, arguments, options, shape = case.values
        yield pytest.param(lambda c=cls, a=arguments, o=options: build(c, a, o), shape, id=case.id)
    yield from BLOCK_MODULES


@pytest.mark.parametrize("make_module, shape", list(every_module()))
def test_backward_before_forward_raises(make_module, shape):
    with pytest.raises(ValueError, match="forward"):
        make_module().backward(np.zeros((1, 1)))


@pytest.mark.parametrize("name", ["LazyConv2d", "LazyConvTranspose1d"])
def test_lazy_backward_before_materialisation_raises(name):
    with pytest.raises(ValueError, match="forward"):
        getattr(nn, name)(3, 2).backward(np.zeros((1, 3, 4)))


@pytest.mark.parametrize("make_module, shape", list(every_module()))
def test_grad_output_of_wrong_shape_raises(make_module, shape, rng):
    module = make_module()
    y = module(random(rng, shape))
    for wrong in (y.shape[:-1] + (y.shape[-1] + 1,), y.shape[1:], (2,) + y.shape):
        with pytest.raises(ValueError, match="shape"):
            module.backward(np.zeros(wrong, y.dtype))


@pytest.mark.parametrize("make_module, shape", list(every_module()))
def test_grad_output_of_wrong_dtype_raises(make_module, shape, rng):
    module = make_module()
    y = module(random(rng, shape))
    for dtype in (np.float32, np.float16, np.complex128):
        with pytest.raises(TypeError, match="dtype"):
            module.backward(np.zeros(y.shape, dtype))


def test_failed_backward_leaves_gradients_alone(rng):
    module = nn.Conv1d(2, 3, 2, dtype=np.float64)
    x = random(rng, (1, 2, 5))
    run(module, x, rng)
    before = module.weight.grad.copy(), module.bias.grad.copy()
    with pytest.raises(ValueError):
        module.backward(np.zeros((1, 3, 5)))
    np.testing.assert_array_equal(module.weight.grad, before[0])
    np.testing.assert_array_equal(module.bias.grad, before[1])


# --- unbatched, float16, lazy, bias=False, empty batch ------------------------------


@pytest.mark.parametrize("cls, arguments, options, shape", ALL_CASES)
def test_unbatched_backward(cls, arguments, options, shape, rng):
    module = build(cls, arguments, options)
    x = random(rng, shape[1:])
    g, gx = run(module, x, rng)
    assert g.ndim == x.ndim and gx.shape == x.shape
    dx, dw, db = expected_gradients(module, x[None], g[None])
    np.testing.assert_allclose(gx, dx[0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(module.weight.grad, dw, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(module.bias.grad, db, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("make_module, shape", BLOCK_MODULES)
def test_unbatched_fold_unfold_backward(make_module, shape, rng):
    module = make_module()
    x = random(rng, shape)
    g = random(rng, module(x).shape)
    batched = module.backward(g)
    module(x[0])
    np.testing.assert_array_equal(module.backward(g[0]), batched[0])


def relative_error(actual, expected):
    return np.abs(np.asarray(actual, np.float64) - expected).max() / np.abs(expected).max()


@pytest.mark.parametrize("cls, arguments, options, shape", ALL_CASES)
def test_float16_backward(cls, arguments, options, shape, rng):
    """float16 modules return float16 gradients close to the float64 reference on the
    same values."""
    module = build(cls, arguments, options, dtype=np.float16)
    x = random(rng, shape, np.float16)
    g, gx = run(module, x, rng)
    assert gx.dtype == module.weight.grad.dtype == module.bias.grad.dtype == np.float16
    for actual, expected in zip(
        (gx, module.weight.grad, module.bias.grad), expected_gradients(module, x, g), strict=True
    ):
        assert relative_error(actual, expected) < 5e-3


@pytest.mark.parametrize(
    "name, eager, options, shape",
    [
        ("LazyConv1d", "Conv1d", dict(stride=2, padding=1), (2, 4, 7)),
        ("LazyConv2d", "Conv2d", dict(groups=2), (2, 4, 4, 5)),
        ("LazyConv3d", "Conv3d", {}, (1, 2, 3, 3, 4)),
        ("LazyConvTranspose1d", "ConvTranspose1d", dict(stride=2, output_padding=1), (2, 4, 5)),
        ("LazyConvTranspose2d", "ConvTranspose2d", dict(groups=2, padding=1), (2, 4, 3, 4)),
        ("LazyConvTranspose3d", "ConvTranspose3d", dict(stride=(1, 2, 1)), (1, 2, 2, 3, 2)),
    ],
)
def test_lazy_backward_after_materialisation(name, eager, options, shape, rng):
    module = getattr(nn, name)(6, 2, **options, dtype=np.float64)
    x = random(rng, shape)
    g, gx = run(module, x, rng)
    assert type(module).__name__ == eager
    dx, dw, db = expected_gradients(module, x, g)
    np.testing.assert_allclose(gx, dx, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(module.weight.grad, dw, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(module.bias.grad, db, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cls, arguments, options, shape", ALL_CASES)
def test_no_bias_backward(cls, arguments, options, shape, rng):
    module = build(cls, arguments, options, bias=False)
    x = random(rng, shape)
    for _ in range(2):
        g, gx = run(module, x, rng)
        assert module.bias is None
        assert [name for name, _ in module.named_parameters()] == ["weight"]
    dx, _, _ = expected_gradients(module, x, g)
    np.testing.assert_allclose(gx, dx, rtol=1e-10, atol=1e-12)
    module.zero_grad()
    assert module.bias is None and module.weight.grad is None


@pytest.mark.parametrize("cls, arguments, options, shape", ALL_CASES)
def test_empty_batch_backward(cls, arguments, options, shape, rng):
    """No samples: the input gradient is empty, the parameter gradients are zeros."""
    module = build(cls, arguments, options)
    x = np.zeros((0,) + shape[1:])
    _, gx = run(module, x, rng)
    assert gx.shape == x.shape
    np.testing.assert_array_equal(module.weight.grad, np.zeros(module.weight.shape))
    np.testing.assert_array_equal(module.bias.grad, np.zeros(module.bias.shape))
