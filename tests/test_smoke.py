"""A first end-to-end check of the public API against the loop-free definition, and of
what the installed package says about itself."""

import importlib.metadata
import importlib.resources

import numpy as np

import npconv
import npconv.functional as F


def test_conv1d_matches_direct_sum():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 10))
    w = rng.standard_normal((4, 3, 3))
    y = F.conv1d(x, w)
    expected = np.stack([np.einsum("nck,ock->no", x[:, :, i : i + 3], w) for i in range(8)], -1)
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)


def test_installed_version_is_the_packages_own():
    """pyproject.toml reads the version from npconv.__version__ (one place): the installed
    metadata must agree with the imported package, or the install is stale or the version
    is defined twice again."""
    assert importlib.metadata.version("npconv") == npconv.__version__


def test_package_ships_its_type_marker():
    """PEP 561: type checkers use npconv's annotations only if py.typed is in the package."""
    assert importlib.resources.files("npconv").joinpath("py.typed").is_file()
