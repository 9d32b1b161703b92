"""The Dask graph of a stack of layers: one task per output block, reading the input
blocks its window needs straight from the input array (no halo copies, no rechunk),
so the graph holds one task and a bounded number of edges per output block.
"""
from __future__ import annotations

import itertools
from typing import NamedTuple

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


def assemble(blocks, trims):
    """One array from the nested blocks [channel][dim 0][dim 1]..., each cut to its part
    trims[d][i] along dim d: (N, C, *parts) pieces -> (N, sum C, *sum of parts)."""
    flat, index = [], []

    def walk(node, at):
        if isinstance(node, list):
            for i, child in enumerate(node):
                walk(child, at + (i,))
        else:
            flat.append(node)
            index.append(at)

    walk(blocks, ())
    if len(flat) == 1:
        return flat[0][(slice(None), slice(None)) + tuple(t[0] for t in trims)]
    channels = [None] * (max(at[0] for at in index) + 1)
    for block, at in zip(flat, index):
        channels[at[0]] = block.shape[1]
    lengths = [[t.stop - t.start for t in per_dim] for per_dim in trims]
    out = np.empty((flat[0].shape[0], sum(channels)) + tuple(sum(v) for v in lengths),
                   flat[0].dtype)
    channel_at = np.concatenate([[0], np.cumsum(channels)])
    offsets = [np.concatenate([[0], np.cumsum(v)]) for v in lengths]
    for block, at in zip(flat, index):
        where = (slice(None), slice(channel_at[at[0]], channel_at[at[0] + 1]))
        where += tuple(slice(offsets[d][i], offsets[d][i + 1]) for d, i in enumerate(at[1:]))
        out[where] = block[(slice(None), slice(None))
                           + tuple(trims[d][i] for d, i in enumerate(at[1:]))]
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
        ids, trims, steps, (first, last) = axes_mod.chain(layer_axes, int(bounds[j]),
                                                          int(bounds[j + 1]), in_bounds)
        chains.append((ids, steps, trims))
        before = max(before, int(in_bounds[kept[j]]) - first)
        after = max(after, last - int(in_bounds[kept[j + 1]]))
    return DimPlan(bounds, chains, (before, after))


def build(x, layers, dims, out_channels: int, dtype, label: str):
    """The lazy output of `layers` on the batched Dask array x, per `dims` (DimPlans)."""
    import dask.array as da
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph

    name = f"npconv-{label}-" + tokenize(x.name, [vars(layer) for layer in layers],
                                          [d.bounds for d in dims])
    stack_key = (name + "-layers",)
    graph = {stack_key: Stack(layers)}
    channel_blocks = range(len(x.chunks[1]))
    for ib in range(len(x.chunks[0])):
        for js in itertools.product(*(range(len(d.chains)) for d in dims)):
            ids = [dims[d].chains[j][0] for d, j in enumerate(js)]
            steps = Steps(tuple(dims[d].chains[j][1] for d, j in enumerate(js)),
                          tuple(dims[d].chains[j][2] for d, j in enumerate(js)))
            blocks = [_nest(x.name, (ib, ic), ids) for ic in channel_blocks]
            graph[(name, ib, 0) + js] = (execute, stack_key, steps, blocks)
    chunks = (x.chunks[0], (out_channels,)) + tuple(tuple(np.diff(d.bounds).tolist())
                                                    for d in dims)
    hlg = HighLevelGraph.from_collections(name, graph, dependencies=[x])
    return da.Array(hlg, name, chunks, meta=np.empty((0,) * x.ndim, dtype))


def _nest(name, prefix, ids):
    """Keys of the blocks prefix + (i0, i1, ...) for i_d in ids[d], nested per dim."""
    if not ids:
        return (name,) + prefix
    return [_nest(name, prefix + (i,), ids[1:]) for i in ids[0]]
