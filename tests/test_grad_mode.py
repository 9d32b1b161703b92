"""npconv.no_grad / enable_grad / set_grad_enabled against torch's grad mode, and
what modules keep for backward inside them."""

import gc
import threading
import weakref

import numpy as np
import pytest

import npconv
import optional
from npconv import nn

torch = optional.load("torch", "needs_torch")

MODULES = [
    pytest.param(
        lambda: nn.Conv2d(2, 3, 3, padding=1, dtype=np.float64), (2, 2, 5, 5), id="Conv2d"
    ),
    pytest.param(
        lambda: nn.ConvTranspose1d(2, 3, 3, stride=2, dtype=np.float64),
        (2, 2, 5),
        id="ConvTranspose1d",
    ),
    pytest.param(lambda: nn.Unfold(2), (1, 2, 4, 4), id="Unfold"),
    pytest.param(lambda: nn.Fold((4, 4), 2), (1, 8, 9), id="Fold"),
    pytest.param(lambda: nn.ReLU(), (3, 4), id="ReLU"),
    pytest.param(
        lambda: nn.Sequential(nn.Conv1d(2, 2, 3, dtype=np.float64), nn.Tanh()),
        (1, 2, 6),
        id="Sequential",
    ),
]


def _trace(api):
    """is_grad_enabled() at every point of a fixed nest of the grad-mode managers."""
    seen = [api.is_grad_enabled()]
    with api.no_grad():
        seen.append(api.is_grad_enabled())
        with api.enable_grad():
            seen.append(api.is_grad_enabled())
            with api.no_grad():
                seen.append(api.is_grad_enabled())
            seen.append(api.is_grad_enabled())
        with api.set_grad_enabled(True):
            seen.append(api.is_grad_enabled())
        seen.append(api.is_grad_enabled())
        try:
            with api.enable_grad():
                raise KeyError("inside")
        except KeyError:
            seen.append(api.is_grad_enabled())
    seen.append(api.is_grad_enabled())
    api.set_grad_enabled(False)  # a plain call sets the mode
    seen.append(api.is_grad_enabled())
    api.set_grad_enabled(True)
    seen.append(api.is_grad_enabled())
    return seen


@pytest.mark.needs_torch
def test_nesting_and_exceptions_match_torch():
    assert _trace(npconv) == _trace(torch)


def _decorated(api):
    """What a decorated function, a bare-decorated one and a generator see."""

    @api.no_grad()
    def called():
        return api.is_grad_enabled()

    @api.no_grad
    def bare():
        return api.is_grad_enabled()

    @api.set_grad_enabled(False)
    def chosen():
        return api.is_grad_enabled()

    @api.no_grad()
    def steps():
        for _ in range(2):
            received = yield api.is_grad_enabled()
            assert received == "sent"

    after_decoration = api.is_grad_enabled()
    generator = steps()
    values = [next(generator), api.is_grad_enabled(), generator.send("sent"), api.is_grad_enabled()]
    with api.no_grad():
        inside = api.enable_grad()(lambda: api.is_grad_enabled())()
    return [
        after_decoration,
        called(),
        bare(),
        chosen(),
        api.is_grad_enabled(),
        inside,
        called.__name__,
    ] + values


@pytest.mark.needs_torch
def test_decorators_match_torch():
    assert _decorated(npconv) == _decorated(torch)


def test_decorated_function_restores_the_mode_on_an_exception():
    @npconv.no_grad()
    def fails():
        raise ValueError("inside")

    with pytest.raises(ValueError, match="inside"):
        fails()
    assert npconv.is_grad_enabled()


def test_grad_mode_is_per_thread_and_starts_enabled():
    seen = {}

    def worker():
        seen["start"] = npconv.is_grad_enabled()
        with npconv.no_grad():
            ready.set()
            resume.wait(5)

    ready, resume = threading.Event(), threading.Event()
    with npconv.no_grad():
        thread = threading.Thread(target=worker)
        thread.start()
        assert ready.wait(5)
        seen["main inside"] = npconv.is_grad_enabled()
    seen["main after, worker inside"] = npconv.is_grad_enabled()
    resume.set()
    thread.join(5)
    assert seen == {"start": True, "main inside": False, "main after, worker inside": True}


@pytest.fixture
def one_thread():
    """One npconv thread: the worker pool keeps the arguments of its last task until the
    next one (a reference outside the module, left to the thread pool's owner)."""
    before = npconv.get_num_threads()
    npconv.set_num_threads(1)
    yield
    npconv.set_num_threads(before)


@pytest.mark.parametrize("make, shape", MODULES)
def test_no_grad_forward_keeps_no_input_and_backward_says_why(make, shape, rng, one_thread):
    module = make()
    x = rng.standard_normal(shape)
    with npconv.no_grad():
        y = module(x)
    expected = module(x)  # the same forward outside no_grad
    np.testing.assert_array_equal(y, expected)
    module(rng.standard_normal(shape))
    with npconv.no_grad():
        module(x)
    alive = weakref.ref(x)
    del x
    gc.collect()
    assert alive() is None, "the module kept its input inside no_grad()"
    with pytest.raises(RuntimeError, match=r"no_grad\(\), which keeps nothing for backward"):
        module.backward(np.ones_like(y))


@pytest.mark.parametrize("make, shape", MODULES)
def test_enable_grad_inside_no_grad_keeps_the_input(make, shape, rng):
    module = make()
    x = rng.standard_normal(shape)
    with npconv.no_grad(), npconv.enable_grad():
        y = module(x)
    module.backward(np.ones_like(y))  # works


def test_backward_without_any_forward_still_says_so():
    with pytest.raises(ValueError, match="needs a forward call first"):
        nn.Conv1d(1, 1, 1).backward(np.ones((1, 1, 1), np.float32))


@pytest.mark.needs_torch
def test_eval_keeps_saving_as_in_torch(rng):
    ours = nn.Conv2d(2, 3, 3, dtype=np.float64).eval()
    theirs = torch.nn.Conv2d(2, 3, 3, dtype=torch.float64).eval()
    theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    x = rng.standard_normal((1, 2, 5, 5))
    g = rng.standard_normal((1, 3, 3, 3))
    ours(x)
    dx = ours.backward(g)
    tx = torch.tensor(x, requires_grad=True)
    theirs(tx).backward(torch.tensor(g))
    assert not ours.training and not theirs.training
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_set_grad_enabled_takes_a_bool():
    with pytest.raises(TypeError, match="bool"):
        npconv.set_grad_enabled("no")
    assert npconv.is_grad_enabled()
