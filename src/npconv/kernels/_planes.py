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
