"""The generator behind parameter initialisation; `manual_seed` makes it reproducible."""
from __future__ import annotations

import numpy as np

_generator = np.random.default_rng()


def manual_seed(seed):
    """Seed the generator npconv initialises parameters from (like torch.manual_seed).

    >>> import npconv
    >>> _ = npconv.manual_seed(0)
    """
    global _generator
    _generator = np.random.default_rng(seed)
    return _generator


def uniform(bound, shape, dtype):
    """Uniform in [-bound, bound) of `dtype`; complex dtypes draw both parts so."""
    dtype = np.dtype(dtype)
    if dtype.kind == "c":
        real = _generator.uniform(-bound, bound, size=shape)
        imag = _generator.uniform(-bound, bound, size=shape)
        return (real + 1j * imag).astype(dtype)
    return _generator.uniform(-bound, bound, size=shape).astype(dtype)
