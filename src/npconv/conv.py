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

from typing import Any

import numpy as np

from . import _arguments as args
from . import chunked, compute, shapes, windows
from ._calls import (
    Call,
    Resolved,
    batched,
    check_bias,
    check_elements,
    check_groups,
    check_kernel,
    compute_dtype,
    conj,
    make_geometry,
    operands,
    run,
    run_gradients,
    strides_and_dilations,
)

_resolved = args.CallCache()  # validated calls, by their arguments' cache key


def resolve(
    x_shape: tuple[int, ...],
    w: np.ndarray,
    stride: Any,
    padding: Any,
    dilation: Any,
    groups: Any,
    padding_mode: Any,
    unbatched: bool = False,
) -> Resolved:
    """Validate a conv call on a batched input shape and say where its windows land."""
    n = w.ndim - 2
    stride, dilation = strides_and_dilations(stride, dilation, n)
    groups = check_groups(groups, w)
    mode = args.padding_mode(padding_mode)
    kernel = check_kernel(tuple(w.shape[2:]))
    if x_shape[1] != w.shape[1] * groups:
        raise ValueError(
            f"Given groups={groups}, weight of size {list(w.shape)}, expected input{list(x_shape)} "
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
    padded = tuple(s + lo + hi for s, (lo, hi) in zip(size, pairs, strict=True))
    check_elements(tuple(x_shape[:2]) + padded, "a padded input", arguments)
    return Resolved(
        make_geometry(kernel, stride, dilation, (0,) * n, padded, small, groups),
        pairs,
        mode,
        unbatched,
    )


def forward(x: np.ndarray, w: np.ndarray, p: Resolved) -> np.ndarray:
    """y = K(pad(x), w) on batched arrays in the compute dtype."""
    return compute.conv(windows.pad(x, p.padding, p.mode), w, p.geometry)


def backward(
    grad_output: np.ndarray,
    x: np.ndarray,
    w: np.ndarray,
    p: Resolved,
    need_input: bool = True,
    need_weight: bool = True,
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(dx, dw) of forward for a batched grad_output; None where not needed."""
    dx = dw = None
    if need_input:
        dx = windows.pad_adjoint(
            compute.conv_transpose(grad_output, conj(w), p.geometry), p.padding, p.mode
        )
    if need_weight:
        dw = compute.conv_weight(conj(windows.pad(x, p.padding, p.mode)), grad_output, p.geometry)
    return dx, dw


def prepare(
    input: Any,
    weight: Any,
    bias: Any = None,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: Any = 1,
    padding_mode: Any = "zeros",
) -> Call:
    """Validate a conv call and put its operands in shape for forward and backward."""
    w = args.as_array(weight, "weight")
    x, w, b = operands(input, w, bias, "conv")
    xb, unbatched = batched(x, w.ndim - 2)
    key = args.cache_key(stride, padding, dilation, groups, padding_mode)
    if key is not None:  # shapes are tuples of ints: they stand for themselves
        key = (xb.shape, w.shape, unbatched) + key
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


def output_shape(batch: int, w: np.ndarray, p: Resolved) -> tuple[int, ...]:
    """Batched output shape of a planned conv: (N, C_out, *small)."""
    return (batch, w.shape[0]) + tuple(p.geometry.small)


def apply(call: Call) -> np.ndarray:
    """The forward output of a prepared conv call."""
    return run(call, forward)


def gradients(
    call: Call, grad_output: Any, need_input: bool = True, need_weight: bool = True
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """(d input, d weight, d bias) of a prepared conv call for grad_output."""
    return run_gradients(call, grad_output, backward, need_input, need_weight)


def conv(
    input: Any,
    weight: Any,
    bias: Any = None,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: Any = 1,
    padding_mode: Any = "zeros",
) -> Any:
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
