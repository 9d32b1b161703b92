"""Edges of the API where npconv once gave silent wrong results or unclear errors, each
checked against torch: zero-size kernels, float sizes, complex Adam, unfold's aliasing,
copies of parameters and optimisers, optimiser state dicts, huge ints, lazy state dicts,
and the grad functions on an empty batch."""

import copy
import pickle

import numpy as np
import pytest

import npconv.functional as F
import npconv.grad as G
import optional
from npconv import nn, optim

torch = optional.load("torch", "needs_torch")
TF = optional.load("torch.nn.functional", "needs_torch")


def _torch_error(call):
    with pytest.raises(Exception) as caught:  # torch raises RuntimeError/TypeError/ValueError
        call()
    return str(caught.value)


# --- zero-size kernel dims -------------------------------------------------------------


@pytest.mark.needs_torch
@pytest.mark.parametrize(
    "ours, theirs, x, w",
    [
        (F.conv1d, TF.conv1d, (1, 1, 5), (1, 1, 0)),
        (F.conv2d, TF.conv2d, (1, 1, 5, 5), (1, 1, 3, 0)),
        (F.conv_transpose1d, TF.conv_transpose1d, (1, 1, 5), (1, 1, 0)),
        (F.conv_transpose2d, TF.conv_transpose2d, (1, 1, 5, 5), (1, 1, 0, 2)),
    ],
)
def test_zero_size_kernel_is_rejected_as_torch_does(ours, theirs, x, w):
    message = _torch_error(lambda: theirs(torch.ones(x), torch.ones(w)))
    assert message.startswith("kernel size should be greater than zero")
    with pytest.raises(ValueError, match=r"^kernel size should be greater than zero, but got"):
        ours(np.ones(x), np.ones(w))


def test_zero_size_kernel_in_the_grad_functions():
    with pytest.raises(ValueError, match="kernel size should be greater than zero"):
        G.conv1d_input((1, 1, 5), np.ones((1, 1, 0)), np.ones((1, 1, 6)))


# --- float sizes -----------------------------------------------------------------------


@pytest.mark.needs_torch
@pytest.mark.parametrize("size", [(11.9,), (11.0,), (np.float64(11),)])
def test_float_output_size_raises_type_error_as_torch(size):
    theirs = torch.nn.ConvTranspose1d(1, 1, 3, stride=2)
    with pytest.raises(TypeError):
        theirs(torch.ones(1, 1, 5), output_size=size)
    ours = nn.ConvTranspose1d(1, 1, 3, stride=2)
    with pytest.raises(TypeError, match="output_size"):
        ours(np.ones((1, 1, 5), np.float32), output_size=size)


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: G.conv1d_input((1, 1, 5.5), np.ones((1, 1, 3)), np.ones((1, 1, 3))), "input_size"),
        (
            lambda: G.conv1d_weight(np.ones((1, 1, 5)), (1, 1, 3.0), np.ones((1, 1, 3))),
            "weight_size",
        ),
        (lambda: F.conv1d(np.ones((1, 1, 5)), np.ones((1, 1, 1)), stride=1.5), "stride"),
        (lambda: nn.Conv1d(1, 1, 3.0), "kernel_size"),
        (lambda: nn.Conv1d(2.0, 2, 1), "in_channels"),
        (lambda: nn.ConvTranspose1d(2, 2.0, 1), "out_channels"),
        (lambda: nn.Conv1d(2, 2, 1, groups=2.0), "groups"),
        (lambda: nn.LazyConv1d(2.0, 1), "out_channels"),
        (lambda: F.fold(np.ones((1, 1, 25)), (5.0, 5), 1), "output_size"),
    ],
)
def test_float_sizes_anywhere_raise_type_error(call, name):
    with pytest.raises(TypeError, match=name):
        call()


@pytest.mark.needs_torch
def test_torch_rejects_float_sizes_with_type_errors_too():
    with pytest.raises(TypeError):
        torch.nn.grad.conv1d_input((1, 1, 5.5), torch.ones(1, 1, 3), torch.ones(1, 1, 3))
    for arguments, options in (((2.0, 2, 1), {}), ((2, 2.0, 1), {}), ((2, 2, 1), {"groups": 2.0})):
        with pytest.raises(TypeError):
            torch.nn.Conv1d(*arguments, **options)


