"""npconv.warmup / `npconv warmup`: every compiled loop compiled for float32 and float64,
with exactly the argument types the algorithms pass (so later calls compile nothing)."""

import numpy as np
import pytest

import npconv
import npconv.functional as F
import npconv.grad as G
from npconv.cli import main
from npconv.compute import _jit


def _signatures():
    return {
        kernel.py_func.__name__ + str(sig) for kernel in _jit.KERNELS for sig in kernel.signatures
    }


def _every_path(dtype):
    r = np.random.default_rng(0)

    def a(*shape):
        return r.standard_normal(shape).astype(dtype)

    for n in (1, 2, 3):
        x, w = a(2, 4, *(9,) * n), a(4, 1, *(3,) * n)
        F.conv(x, w, padding=1, groups=4)
        F.conv(x, w, stride=2, groups=4)
        F.conv_transpose(x, w, stride=2, groups=4)
        G.conv_weight(x, w.shape, F.conv(x, w, groups=4), groups=4)
        y = a(2, 4, *(9,) * n)
        F.conv_transpose(y, a(4, 2, *(4,) * n), stride=2)  # col2im, taps
        F.conv_transpose(a(1, 4, *(3,) * n), a(4, 2, *(3,) * n), stride=2)  # short rows
    F.conv_transpose(a(1, 4, 8, 8), a(4, 2, 16, 16), stride=8)  # col2im, patches
    x, w = a(2, 16, 32, 32), a(16, 16, 3, 3)
    F.conv(x, w, padding=1)  # winograd
    G.conv_weight(x, w.shape, x, padding=1)
    x3 = a(1, 16, 8, 16, 16)
    F.conv(x3, a(16, 16, 3, 3, 3), padding=1)  # winograd, a lead dim
    npconv.nn.Conv2d(4, 4, 1, dtype=dtype)(a(4, 4, 128, 128))  # the bias loop


def test_warmup_compiles_every_loop_for_the_real_dtypes_and_types():
    report = npconv.warmup()
    assert report["seconds"] and set(report) == {"cache", "seconds"}
    for kernel in _jit.KERNELS:
        seen = {str(sig[0].dtype) for sig in kernel.signatures}
        assert {"float32", "float64"} <= seen, (kernel.py_func.__name__, seen)
    before = _signatures()
    for dtype in (np.float32, np.float64):
        _every_path(dtype)
    assert _signatures() == before  # nothing new compiled: warmup had every type


def test_warmup_command(capsys):
    assert main(["warmup", "--dtype", "float64"]) == (0 if _jit.directory() else 1)
    out = capsys.readouterr().out
    assert "depthwise conv float64" in out and "winograd conv float64" in out


def test_warmup_refuses_other_dtypes():
    with pytest.raises(ValueError, match="dtype='int8'"):
        npconv.warmup(dtypes=("int8",))
