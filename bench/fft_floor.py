"""The floor under npconv's FFT cases: the bare transforms their tiling needs.

Whatever the channel contraction costs, an FFT convolution transforms every source tile
of every input channel and inverts every output tile of every output channel. This script
takes the tiling npconv's planner picks for each forward case of bench/long.json that
runs on FFT, and the weight's spectra a call needs (weights change between calls, so
they are transformed per call), times those transforms bare (scipy.fft on zero arrays of
the right shapes, `workers` = the thread count), interleaved in one process with npconv's
own call, and prints them beside the peers' times of a harness run (its --json file):

    floor / peer   the best ratio any FFT method with these transform sizes could reach
                   on this machine, before the contraction, the copies and the weight

    python -m npconv.bench --suite bench/long.json --peers torch,ort --json long.json
    python bench/fft_floor.py long.json --markdown floor.md
"""

from __future__ import annotations

import argparse
import functools
import json
import math

import numpy as np
import scipy.fft
from bounds import best  # bench/bounds.py, beside this script

import npconv
from npconv import conv as conv_op
from npconv import conv_transpose as conv_transpose_op
from npconv.bench import cases, systems
from npconv.compute import fft


def transforms(case):
    """((sources, weights, outputs), grid, bins) of the bare transforms of one forward
    case on FFT: how many signals of the tiling's grid each side transforms."""
    x = np.empty(case.input_shape, np.float32)
    w = np.empty(case.weight_shape, np.float32)
    o = case.options()
    if case.op == "conv":
        g = conv_op.resolve(
            x.shape, w, o["stride"], o["padding"], o["dilation"], o["groups"], "zeros"
        ).geometry
        b, m = case.in_channels // case.groups, case.out_channels // case.groups
    else:
        g = conv_transpose_op.resolve(
            x.shape,
            w,
            o["stride"],
            o["padding"],
            o["output_padding"],
            o["groups"],
            o["dilation"],
            "zeros",
        ).geometry
        b, m = case.out_channels // case.groups, case.in_channels // case.groups
    problem, source, outputs = fft._problem_channels(case.op, g, b, m)
    pl = fft.tiling("conv", problem, source, outputs, case.batch, np.dtype(np.float32).str)
    units = case.batch * math.prod(pl.tiles)
    bins = pl.grid[:-1] + (pl.grid[-1] // 2 + 1,)
    signals = units * g.groups * source, g.groups * outputs * source, units * g.groups * outputs
    return signals, pl.grid, bins


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", help="a harness run's --json file of bench/long.json")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--markdown", help="write the table as Markdown")
    options = parser.parse_args(argv)
    results = json.load(open(options.results))
    system = systems.Npconv(options.threads)
    lines = [
        "| case | npconv ms | best peer ms | source FFTs ms | weight FFTs ms | output FFTs ms "
        "| floor / peer | npconv / floor | transforms (source + weight + output) |",
        "|:---|---:|---:|---:|---:|---:|---:|---:|:---|",
    ]
    for row in results["rows"]:
        case = cases.from_json(row["case"])
        if case.pass_ != "forward" or not row.get("best_peer") or case.name == "audio_10min":
            continue
        options_ = case.options()
        p = npconv.plan(case.op, case.input_shape, case.weight_shape, "float32", **options_)
        if p.forward.algorithm != "fft":
            continue
        (sources, weights, outputs), grid, bins = transforms(case)
        axes = tuple(range(-len(grid), 0))
        forward = functools.partial(scipy.fft.rfftn, axes=axes, workers=options.threads)
        inverse = functools.partial(scipy.fft.irfftn, s=grid, axes=axes, workers=options.threads)
        calls = [
            system.prepare(case, cases.make(case)),
            functools.partial(forward, np.zeros((sources,) + grid, np.float32)),
            functools.partial(forward, np.zeros((weights,) + grid, np.float32)),
            functools.partial(inverse, np.zeros((outputs,) + bins, np.complex64)),
        ]
        times = [[] for _ in calls]
        for _ in range(3):  # interleaved blocks
            for call, t in zip(calls, times, strict=True):
                t.append(best(call, options.repeat))
        ours_ms, src_ms, weight_ms, out_ms = (min(t) for t in times)
        peer_ms = row["ms"][row["best_peer"]]
        floor = src_ms + weight_ms + out_ms
        lines.append(
            f"| {case.name} | {ours_ms:.3g} | {peer_ms:.3g} | {src_ms:.3g} | {weight_ms:.3g} | "
            f"{out_ms:.3g} | {floor / peer_ms:.2f} | {ours_ms / floor:.2f} | "
            f"{sources} + {weights} + {outputs} of {'x'.join(map(str, grid))} |"
        )
        print(lines[-1], flush=True)
    system.close()
    if options.markdown:
        with open(options.markdown, "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