# --- complex parameters in the optimisers ------------------------------------------------


@pytest.mark.needs_torch
@pytest.mark.parametrize(
    "ours, theirs, options",
    [
        (optim.Adam, torch.optim.Adam, dict(lr=0.1)),
        (optim.Adam, torch.optim.Adam, dict(lr=0.05, amsgrad=True, weight_decay=0.1)),
        (optim.Adam, torch.optim.Adam, dict(lr=0.05, maximize=True, betas=(0.5, 0.9))),
        (optim.SGD, torch.optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True)),
    ],
)
@pytest.mark.parametrize("dtype", [np.complex128, np.complex64])
def test_complex_parameters_follow_torch(ours, theirs, options, dtype, rng):
    shapes = [(2, 3), (), (4,)]
    start = [(rng.standard_normal(s) + 1j * rng.standard_normal(s)).astype(dtype) for s in shapes]
    mine = [nn.Parameter(a) for a in start]
    fortran = nn.Parameter(np.asfortranarray(start[0]))  # strided memory, updated in place
    mine[0] = fortran
    torchs = [torch.nn.Parameter(torch.tensor(a)) for a in start]
    optimizer, reference = ours(mine, **options), theirs(torchs, **options)
    tolerance = 1e-12 if dtype == np.complex128 else 2e-5
    for step in range(5):
        for p, q in zip(mine, torchs, strict=True):
            g = (rng.standard_normal(p.shape) + 1j * rng.standard_normal(p.shape)).astype(dtype)
            p.grad, q.grad = g, torch.tensor(g)
        optimizer.step()
        reference.step()
        for p, q in zip(mine, torchs, strict=True):
            np.testing.assert_allclose(
                np.asarray(p),
                q.detach().numpy(),
                rtol=tolerance,
                atol=tolerance,
                err_msg=f"step {step}",
            )
    assert mine[0] is fortran and all(p.dtype == dtype for p in mine)


# --- unfold returns its own array -----------------------------------------------------


@pytest.mark.needs_torch
@pytest.mark.parametrize(
    "kwargs",
    [
        dict(kernel_size=1),
        dict(kernel_size=(1, 1), stride=1),
        dict(kernel_size=2),
        dict(kernel_size=1, padding=1),
    ],
)
def test_unfold_never_aliases_its_input(kwargs, rng):
    x = rng.standard_normal((2, 3, 4, 5))
    expected = TF.unfold(torch.tensor(x), **kwargs).numpy()
    for cols in (F.unfold(x, **kwargs), nn.Unfold(**kwargs)(x), F.unfold(x[0], **kwargs)):
        assert not np.shares_memory(cols, x)
        assert cols.flags.writeable
    cols = F.unfold(x, **kwargs)
    x[...] = 0
    np.testing.assert_array_equal(cols, expected)
    cols[...] = 1  # writable, and writing it leaves x alone
    assert not x.any()


# --- copies of parameters, modules and optimisers --------------------------------------


def _trained(rng):
    model = nn.Sequential(
        nn.Conv1d(2, 3, 3, dtype=np.float64), nn.Tanh(), nn.Conv1d(3, 1, 1, dtype=np.float64)
    )
    x = rng.standard_normal((4, 2, 8))
    return model, x


def test_deepcopy_and_pickle_keep_gradient_values_not_identity(rng):
    model, x = _trained(rng)
    y = model(x)
    model.backward(np.ones_like(y))
    for copied in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        for (name, p), (_, q) in zip(
            model.named_parameters(), copied.named_parameters(), strict=True
        ):
            assert type(q) is nn.Parameter and q is not p and not np.shares_memory(p, q)
            assert q.grad is not p.grad and not np.shares_memory(q.grad, p.grad), name
            np.testing.assert_array_equal(q.grad, p.grad)
            np.testing.assert_array_equal(q, p)
        copied[0].weight.grad += 1
        assert not np.array_equal(copied[0].weight.grad, model[0].weight.grad)


def _gradients(rng, shapes, steps):
    return [[rng.standard_normal(s) for s in shapes] for _ in range(steps)]


OPTIMIZERS = [
    (optim.Adam, torch.optim.Adam, dict(lr=0.05)),
    (optim.Adam, torch.optim.Adam, dict(lr=0.05, amsgrad=True)),
    (optim.SGD, torch.optim.SGD, dict(lr=0.1, momentum=0.9)),
]


