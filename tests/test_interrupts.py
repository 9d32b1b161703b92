"""Interrupt safety: a call cut short by KeyboardInterrupt (SIGINT, or
_thread.interrupt_main) at any moment leaves no worker writing its buffers, and the
next call is exact. Every threaded algorithm, through functional, npconv.grad and
module backward, at 4 and 8 threads; each call after an interrupt is checked against
torch (float64)."""

import _thread
import os
import signal
import threading
import time

import numpy as np
import pytest

import npconv
import npconv.functional as F
import npconv.grad as G
import optional
from npconv.compute import geometry, planner

torch = optional.load("torch", "needs_torch")

T = torch.nn.functional
TG = optional.load("torch.nn.grad", "needs_torch")
REPEATS = 10  # interrupted calls per case and thread count


def _t(a):
    return torch.from_numpy(np.ascontiguousarray(a))


def _module_backward(cls, tcls, x, dy, **options):
    """(dx, weight.grad, bias.grad) of an npconv module and torch's, same weights."""
    m = cls(x.shape[1], dy.shape[1], options.pop("kernel_size"), dtype=np.float64, **options)
    tm = tcls(x.shape[1], dy.shape[1], m.kernel_size, dtype=torch.float64, **options)
    with torch.no_grad():
        tm.weight.copy_(_t(m.weight))
        tm.bias.copy_(_t(m.bias))

    def ours():
        m.weight.grad = m.bias.grad = None
        m(x)
        dx = m.backward(dy)
        return dx, m.weight.grad, m.bias.grad

    tx = _t(x).requires_grad_()
    tm(tx).backward(_t(dy))
    return ours, (tx.grad.numpy(), tm.weight.grad.numpy(), tm.bias.grad.numpy())


def _cases(rng):
    """name -> (algorithms that must run, npconv call, torch's results)."""

    def r(*shape):
        return rng.standard_normal(shape)

    cases = {}
    x, w = r(6, 16, 24, 24), r(16, 16, 3, 3)
    cases["gemm conv"] = (
        {"gemm"},
        lambda: (F.conv2d(x, w, stride=2),),
        (T.conv2d(_t(x), _t(w), stride=2).numpy(),),
    )
    cases["indirect conv"] = (
        {"indirect"},
        lambda: (F.conv2d(x, w, stride=2),),
        (T.conv2d(_t(x), _t(w), stride=2).numpy(),),
    )
    dy = r(6, 16, 11, 11)
    cases["gemm conv_weight"] = (
        {"gemm"},
        lambda: (G.conv2d_weight(x, w.shape, dy, stride=2),),
        (TG.conv2d_weight(_t(x), w.shape, _t(dy), stride=2).numpy(),),
    )
    dyp = r(6, 16, 6, 6)
    cases["phase conv_weight"] = (
        {"phase"},
        lambda: (G.conv2d_weight(x, w.shape, dyp, stride=4, padding=1),),
        (TG.conv2d_weight(_t(x), w.shape, _t(dyp), stride=4, padding=1).numpy(),),
    )
    y, wt = r(4, 16, 12, 12), r(16, 8, 4, 4)
    cases["col2im conv_transpose"] = (
        {"col2im"},
        lambda: (F.conv_transpose2d(y, wt, stride=2, padding=1),),
        (T.conv_transpose2d(_t(y), _t(wt), stride=2, padding=1).numpy(),),
    )
    ys = r(8, 16, 5, 5)
    cases["col2im short rows"] = (
        {"col2im"},
        lambda: (F.conv_transpose2d(ys, wt, stride=2),),
        (T.conv_transpose2d(_t(ys), _t(wt), stride=2).numpy(),),
    )
    xw, ww, dyw = r(4, 16, 32, 32), r(16, 16, 3, 3), r(4, 16, 32, 32)
    cases["winograd conv"] = (
        {"winograd"},
        lambda: (F.conv2d(xw, ww, padding=1),),
        (T.conv2d(_t(xw), _t(ww), padding=1).numpy(),),
    )
    cases["winograd conv_weight"] = (
        {"winograd"},
        lambda: (G.conv2d_weight(xw, ww.shape, dyw, padding=1),),
        (TG.conv2d_weight(_t(xw), ww.shape, _t(dyw), padding=1).numpy(),),
    )
    xd, wd = r(4, 24, 32, 32), r(24, 1, 3, 3)
    dyd = r(4, 24, 32, 32)
    cases["depthwise"] = (
        {"depthwise"},
        lambda: (
            F.conv2d(xd, wd, padding=1, groups=24),
            G.conv2d_input(xd.shape, wd, dyd, padding=1, groups=24),
            G.conv2d_weight(xd, wd.shape, dyd, padding=1, groups=24),
        ),
        (
            T.conv2d(_t(xd), _t(wd), padding=1, groups=24).numpy(),
            TG.conv2d_input(xd.shape, _t(wd), _t(dyd), padding=1, groups=24).numpy(),
            TG.conv2d_weight(_t(xd), wd.shape, _t(dyd), padding=1, groups=24).numpy(),
        ),
    )
    xs, ws, dys = r(6, 8, 24, 24), r(8, 8, 3, 3), r(6, 8, 24, 24)
    cases["shifted"] = (
        {"shifted"},
        lambda: (F.conv2d(xs, ws, padding=1), G.conv2d_weight(xs, ws.shape, dys, padding=1)),
        (
            T.conv2d(_t(xs), _t(ws), padding=1).numpy(),
            TG.conv2d_weight(_t(xs), ws.shape, _t(dys), padding=1).numpy(),
        ),
    )
    ours, theirs = _module_backward(
        npconv.nn.ConvTranspose2d,
        torch.nn.ConvTranspose2d,
        r(4, 16, 10, 10),
        r(4, 16, 21, 21),
        kernel_size=3,
        stride=2,
    )
    cases["conv_both (ConvTranspose2d backward)"] = ({"gemm"}, ours, theirs)
    ours, theirs = _module_backward(
        npconv.nn.Conv2d,
        torch.nn.Conv2d,
        r(4, 16, 32, 32),
        r(4, 16, 32, 32),
        kernel_size=3,
        padding=1,
    )
    cases["Conv2d backward"] = ({"winograd", "mirror"}, ours, theirs)
    return cases


