"""npconv: PyTorch's convolution layer family on NumPy, for any number of dims,
forward and backward.

npconv.functional and npconv.nn hold the operations and layers under torch's names,
npconv.grad their gradients, npconv.optim SGD and Adam, npconv.shapes the size
arithmetic; manual_seed and set_num_threads are torch's.

>>> import numpy as np, npconv
>>> m = npconv.nn.ConvTranspose2d(16, 33, (3, 5), stride=(2, 1), padding=(4, 2))
>>> m(np.zeros((20, 16, 50, 100), np.float32)).shape
(20, 33, 93, 100)
"""

from . import functional, nn, optim, shapes
from ._grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from ._rng import manual_seed
from ._threads import get_num_threads, set_num_threads, set_pinning
from ._warmup import warmup
from .compute.planner import (
    algorithms,
    forget_wisdom,
    get_planner,
    load_wisdom,
    plan,
    save_wisdom,
    set_planner,
    use_algorithm,
)

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "algorithms",
    "enable_grad",
    "forget_wisdom",
    "functional",
    "get_num_threads",
    "get_planner",
    "is_grad_enabled",
    "load_wisdom",
    "manual_seed",
    "nn",
    "no_grad",
    "optim",
    "plan",
    "save_wisdom",
    "set_grad_enabled",
    "set_num_threads",
    "set_pinning",
    "set_planner",
    "shapes",
    "use_algorithm",
    "warmup",
]
