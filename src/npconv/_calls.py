"""What every op shares between its arguments and its algorithms: the checks of operands,
groups, kernel, stride and dilation; the validated call (Resolved) and the prepared call
(Call); and running a prepared call forward or backward, with bias, empty operands and
the cast back to the caller's dtype handled once.

conv.py and conv_transpose.py each supply only their own resolve / forward / backward
(the geometry of their windows and which algorithm runs); grad.py, fold.py and the
modules build on the same pieces.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from . import _arguments as args
from . import compute, shapes
from .compute import Geometry


class Resolved(NamedTuple):
    """A validated call: where windows land, and how the big side is padded."""

    geometry: Geometry
    padding: tuple  # (lo, hi) pairs applied by windows.pad in `mode`; zeros inside geometry
    mode: args.PaddingMode
    unbatched: bool


class Call(NamedTuple):
    """A prepared call: batched operands in the compute dtype, the plan, the caller's dtype."""

    x: np.ndarray
    w: np.ndarray
    b: np.ndarray | None
    resolved: Resolved
    dtype: np.dtype
    out_shape: tuple  # batched output shape


# forward_pass(x, w, resolved) -> y; backward_pass(g, x, w, resolved, need_input, need_weight)
ForwardPass = Callable[[np.ndarray, np.ndarray, Resolved], np.ndarray]
BackwardPass = Callable[..., tuple[np.ndarray | None, np.ndarray | None]]


def op_name(base: str, n: int) -> str:
    """torch's name for the op in messages: conv2d, conv_transpose3d, or the N-d name."""
    return f"{base}{n}d" if n <= 3 else base


def _shape(a: np.ndarray) -> list[int]:
    return list(a.shape)


