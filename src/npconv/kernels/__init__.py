"""Fast algorithms for the three contractions every convolution reduces to.

One trilinear form ties a "big" array (the conv input side), a weight and a
"small" array (the conv output side), per spatial dimension:

    T(x, w, y) = sum  x[n, g*B + b, o*s + j*d - lo] * w[g*M + m, b, j] * y[n, g*M + m, o]

with G groups, B big channels and M small channels per group. Each operation
npconv has is one partial derivative of T:

    conv(x, w)            = dT/dy   (N, G*B, *big)  -> (N, G*M, *small)
    conv_transpose(y, w)  = dT/dx   (N, G*M, *small) -> (N, G*B, *big)
    conv_weight(x, y)     = dT/dw   -> (G*M, B, *kernel)

torch's Conv weight (out, in/groups, *k) and ConvTranspose weight
(in, out/groups, *k) are both (G*M, B, *k) here, so the same weight array plays
the same role in both. This module picks an algorithm per call; every algorithm
computes exactly the same function and is tested against the loop reference.
"""
from __future__ import annotations

from typing import NamedTuple

from . import gemm


class Geometry(NamedTuple):
    """Where a window lands: kernel, stride, dilation, leading offset and both sizes."""

    kernel: tuple
    stride: tuple
    dilation: tuple
    lo: tuple       # leading padding (>0) or crop (<0) of the big side
    big: tuple      # spatial size of the conv input / transposed-conv output
    small: tuple    # spatial size of the conv output / transposed-conv input
    groups: int


def conv(x, w, geometry):
    """(N, G*B, *big) x (G*M, B, *k) -> (N, G*M, *small)."""
    return gemm.conv(x, w, geometry)


def conv_transpose(y, w, geometry):
    """(N, G*M, *small) x (G*M, B, *k) -> (N, G*B, *big)."""
    return gemm.conv_transpose(y, w, geometry)


def conv_weight(x, y, geometry):
    """(N, G*B, *big) x (N, G*M, *small) -> (G*M, B, *k)."""
    return gemm.conv_weight(x, y, geometry)
