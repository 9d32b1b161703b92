"""Direct convolution for few input taps per output: compiled output-stationary loops.

A first layer (1-3 input channels) has K*B = 9 to 150 products per output, too few for
a GEMM's blocking to pay: the GEMM of (M, K*B) by (K*B, L) columns reloads its output
tile every K*B multiply-adds and first copies the K*B x L columns. Here each input
plane is padded once into a polyphase canvas (depthwise._tables: every stride reads
stride-1 windows), and per band of output rows and output channel one cache-sized run
accumulates all K*B taps, then goes to y. The canvases of as many samples at a time as
fit geometry.work_bytes, so a call needs little beyond its operands. Conv only; its
gradients go elsewhere.
"""

from __future__ import annotations

import math

import numpy as np

from .._threads import split
from . import depthwise, tuning
from .gemm import conv_transpose, conv_weight  # noqa: F401  (the module's other two ops)
from .geometry import work_bytes

OPS = ("conv",)  # conv_transpose and conv_weight above are gemm's
RUN_BYTES = 4 * 2**10  # one band's run of canvas positions: CHANNELS of them within the L1 cache


def supports(geometry):
    return True


def variant(p):
    return "compiled output-stationary loops"


def worth_measuring(p) -> bool:
    """For the measured planner: few taps per output, where a GEMM's K is short."""
    return p.big_channels * math.prod(p.geometry.kernel) <= tuning.DIRECT_MEASURE_TAPS


def _edges(rows, width, count, itemsize):
    """Row edges of bands whose canvas runs stay within RUN_BYTES (a row at least)."""
    per_row = (int(rows[1] - rows[0]) if count > 1 else width) * itemsize
    band = max(1, RUN_BYTES // max(1, per_row))
    bands = -(-count // band)
    return np.array([count * i // bands for i in range(bands + 1)], dtype=np.int64)


def conv(x, w, geometry):
    """(N, G*B, *big) x (G*M, B, *k) -> (N, G*M, *small)."""
    from . import _direct_loops

    g = geometry
    dtype = np.result_type(x, w)
    rows, taps, _, padding, _ = depthwise._tables(g, True)
    sources, first, stop, start, stride, size = padding
    n, c = x.shape[:2]
    y = np.empty((n, w.shape[0]) + tuple(g.small), dtype=dtype)
    out = y.reshape(n * w.shape[0], -1)  # one row per output plane
    ws = np.ascontiguousarray(w, dtype=dtype).reshape(w.shape[:2] + (-1,))  # (G*M, B, K)
    edges = _edges(rows, g.small[-1], rows.shape[0], y.itemsize)  # bands of output rows
    bands = edges.shape[0] - 1
    # samples whose canvases fit the work budget at a time (one at least)
    step = max(1, work_bytes() // max(1, c * size * y.itemsize))
    for s0 in range(0, n, step):
        part = slice(s0, min(n, s0 + step))
        nt = part.stop - part.start
        planes = np.ascontiguousarray(x[part], dtype=dtype).reshape(nt * c, -1)
        canvas = np.zeros((nt * c, size), dtype=dtype)  # padding positions stay zero
        split(_direct_loops.pad_planes, nt * c, planes, canvas, sources, first, stop, start, stride)
        rows_out = out[part.start * w.shape[0] : part.stop * w.shape[0]]
        items = nt * g.groups * bands
        split(_direct_loops.conv_bands, items, canvas, ws, rows_out, rows, taps, edges, g.groups)
    return y
