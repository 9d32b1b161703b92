"""torch.nn.functional's convolution API on NumPy, for any number of spatial dims.

`conv`, `conv_transpose`, `unfold` and `fold` are the N-d operations; the
torch-named 1d/2d/3d forms only check that the weight has the rank their name
promises and call the N-d one.

>>> import numpy as np
>>> import npconv.functional as F
>>> x = np.random.default_rng(0).standard_normal((20, 16, 50), dtype=np.float32)
>>> F.conv1d(x, np.ones((33, 16, 3), np.float32), stride=2).shape
(20, 33, 24)
"""
from __future__ import annotations

import functools

from . import _arguments as args
from .conv import conv
from .conv_transpose import conv_transpose
from .fold import fold, unfold

__all__ = ["conv", "conv1d", "conv2d", "conv3d", "conv_transpose", "conv_transpose1d",
           "conv_transpose2d", "conv_transpose3d", "fold", "unfold"]


def _with_rank(op, n):
    """op restricted to weights with n spatial dims, named as torch names it."""
    name = f"{op.__name__}{n}d"

    @functools.wraps(op)
    def fixed(input, weight, *rest, **options):
        w = args.as_array(weight, "weight")
        if w.ndim != n + 2:
            raise ValueError(f"{name} expects a {n + 2}-D weight (channels, channels, "
                             f"{n} kernel dims), but got weight of size {list(w.shape)}")
        return op(input, w, *rest, **options)

    fixed.__name__ = fixed.__qualname__ = name
    fixed.__doc__ = f"{n}-d form of `{op.__name__}` (same arguments).\n\n" + (op.__doc__ or "")
    return fixed


conv1d, conv2d, conv3d = (_with_rank(conv, n) for n in (1, 2, 3))
conv_transpose1d, conv_transpose2d, conv_transpose3d = (
    _with_rank(conv_transpose, n) for n in (1, 2, 3))
