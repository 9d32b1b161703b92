"""Compiled loops over whole (sample, channel) planes (Numba, cached on disk, GIL released)."""
from __future__ import annotations

import numba


@numba.njit(cache=True, nogil=True)
def add_bias(planes, bias, bounds):
    """planes[p] += bias[p % C] for the planes p in [first, last) of an (N*C, S) array."""
    channels = bias.shape[0]
    for p in range(bounds[0], bounds[1]):
        value = bias[p % channels]
        for i in range(planes.shape[1]):
            planes[p, i] += value


@numba.njit(cache=True, nogil=True)
def copy4(dst, src):
    """dst[...] = src for 4-d arrays of the same shape, looping in dst's order (its last
    axis innermost), so that the writes run along memory and the strided reads of a
    transposed src come back to cache lines still in L1 on the next step of the
    second-last axis (resnet_down's channels-last input: 0.44 -> 0.21 ms)."""
    for a in range(dst.shape[0]):
        for b in range(dst.shape[1]):
            for c in range(dst.shape[2]):
                for d in range(dst.shape[3]):
                    dst[a, b, c, d] = src[a, b, c, d]
