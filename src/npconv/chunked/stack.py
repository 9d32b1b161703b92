"""Modules on Dask arrays, and the plan of a Sequential: one halo per fused segment.

A Sequential's layers are planned on the running (batched) shape, Lazy layers taking
their in_channels from it as on a NumPy call. Consecutive conv, transposed-conv and
element-wise layers form one segment: along each dim their windows compose
(`axes.chain` walks them backwards), so one task computes an output block of the
whole segment from its input block plus the segment's halo, and no intermediate
array exists outside a task. A segment ends where a layer cannot join:

  - Fold and Unfold change the layout ((N, C, *S) <-> (N, C*prod(k), L)): each runs
    as its own segment;
  - a layer with padding_mode='circular' after the first of a segment: its border
    copies the far end of its input, which the block's halo does not hold, so it
    starts a new segment (where its input is a Dask array whose far blocks it reads);
  - a module whose windows npconv does not know (a user's Module with its own forward)
    runs that forward on the Dask array, as a segment of its own: the npconv modules
    and ops it calls are lazy in turn.

Strides never force a split here: every block's window is derived backwards from its
own bounds, so a stride that does not divide the block boundaries only makes the
halos of neighbouring blocks differ (by less than the stride); where input blocks are
smaller than a stride, their output blocks merge with a neighbour.

Backward: npconv computes gradients on NumPy arrays only. A module called on a Dask
array keeps nothing for backward, and its backward() raises a RuntimeError saying so.
"""

from __future__ import annotations

import copy
import math
from typing import NamedTuple

from . import layers, ops
from .axes import identity


class NoBackward:
    """What a module saves after a forward on a Dask array: any use raises."""

    message = (
        "backward() after a forward on a Dask array is not supported: npconv.chunked "
        "computes forward passes only; call the module on a NumPy array to train it"
    )

    def __getattr__(self, name):
        raise RuntimeError(self.message)

    def __iter__(self):
        raise RuntimeError(self.message)


def _forget(module):
    object.__setattr__(module, "_saved", NoBackward())


class Segment(NamedTuple):
    """Layers [start, stop) of the stack, fused into one task per output block."""

    start: int
    stop: int
    names: tuple
    reason: str  # why the segment starts here
    halo: tuple = ()  # per spatial dim (before, after) in input elements
    blocks: int = 0  # output blocks (tasks)


class StackPlan:
    """How a module runs on a Dask input: its segments and the lazy output."""

    def __init__(self, segments, output, input_shape):
        self.segments = tuple(segments)
        self.output = output
        self.input_shape = tuple(input_shape)

    def __repr__(self):
        count = len(self.segments)
        lines = [
            f"StackPlan({sum(s.stop - s.start for s in self.segments)} layers in {count} "
            f"segment{'s' if count != 1 else ''}, input {list(self.input_shape)} -> "
            f"output {list(self.output.shape)}:"
        ]
        for i, s in enumerate(self.segments):
            span = f"layer {s.start}" if s.stop - s.start == 1 else f"layers {s.start}-{s.stop - 1}"
            text = f"  segment {i}: {span} ({', '.join(s.names)}), {s.blocks} output blocks"
            if s.halo:
                text += ", halo (before, after) per dim " + ", ".join(map(str, s.halo))
            lines.append(text + ("" if i == 0 else "; split here: " + s.reason))
        return "\n".join(lines) + "\n)"


def _children(module):
    """The layers of a (possibly nested) Sequential, in order."""
    from ..nn import Sequential

    if isinstance(module, Sequential):
        return [leaf for child in module for leaf in _children(child)]
    return [module]


def _plan_layer(module, shape, dtype, options=None):
    """(Planned, unbatched) of a conv, transposed-conv or activation module on an input
    shape, Lazy modules materialised."""
    from ..nn.activation import _Elementwise
    from ..nn.conv import _ConvNd, _LazyMixin

    if isinstance(module, _LazyMixin):
        n = len(module.kernel_size)
        if len(shape) not in (n + 1, n + 2):
            raise ValueError(
                f"Expected {n + 1}D (unbatched) or {n + 2}D (batched) input to "
                f"{type(module).__name__}, but got input of size: {list(shape)}"
            )
        module._materialize(shape[1] if len(shape) == n + 2 else shape[0])
    if isinstance(module, _ConvNd) and module.transposed:
        output_padding = module._output_padding(
            ops.standin(shape, dtype), (options or {}).get("output_size")
        )
        return ops.plan_conv_transpose(
            shape,
            dtype,
            module.weight,
            module.bias,
            module.stride,
            module.padding,
            output_padding,
            module.groups,
            module.dilation,
            module.padding_mode,
        )
    if isinstance(module, _ConvNd):
        return ops.plan_conv(
            shape,
            dtype,
            module.weight,
            module.bias,
            module.stride,
            module.padding,
            module.dilation,
            module.groups,
            module.padding_mode,
        )
    if isinstance(module, _Elementwise):
        clean = copy.copy(module)  # without the arrays a NumPy forward saved
        object.__setattr__(clean, "_saved", None)
        layer = layers.Pointwise(clean._function, dtype)
        return ops.Planned(
            layer, tuple(identity(n) for n in shape[2:]), tuple(shape), type(module).__name__
        ), False
    raise TypeError(f"npconv.chunked has no windows for {type(module).__name__}")


