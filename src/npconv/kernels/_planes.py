"""Compiled loops over whole (sample, channel) planes (Numba, cached by _jit, GIL released)."""
from __future__ import annotations

from ._jit import compiled


@compiled(nogil=True)
def add_bias(planes, bias, bounds):
    """planes[p] += bias[p % C] for the planes p in [first, last) of an (N*C, S) array."""
    channels = bias.shape[0]
    for p in range(bounds[0], bounds[1]):
        value = bias[p % channels]
        for i in range(planes.shape[1]):
            planes[p, i] += value