def _interrupt(delay, how):
    """A timer that interrupts the main thread after `delay` seconds."""
    if how == "signal":

        def action():
            os.kill(os.getpid(), signal.SIGINT)

    else:
        action = _thread.interrupt_main
    timer = threading.Timer(delay, action)
    timer.start()
    return timer


def _run_interrupted(call, delay, how):
    """call() with an interrupt after `delay` seconds; True if the interrupt cut it short."""
    timer = None
    try:
        timer = _interrupt(delay, how)
        call()
        timer.cancel()
        timer.join()
        time.sleep(0.001)  # an interrupt sent as the call returned lands here
        return False
    except KeyboardInterrupt:
        if timer is not None:
            timer.cancel()
            timer.join()
        return True


@pytest.fixture
def main_thread_sigint():
    # Python delivers SIGINT to the main thread only: the test must run there
    assert threading.current_thread() is threading.main_thread()
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


@pytest.mark.needs_torch
@pytest.mark.parametrize("count", [4, 8])
def test_the_call_after_an_interrupt_is_exact(count, main_thread_sigint, monkeypatch):
    rng = np.random.default_rng(20)
    before = npconv.get_num_threads()
    monkeypatch.setattr(geometry, "WORK_BYTES", 1 << 16)  # many tiles: many slices
    chosen = []
    execute, note = planner._execute, planner._note

    def spy(name, *a):  # every algorithm that runs, nested ones too
        chosen.append(name)
        return execute(name, *a)

    monkeypatch.setattr(planner, "_execute", spy)
    monkeypatch.setattr(planner, "_note", lambda op, name: (chosen.append(name), note(op, name)))
    npconv.set_num_threads(count)
    cut = total = 0
    try:
        for name, (algorithms, call, expected) in _cases(rng).items():
            forced = "winograd" if "winograd" in algorithms else next(iter(algorithms))

            def call(call=call, forced=forced):  # the case's algorithm, whatever the size
                with npconv.use_algorithm(forced):
                    return call()

            chosen.clear()
            start = time.perf_counter()
            call()  # compiled, and timed
            took = time.perf_counter() - start
            assert algorithms & set(chosen), (name, chosen)
            for i in range(REPEATS):
                total += 1
                cut += _run_interrupted(call, rng.uniform(0, took), ("signal", "main")[i % 2])
                results = call()
                for result, want in zip(results, expected, strict=True):
                    np.testing.assert_allclose(
                        result, want, rtol=1e-9, atol=1e-9, err_msg=f"{name}, after interrupt {i}"
                    )
    finally:
        npconv.set_num_threads(before)
    print(f"{count} threads: {cut} of {total} calls interrupted")
    assert cut >= total // 3, f"only {cut} of {total} calls were interrupted"


@pytest.mark.parametrize("count", [4, 8])
def test_an_interrupted_split_returns_with_no_slice_running(count, main_thread_sigint):
    """When KeyboardInterrupt leaves split, every slice that started has ended, and the
    slices not yet claimed never start."""
    from npconv import _threads

    before = npconv.get_num_threads()
    npconv.set_num_threads(count)
    running, started = [0], [0]
    lock = threading.Lock()

    def loop(bounds):
        with lock:
            running[0] += 1
            started[0] += 1
        try:
            time.sleep(0.002)  # releases the GIL, as the compiled loops do
        finally:  # the caller's own slices are interrupted here
            with lock:
                running[0] -= 1

    try:
        for i in range(10):
            started[0] = 0
            if _run_interrupted(
                lambda: _threads.split(loop, 400, slices=50),
                0.005 + 0.002 * i,
                ("signal", "main")[i % 2],
            ):
                assert running[0] == 0
                assert started[0] < 400
                time.sleep(0.01)
                assert running[0] == 0  # no worker took a slice afterwards
    finally:
        npconv.set_num_threads(before)