def _known(module) -> bool:
    """Whether npconv.chunked knows the module's windows (else it runs its own forward)."""
    from ..nn.activation import _Elementwise
    from ..nn.conv import _ConvNd
    from ..nn.fold import Fold, Unfold

    return isinstance(module, (_ConvNd, _Elementwise, Fold, Unfold))


def _unbatched(children, x):
    """Whether the stack's input is unbatched: by the rank its first conv layer expects."""
    from ..nn.conv import _ConvNd

    for child in children:
        if isinstance(child, _ConvNd):
            return x.ndim == len(child.kernel_size) + 1
    return False


def plan(module, x) -> StackPlan:
    """Plan (and build, lazily) module on the Dask array x; see the module docstring."""
    from ..nn.conv import _ConvNd
    from ..nn.fold import Fold, Unfold

    children = _children(module)
    unbatched = _unbatched(children, x)
    h = x[None] if unbatched else x
    segments: list[Segment] = []
    current: list[ops.Planned] = []
    start, reason = 0, "the stack's input"

    def close(stop):
        nonlocal h, current
        if current:
            out, dims = ops.run(h, current, "stack")
            blocks = len(h.chunks[0]) * math.prod(len(d.chains) for d in dims)
            segments.append(
                Segment(
                    start,
                    stop,
                    tuple(p.label for p in current),
                    reason,
                    tuple(d.halo for d in dims),
                    blocks,
                )
            )
            h, current = out, []

    for i, child in enumerate(children):
        if _known(child):
            _forget(child)
        name = type(child).__name__
        if isinstance(child, (Fold, Unfold)):
            close(i)
            h = (
                ops.unfold(h, **child._options())
                if isinstance(child, Unfold)
                else ops.fold(h, child.output_size, **child._options())
            )
            segments.append(
                Segment(
                    i,
                    i + 1,
                    (name,),
                    f"{name} changes the layout between (N, C, *S) and (N, C*prod(k), L)",
                    (),
                    math.prod(h.numblocks),
                )
            )
            start, reason = i + 1, f"after {name}"
            continue
        if not _known(child):  # its own forward, on the Dask array
            close(i)
            h = child(h[0])[None] if unbatched else child(h)
            segments.append(
                Segment(
                    i,
                    i + 1,
                    (name,),
                    f"{name} is not a layer npconv.chunked "
                    "knows the windows of: it runs its own forward",
                    (),
                    math.prod(h.numblocks),
                )
            )
            start, reason = i + 1, f"after {name}"
            continue
        shape = current[-1].out_shape if current else h.shape
        planned, _ = _plan_layer(child, shape, h.dtype)
        if current and isinstance(child, _ConvNd) and child.padding_mode == "circular":
            close(i)
            start, reason = (
                i,
                (
                    f"{name}'s circular padding reads the far end of its input, "
                    "beyond a block's halo"
                ),
            )
        current.append(planned._replace(label=type(child).__name__))  # Lazy: now eager
    close(len(children))
    return StackPlan(segments, h[0] if unbatched else h, x.shape)


def call(module, input, *rest, **options):
    """module(input) for a Dask input."""
    from ..nn import Sequential
    from ..nn.activation import _Elementwise
    from ..nn.fold import Fold, Unfold

    if isinstance(module, Sequential):
        return plan(module, input).output
    if not _known(module):  # a user's module: its own forward
        return module.forward(input, *rest, **options)
    _forget(module)
    if isinstance(module, Unfold):
        return ops.unfold(input, **module._options())
    if isinstance(module, Fold):
        return ops.fold(input, module.output_size, **module._options())
    if isinstance(module, _Elementwise):  # any rank: block by block
        clean = copy.copy(module)
        object.__setattr__(clean, "_saved", None)
        return input.map_blocks(clean._function, dtype=input.dtype)
    if rest:
        options = dict(options, output_size=rest[0])
    planned, unbatched = _plan_layer(module, input.shape, input.dtype, options)
    out, _ = ops.run(input[None] if unbatched else input, [planned], planned.label)
    return out[0] if unbatched else out
