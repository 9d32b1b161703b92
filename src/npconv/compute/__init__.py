"""Fast algorithms for the three contractions every convolution reduces to.

One trilinear form ties a "big" array (the conv input side), a weight and a
"small" array (the conv output side), per spatial dimension:

    T(x, w, y) = sum  x[n, g*B + b, o*s + j*d - lo] * w[g*M + m, b, j] * y[n, g*M + m, o]

with G groups, B big channels and M small channels per group. Each operation
npconv has is one partial derivative of T:

    conv(x, w)            = dT/dy   (N, G*B, *big) -> (N, G*M, *small)
    conv_transpose(y, w)  = dT/dx   (N, G*M, *small) -> (N, G*B, *big)
    conv_weight(x, y)     = dT/dw   -> (G*M, B, *kernel)

torch's Conv weight (out, in/groups, *k) and ConvTranspose weight
(in, out/groups, *k) are both (G*M, B, *k) here, so the same weight array plays
the same role in both.

Algorithms (each a module with conv, conv_transpose, conv_weight and
supports(geometry); each computes exactly this function and is tested alone
against the loop reference):

    gemm       im2col / col2im (overlap-add) around one GEMM per tile; any geometry,
               NumPy only
    col2im     transposed convs: one tall GEMM, then compiled overlap-add (Numba)
    shifted    stride 1: columns as shifted slices of a flat canvas (implicit im2col)
    phase      stride > 1: a sum of stride-1 problems, one per phase of the big side
    mirror     stride 1: the problem with big and small sides swapped
    depthwise  few channels per group: compiled direct loops (Numba)
    winograd   stride 1, 3x3 in the last two dims: F(2, 3) transforms around small GEMMs (Numba)
    indirect   a cached table of every window's reads, one compiled gather, one GEMM
    fft        long and large kernels: overlap-save FFTs, channels contracted per bin
    pointwise  1x1 kernels: one GEMM over the channels, on the input itself
    direct     convs of few input channels (first layers): compiled loops, output
               channels blocked in registers (Numba)

The planner (planner.py) picks one per contraction: forced by the user
(npconv.use_algorithm), measured (npconv.set_planner("measure")), or by the
heuristic's structural rules, whose thresholds live in tuning.py. npconv.plan
shows its choice for a layer call without computing anything.

Memory: every algorithm cuts its work into tiles (several samples, or a band
of one sample's output) whose buffers stay within geometry.work_bytes (WORK_BYTES,
less at many threads), and frees one tile's buffers before the next, so a call
needs little beyond its operands however large they are. The threads' buffers
together stay within one budget (_threads.budget: BUDGET, or most of the
result's size where larger), not one per thread: tiles shrink with the thread
count, and where a thread's share needs more than its part (Winograd's chunks of
a large plane, a large weight's partial sums) fewer threads take the shares.
gemm's tiles reuse work buffers each thread keeps between calls
(_threads.scratch, within BUDGET / threads per thread): fresh ones cost a page
fault per 4 KiB whenever glibc has handed freed memory back.

Threads: npconv's own (_threads) take whole tiles (gemm, shifted), chunks
(winograd) or planes (depthwise, col2im's overlap-add), each thread running its
GEMMs in a single-threaded BLAS: one GEMM of a tile per core, on data that core
just wrote, beats one GEMM at a time split by the BLAS pool, whose small-M
products run far below its large-product rate. col2im cuts a wide product into
a column block per thread (_threads.matmul), and so does gemm where a call is a
single tile. The BLAS pool itself stays single-threaded for the length of a
call (_threads.serial_blas): a pool woken for one product spins on the cores
long after it. Problems below tuning.INLINE_MACS run on the calling thread
alone (_threads.inline). npconv.set_num_threads sets both.
"""

from __future__ import annotations

import numpy as np

from .._threads import split
from . import planner, tuning
from .geometry import Geometry
from .planner import ALGORITHMS

__all__ = [
    "ALGORITHMS",
    "Geometry",
    "add_bias",
    "conv",
    "conv_both",
    "conv_transpose",
    "conv_weight",
    "planner",
]


def conv(x, w, geometry):
    """(N, G*B, *big) x (G*M, B, *k) -> (N, G*M, *small)."""
    return planner.run("conv", x, w, geometry)


def conv_transpose(y, w, geometry):
    """(N, G*M, *small) x (G*M, B, *k) -> (N, G*B, *big)."""
    return planner.run("conv_transpose", y, w, geometry)


def conv_both(x, w, y, geometry):
    """(conv(x, w), conv_weight(x, y)), the two products of a transposed conv's backward,
    which read the same windows of x (planner.run_both)."""
    return planner.run_both(x, w, y, geometry)


def conv_weight(x, y, geometry):
    """(N, G*B, *big) x (N, G*M, *small) -> (G*M, B, *k)."""
    return planner.run("conv_weight", x, y, geometry)


def add_bias(y, b):
    """y += b per channel, in place, for (N, C, *S) y and (C,) b of y's dtype.

    NumPy's broadcast add runs one short loop per plane on one core, which on large
    outputs costs a fair part of a cheap conv; large real outputs go plane by plane
    through a compiled loop on npconv's threads instead."""
    if (
        y.size < tuning.BIAS_SPLIT
        or not y.flags.c_contiguous
        or y.dtype not in (np.float32, np.float64)
        or y.ndim < 2
    ):
        y += b.reshape((1, -1) + (1,) * (y.ndim - 2))
        return
    from . import _plane_loops

    planes = y.reshape(y.shape[0] * y.shape[1], -1)  # one row per plane
    split(_plane_loops.add_bias, planes.shape[0], planes, b)
