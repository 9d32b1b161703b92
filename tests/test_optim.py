"""SGD and Adam against torch.optim, step by step on the same parameters and gradients."""

import numpy as np
import pytest

import optional
from npconv import nn, optim

torch = optional.load("torch", "needs_torch")

SHAPES = [(3, 2, 3, 3), (3,), ()]


def _run_both(ours_class, theirs_class, options, steps=6, dtype=np.float64, seed=0):
    """Take `steps` steps with both optimisers on identical parameters and gradients,
    asserting after each step that the parameters agree."""
    rng = np.random.default_rng(seed)
    initial = [rng.standard_normal(shape).astype(dtype) for shape in SHAPES]
    ours = [nn.Parameter(a) for a in initial]
    theirs = [torch.nn.Parameter(torch.tensor(a)) for a in initial]
    ours_optimizer = ours_class(ours, **options)
    theirs_optimizer = theirs_class(theirs, **options)
    rtol = 1e-12 if dtype == np.float64 else 2e-6
    for step in range(steps):
        for p, q in zip(ours, theirs, strict=True):
            grad = rng.standard_normal(p.shape).astype(dtype)
            p.grad = grad
            q.grad = torch.tensor(grad)
        ours_optimizer.step()
        theirs_optimizer.step()
        for p, q in zip(ours, theirs, strict=True):
            assert p.dtype == dtype
            np.testing.assert_allclose(
                p.view(np.ndarray), q.detach().numpy(), rtol=rtol, atol=rtol, err_msg=f"step {step}"
            )
    return ours, theirs


SGD_OPTIONS = [
    {},
    {"lr": 0.1},
    {"lr": 0.1, "momentum": 0.9},
    {"lr": 0.05, "momentum": 0.9, "dampening": 0.3},
    {"lr": 0.05, "momentum": 0.8, "nesterov": True},
    {"lr": 0.1, "weight_decay": 0.01},
    {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.1, "nesterov": True},
    {"lr": 0.1, "momentum": 0.5, "dampening": 0.5, "weight_decay": 0.2, "maximize": True},
]


@pytest.mark.needs_torch
@pytest.mark.parametrize("options", SGD_OPTIONS, ids=str)
def test_sgd_matches_torch(options):
    _run_both(optim.SGD, torch.optim.SGD, options)


ADAM_OPTIONS = [
    {},
    {"lr": 0.01},
    {"lr": 0.01, "amsgrad": True},
    {"lr": 0.01, "weight_decay": 0.1},
    {"lr": 0.02, "betas": (0.5, 0.9), "eps": 1e-3, "weight_decay": 0.05, "amsgrad": True},
    {"lr": 0.01, "maximize": True},
]


@pytest.mark.needs_torch
@pytest.mark.parametrize("options", ADAM_OPTIONS, ids=str)
def test_adam_matches_torch(options):
    _run_both(optim.Adam, torch.optim.Adam, options, steps=8)