@pytest.mark.needs_torch
@pytest.mark.parametrize("ours, theirs, options", OPTIMIZERS)
@pytest.mark.parametrize("how", ["pickle", "deepcopy"])
def test_model_and_optimizer_copied_together_keep_their_state(ours, theirs, options, how, rng):
    model, _ = _trained(rng)
    shapes = [p.shape for p in model.parameters()]
    grads = _gradients(rng, shapes, 6)
    reference = [torch.nn.Parameter(torch.tensor(np.asarray(p))) for p in model.parameters()]
    reference_optimizer = theirs(reference, **options)
    optimizer = ours(model.parameters(), **options)
    for step, step_grads in enumerate(grads):
        if step == 3:
            model, optimizer = (
                pickle.loads(pickle.dumps((model, optimizer)))
                if how == "pickle"
                else copy.deepcopy((model, optimizer))
            )
        for p, q, g in zip(model.parameters(), reference, step_grads, strict=True):
            p.grad, q.grad = g.copy(), torch.tensor(g)
        optimizer.step()
        reference_optimizer.step()
    assert optimizer.param_groups[0]["params"][0] is model[0].weight
    for p, q in zip(model.parameters(), reference, strict=True):
        np.testing.assert_allclose(np.asarray(p), q.detach().numpy(), rtol=1e-12, atol=1e-12)


