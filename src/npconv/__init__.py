"""npconv: PyTorch's convolution layer family on NumPy, for any number of dims,
forward and backward.

>>> import numpy as np, npconv
>>> m = npconv.nn.ConvTranspose2d(16, 33, (3, 5), stride=(2, 1), padding=(4, 2))
>>> m(np.zeros((20, 16, 50, 100), np.float32)).shape
(20, 33, 93, 100)
"""
from . import functional, nn, optim, shapes
from ._random import manual_seed
from ._threads import get_num_threads, set_num_threads, set_pinning
from ._warmup import warmup

__version__ = "0.1.0"

__all__ = ["functional", "get_num_threads", "manual_seed", "nn", "optim", "set_num_threads",
           "set_pinning", "shapes", "warmup", "__version__"]
