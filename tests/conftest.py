"""Shared fixtures: a seeded generator and random arrays of any supported dtype.

This directory is put on sys.path so test files can `import reference` (the
loop oracle) under pytest's importlib import mode.
"""

import pathlib
import sys

import numpy as np
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent))


@pytest.fixture
def rng():
    """A fresh generator with a fixed seed, so every test is reproducible."""
    return np.random.default_rng(0)


def random_array(rng, shape, dtype=np.float64):
    """Standard normal entries in `dtype`; complex dtypes get a random imaginary part too."""
    dtype = np.dtype(dtype)
    a = rng.standard_normal(shape)
    if dtype.kind == "c":
        a = a + 1j * rng.standard_normal(shape)
    return a.astype(dtype)


@pytest.fixture
def make(rng):
    """make(shape, dtype=float64): a random array drawn from the test's `rng`."""
    return lambda shape, dtype=np.float64: random_array(rng, shape, dtype)
