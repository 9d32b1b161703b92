"""The generator behind parameter initialisation; `manual_seed` makes it reproducible."""

from __future__ import annotations

import numpy as np

_generator = np.random.default_rng()


def manual_seed(seed):
    """Seed the generator npconv initialises parameters from, like torch.manual_seed.

    Every layer created afterwards draws its initial weight and bias from this
    generator, so a seed makes them reproducible (they differ from torch's values for
    the same seed: the generators differ).

    Args:
        seed: anything ``np.random.default_rng`` accepts (an int, a sequence of ints).

    Returns:
        np.random.Generator: the new generator.

    Example:
        >>> import npconv
        >>> _ = npconv.manual_seed(0); a = npconv.nn.Conv1d(1, 1, 3).weight.copy()
        >>> _ = npconv.manual_seed(0); b = npconv.nn.Conv1d(1, 1, 3).weight.copy()
        >>> bool((a == b).all())
        True
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
