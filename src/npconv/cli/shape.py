"""`npconv shape LAYER --input SHAPE`: the output shape, each spatial dim's formula with
its numbers, a transposed conv's valid output_size range, parameters and FLOPs.

The layer is really built (its validation applies) and the input is checked by the
same code a forward call runs, on a zero-cost broadcast array (Fold and Unfold by
npconv.fold's shape functions, which make no array), so an invalid combination fails
with the library's own message; the sizes come from npconv.shapes.
"""

from __future__ import annotations

import argparse
import math

import numpy as np

from .. import conv as conv_op
from .. import conv_transpose as conv_transpose_op
from .. import fold as fold_op
from .. import shapes
from ..explain import dim_names, layer_padding
from . import _formula
from ._layer import MAX_WEIGHTS, parse_layer, parse_shape

DESCRIPTION = """\
Print the output shape of LAYER for an input of SHAPE, with each spatial dim's formula
and its numbers, the output_size range a transposed conv accepts, the parameter count
and the FLOPs (2 per multiply-add). LAYER is a constructor call as written in Python,
e.g. "nn.ConvTranspose2d(16, 33, (3, 5), stride=(2, 1), padding=(4, 2))"."""


def register(subparsers):
    parser = subparsers.add_parser(
        "shape",
        help="output shape of a layer, with the formulas",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("layer", metavar="LAYER", help='e.g. "Conv1d(16, 33, 3, stride=2)"')
    parser.add_argument(
        "--input",
        required=True,
        metavar="SHAPE",
        help="input shape: N,C,*spatial (or C,*spatial unbatched), e.g. 20,16,50,100",
    )
    parser.set_defaults(func=run)


def _times(values):
    return "*".join(str(v) for v in values)


def _count(value):
    text = f"{value:,}"
    for power, unit in ((12, "T"), (9, "G"), (6, "M"), (3, "k")):
        if value >= 10**power:
            return f"{text} ({value / 10**power:.3g} {unit})"
    return text


def _materialize(layer, shape, n):
    """A Lazy layer takes in_channels from the input, as its first call would."""
    if not hasattr(layer, "cls_to_become"):
        return
    if len(shape) not in (n + 1, n + 2):
        raise ValueError(
            f"Expected {n + 1}D (unbatched) or {n + 2}D (batched) input to "
            f"{type(layer).__name__}, but got input of size: {list(shape)}"
        )
    channels = shape[1] if len(shape) == n + 2 else shape[0]
    weights = shapes.parameter_count(channels, layer.out_channels, 1, layer.kernel_size, False)
    if weights > MAX_WEIGHTS * layer.groups:
        raise ValueError(
            f"{type(layer).__name__} would have {weights // layer.groups:,} "
            f"weights; npconv refuses more than {MAX_WEIGHTS:,}"
        )
    layer._materialize(channels)


def _check(layer, shape):
    """Run the library's own validation of a forward call, without computing it."""
    zeros = np.broadcast_to(np.zeros((), layer.weight.dtype), shape)
    if layer.transposed:
        call = conv_transpose_op.prepare(
            zeros,
            layer.weight,
            layer.bias,
            layer.stride,
            layer.padding,
            layer.output_padding,
            layer.groups,
            layer.dilation,
            layer.padding_mode,
        )
    else:
        call = conv_op.prepare(
            zeros,
            layer.weight,
            layer.bias,
            layer.stride,
            layer.padding,
            layer.dilation,
            layer.groups,
            layer.padding_mode,
        )
    return call.out_shape


def conv_report(layer, shape):
    """Lines describing a Conv/ConvTranspose layer on an input of `shape`."""
    n = len(layer.kernel_size)
    _materialize(layer, shape, n)
    _check(layer, shape)
    size = tuple(shape[-n:])
    batch = shape[0] if len(shape) == n + 2 else 1
    pairs = layer_padding(layer, size)
    k, s, d = layer.kernel_size, layer.stride, layer.dilation
    if layer.transposed:
        out = shapes.conv_transpose_output_size(size, k, s, pairs, d, layer.output_padding)
        lines = _formula.conv_transpose_lines(size, k, s, pairs, d, layer.output_padding)
    else:
        out = shapes.conv_output_size(size, k, s, pairs, d)
        lines = _formula.conv_lines(size, k, s, pairs, d)
    out_shape = tuple(shape[: -n - 1]) + (layer.out_channels,) + out
    report = [
        f"layer   {layer!r}".splitlines()[0],
        f"input   {tuple(shape)}",
        f"output  {out_shape}",
    ]
    if isinstance(layer.padding, str):
        report.append(
            f"        padding={layer.padding!r} is (lo, hi) = " + ", ".join(str(p) for p in pairs)
        )
    report += ["        " + line for line in lines]
    if layer.transposed:
        if isinstance(layer.padding, str):
            report.append(f"output_size  not accepted with padding={layer.padding!r}")
        else:
            smallest, largest = shapes.conv_transpose_size_range(size, k, s, pairs, d)
            ranges = ", ".join(
                f"{name}_out {lo}..{hi}"
                for name, lo, hi in zip(dim_names(n), smallest, largest, strict=True)
            )
            report.append(
                f"output_size  forward(input, output_size=...) accepts {ranges} "
                f"(output_padding = output_size - {smallest})"
            )
    params = shapes.parameter_count(
        layer.in_channels, layer.out_channels, layer.groups, k, layer.bias is not None
    )
    weight = layer.weight.shape
    detail = f"weight {_times(weight)} = {math.prod(weight):,}"
    if layer.bias is not None:
        detail += f" + bias {layer.out_channels}"
    report.append(f"params  {params:,} = {detail}")
    per_group = layer.in_channels // layer.groups
    if layer.transposed:
        flops = shapes.conv_transpose_flops(
            batch, layer.in_channels, layer.out_channels, layer.groups, k, size
        )
        positions = _times(size) + " input positions"
    else:
        flops = shapes.conv_flops(
            batch, layer.in_channels, layer.out_channels, layer.groups, k, out
        )
        positions = _times(out) + " output positions"
    report.append(
        f"FLOPs   {_count(flops)} = 2 * batch {batch} * {per_group} in-channels per "
        f"group * {layer.out_channels} out * kernel {_times(k)} * {positions}"
    )
    return report


def blocks_report(layer, shape):
    """Lines describing Fold or Unfold on an input of `shape`."""
    options = dict(
        kernel_size=layer.kernel_size,
        dilation=layer.dilation,
        padding=layer.padding,
        stride=layer.stride,
    )
    kernel, dilation, pairs, stride = fold_op.resolve(**options)
    n = len(kernel)
    if hasattr(layer, "output_size"):  # Fold: blocks of the output it sums into
        result = fold_op.fold_shape(shape, layer.output_size, **options)  # fold's own checks
        size = tuple(result[-n:])
        where = "output_size"
    else:
        result = fold_op.unfold_shape(shape, **options)
        size = tuple(shape[-n:])
        where = "input"
    blocks = shapes.conv_output_size(size, kernel, stride, pairs, dilation)
    lines = _formula.conv_lines(size, kernel, stride, pairs, dilation, suffix="_blocks")
    report = [
        f"layer   {layer!r}".splitlines()[0],
        f"input   {tuple(shape)}",
        f"output  {tuple(result)}",
        f"        sliding blocks over the {where} {tuple(size)}:",
    ]
    report += ["        " + line for line in lines]
    report.append(f"        L = {_times(blocks)} = {math.prod(blocks)}")
    report.append("params  0")
    return report


def run(options):
    layer = parse_layer(options.layer)
    shape = parse_shape(options.input)
    report = (
        conv_report(layer, shape) if hasattr(layer, "transposed") else blocks_report(layer, shape)
    )
    print("\n".join(report))
    return 0
