"""npconv on Dask arrays: every op and module, lazily, with exact seams.

`npconv.functional.conv(x, w)` (and every other op and module) given a
`dask.array.Array` returns a lazy `dask.array.Array` of the shape, dtype and values
the NumPy call gives; weights and biases stay NumPy. Each output block is one task
that reads the input blocks its windows need, padding modes apply at the global
border only, and `Sequential` fuses its layers so one task computes an output
block of the whole stack from its input block plus the stack's halo
(`plan(model, x)` shows how a stack was split, and why).

Dask is optional (`pip install "npconv[dask]"`): this module only recognises a Dask
array by its type's module, and imports Dask when it is handed one.

>>> import numpy as np, dask.array as da, npconv.functional as F
>>> x = np.random.default_rng(0).standard_normal((1, 2, 20, 20))
>>> w = np.ones((3, 2, 3, 3))
>>> y = F.conv2d(da.from_array(x, chunks=(1, 1, 7, 5)), w, stride=2, padding=1,
...              padding_mode="reflect")
>>> y.shape, y.chunks[2]
((1, 3, 10, 10), (4, 3, 3))
>>> bool(np.allclose(y.compute(), F.conv2d(x, w, stride=2, padding=1, padding_mode="reflect")))
True
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: importing npconv never imports Dask
    import numpy as np
    from dask.array import Array

    from .._arguments import PaddingMode
    from .stack import StackPlan


def is_dask(x: Any) -> bool:
    """True for a dask.array.Array (recognised without importing Dask)."""
    return type(x).__module__.startswith("dask.array") and hasattr(x, "__dask_graph__")


def conv(
    input: Array,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    stride=1,
    padding=0,
    dilation=1,
    groups=1,
    padding_mode: PaddingMode = "zeros",
) -> Array:
    """npconv.functional.conv of a Dask array: a lazy Dask array."""
    from . import ops

    return ops.conv(input, weight, bias, stride, padding, dilation, groups, padding_mode)


def conv_transpose(
    input: Array,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    stride=1,
    padding=0,
    output_padding=0,
    groups=1,
    dilation=1,
    padding_mode: PaddingMode = "zeros",
) -> Array:
    """npconv.functional.conv_transpose of a Dask array: a lazy Dask array."""
    from . import ops

    return ops.conv_transpose(
        input, weight, bias, stride, padding, output_padding, groups, dilation, padding_mode
    )


def unfold(input: Array, kernel_size, dilation=1, padding=0, stride=1) -> Array:
    """npconv.functional.unfold of a Dask array: a lazy Dask array."""
    from . import ops

    return ops.unfold(input, kernel_size, dilation, padding, stride)


def fold(input: Array, output_size, kernel_size, dilation=1, padding=0, stride=1) -> Array:
    """npconv.functional.fold of a Dask array: a lazy Dask array."""
    from . import ops

    return ops.fold(input, output_size, kernel_size, dilation, padding, stride)


def call(module, input: Array, *rest, **options) -> Array:
    """module(input) for a Dask input (Module.__call__ sends it here)."""
    from . import stack

    return stack.call(module, input, *rest, **options)


def plan(module, input: Array) -> StackPlan:
    """How `module` (a Sequential or any layer) runs on the Dask array `input`: a StackPlan
    whose repr lists its segments, why the stack was split there, and each one's halo;
    `.output` is the lazy result."""
    from . import stack

    return stack.plan(module, input)


__all__ = ["call", "conv", "conv_transpose", "fold", "is_dask", "plan", "unfold"]
