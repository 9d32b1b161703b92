"""N-d transposed convolution: the gradient of conv with respect to its input.

With K = compute.conv for the geometry of the conv whose input has this op's
output shape, and padding (lo, hi) in `padding_mode`:

    z   = pad_adjoint(K^T(y, w))             the forward is conv's input gradient
    dy  = K(pad(dz), w)                      so its input gradient is a conv
    dw  = compute.conv_weight(pad(dz), y)    conv's weight gradient, roles swapped
    db  = sum of dz over batch and space

For 'zeros' mode pad_adjoint is a crop, which the geometry does directly
(lo = padding, and output_padding extends the far end). For the other modes the
full output is computed and its border folded back onto the interior, so that
conv_transpose stays the exact adjoint of conv with the same padding and mode.
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
    y_shape: tuple[int, ...],
    w: np.ndarray,
    stride: Any,
    padding: Any,
    output_padding: Any,
    groups: Any,
    dilation: Any,
    padding_mode: Any,
    unbatched: bool = False,
) -> Resolved:
    """Validate a transposed-conv call on a batched input shape."""
    n = w.ndim - 2
    stride, dilation = strides_and_dilations(stride, dilation, n)
    groups = check_groups(groups, w)
    mode = args.padding_mode(padding_mode)
    kernel = check_kernel(tuple(w.shape[2:]))
    if y_shape[1] != w.shape[0]:
        raise ValueError(
            f"Given transposed=1, weight of size {list(w.shape)}, expected input{list(y_shape)} "
            f"to have {w.shape[0]} channels, but got {y_shape[1]} channels instead"
        )
    output_padding = args.non_negative_tuple(output_padding, n, "output_padding")
    size = tuple(y_shape[2:])
    if isinstance(padding, str):
        if args.padding_string(padding) == "same":
            pairs = shapes.conv_transpose_same_padding(
                size, kernel, stride, dilation, output_padding
            )
        else:
            pairs = ((0, 0),) * n
    else:
        pairs = args.padding_pairs(padding, n)
    big = shapes.check_conv_transpose_size(size, kernel, stride, pairs, dilation, output_padding)
    arguments = (
        f"padding={shapes.padding_repr(pairs)}, stride={stride}, dilation={dilation} "
        f"and output_padding={output_padding}"
    )
    check_elements((y_shape[0], w.shape[1] * groups) + big, "an output", arguments)
    if mode == "zeros":
        geometry = make_geometry(
            kernel, stride, dilation, tuple(lo for lo, _ in pairs), big, size, groups
        )
        return Resolved(geometry, ((0, 0),) * n, mode, unbatched)
    if any(v < 0 for pair in pairs for v in pair):
        raise ValueError(
            f"padding='same' here extends the output (kernel smaller than stride), "
            f"which leaves no border to fold back in padding_mode={mode!r}; "
            f"use padding_mode='zeros'"
        )
    windows.check_mode_padding(big, pairs, mode, (y_shape[0], w.shape[1] * groups) + big)
    full = tuple(s + lo + hi for s, (lo, hi) in zip(big, pairs, strict=True))
    check_elements((y_shape[0], w.shape[1] * groups) + full, "an unfolded output", arguments)
    return Resolved(
        make_geometry(kernel, stride, dilation, (0,) * n, full, size, groups),
        pairs,
        mode,
        unbatched,
    )


def forward(y: np.ndarray, w: np.ndarray, p: Resolved) -> np.ndarray:
    """z = pad_adjoint(K^T(y, w)) on batched arrays in the compute dtype."""
    return windows.pad_adjoint(compute.conv_transpose(y, w, p.geometry), p.padding, p.mode)


def backward(
    grad_output: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    p: Resolved,
    need_input: bool = True,
    need_weight: bool = True,
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(dy, dw) of forward for a batched grad_output; None where not needed."""
    padded = windows.pad(grad_output, p.padding, p.mode)
    if need_input and need_weight:
        return compute.conv_both(padded, conj(w), conj(y), p.geometry)
    dy = compute.conv(padded, conj(w), p.geometry) if need_input else None
    dw = compute.conv_weight(padded, conj(y), p.geometry) if need_weight else None
    return dy, dw


def prepare(
    input: Any,
    weight: Any,
    bias: Any = None,
    stride: Any = 1,
    padding: Any = 0,
    output_padding: Any = 0,
    groups: Any = 1,
    dilation: Any = 1,
    padding_mode: Any = "zeros",
) -> Call:
    """Validate a transposed-conv call and put its operands in shape."""
    w = args.as_array(weight, "weight")
    y, w, b = operands(input, w, bias, "conv_transpose")
    yb, unbatched = batched(y, w.ndim - 2)
    key = args.cache_key(stride, padding, output_padding, groups, dilation, padding_mode)
    if key is not None:  # shapes are tuples of ints: they stand for themselves
        key = (yb.shape, w.shape, unbatched) + key
    p = _resolved.get(key) or _resolved.put(
        key,
        resolve(
            yb.shape, w, stride, padding, output_padding, groups, dilation, padding_mode, unbatched
        ),
    )
    check_bias(b, w, w.shape[1] * p.geometry.groups)
    dtype = compute_dtype(y.dtype)
    return Call(
        yb.astype(dtype, copy=False),
        w.astype(dtype, copy=False),
        b,
        p,
        y.dtype,
        output_shape(yb.shape[0], w, p),
    )


def output_shape(batch: int, w: np.ndarray, p: Resolved) -> tuple[int, ...]:
    """Batched output shape of a planned transposed conv: the big side less the folded border."""
    size = tuple(s - lo - hi for s, (lo, hi) in zip(p.geometry.big, p.padding, strict=True))
    return (batch, w.shape[1] * p.geometry.groups) + size


def apply(call: Call) -> np.ndarray:
    """The forward output of a prepared transposed-conv call."""
    return run(call, forward)


def gradients(
    call: Call, grad_output: Any, need_input: bool = True, need_weight: bool = True
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """(d input, d weight, d bias) of a prepared transposed-conv call for grad_output."""
    return run_gradients(call, grad_output, backward, need_input, need_weight)


def conv_transpose(
    input: Any,
    weight: Any,
    bias: Any = None,
    stride: Any = 1,
    padding: Any = 0,
    output_padding: Any = 0,
    groups: Any = 1,
    dilation: Any = 1,
    padding_mode: Any = "zeros",
) -> Any:
    """N-d transposed convolution: (N, C_in, *S) with weight (C_in, C_out/groups, *k).

    Output size per dim: (S-1)*stride - lo - hi + dilation*(k-1) + output_padding + 1.
    padding is an int, a tuple, 'valid', 'same' (output = input * stride) or
    (lo, hi) pairs; padding_mode is 'zeros', 'reflect', 'replicate' or 'circular'.

    >>> import numpy as np, npconv.functional as F
    >>> F.conv_transpose(np.ones((1, 16, 6, 6)), np.ones((16, 8, 3, 3)), stride=2,
    ...                  padding=1, output_padding=1).shape
    (1, 8, 12, 12)
    """
    if chunked.is_dask(input):
        return chunked.conv_transpose(
            input, weight, bias, stride, padding, output_padding, groups, dilation, padding_mode
        )
    return apply(
        prepare(
            input, weight, bias, stride, padding, output_padding, groups, dilation, padding_mode
        )
    )