def _to_numpy(value):
    """A torch state dict with every tensor as a NumPy array (nested dicts and lists)."""
    if isinstance(value, torch.Tensor):
        return value.numpy()
    if isinstance(value, dict):
        return {key: _to_numpy(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_numpy(item) for item in value)
    return value


@pytest.mark.needs_torch
@pytest.mark.parametrize("ours, theirs, options", OPTIMIZERS)
def test_loading_a_torch_optimizer_state_dict_continues_as_torch(ours, theirs, options, rng):
    shapes = [(3, 2, 3), (3,), ()]
    start = [rng.standard_normal(s) for s in shapes]
    torchs = [torch.nn.Parameter(torch.tensor(a)) for a in start]
    groups = [{"params": torchs[:2]}, {"params": torchs[2:], "lr": 0.01}]
    reference = theirs(groups, **options)
    grads = _gradients(rng, shapes, 6)
    for step_grads in grads[:3]:
        for q, g in zip(torchs, step_grads, strict=True):
            q.grad = torch.tensor(g)
        reference.step()
    mine = [nn.Parameter(q.detach().numpy()) for q in torchs]
    optimizer = ours([{"params": mine[:2]}, {"params": mine[2:]}], **options)
    optimizer.load_state_dict(_to_numpy(reference.state_dict()))
    assert optimizer.param_groups[1]["lr"] == 0.01
    for step_grads in grads[3:]:
        for p, q, g in zip(mine, torchs, step_grads, strict=True):
            p.grad, q.grad = g.copy(), torch.tensor(g)
        optimizer.step()
        reference.step()
    for p, q in zip(mine, torchs, strict=True):
        np.testing.assert_allclose(np.asarray(p), q.detach().numpy(), rtol=1e-12, atol=1e-12)
    # and the other way: torch loads npconv's state dict and continues as npconv does
    back = theirs([torch.nn.Parameter(torch.tensor(np.asarray(p))) for p in mine], **options)
    converted = optimizer.state_dict()
    converted["state"] = {
        i: {k: torch.tensor(v) for k, v in s.items()} for i, s in converted["state"].items()
    }
    converted["param_groups"] = [dict(g) for g in converted["param_groups"]]
    back.param_groups = [
        dict(back.param_groups[0], params=back.param_groups[0]["params"][:2]),
        dict(back.param_groups[0], params=back.param_groups[0]["params"][2:]),
    ]
    back.load_state_dict(converted)
    g = [rng.standard_normal(s) for s in shapes]
    for p, q, gi in zip(
        mine, (q for group in back.param_groups for q in group["params"]), g, strict=True
    ):
        p.grad, q.grad = gi.copy(), torch.tensor(gi)
    optimizer.step()
    back.step()
    for p, q in zip(mine, (q for group in back.param_groups for q in group["params"]), strict=True):
        np.testing.assert_allclose(np.asarray(p), q.detach().numpy(), rtol=1e-12, atol=1e-12)


def test_state_dict_layout_and_round_trip(rng):
    model, x = _trained(rng)
    optimizer = optim.Adam(model.parameters(), lr=0.01)
    y = model(x)
    model.backward(np.ones_like(y))
    optimizer.step()
    saved = optimizer.state_dict()
    count = len(list(model.parameters()))
    assert saved["param_groups"][0]["params"] == list(range(count))
    assert sorted(saved["state"]) == list(range(count))
    assert set(saved["state"][0]) == {"step", "exp_avg", "exp_avg_sq"}
    assert optimizer.state[model[0].weight] is optimizer.state[0]  # by Parameter, as torch
    saved["state"][0]["exp_avg"][...] = 7  # a copy: the optimizer is untouched
    assert not (optimizer.state[0]["exp_avg"] == 7).any()
    fresh = optim.Adam(model.parameters(), lr=0.5)
    fresh.load_state_dict(pickle.loads(pickle.dumps(optimizer.state_dict())))
    assert fresh.param_groups[0]["lr"] == 0.01
    for index, state in optimizer.state.items():
        for key, value in state.items():
            np.testing.assert_array_equal(fresh.state[index][key], value)


def test_load_state_dict_errors_match_torch():
    p = nn.Parameter(np.zeros(3))
    other = optim.SGD([p], lr=0.1, momentum=0.9).state_dict()
    with pytest.raises(ValueError, match="different number of parameter groups"):
        optim.SGD(
            [{"params": [p]}, {"params": [nn.Parameter(np.zeros(1))]}], lr=0.1
        ).load_state_dict(other)
    with pytest.raises(ValueError, match="doesn't match the size of optimizer's group"):
        optim.SGD([p, nn.Parameter(np.zeros(1))], lr=0.1).load_state_dict(other)
    bad = {"state": {0: {"momentum_buffer": np.zeros(4)}}, "param_groups": other["param_groups"]}
    with pytest.raises(ValueError, match="shape"):
        optim.SGD([p], lr=0.1).load_state_dict(bad)


# --- huge ints ---------------------------------------------------------------------------

HUGE = [2**62, 2**63, 2**70, np.uint64(2**63)]
CALLS = {
    "conv": lambda kw: F.conv1d(np.ones((1, 1, 5)), np.ones((1, 1, 1)), **kw),
    "conv_transpose": lambda kw: F.conv_transpose2d(
        np.ones((1, 1, 5, 5)), np.ones((1, 1, 2, 2)), **kw
    ),
    "unfold": lambda kw: F.unfold(np.ones((1, 1, 5, 5)), 2, **kw),
    "fold": lambda kw: F.fold(np.ones((1, 1, 25)), (5, 5), 1, **kw),
    "Conv1d": lambda kw: nn.Conv1d(1, 1, 1, **kw)(np.ones((1, 1, 5), np.float32)),
    "ConvTranspose1d": lambda kw: nn.ConvTranspose1d(1, 1, 2, **kw)(np.ones((1, 1, 5), np.float32)),
    "Unfold": lambda kw: nn.Unfold(2, **kw)(np.ones((1, 1, 5, 5))),
    "conv1d_weight": lambda kw: G.conv1d_weight(
        np.ones((1, 1, 5)), (1, 1, 1), np.ones((1, 1, 1)), **kw
    ),
}


@pytest.mark.parametrize("value", HUGE, ids=lambda v: f"2**{int(v).bit_length() - 1}")
@pytest.mark.parametrize("name", ["stride", "padding", "dilation"])
@pytest.mark.parametrize("op", list(CALLS))
def test_huge_ints_name_the_argument(op, name, value):
    with pytest.raises((ValueError, TypeError), match=name):
        CALLS[op]({name: value})


@pytest.mark.parametrize("value", [2**62, 2**63])
@pytest.mark.parametrize(
    "call, name",
    [
        (lambda v: nn.Conv1d(1, 1, v), "kernel_size"),
        (lambda v: nn.Conv1d(v, 1, 1), "in_channels"),
        (lambda v: nn.Conv1d(1, v, 1), "out_channels"),
        (lambda v: nn.Conv1d(1, 1, 1, groups=v), "groups"),
        (lambda v: F.unfold(np.ones((1, 1, 5, 5)), v), "kernel_size"),
        (lambda v: F.fold(np.ones((1, 1, 25)), (v, 5), 1), "output_size"),
        (
            lambda v: nn.ConvTranspose1d(1, 1, 1, stride=2)(
                np.ones((1, 1, 5), np.float32), output_size=(v,)
            ),
            "output_size",
        ),
        (
            lambda v: F.conv_transpose1d(
                np.ones((1, 1, 5)), np.ones((1, 1, 1)), stride=3, output_padding=v
            ),
            "output_padding",
        ),
        (lambda v: G.conv1d_input((1, 1, v), np.ones((1, 1, 1)), np.ones((1, 1, 1))), "input_size"),
    ],
)
def test_huge_sizes_name_the_argument(call, name, value):
    with pytest.raises((ValueError, TypeError), match=name):
        call(value)


@pytest.mark.needs_torch
@pytest.mark.parametrize("name", ["stride", "dilation"])
@pytest.mark.parametrize("value", [2**61, 2**62 - 1])
def test_large_stride_or_dilation_that_moves_nothing_computes_as_torch(name, value, rng):
    x = rng.standard_normal((2, 3, 5, 6))
    w = (
        rng.standard_normal((4, 3, 1, 1))
        if name == "dilation"
        else rng.standard_normal((4, 3, 2, 2))
    )
    expected = TF.conv2d(torch.tensor(x), torch.tensor(w), **{name: value}).numpy()
    np.testing.assert_allclose(F.conv2d(x, w, **{name: value}), expected, rtol=1e-12, atol=1e-12)
    expected = TF.unfold(
        torch.tensor(x), (1, 1) if name == "dilation" else 2, **{name: value}
    ).numpy()
    np.testing.assert_array_equal(
        F.unfold(x, (1, 1) if name == "dilation" else 2, **{name: value}), expected
    )


@pytest.mark.parametrize("name", ["padding", "stride", "dilation"])
def test_sizes_no_array_can_hold_name_the_arguments(name):
    kw = {name: 2**40}
    with pytest.raises(ValueError, match=f"{name}=.*more than the 2\\*\\*59 elements"):
        if name == "padding":
            F.conv2d(np.ones((1, 1, 5, 5)), np.ones((1, 1, 1, 1)), **kw)
        else:
            F.conv_transpose2d(np.ones((1, 1, 5, 5)), np.ones((1, 1, 2, 2)), **kw)


# --- load_state_dict: lazy modules and lists --------------------------------------------


def test_lazy_load_state_dict_with_a_wrong_rank_weight_says_size_mismatch():
    with pytest.raises(
        ValueError,
        match=r"size mismatch for weight: copying a param with "
        r"shape \(2, 1\).*in_channels/groups.*3 dims",
    ):
        nn.LazyConv1d(2, 3).load_state_dict({"weight": np.ones((2, 1)), "bias": np.zeros(2)})
    with pytest.raises(ValueError, match=r"size mismatch for 1\.weight"):
        nn.Sequential(nn.ReLU(), nn.LazyConvTranspose2d(2, 3)).load_state_dict(
            {"1.weight": np.ones((4, 2, 3)), "1.bias": np.zeros(2)}
        )


@pytest.mark.needs_torch
def test_lazy_load_state_dict_with_a_missing_weight_says_missing_key():
    message = _torch_error(
        lambda: torch.nn.LazyConv1d(2, 3).load_state_dict({"bias": torch.zeros(2)})
    )
    assert 'Missing key(s) in state_dict: "weight"' in message
    with pytest.raises(ValueError, match=r'Missing key\(s\) in state_dict: "weight"'):
        nn.LazyConv1d(2, 3).load_state_dict({"bias": np.zeros(2)})
    with pytest.raises(ValueError, match='without "weight"'):
        nn.LazyConv1d(2, 3).load_state_dict({"bias": np.zeros(2)}, strict=False)
    lazy = nn.LazyConv1d(2, 3)
    assert lazy.load_state_dict({}, strict=False).missing_keys == ["weight", "bias"]


@pytest.mark.needs_torch
@pytest.mark.parametrize("value", [[[[1.0, 2.0, 3.0]]], ((1.0, 2.0, 3.0),), 1.5])
def test_load_state_dict_refuses_python_values_as_torch_does(value):
    message = _torch_error(
        lambda: torch.nn.Conv1d(1, 1, 3).load_state_dict({"weight": value, "bias": torch.zeros(1)})
    )
    assert "expected torch.Tensor" in message
    module = nn.Conv1d(1, 1, 3)
    before = np.array(module.weight)
    with pytest.raises(TypeError, match='parameter named "weight", expected a NumPy array'):
        module.load_state_dict({"weight": value, "bias": np.zeros(1)})
    np.testing.assert_array_equal(module.weight, before)
    with pytest.raises(TypeError, match="expected a NumPy array"):
        nn.LazyConv1d(1, 3).load_state_dict({"weight": value, "bias": np.zeros(1)})


# --- the grad functions on an empty batch --------------------------------------------------


@pytest.mark.needs_torch
@pytest.mark.parametrize("n", [1, 2])
def test_grad_functions_on_a_zero_size_batch_match_torch(n, rng):
    x_shape, w_shape, g_shape = (0, 2) + (5,) * n, (3, 2) + (3,) * n, (0, 3) + (3,) * n
    w = rng.standard_normal(w_shape)
    tg = getattr(torch.nn.grad, f"conv{n}d_input")
    tw = getattr(torch.nn.grad, f"conv{n}d_weight")
    dx = getattr(G, f"conv{n}d_input")(x_shape, w, np.ones(g_shape))
    dw = getattr(G, f"conv{n}d_weight")(np.ones(x_shape), w_shape, np.ones(g_shape))
    assert dx.shape == tuple(tg(x_shape, torch.tensor(w), torch.ones(g_shape)).shape)
    np.testing.assert_array_equal(dw, tw(torch.ones(x_shape), w_shape, torch.ones(g_shape)).numpy())
    # the transposed twins (torch has none): zeros of the shapes module.backward gives
    dy = getattr(G, f"conv_transpose{n}d_input")(g_shape, w, np.ones(x_shape))
    dwt = getattr(G, f"conv_transpose{n}d_weight")(np.ones(g_shape), w_shape, np.ones(x_shape))
    module = getattr(nn, f"ConvTranspose{n}d")(3, 2, 3, dtype=np.float64)
    module(np.ones(g_shape))
    expected_dy = module.backward(np.ones(x_shape))
    assert dy.shape == expected_dy.shape and dwt.shape == module.weight.grad.shape
    assert not dy.any() and not dwt.any()


@pytest.mark.needs_torch
@pytest.mark.parametrize("n", [1, 2])
@pytest.mark.parametrize(
    "stride, kernel, dilation, output_padding",
    [
        (2, 1, 1, 1),
        (5, 3, 1, 4),
        (5, 3, 2, 0),
        (3, 1, 2, 2),
        (4, 2, 3, 2),
    ],
)
def test_one_window_geometry_matches_torch_forward_and_backward(
    n, stride, kernel, dilation, output_padding, rng
):
    """A transposed conv of a length-1 input and a conv with one window per dim, where the
    geometry's stride (and a 1-tap kernel's dilation) is set to 1: values as torch's."""
    options = dict(stride=stride, dilation=dilation, dtype=torch.float64)
    theirs = getattr(torch.nn, f"ConvTranspose{n}d")(
        2, 3, kernel, output_padding=output_padding, **options
    )
    conv = getattr(torch.nn, f"Conv{n}d")(2, 3, kernel, padding=1, **options)
    for module, size in ((theirs, 1), (conv, dilation * (kernel - 1) + 1)):
        x = torch.tensor(rng.standard_normal((2, 2) + (size,) * n), requires_grad=True)
        y = module(x)
        g = rng.standard_normal(tuple(y.shape))
        y.backward(torch.tensor(g))
        ours = getattr(nn, type(module).__name__)(
            2,
            3,
            kernel,
            **dict(options, dtype=np.float64),
            **({"output_padding": output_padding} if module is theirs else {"padding": 1}),
        )
        ours.load_state_dict({k: v.detach() for k, v in module.state_dict().items()})
        np.testing.assert_allclose(ours(x.detach().numpy()), y.detach().numpy(), atol=1e-12)
        np.testing.assert_allclose(ours.backward(g), x.grad.numpy(), atol=1e-12)
        np.testing.assert_allclose(ours.weight.grad, module.weight.grad.numpy(), atol=1e-12)