@pytest.mark.needs_torch
@pytest.mark.parametrize(
    "ours, theirs, options",
    [
        (optim.SGD, torch.optim.SGD, {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
        (optim.Adam, torch.optim.Adam, {"lr": 0.01, "amsgrad": True}),
    ],
)
def test_float32_parameters_stay_float32_and_match_torch(ours, theirs, options):
    _run_both(ours, theirs, options, dtype=np.float32)


@pytest.mark.needs_torch
def test_defaults_match_torch():
    p = [nn.Parameter(np.zeros(2))]
    q = [torch.nn.Parameter(torch.zeros(2))]
    for ours, theirs in ((optim.SGD, torch.optim.SGD), (optim.Adam, torch.optim.Adam)):
        defaults = theirs(q).defaults
        for key, value in ours(p).defaults.items():
            assert defaults[key] == value, key


def test_parameters_without_gradient_are_left_alone():
    a, b = nn.Parameter(np.ones(3)), nn.Parameter(np.ones(3))
    a.grad = np.full(3, 2.0)
    optimizer = optim.Adam([a, b], lr=0.5)
    optimizer.step()
    np.testing.assert_array_equal(b.view(np.ndarray), np.ones(3))
    np.testing.assert_allclose(a.view(np.ndarray), np.full(3, 0.5))
    assert len(optimizer.state) == 1


def test_updates_reach_the_module_parameters_in_place():
    conv = nn.Conv1d(1, 2, 3)
    before = conv.weight.copy()
    y = conv(np.ones((1, 1, 5), np.float32))
    conv.backward(np.ones_like(y))
    optim.SGD(conv.parameters(), lr=1.0).step()
    np.testing.assert_allclose(conv.weight.view(np.ndarray), before - conv.weight.grad, rtol=1e-6)


@pytest.mark.needs_torch
def test_parameter_groups_override_defaults_like_torch():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((2, 4))
    ours = [nn.Parameter(a), nn.Parameter(b)]
    theirs = [torch.nn.Parameter(torch.tensor(a)), torch.nn.Parameter(torch.tensor(b))]
    ours_optimizer = optim.SGD(
        [{"params": [ours[0]]}, {"params": ours[1], "lr": 0.5}], lr=0.1, momentum=0.9
    )
    theirs_optimizer = torch.optim.SGD(
        [{"params": [theirs[0]]}, {"params": theirs[1], "lr": 0.5}], lr=0.1, momentum=0.9
    )
    assert [g["lr"] for g in ours_optimizer.param_groups] == [0.1, 0.5]
    for _ in range(3):
        grads = rng.standard_normal((2, 4))
        for p, q, g in zip(ours, theirs, grads, strict=True):
            p.grad, q.grad = g, torch.tensor(g)
        ours_optimizer.step()
        theirs_optimizer.step()
    for p, q in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(p.view(np.ndarray), q.detach().numpy(), rtol=1e-12)


def test_zero_grad():
    p = nn.Parameter(np.ones(2))
    optimizer = optim.SGD([p])
    p.grad = np.ones(2)
    optimizer.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(p.grad, np.zeros(2))
    optimizer.zero_grad()
    assert p.grad is None


def test_step_returns_closure_loss():
    p = nn.Parameter(np.ones(2))
    p.grad = np.ones(2)
    assert optim.SGD([p], lr=0.1).step(lambda: 3.5) == 3.5


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: optim.SGD(p, lr=-1), "Invalid learning rate: -1"),
        (lambda p: optim.SGD(p, momentum=-0.5), "Invalid momentum value: -0.5"),
        (lambda p: optim.SGD(p, weight_decay=-1e-4), "Invalid weight_decay value: -0.0001"),
        (
            lambda p: optim.SGD(p, nesterov=True),
            "Nesterov momentum requires a momentum and zero dampening",
        ),
        (
            lambda p: optim.SGD(p, momentum=0.9, dampening=0.1, nesterov=True),
            "Nesterov momentum requires a momentum and zero dampening",
        ),
        (lambda p: optim.Adam(p, lr=-0.1), "Invalid learning rate: -0.1"),
        (lambda p: optim.Adam(p, eps=-1.0), "Invalid epsilon value: -1.0"),
        (lambda p: optim.Adam(p, betas=(1.0, 0.999)), "Invalid beta parameter at index 0: 1.0"),
        (lambda p: optim.Adam(p, betas=(0.9, -0.1)), "Invalid beta parameter at index 1: -0.1"),
        (lambda p: optim.Adam(p, weight_decay=-2.0), "Invalid weight_decay value: -2.0"),
        (lambda p: optim.Adam([], lr=0.1), "optimizer got an empty parameter list"),
    ],
)
def test_invalid_hyper_parameters_raise_torchs_errors(make, message):
    with pytest.raises(ValueError) as error:
        make([nn.Parameter(np.zeros(1))])
    assert str(error.value) == message


@pytest.mark.needs_torch
def test_error_messages_are_torchs_own():
    q = [torch.nn.Parameter(torch.zeros(1))]
    p = [nn.Parameter(np.zeros(1))]
    cases = [
        ({"lr": -1}, optim.SGD, torch.optim.SGD),
        ({"momentum": -0.5}, optim.SGD, torch.optim.SGD),
        ({"nesterov": True}, optim.SGD, torch.optim.SGD),
        ({"eps": -1.0}, optim.Adam, torch.optim.Adam),
        ({"betas": (0.9, 1.5)}, optim.Adam, torch.optim.Adam),
    ]
    for options, ours, theirs in cases:
        with pytest.raises(ValueError) as expected:
            theirs(q, **options)
        with pytest.raises(ValueError) as got:
            ours(p, **options)
        assert str(got.value) == str(expected.value)


def test_params_must_be_an_iterable_of_parameters():
    with pytest.raises(TypeError, match="iterable of Parameters or dicts, but got Parameter"):
        optim.SGD(nn.Parameter(np.zeros(2)))
    with pytest.raises(TypeError, match="can only optimize Parameters"):
        optim.SGD([np.zeros(2)])
    p = nn.Parameter(np.zeros(2))
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": [p]}, {"params": [p]}])
