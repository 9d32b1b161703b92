"""A first end-to-end check of the public API against the loop-free definition."""
import numpy as np

import npconv
import npconv.functional as F


def test_conv1d_matches_direct_sum():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 10))
    w = rng.standard_normal((4, 3, 3))
    y = F.conv1d(x, w)
    expected = np.stack([np.einsum("nck,ock->no", x[:, :, i:i + 3], w) for i in range(8)], -1)
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)


def test_version():
    assert npconv.__version__
