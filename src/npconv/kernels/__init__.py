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
    winograd   stride 1, 3x3 in the last two dims: F(4, 3) transforms around small GEMMs (Numba)

The planner (`choose`) picks one per call; its rules, in order, each the
faster one measured on the benchmark's layers (bench/suite.json):

 1. groups of at most 4 channel pairs (B*M) -> depthwise;
 2. conv_transpose, stride 1 -> mirror (the conv of the small side, whose
    columns for a 1x1 kernel are the array itself), unless B < M/4: then
    col2im's columns are the smaller ones;
 3. conv_transpose, strided -> col2im. Output rows shorter than gemm.SHORT take
    gemm's channels-last columns and canvas (dcgan_g2 0.9x the time of its four
    phases' dense sub-GEMMs), with col2im's compiled add of a run of channels per
    window and tap (dcgan_g2 0.95x the time with NumPy's strided slab per tap);
 4. conv_weight, strided, output rows shorter than gemm.SHORT with at most
    MAX_PHASES phases -> phase: dense channels-last sub-GEMMs, one per phase
    (dcgan_g2's weight gradient 50 -> 42 ms; vae_dec's, with long rows, is
    faster by gemm: 21 vs 28 ms);
 5. conv / conv_weight: strided or 1x1 -> gemm (the windows waste nothing;
    a strided conv whose kernel covers its stride gathers them channels last,
    gemm.py); phase measured slower there (resnet_down 12 ms vs 8.6 ms);
    stride 1 -> winograd for kernels 3 wide in their last two dims (2-d and
    up) with at least WINOGRAD_CHANNELS channels on each side and at least
    WINOGRAD_TILES tiles in the call (resnet_3x3 20 -> 11 ms, its weight
    gradient 19 -> 11 ms; conv3d_3x3 13.6 -> 7.3 ms and its weight gradient
    18.5 -> 8.2 ms, the depth taps summed inside the GEMMs; in 1-d it
    measured slower than shifted: its transforms outweigh the saved
    multiplies), else shifted when the canvas margin adds at most a quarter
    to the output grid, else gemm. Below WINOGRAD_TILES the weight's
    transform, made once per call, and GEMMs of a few tile rows outweigh the
    saved multiplies: ResNet's 512-channel 7x7 layers (batch 8, 32 tiles)
    took 48 ms by Winograd and 12 ms by gemm, their weight gradient 125 ms
    and 9 ms; its 256-channel 14x14 ones (128 tiles) 9.9 and 7.8 ms; at 256
    tiles and more Winograd is the faster.

A transposed conv's backward needs conv(g, w) and conv_weight(g, y), which
read the same windows of g; where the planner gives the conv to gemm, `conv_both`
gathers them once per tile for the two GEMMs (vae_dec's backward 34 -> 28 ms), the
weight gradient going to gemm even where alone it would take phase (rule 4).

Without Numba, depthwise, col2im and winograd are never chosen; gemm and
shifted stand in.

Memory: every algorithm cuts its work into tiles (several samples, or a band
of one sample's output) whose buffers stay within geometry.WORK_BYTES, and
frees one tile's buffers before the next, so a call needs little beyond its
operands however large they are. gemm's tiles reuse work buffers each thread
keeps between calls (_threads.scratch, up to SCRATCH_BYTES each): fresh ones
cost a page fault per 4 KiB whenever glibc has handed freed memory back.

Threads: npconv's own (_threads) take whole tiles (gemm, shifted), chunks
(winograd) or planes (depthwise, col2im's overlap-add), each thread running its
GEMMs in a single-threaded BLAS: one GEMM of a tile per core, on data that core
just wrote, beats one GEMM at a time split by the BLAS pool (small-M products
run at ~60% of the 2048^2 rate there). col2im cuts a wide product into a column
block per thread (_threads.matmul), and so does gemm where a call is a single tile
(one small sample: a 512-channel 7x7 layer, 0.75x the time of its products on one
core). The BLAS pool itself stays single-threaded
for the length of a call (_threads.serial_blas): a pool woken for one product
spins on the cores long after it. npconv.set_num_threads sets both.
"""
from __future__ import annotations

import math

import numpy as np

from .._threads import serial_blas, split
from . import col2im, depthwise, fft, gemm, mirror, phase, shifted, winograd
from .geometry import Geometry, extent

ALGORITHMS = {"gemm": gemm, "col2im": col2im, "shifted": shifted, "phase": phase,
              "mirror": mirror, "depthwise": depthwise, "winograd": winograd, "fft": fft}

BIAS_SPLIT = 1 << 16  # elements from which add_bias runs on npconv's threads
MAX_PHASES = 16
MAX_MARGIN = 1.25
WINOGRAD_CHANNELS = 16
WINOGRAD_TILES = 256


def _margin(g):
    """Canvas positions per output position of the shifted algorithm."""
    return math.prod(extent(g.small, g)) / max(1, math.prod(g.small))


def choose(op, geometry, b, m, n):
    """The algorithm module for `op` on `geometry` with b big and m small channels per group,
    for n samples."""
    g = geometry
    if fft.preferred(op, g, b, m, n):
        return fft
    if g.groups > 1 and b * m <= 4 and depthwise.supports(g):
        return depthwise
    strided = any(s > 1 for s in g.stride)
    pointwise = all(k == 1 for k in g.kernel)
    overlap_add = col2im if col2im.supports(g) else gemm
    if op == "conv_transpose":
        if not strided:
            return mirror if 4 * b >= m or pointwise else overlap_add
        return overlap_add
    if op == "conv_weight" and strided and g.small[-1] < gemm.SHORT \
            and math.prod(g.stride) <= MAX_PHASES:
        return phase
    if strided or pointwise:
        return gemm
    if len(g.kernel) >= 2 and min(b, m) >= WINOGRAD_CHANNELS and winograd.supports(g) \
            and winograd.tiles(g, n) >= WINOGRAD_TILES:
        return winograd
    return shifted if _margin(g) <= MAX_MARGIN else gemm


def conv(x, w, geometry):
    """(N, G*B, *big) x (G*M, B, *k) -> (N, G*M, *small)."""
    algorithm = choose("conv", geometry, w.shape[1], w.shape[0] // geometry.groups, x.shape[0])
    with serial_blas():
        return algorithm.conv(x, w, geometry)


def conv_transpose(y, w, geometry):
    """(N, G*M, *small) x (G*M, B, *k) -> (N, G*B, *big)."""
    algorithm = choose("conv_transpose", geometry, w.shape[1], w.shape[0] // geometry.groups,
                       y.shape[0])
    with serial_blas():
        return algorithm.conv_transpose(y, w, geometry)


def conv_both(x, w, y, geometry):
    """(conv(x, w), conv_weight(x, y)), the two products of a transposed conv's backward,
    which read the same windows of x: from one gather of them where both take the
    same algorithm and it has conv_both (gemm), else one call each. Beside a gemm conv
    the weight gradient goes to gemm too, not to phase (rule 4 is for it alone): the
    shared gather wins (dcgan_g2's backward 0.95x the time; GAN-like layers with rows
    of 4-7, 2-d and 3-d, 0.49-0.87x; interleaved A/B)."""
    g = geometry
    b, m = w.shape[1], w.shape[0] // g.groups
    n = x.shape[0]
    forward, weight = choose("conv", g, b, m, n), choose("conv_weight", g, b, m, n)
    if forward is gemm and weight is phase:
        weight = gemm
    with serial_blas():
        if forward is weight and hasattr(forward, "conv_both"):
            return forward.conv_both(x, w, y, g)
        return forward.conv(x, w, g), weight.conv_weight(x, y, g)


def conv_weight(x, y, geometry):
    """(N, G*B, *big) x (N, G*M, *small) -> (G*M, B, *k)."""
    g = geometry
    algorithm = choose("conv_weight", g, x.shape[1] // g.groups, y.shape[1] // g.groups,
                       x.shape[0])
    with serial_blas():
        return algorithm.conv_weight(x, y, g)


def add_bias(y, b):
    """y += b per channel, in place, for (N, C, *S) y and (C,) b of y's dtype.

    NumPy's broadcast add runs one short loop per plane on one core (0.25 ms for
    depthwise_up1d's 3 MiB output, more than half its conv); large real outputs go
    plane by plane through a compiled loop on npconv's threads instead."""
    if y.size < BIAS_SPLIT or not depthwise.AVAILABLE or not y.flags.c_contiguous \
            or y.dtype not in (np.float32, np.float64) or y.ndim < 2:
        y += b.reshape((1, -1) + (1,) * (y.ndim - 2))
        return
    from . import _planes
    planes = y.reshape(y.shape[0] * y.shape[1], -1)                # one row per plane
    split(_planes.add_bias, planes.shape[0], planes, b)