def operands(
    input: Any, weight: Any, bias: Any, base: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Arrays for input, weight, bias of the op `base` (conv, conv_transpose) with dtypes
    checked; n spatial dims from weight."""
    x = args.as_array(input, "input")
    w = args.as_array(weight, "weight")
    args.same_dtype(x, w, "weight")
    n = w.ndim - 2
    if n < 1:
        raise ValueError(
            f"weight must have at least 3 dimensions (out, in/groups, *kernel), "
            f"but got weight of size {_shape(w)}"
        )
    if x.ndim not in (n + 1, n + 2):
        raise ValueError(
            f"Expected {n + 1}D (unbatched) or {n + 2}D (batched) input to "
            f"{op_name(base, n)}, but got input of size: {_shape(x)}"
        )
    b = None
    if bias is not None:
        b = args.as_array(bias, "bias")
        args.same_dtype(x, b, "bias")
    return x, w, b


def check_bias(b: np.ndarray | None, w: np.ndarray, out_channels: int) -> None:
    if b is not None and (b.ndim != 1 or b.shape[0] != out_channels):
        raise ValueError(
            f"Given weight of size {_shape(w)}, expected bias to be 1-dimensional "
            f"with {out_channels} elements, but got bias of size {_shape(b)} instead"
        )


def check_groups(groups: Any, w: np.ndarray) -> int:
    if isinstance(groups, (bool, np.bool_)) or not isinstance(groups, (int, np.integer)):
        raise TypeError(f"groups must be an int, but got groups={groups!r}")
    if groups <= 0:
        raise ValueError(f"non-positive groups is not supported, but got groups={groups}")
    if w.shape[0] % groups:
        raise ValueError(
            f"Given groups={groups}, expected weight to be divisible by {groups} at "
            f"dimension 0, but got weight of size [{_shape(w)}] instead"
        )
    return int(groups)


def check_kernel(kernel: tuple[int, ...]) -> tuple[int, ...]:
    """torch's error for a weight with a zero-size kernel dim (it would widen the output)."""
    if any(k == 0 for k in kernel):
        raise ValueError(
            "kernel size should be greater than zero, but got " + shapes.spell("kernel", kernel)
        )
    return kernel


def strides_and_dilations(
    stride: Any, dilation: Any, n: int
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    stride = args.to_tuple(stride, n, "stride")
    if any(s <= 0 for s in stride):
        raise ValueError(f"non-positive stride is not supported, but got stride={stride}")
    dilation = args.to_tuple(dilation, n, "dilation")
    if any(d <= 0 for d in dilation):
        raise ValueError(f"dilation should be greater than zero, but got {list(dilation)}")
    return stride, dilation


def batched(x: np.ndarray, n: int) -> tuple[np.ndarray, bool]:
    """(C, *S) -> (1, C, *S); returns the array and whether it was unbatched."""
    return (x[None], True) if x.ndim == n + 1 else (x, False)


def compute_dtype(dtype: np.dtype) -> np.dtype:
    """float16 accumulates in float32; everything else computes in its own dtype."""
    return np.dtype(np.float32) if dtype == np.float16 else dtype


def add_bias(y: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    if b is not None:
        compute.add_bias(y, b.astype(y.dtype, copy=False))
    return y


def conj(a: np.ndarray) -> np.ndarray:
    return a.conj() if np.iscomplexobj(a) else a


# NumPy holds at most 2**63 bytes in one array, 2**59 elements of the widest dtype
MAX_ELEMENTS = 2**59


def check_elements(shape: Sequence[int], what: str, arguments: str) -> None:
    """A ValueError naming the arguments when an array of `shape` cannot exist at all."""
    if math.prod(max(v, 1) for v in shape) > MAX_ELEMENTS:
        raise ValueError(
            f"{arguments} give {what} of shape {list(shape)}, more than the "
            f"2**59 elements a NumPy array can hold"
        )


def make_geometry(
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    dilation: tuple[int, ...],
    lo: tuple[int, ...],
    big: tuple[int, ...],
    small: tuple[int, ...],
    groups: int,
) -> Geometry:
    """The Geometry of a call. A stride where one window fits, or a dilation where the kernel
    has one tap, moves nothing: it is set to 1, so that a huge one never reaches the
    algorithms' strided views (whose byte strides it would overflow)."""
    stride = tuple(1 if o == 1 else s for s, o in zip(stride, small, strict=True))
    dilation = tuple(1 if k == 1 else d for d, k in zip(dilation, kernel, strict=True))
    return Geometry(kernel, stride, dilation, lo, big, small, groups)


def finish(a: np.ndarray, call: Call, batch_axis: bool = True) -> np.ndarray:
    """Cast back to the caller's dtype and drop the batch axis of unbatched calls."""
    a = np.asarray(a).astype(call.dtype, copy=False)
    return a[0] if batch_axis and call.resolved.unbatched else a


def check_grad_output(grad_output: Any, call: Call) -> np.ndarray:
    """grad_output as a batched array in the compute dtype, or a clear error."""
    g = args.as_array(grad_output, "grad_output")
    expected = call.out_shape[1:] if call.resolved.unbatched else call.out_shape
    if g.shape != tuple(expected):
        raise ValueError(
            f"grad_output has shape {list(g.shape)}, but the forward output has "
            f"shape {list(expected)}"
        )
    if g.dtype != call.dtype:
        raise TypeError(
            f"grad_output has dtype {g.dtype}, but the forward output has dtype "
            f"{call.dtype}; cast it with grad_output.astype(np.{call.dtype})"
        )
    g = g.astype(call.w.dtype, copy=False)
    return g[None] if call.resolved.unbatched else g


def bias_gradient(g: np.ndarray, call: Call) -> np.ndarray | None:
    """db = sum of the output gradient over batch and space."""
    if call.b is None:
        return None
    return finish(g.sum(axis=(0,) + tuple(range(2, g.ndim))), call, batch_axis=False)


def run(call: Call, forward_pass: ForwardPass) -> np.ndarray:
    """Output of a prepared call: forward_pass(x, w, plan) plus bias, in the caller's dtype.

    Empty operands (a zero-size batch, zero channels) never reach the algorithms:
    their output is the bias alone, of the planned shape.
    """
    if call.x.size == 0 or call.w.size == 0:
        return finish(add_bias(np.zeros(call.out_shape, call.x.dtype), call.b), call)
    return finish(add_bias(forward_pass(call.x, call.w, call.resolved), call.b), call)


def run_gradients(
    call: Call,
    grad_output: Any,
    backward_pass: BackwardPass,
    need_input: bool = True,
    need_weight: bool = True,
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """(d input, d weight, d bias) of a prepared call, with backward_pass(g, x, w, plan, ...)."""
    g = check_grad_output(grad_output, call)
    if call.x.size == 0 or call.w.size == 0 or g.size == 0:
        dx = np.zeros(call.x.shape, call.x.dtype) if need_input else None
        dw = np.zeros(call.w.shape, call.w.dtype) if need_weight else None
    else:
        dx, dw = backward_pass(g, call.x, call.w, call.resolved, need_input, need_weight)
    return (
        None if dx is None else finish(dx, call),
        None if dw is None else finish(dw, call, batch_axis=False),
        bias_gradient(g, call),
    )
