"""Compile every compiled loop npconv has into its disk cache, ahead of the first call.

Without it a process compiles each loop on its first use of it (seconds per loop), and
again in every process where nothing could be cached (compute/_jit.py says where the
cache goes). Run it where the cache will be read: at a Dockerfile's build step, after
the install, by the user who installed (the package folders' cache is read by every
user afterwards), or as the service user.

>>> import npconv
>>> report = npconv.warmup(dtypes=("float64",))   # doctest: +SKIP
"""

from __future__ import annotations

import time

import numpy as np

DTYPES = ("float32", "float64")


def _paths(dtype):
    """(name, call) for a tiny problem of each compiled path, in `dtype`: together they reach
    every compiled loop with the argument types the algorithms pass."""
    from . import compute
    from .compute import Geometry, col2im, depthwise, direct, gemm, indirect, tuning, winograd

    r = np.random.default_rng(0)
    a = lambda *shape: r.standard_normal(shape).astype(dtype)  # noqa: E731
    grid = Geometry((3, 3), (1, 1), (1, 1), (1, 1), (6, 6), (6, 6), 4)
    taps = Geometry((4, 4), (2, 2), (1, 1), (1, 1), (16, 16), (8, 8), 1)
    patches = Geometry((16, 16), (8, 8), (1, 1), (0, 0), (72, 72), (8, 8), 1)
    short = Geometry((3, 3), (2, 2), (1, 1), (0, 0), (7, 7), (3, 3), 1)
    tiled = Geometry((3, 3), (1, 1), (1, 1), (1, 1), (8, 8), (8, 8), 1)
    own = Geometry((3, 3), (1, 1), (1, 1), (1, 1), (9, 9), (9, 9), 1)
    strided = Geometry((3, 3), (2, 2), (1, 1), (1, 1), (6, 6), (3, 3), 4)
    valid = Geometry((3, 3), (1, 1), (1, 1), (0, 0), (6, 6), (4, 4), 4)
    x, wd, wm, xs = a(1, 4, 6, 6), a(4, 1, 3, 3), a(8, 1, 3, 3), a(1, 4, 3, 3)
    yield "depthwise conv", lambda: depthwise.conv(x, wm, grid)  # a multiplier: planes
    yield "depthwise conv flat", lambda: depthwise.conv(x, wd, grid)
    yield "depthwise conv channels last", lambda: depthwise.conv(x, wd, valid)
    yield "depthwise conv strided", lambda: depthwise.conv(x, wm, strided)
    yield "depthwise conv_transpose", lambda: depthwise.conv_transpose(x, wd, grid)
    yield "depthwise conv_transpose strided", lambda: depthwise.conv_transpose(xs, wd, strided)
    yield "depthwise conv_weight", lambda: depthwise.conv_weight(x, x, grid)
    yield "depthwise conv_weight strided", lambda: depthwise.conv_weight(x, xs, strided)
    yield "gemm columns", lambda: gemm.conv(a(2, 8, 9, 9), a(4, 8, 3, 3), own)  # own order
    yield "direct conv", lambda: direct.conv(a(1, 1, 8, 8), a(5, 1, 3, 3), tiled)  # 4 + 1 channels
    yield "col2im taps", lambda: col2im.conv_transpose(a(1, 2, 8, 8), a(2, 2, 4, 4), taps)
    yield "col2im patches", lambda: col2im.conv_transpose(a(1, 2, 8, 8), a(2, 2, 16, 16), patches)
    yield "col2im short rows", lambda: col2im.conv_transpose(a(1, 2, 3, 3), a(2, 2, 3, 3), short)
    yield "winograd conv", lambda: winograd.conv(a(1, 2, 8, 8), a(2, 2, 3, 3), tiled)
    yield "winograd conv_weight", lambda: winograd.conv_weight(a(1, 2, 8, 8), a(1, 2, 8, 8), tiled)
    yield "indirect gather", lambda: indirect.conv(a(1, 2, 8, 8), a(2, 2, 3, 3), tiled)
    yield "indirect interleave", lambda: indirect.conv_transpose(a(1, 2, 8, 8), a(2, 2, 4, 4), taps)
    yield "bias", lambda: compute.add_bias(a(1, 2, tuning.BIAS_SPLIT), a(2))


def warmup(dtypes=DTYPES) -> dict:
    """Compile every compiled loop for each of `dtypes` (those npconv computes in: float32,
    float64; complex64 and complex128 reach the depthwise, direct and indirect loops and
    gemm's gathers too)
    into the disk cache.

    Returns {"cache": the folder (or None: no cache on disk, this process only),
    "seconds": {path: seconds to compile or load it}}.

    Args:
        dtypes: the dtypes to compile the loops for.

    >>> import npconv
    >>> report = npconv.warmup(("float64",))
    >>> sorted(report) == ["cache", "seconds"]
    True
    """
    from .compute import _jit

    seconds = {}
    for dtype in dtypes:
        kind = np.dtype(dtype)
        if kind not in (np.float32, np.float64, np.complex64, np.complex128):
            raise ValueError(
                f"warmup expects float32, float64, complex64 or complex128 dtypes, "
                f"but got dtype={dtype!r}"
            )
        for name, call in _paths(kind):
            if kind.kind == "c" and not name.startswith(
                ("depthwise", "direct", "indirect", "gemm")
            ):
                continue  # the other compiled loops are for real dtypes only
            start = time.perf_counter()
            call()
            seconds[f"{name} {kind.name}"] = time.perf_counter() - start
    directory = _jit.directory()
    return {"cache": _jit.describe(directory), "seconds": seconds}
