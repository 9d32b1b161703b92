"""Activations, MSELoss and Sequential against torch autograd, and torch state dicts."""

from collections import OrderedDict

import numpy as np
import pytest

import npconv
import optional
from npconv import nn

torch = optional.load("torch", "needs_torch")

ACTIVATIONS = [
    (nn.ReLU, torch.nn.ReLU, {}),
    (nn.LeakyReLU, torch.nn.LeakyReLU, {}),
    (nn.LeakyReLU, torch.nn.LeakyReLU, {"negative_slope": 0.2}),
    (nn.Sigmoid, torch.nn.Sigmoid, {}),
    (nn.Tanh, torch.nn.Tanh, {}),
]


@pytest.mark.needs_torch
@pytest.mark.parametrize("ours, theirs, options", ACTIVATIONS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activation_forward_backward_match_torch(ours, theirs, options, dtype):
    rng = np.random.default_rng(0)
    # zeros and large magnitudes included: the kinks and the saturated ends
    x = np.concatenate([rng.standard_normal(40) * 3, [0.0, -0.0, 50.0, -50.0, 200.0, -200.0]])
    x = x.astype(dtype).reshape(2, 23)
    g = rng.standard_normal(x.shape).astype(dtype)
    module = ours(**options)
    y = module(x)
    tx = torch.tensor(x, requires_grad=True)
    expected = theirs(**options)(tx)
    expected.backward(torch.tensor(g))
    assert y.dtype == dtype
    rtol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(y, expected.detach().numpy(), rtol=rtol, atol=rtol)
    dx = module.backward(g)
    assert dx.dtype == dtype
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=rtol, atol=rtol)
    assert repr(module) == repr(theirs(**options))


def test_activation_backward_needs_forward():
    with pytest.raises(ValueError, match="needs a forward"):
        nn.ReLU().backward(np.ones(3))


@pytest.mark.needs_torch
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss_matches_torch(reduction):
    rng = np.random.default_rng(1)
    x, t = rng.standard_normal((2, 3, 4, 5))
    module = nn.MSELoss(reduction=reduction)
    reference = torch.nn.MSELoss(reduction=reduction)
    tx = torch.tensor(x, requires_grad=True)
    expected = reference(tx, torch.tensor(t))
    g = rng.standard_normal(expected.shape)
    expected.backward(torch.tensor(g))
    np.testing.assert_allclose(module(x, t), expected.detach().numpy(), rtol=1e-13)
    np.testing.assert_allclose(module.backward(g), tx.grad.numpy(), rtol=1e-13)
    assert repr(module) == repr(reference) == "MSELoss()"


@pytest.mark.needs_torch
def test_mse_loss_default_grad_output_and_dtype():
    rng = np.random.default_rng(2)
    x, t = rng.standard_normal((2, 6, 7)).astype(np.float32)
    tx = torch.tensor(x, requires_grad=True)
    torch.nn.functional.mse_loss(tx, torch.tensor(t)).backward()
    loss = nn.MSELoss()
    loss(x, t)
    dx = loss.backward()
    assert dx.dtype == np.float32
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-6)


@pytest.mark.needs_torch
def test_mse_loss_broadcast_target_warns_and_reduces_gradient():
    rng = np.random.default_rng(3)
    x, t = rng.standard_normal((4, 5)), rng.standard_normal(5)
    tx = torch.tensor(x, requires_grad=True)
    with pytest.warns(UserWarning, match="different to the input size"):
        expected = torch.nn.functional.mse_loss(tx, torch.tensor(t), reduction="sum")
    expected.backward()
    loss = nn.MSELoss(reduction="sum")
    with pytest.warns(UserWarning, match="different to the input size"):
        np.testing.assert_allclose(loss(x, t), expected.item(), rtol=1e-13)
    np.testing.assert_allclose(loss.backward(), tx.grad.numpy(), rtol=1e-13)


def test_mse_loss_rejects_unknown_reduction():
    with pytest.raises(ValueError, match="elementwise is not a valid value for reduction"):
        nn.MSELoss(reduction="elementwise")


