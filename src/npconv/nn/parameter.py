"""Parameters: NumPy arrays that also carry a `.grad`."""

from __future__ import annotations

import copy

import numpy as np
import numpy.typing as npt


class Parameter(np.ndarray):
    """A learnable array: an ndarray subclass with a `.grad` (None until a backward).

    A module registers every Parameter assigned to one of its attributes, so
    ``parameters()``, ``state_dict()`` and the optimisers find it. Arithmetic on a
    Parameter gives plain ndarrays, so only the module's own attributes are Parameters.
    An optimiser updates it in place: the module holds this very array.

    Args:
        data: the initial values, copied (anything ``np.array`` accepts).

    Attributes:
        grad (np.ndarray or None): the gradient accumulated by backward passes, of the
            parameter's shape; None until the first backward and after ``zero_grad()``.

    Differences from torch: a NumPy array rather than a tensor; there is no
    ``requires_grad`` (every Parameter gets its gradient).

    Example:
        >>> import numpy as np
    >>> p = Parameter(np.zeros(3, np.float32))
    >>> p.grad is None, type(p * 2).__name__
    (True, 'ndarray')
    """

    def __new__(cls, data: npt.ArrayLike):
        array = np.array(data, copy=True, subok=False)
        obj = array.view(cls)
        obj.grad = None
        return obj

    def __array_finalize__(self, obj):
        self.grad = getattr(obj, "grad", None) if isinstance(obj, Parameter) else None

    def __array_wrap__(self, array, context=None, return_scalar=False):
        result = np.asarray(array)
        return result[()] if return_scalar else result

    def __repr__(self):
        return "Parameter containing:\n" + repr(np.asarray(self))

    def __reduce__(self):
        """Pickled with its data and its gradient's values."""
        return (_rebuild, (np.asarray(self), self.grad))

    def __deepcopy__(self, memo):
        """A copy with its own data and its own copy of the gradient (never shared)."""
        copied = Parameter(np.asarray(self))
        copied.grad = copy.deepcopy(self.grad, memo)
        return copied


def _rebuild(data, grad):
    parameter = Parameter(data)
    parameter.grad = grad
    return parameter


class UninitializedParameter:
    """The weight of a lazy module before its first input: it has no shape yet.

    Every attribute access (shape, dtype, ...) raises an AttributeError that says how to
    initialise it: call the lazy module on an input, or load a state dict into it.

    Example:
        >>> from npconv import nn
        >>> m = nn.LazyConv2d(8, 3)
        >>> m.weight
        <UninitializedParameter>
    """

    def __repr__(self):
        return "<UninitializedParameter>"

    def __getattr__(self, name):
        raise AttributeError(
            f"the parameter is not initialised yet ('{name}' is not available): call the lazy "
            "module on an input first, or load a state dict into it"
        )
