"""N-d convolution (cross-correlation, as torch computes it) and its gradients.

For one group, kernel offset j and output position o (per spatial dim), with
the input padded by (lo, hi) in `padding_mode`:

    y[n, m, o] = bias[m] + sum_{b, j}  w[m, b, j] * pad(x)[n, b, o*stride + j*dilation]

It is bilinear in (x, w), so with K = compute.conv for the fixed geometry:

    y   = K(pad(x), w)
    dx  = pad_adjoint(K^T(dy, w))          K^T = compute.conv_transpose: a transposed conv
    dw  = compute.conv_weight(pad(x), dy)  the same windows, contracted over batch and space
    db  = sum of dy over batch and space

conv_transpose.py is the mirror image: its forward is K^T and its input
gradient is K, so each of the two files only ever calls the other's forward.
Complex inputs follow torch's convention: gradients use the conjugated operand.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from . import _arguments as args
from . import chunked, compute, shapes, windows
from .compute import Geometry


_resolved = args.CallCache()  # validated calls, by their arguments' cache key


class Resolved(NamedTuple):
    """A validated call: where windows land, and how the big side is padded."""

    geometry: Geometry
    padding: tuple  # (lo, hi) pairs applied by windows.pad in `mode`; zeros inside geometry
    mode: str
    unbatched: bool


def op_name(base, n):
    """torch's name for the op in messages: conv2d, conv_transpose3d, or the N-d name."""
    return f"{base}{n}d" if n <= 3 else base


def _shape(a):
    return list(a.shape)


def operands(input, weight, bias, name):
    """Arrays for input, weight, bias with dtypes checked; n spatial dims from weight."""
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
            f"{name}, but got input of size: {_shape(x)}"
        )
    b = None
    if bias is not None:
        b = args.as_array(bias, "bias")
        args.same_dtype(x, b, "bias")
    return x, w, b


def check_bias(b, w, out_channels):
    if b is not None and (b.ndim != 1 or b.shape[0] != out_channels):
        raise ValueError(
            f"Given weight of size {_shape(w)}, expected bias to be 1-dimensional "
            f"with {out_channels} elements, but got bias of size {_shape(b)} instead"
        )


def check_groups(groups, w):
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


def check_kernel(kernel):
    """torch's error for a weight with a zero-size kernel dim (it would widen the output)."""
    if any(k == 0 for k in kernel):
        raise ValueError(
            "kernel size should be greater than zero, but got " + shapes.spell("kernel", kernel)
        )
    return kernel


def strides_and_dilations(stride, dilation, n):
    stride = args.to_tuple(stride, n, "stride")
    if any(s <= 0 for s in stride):
        raise ValueError(f"non-positive stride is not supported, but got stride={stride}")
    dilation = args.to_tuple(dilation, n, "dilation")
    if any(d <= 0 for d in dilation):
        raise ValueError(f"dilation should be greater than zero, but got {list(dilation)}")
    return stride, dilation


def batched(x, n):
    """(C, *S) -> (1, C, *S); returns the array and whether it was unbatched."""
    return (x[None], True) if x.ndim == n + 1 else (x, False)


def compute_dtype(dtype):
    """float16 accumulates in float32; everything else computes in its own dtype."""
    return np.dtype(np.float32) if dtype == np.float16 else dtype


def add_bias(y, b):
    if b is not None:
        compute.add_bias(y, b.astype(y.dtype, copy=False))
    return y


def conj(a):
    return a.conj() if np.iscomplexobj(a) else a


# NumPy holds at most 2**63 bytes in one array, 2**59 elements of the widest dtype
MAX_ELEMENTS = 2**59


def check_elements(shape, what, arguments):
    """A ValueError naming the arguments when an array of `shape` cannot exist at all."""
    if math.prod(max(v, 1) for v in shape) > MAX_ELEMENTS:
        raise ValueError(
            f"{arguments} give {what} of shape {list(shape)}, more than the "
            f"2**59 elements a NumPy array can hold"
        )


def make_geometry(kernel, stride, dilation, lo, big, small, groups):
    """The Geometry of a call. A stride where one window fits, or a dilation where the kernel
    has one tap, moves nothing: it is set to 1, so that a huge one never reaches the
    algorithms' strided views (whose byte strides it would overflow)."""
    stride = tuple(1 if o == 1 else s for s, o in zip(stride, small))
    dilation = tuple(1 if k == 1 else d for d, k in zip(dilation, kernel))
    return Geometry(kernel, stride, dilation, lo, big, small, groups)


