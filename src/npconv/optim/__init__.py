"""npconv.optim: torch.optim's SGD and Adam for npconv Parameters.

The same update rules, defaults, parameter groups and error messages as torch's; the
gradients come from the modules' backward passes, which fill each Parameter's ``.grad``.

>>> import numpy as np, npconv
>>> m = npconv.nn.Conv1d(1, 1, 2)
>>> optimizer = npconv.optim.SGD(m.parameters(), lr=0.1)
>>> y = m(np.ones((1, 1, 3), np.float32)); _ = m.backward(np.ones_like(y))
>>> optimizer.step(); optimizer.zero_grad(); m.weight.grad is None
True
"""

from .adam import Adam
from .optimizer import Optimizer
from .sgd import SGD

__all__ = ["SGD", "Adam", "Optimizer"]
