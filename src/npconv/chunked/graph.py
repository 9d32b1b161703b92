"""The Dask graph of a stack of layers: one task per output block, reading the input
blocks its windows need (its own whole, its neighbours' through one task per block
that cuts the halos they read), with no rechunk and no intermediate arrays: at most
three tasks and a bounded number of edges per input block.
"""

from __future__ import annotations

import itertools
from typing import Any, NamedTuple

import numpy as np

from . import axes as axes_mod
from .layers import run


class Stack:
    """The layers of one graph, stored once in it (a value, not a task: it is not callable)."""

    def __init__(self, layers):
        self.layers = tuple(layers)


class Steps:
    """A task's LocalSteps per dim then per layer, and the part of each input block it
    reads per dim (an opaque value for Dask)."""

    def __init__(self, steps, trims):
        self.steps = steps
        self.trims = trims


def execute(stack: Stack, steps: Steps, blocks):
    return run(stack.layers, steps.steps, assemble(blocks, steps.trims))


def halos(block, parts):
    """Copies of the parts of a block its neighbours' tasks read, by their (start, stop)
    per dim: once they exist the block itself can be freed after its own task."""
    return {
        part: block[(slice(None), slice(None)) + tuple(slice(a, b) for a, b in part)].copy()
        for part in parts
    }


def assemble(blocks, trims):
    """One array from the nested blocks [channel][dim 0][dim 1]..., each cut to its part
    trims[d][i] along dim d (or a neighbour's halos, already cut):
    (N, C, *parts) pieces -> (N, sum C, *sum of parts)."""
    pieces = []

    def walk(node, at):
        if isinstance(node, list):
            for i, child in enumerate(node):
                walk(child, at + (i,))
            return
        want = tuple(trims[d][i] for d, i in enumerate(at[1:]))
        if isinstance(node, dict):
            pieces.append((at, node[tuple((t.start, t.stop) for t in want)]))
        else:
            pieces.append((at, node[(slice(None), slice(None)) + want]))

    walk(blocks, ())
    if len(pieces) == 1:
        return pieces[0][1]
    channels = {at[0]: piece.shape[1] for at, piece in pieces}
    channel_at = np.concatenate([[0], np.cumsum([channels[c] for c in sorted(channels)])])
    offsets = [
        np.concatenate([[0], np.cumsum([t.stop - t.start for t in per_dim])]) for per_dim in trims
    ]
    first = pieces[0][1]
    out = np.empty(
        (first.shape[0], int(channel_at[-1])) + tuple(int(v[-1]) for v in offsets), first.dtype
    )
    for at, piece in pieces:
        where = (slice(None), slice(channel_at[at[0]], channel_at[at[0] + 1]))
        where += tuple(slice(offsets[d][i], offsets[d][i + 1]) for d, i in enumerate(at[1:]))
        out[where] = piece
    return out


class DimPlan(NamedTuple):
    """One spatial dim of a stack on one chunking: output boundaries, and per output block
    the input blocks it reads and its steps; `halo` the most any block reads beyond the
    input block(s) it maps from, (before, after)."""

    bounds: np.ndarray
    chains: list
    halo: tuple


def plan_dim(layer_axes, chunks) -> DimPlan:
    """DimPlan of the layers' Axis list for input chunk sizes `chunks` along one dim."""
    in_bounds = np.concatenate([[0], np.cumsum(chunks)]).astype(np.int64)
    bounds, kept = in_bounds, np.arange(len(in_bounds))
    for axis in layer_axes:
        bounds, step_kept = axis.out_bounds(bounds)
        kept = kept[step_kept]
    chains, before, after = [], 0, 0
    for j in range(len(bounds) - 1):
        ids, trims, steps, (first, last) = axes_mod.chain(
            layer_axes, int(bounds[j]), int(bounds[j + 1]), in_bounds
        )
        chains.append((ids, steps, trims))
        before = max(before, int(in_bounds[kept[j]]) - first)
        after = max(after, last - int(in_bounds[kept[j + 1]]))
    return DimPlan(bounds, chains, (before, after))


def build(x, layers, dims, out_channels: int, dtype, label: str):
    """The lazy output of `layers` on the batched Dask array x, per `dims` (DimPlans)."""
    import dask.array as da
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph

    name = f"npconv-{label}-" + tokenize(
        x.name, [vars(layer) for layer in layers], [d.bounds for d in dims]
    )
    stack_key = (name + "-layers",)
    graph: dict[Any, Any] = {stack_key: Stack(layers)}
    channel_blocks = range(len(x.chunks[1]))
    # Each input block that neighbours read only in part gets one task that cuts those
    # parts: what waits for a neighbour's task is then its halo, not the whole block (a
    # stencil's wavefront of whole blocks would hold memory growing with the volume's
    # cross-section).
    tasks: list = []
    parts: dict[tuple, set] = {}
    for ib in range(len(x.chunks[0])):
        for js in itertools.product(*(range(len(d.chains)) for d in dims)):
            ids = [dims[d].chains[j][0] for d, j in enumerate(js)]
            trims = tuple(dims[d].chains[j][2] for d, j in enumerate(js))
            steps = Steps(tuple(dims[d].chains[j][1] for d, j in enumerate(js)), trims)
            leaves = {}
            for at in itertools.product(*(range(len(v)) for v in ids)):
                block = tuple(ids[d][i] for d, i in enumerate(at))
                want = tuple((trims[d][i].start, trims[d][i].stop) for d, i in enumerate(at))
                whole = all(b - a == x.chunks[2 + d][block[d]] for d, (a, b) in enumerate(want))
                leaves[at] = (block, whole)
                if not whole:
                    parts.setdefault((ib, block), set()).add(want)
            tasks.append((ib, js, ids, steps, leaves))
    for (ib, block), wanted in parts.items():
        for ic in channel_blocks:
            graph[(name + "-halo", ib, ic) + block] = (
                halos,
                (x.name, ib, ic) + block,
                tuple(sorted(wanted)),
            )
    for ib, js, ids, steps, leaves in tasks:

        def leaf(at, ic, ib=ib, leaves=leaves):
            block, whole = leaves[at]
            return (x.name if whole else name + "-halo", ib, ic) + block

        blocks = [
            _nest(lambda at, ic=ic: leaf(at, ic), (), [len(v) for v in ids])
            for ic in channel_blocks
        ]
        graph[(name, ib, 0) + js] = (execute, stack_key, steps, blocks)
    chunks = (x.chunks[0], (out_channels,)) + tuple(tuple(np.diff(d.bounds).tolist()) for d in dims)
    hlg = HighLevelGraph.from_collections(name, graph, dependencies=[x])
    return da.Array(hlg, name, chunks, meta=np.empty((0,) * x.ndim, dtype))


def _nest(leaf, at, counts):
    """leaf(at) for every position `at` in the grid of `counts`, nested per dim."""
    if len(at) == len(counts):
        return leaf(at)
    return [_nest(leaf, at + (i,), counts) for i in range(counts[len(at)])]
