"""The functional ops on Dask arrays: each call is validated by the NumPy op's own
planner on a shape stand-in (so messages, output shapes and dtypes are the NumPy
call's), then described per spatial dim by `axes.Axis` and built by `graph.build`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .. import _arguments as args
from .. import _calls
from .. import conv as conv_op
from .. import conv_transpose as conv_transpose_op
from .. import fold as fold_op
from . import layers
from .axes import Axis
from .graph import build, plan_dim


def standin(shape, dtype) -> np.ndarray:
    """A read-only array of `shape` and `dtype` that takes no memory (all strides 0)."""
    return np.broadcast_to(np.zeros((), dtype), shape)


class Planned(NamedTuple):
    """One layer on one batched input shape: what a task runs, and its per-dim Axis."""

    layer: layers.Layer
    axes: tuple
    out_shape: tuple  # batched
    label: str


def plan_conv(
    shape, dtype, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"
) -> tuple[Planned, bool]:
    w = args.as_array(weight, "weight")
    n = w.ndim - 2
    x, w, b = _calls.operands(standin(shape, dtype), w, bias, "conv")
    xb, unbatched = _calls.batched(x, n)
    p = conv_op.resolve(xb.shape, w, stride, padding, dilation, groups, padding_mode, unbatched)
    _calls.check_bias(b, w, w.shape[0])
    g = p.geometry
    axes = []
    for d in range(n):
        lo, hi = (g.lo[d], 0) if p.mode == "zeros" else p.padding[d]
        axes.append(
            Axis(
                False,
                g.kernel[d],
                g.stride[d],
                g.dilation[d],
                lo,
                hi,
                p.mode,
                xb.shape[2 + d],
                g.small[d],
            )
        )
    layer = layers.Conv(w, b, g.stride, g.dilation, g.groups, x.dtype)
    return Planned(layer, tuple(axes), conv_op.output_shape(xb.shape[0], w, p), "conv"), unbatched


def plan_conv_transpose(
    shape,
    dtype,
    weight,
    bias=None,
    stride=1,
    padding=0,
    output_padding=0,
    groups=1,
    dilation=1,
    padding_mode="zeros",
) -> tuple[Planned, bool]:
    w = args.as_array(weight, "weight")
    n = w.ndim - 2
    y, w, b = _calls.operands(standin(shape, dtype), w, bias, "conv_transpose")
    yb, unbatched = _calls.batched(y, n)
    p = conv_transpose_op.resolve(
        yb.shape, w, stride, padding, output_padding, groups, dilation, padding_mode, unbatched
    )
    _calls.check_bias(b, w, w.shape[1] * p.geometry.groups)
    g = p.geometry
    out_shape = conv_transpose_op.output_shape(yb.shape[0], w, p)
    axes = []
    for d in range(n):
        lo, hi = (g.lo[d], 0) if p.mode == "zeros" else p.padding[d]
        axes.append(
            Axis(
                True,
                g.kernel[d],
                g.stride[d],
                g.dilation[d],
                lo,
                hi,
                p.mode,
                yb.shape[2 + d],
                out_shape[2 + d],
            )
        )
    layer = layers.ConvTranspose(w, b, g.stride, g.dilation, g.groups, y.dtype)
    return Planned(layer, tuple(axes), out_shape, "conv_transpose"), unbatched


def plan_unfold(shape, dtype, kernel_size, dilation=1, padding=0, stride=1):
    """Unfold as a layer onto the block grid (N, C*prod(k), *blocks), and its flat shape."""
    kernel, dilation, pairs, stride, blocks = fold_op.check_unfold(
        shape, kernel_size, dilation, padding, stride
    )
    args.check_dtype(standin((), dtype), "input")
    n = len(kernel)
    batched = tuple(shape) if len(shape) == n + 2 else (1,) + tuple(shape)
    axes = tuple(
        Axis(
            False,
            kernel[d],
            stride[d],
            dilation[d],
            pairs[d][0],
            pairs[d][1],
            "zeros",
            batched[2 + d],
            blocks[d],
        )
        for d in range(n)
    )
    grid = batched[:1] + (batched[1] * math.prod(kernel),) + blocks
    layer = layers.Unfold(kernel, dilation, stride, dtype)
    return Planned(layer, axes, grid, "unfold"), len(shape) == n + 1


def plan_fold(shape, dtype, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Fold as a layer from the block grid (N, C*prod(k), *blocks)."""
    kernel, dilation, pairs, stride, size, blocks = fold_op.check_fold(
        shape, output_size, kernel_size, dilation, padding, stride
    )
    args.check_dtype(standin((), dtype), "input")
    n = len(kernel)
    batched = tuple(shape) if len(shape) == 3 else (1,) + tuple(shape)
    axes = tuple(
        Axis(
            True,
            kernel[d],
            stride[d],
            dilation[d],
            pairs[d][0],
            pairs[d][1],
            "zeros",
            blocks[d],
            size[d],
        )
        for d in range(n)
    )
    out = (batched[0], batched[1] // math.prod(kernel)) + size
    layer = layers.Fold(kernel, dilation, stride, dtype)
    return Planned(layer, axes, out, "fold"), blocks


def run(x, planned_layers, label):
    """The lazy output of planned layers (a fused stack) on the batched Dask array x;
    returns it with the per-dim plans (for the halos)."""
    n = x.ndim - 2
    dims = [plan_dim([p.axes[d] for p in planned_layers], x.chunks[2 + d]) for d in range(n)]
    last = planned_layers[-1]
    return build(
        x, [p.layer for p in planned_layers], dims, last.out_shape[1], last.layer.dtype, label
    ), dims


def conv(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"):
    planned, unbatched = plan_conv(
        input.shape, input.dtype, weight, bias, stride, padding, dilation, groups, padding_mode
    )
    out, _ = run(input[None] if unbatched else input, [planned], planned.label)
    return out[0] if unbatched else out


def conv_transpose(
    input,
    weight,
    bias=None,
    stride=1,
    padding=0,
    output_padding=0,
    groups=1,
    dilation=1,
    padding_mode="zeros",
):
    planned, unbatched = plan_conv_transpose(
        input.shape,
        input.dtype,
        weight,
        bias,
        stride,
        padding,
        output_padding,
        groups,
        dilation,
        padding_mode,
    )
    out, _ = run(input[None] if unbatched else input, [planned], planned.label)
    return out[0] if unbatched else out


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    planned, unbatched = plan_unfold(
        input.shape, input.dtype, kernel_size, dilation, padding, stride
    )
    grid, _ = run(input[None] if unbatched else input, [planned], "unfold")
    # (N, C*prod(k), *blocks) -> (N, C*prod(k), L): Dask merges the block-grid chunks
    out = grid.reshape(grid.shape[:2] + (math.prod(grid.shape[2:]),))
    return out[0] if unbatched else out


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    planned, blocks = plan_fold(
        input.shape, input.dtype, output_size, kernel_size, dilation, padding, stride
    )
    cb = input[None] if input.ndim == 2 else input
    # (N, C*prod(k), L) -> (N, C*prod(k), *blocks): Dask splits the L chunks
    out, _ = run(cb.reshape(cb.shape[:2] + blocks), [planned], "fold")
    return out[0] if input.ndim == 2 else out