def resolve(x_shape, w, stride, padding, dilation, groups, padding_mode, unbatched=False):
    """Validate a conv call on a batched input shape and say where its windows land."""
    n = w.ndim - 2
    stride, dilation = strides_and_dilations(stride, dilation, n)
    groups = check_groups(groups, w)
    mode = args.padding_mode(padding_mode)
    kernel = check_kernel(tuple(w.shape[2:]))
    if x_shape[1] != w.shape[1] * groups:
        raise ValueError(
            f"Given groups={groups}, weight of size {_shape(w)}, expected input{list(x_shape)} "
            f"to have {w.shape[1] * groups} channels, but got {x_shape[1]} channels instead"
        )
    if isinstance(padding, str):
        if args.padding_string(padding) == "same":
            if any(s != 1 for s in stride):
                raise ValueError("padding='same' is not supported for strided convolutions")
            pairs = shapes.same_padding(kernel, dilation)
        else:
            pairs = ((0, 0),) * n
    else:
        pairs = args.padding_pairs(padding, n)
    size = tuple(x_shape[2:])
    if mode != "zeros":
        windows.check_mode_padding(size, pairs, mode, x_shape[1:] if unbatched else x_shape)
    shapes.check_conv_size(size, kernel, pairs, dilation)
    small = shapes.conv_output_size(size, kernel, stride, pairs, dilation)
    arguments = f"padding={shapes.padding_repr(pairs)}, stride={stride} and dilation={dilation}"
    check_elements((x_shape[0], w.shape[0]) + small, "an output", arguments)
    if mode == "zeros":
        geometry = make_geometry(
            kernel, stride, dilation, tuple(lo for lo, _ in pairs), size, small, groups
        )
        return Resolved(geometry, ((0, 0),) * n, mode, unbatched)
    padded = tuple(s + lo + hi for s, (lo, hi) in zip(size, pairs))
    check_elements(tuple(x_shape[:2]) + padded, "a padded input", arguments)
    return Resolved(
        make_geometry(kernel, stride, dilation, (0,) * n, padded, small, groups),
        pairs,
        mode,
        unbatched,
    )


def forward(x, w, p):
    """y = K(pad(x), w) on batched arrays in the compute dtype."""
    return compute.conv(windows.pad(x, p.padding, p.mode), w, p.geometry)


def backward(grad_output, x, w, p, need_input=True, need_weight=True):
    """(dx, dw) of forward for a batched grad_output; None where not needed."""
    dx = dw = None
    if need_input:
        dx = windows.pad_adjoint(
            compute.conv_transpose(grad_output, conj(w), p.geometry), p.padding, p.mode
        )
    if need_weight:
        dw = compute.conv_weight(conj(windows.pad(x, p.padding, p.mode)), grad_output, p.geometry)
    return dx, dw


class Call(NamedTuple):
    """A prepared call: batched operands in the compute dtype, the plan, the caller's dtype."""

    x: np.ndarray
    w: np.ndarray
    b: np.ndarray | None
    resolved: Resolved
    dtype: np.dtype
    out_shape: tuple  # batched output shape


def finish(a, call, batch_axis=True):
    """Cast back to the caller's dtype and drop the batch axis of unbatched calls."""
    a = np.asarray(a).astype(call.dtype, copy=False)
    return a[0] if batch_axis and call.resolved.unbatched else a


def check_grad_output(grad_output, call):
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


def bias_gradient(g, call):
    """db = sum of the output gradient over batch and space."""
    if call.b is None:
        return None
    return finish(g.sum(axis=(0,) + tuple(range(2, g.ndim))), call, batch_axis=False)


def prepare(
    input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"
):
    """Validate a conv call and put its operands in shape for forward and backward."""
    w = args.as_array(weight, "weight")
    x, w, b = operands(input, w, bias, op_name("conv", w.ndim - 2))
    xb, unbatched = batched(x, w.ndim - 2)
    key = args.cache_key(
        xb.shape, w.shape, int(unbatched), stride, padding, dilation, groups, padding_mode
    )
    p = _resolved.get(key) or _resolved.put(
        key, resolve(xb.shape, w, stride, padding, dilation, groups, padding_mode, unbatched)
    )
    check_bias(b, w, w.shape[0])
    dtype = compute_dtype(x.dtype)
    return Call(
        xb.astype(dtype, copy=False),
        w.astype(dtype, copy=False),
        b,
        p,
        x.dtype,
        output_shape(xb.shape[0], w, p),
    )


def output_shape(batch, w, p):
    """Batched output shape of a planned conv: (N, C_out, *small)."""
    return (batch, w.shape[0]) + tuple(p.geometry.small)


def run(call, forward_pass):
    """Output of a prepared call: forward_pass(x, w, plan) plus bias, in the caller's dtype.

    Empty operands (a zero-size batch, zero channels) never reach the algorithms:
    their output is the bias alone, of the planned shape.
    """
    if call.x.size == 0 or call.w.size == 0:
        return finish(add_bias(np.zeros(call.out_shape, call.x.dtype), call.b), call)
    return finish(add_bias(forward_pass(call.x, call.w, call.resolved), call.b), call)


def run_gradients(call, grad_output, backward_pass, need_input=True, need_weight=True):
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


def apply(call):
    """The forward output of a prepared conv call."""
    return run(call, forward)


def gradients(call, grad_output, need_input=True, need_weight=True):
    """(d input, d weight, d bias) of a prepared conv call for grad_output."""
    return run_gradients(call, grad_output, backward, need_input, need_weight)


def conv(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"):
    """N-d convolution: (N, C_in, *S) or (C_in, *S) with weight (C_out, C_in/groups, *k).

    The number of spatial dims is weight.ndim - 2. padding is an int, a tuple,
    'valid', 'same', or one (lo, hi) pair per dim; padding_mode is 'zeros',
    'reflect', 'replicate' or 'circular'.

    >>> import numpy as np, npconv.functional as F
    >>> F.conv(np.ones((1, 2, 5, 5)), np.ones((3, 2, 3, 3)), padding=1).shape
    (1, 3, 5, 5)
    """
    if chunked.is_dask(input):
        return chunked.conv(input, weight, bias, stride, padding, dilation, groups, padding_mode)
    return apply(prepare(input, weight, bias, stride, padding, dilation, groups, padding_mode))