def _pair():
    """The same small conv net in npconv and torch (weights copied from torch)."""
    torch.manual_seed(0)
    theirs = torch.nn.Sequential(
        torch.nn.Conv2d(2, 4, 3, stride=2, padding=1),
        torch.nn.LeakyReLU(0.1),
        torch.nn.Conv2d(4, 3, 3, padding=1, bias=False),
        torch.nn.Tanh(),
        torch.nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1),
        torch.nn.Sigmoid(),
    ).double()
    ours = nn.Sequential(
        nn.Conv2d(2, 4, 3, stride=2, padding=1, dtype=np.float64),
        nn.LeakyReLU(0.1),
        nn.Conv2d(4, 3, 3, padding=1, bias=False, dtype=np.float64),
        nn.Tanh(),
        nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1, dtype=np.float64),
        nn.Sigmoid(),
    )
    return ours, theirs


@pytest.mark.needs_torch
def test_sequential_state_dict_keys_and_repr_match_torch():
    ours, theirs = _pair()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert list(ours.state_dict())[:3] == ["0.weight", "0.bias", "2.weight"]
    assert repr(ours) == repr(theirs)
    nested = nn.Sequential(nn.Sequential(nn.Conv1d(1, 2, 3)), nn.ReLU())
    nested_torch = torch.nn.Sequential(
        torch.nn.Sequential(torch.nn.Conv1d(1, 2, 3)), torch.nn.ReLU()
    )
    assert (
        list(nested.state_dict()) == list(nested_torch.state_dict()) == ["0.0.weight", "0.0.bias"]
    )
    assert repr(nested) == repr(nested_torch)
    assert repr(nn.Sequential()) == repr(torch.nn.Sequential())


def test_sequential_ordered_dict_names_and_indexing():
    conv, act = nn.Conv1d(1, 2, 3), nn.ReLU()
    net = nn.Sequential(OrderedDict(encode=conv, squash=act))
    assert list(net.state_dict()) == ["encode.weight", "encode.bias"]
    assert net[0] is conv and net[-1] is act and list(net) == [conv, act] and len(net) == 2
    assert repr(net).splitlines()[1] == "  (encode): Conv1d(1, 2, kernel_size=(3,), stride=(1,))"
    head = net[:1]
    assert isinstance(head, nn.Sequential) and list(head.state_dict()) == [
        "encode.weight",
        "encode.bias",
    ]
    with pytest.raises(IndexError, match="index 2 is out of range"):
        net[2]
    with pytest.raises(TypeError, match="is not a Module subclass"):
        nn.Sequential(nn.ReLU(), np.zeros(3))
    assert len(net.append(nn.Tanh())) == 3 and "2" in dict(net.named_children())


@pytest.mark.needs_torch
def test_sequential_loads_torch_state_dict_and_matches_forward():
    ours, theirs = _pair()
    result = ours.load_state_dict(theirs.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    x = np.random.default_rng(4).standard_normal((3, 2, 9, 7))
    np.testing.assert_allclose(
        ours(x), theirs(torch.tensor(x)).detach().numpy(), rtol=1e-12, atol=1e-12
    )


@pytest.mark.needs_torch
def test_sequential_backward_matches_torch_autograd():
    ours, theirs = _pair()
    ours.load_state_dict(theirs.state_dict())
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 2, 8, 6))
    target = rng.uniform(size=(3, 2, 8, 6))
    tx = torch.tensor(x, requires_grad=True)
    torch.nn.MSELoss()(theirs(tx), torch.tensor(target)).backward()
    loss = nn.MSELoss()
    loss(ours(x), target)
    dx = ours.backward(loss.backward())
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-10, atol=1e-14)
    expected = dict(theirs.named_parameters())
    names = [name for name, _ in ours.named_parameters()]
    assert names == list(expected)
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(
            p.grad, expected[name].grad.numpy(), rtol=1e-10, atol=1e-14, err_msg=name
        )


def test_lazy_module_inside_sequential_materialises():
    npconv.manual_seed(0)
    net = nn.Sequential(nn.LazyConv2d(4, 3), nn.ReLU())
    assert net(np.ones((1, 5, 6, 6), np.float32)).shape == (1, 4, 4, 4)
    assert net[0].weight.shape == (4, 5, 3, 3)
