"""Sequential: modules applied in order, gradients passed back in reverse.

Children are named '0', '1', ... (or by an OrderedDict's keys), so state dict
keys read '0.weight', '2.bias', ... exactly as in a torch Sequential.

>>> import numpy as np
>>> from npconv import nn
>>> net = Sequential(nn.Conv1d(1, 2, 3), nn.ReLU(), nn.Conv1d(2, 1, 1))
>>> list(net.state_dict())
['0.weight', '0.bias', '2.weight', '2.bias']
>>> net(np.zeros((4, 1, 10), np.float32)).shape, len(net), net[1]
((4, 1, 8), 3, ReLU())
"""

from __future__ import annotations

import operator
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from typing import Any

from .module import Module


class Sequential(Module):
    """Modules applied in order; backward passes the gradient through them in reverse.

    ``Sequential(*modules)`` names the children '0', '1', ...; ``Sequential(OrderedDict)``
    names them by its keys. Their parameters appear in ``parameters()`` and
    ``state_dict()`` under those names ('0.weight', '2.bias', ...), as in torch, so a
    torch Sequential's state dict loads into the same layers here.

    Args:
        modules: Module instances, or one OrderedDict of name -> Module.

    Differences from torch: ``backward(grad_output)`` runs every child's backward in
    reverse order and returns the gradient with respect to the input.

    Example:
        >>> import numpy as np
        >>> from npconv import nn
        >>> net = nn.Sequential(nn.Conv1d(1, 2, 3), nn.ReLU(), nn.Conv1d(2, 1, 1))
        >>> y = net(np.ones((4, 1, 10), np.float32))
        >>> y.shape, net.backward(np.ones_like(y)).shape, net[0].weight.grad.shape
        ((4, 1, 8), (4, 1, 10), (2, 1, 3))
        >>> net[1:]                                          # names kept, as in torch
        Sequential(
          (1): ReLU()
          (2): Conv1d(2, 1, kernel_size=(1,), stride=(1,))
        )
    """

    def __init__(self, *modules: Module | OrderedDict[str, Module]) -> None:
        super().__init__()
        named: Iterable[tuple[str, Any]]  # _add rejects what is not a Module
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            named = modules[0].items()
        else:
            named = ((str(i), module) for i, module in enumerate(modules))
        for name, module in named:
            self._add(name, module)

    def _add(self, name: str, module: Module) -> None:
        if not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        setattr(self, name, module)

    def append(self, module: Module) -> Sequential:
        """Add `module` at the end, named by its position; returns self."""
        self._add(str(len(self)), module)
        return self

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, index: int | slice) -> Any:
        """The child at `index`, or a Sequential of the children in a slice."""
        names = list(self._modules)
        if isinstance(index, slice):
            return type(self)(OrderedDict((name, self._modules[name]) for name in names[index]))
        index = operator.index(index)
        if not -len(names) <= index < len(names):
            raise IndexError(f"index {index} is out of range")
        return self._modules[names[index]]

    def forward(self, input: Any) -> Any:
        """Each child applied in turn to the output of the one before."""
        for module in self:
            input = module(input)
        return input

    def backward(self, grad_output: Any) -> Any:
        """Each child's backward in reverse order; returns the input gradient."""
        for module in reversed(self._modules.values()):
            grad_output = module.backward(grad_output)
        return grad_output
