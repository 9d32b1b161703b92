"""Re-derive the heuristic planner's thresholds (npconv/compute/tuning.py) on this machine.

1. Every contraction of every layer in the given layer files (by default
   bench/zoo.json and bench/suite.json: a forward case gives one, a backward case
   two) is timed by every algorithm that supports it, on seeded float32 operands,
   as the measured planner times them (a warm-up, then the best of a few runs).
2. The thresholds are then searched one at a time over a grid of values (two
   passes, coordinate descent), each value scored by the geometric mean over all
   problems of the time of the heuristic's choice over the fastest algorithm's:
   the choice that loses least across the whole set wins, never one layer.

    python bench/derive_tuning.py                    # measure, search, print
    python bench/derive_tuning.py --table t.json     # also keep the timings
    python bench/derive_tuning.py --load t.json      # search again without measuring

It prints the thresholds it finds beside the current ones, and the geometric mean
lost by each; copy the ones that earn their place into tuning.py, and the figures
into docs/benchmarks.md ("Planner thresholds").
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import pathlib
import sys
import time

import numpy as np

import npconv
from npconv.bench import cases
from npconv.compute import Geometry, planner, tuning

ROOT = pathlib.Path(__file__).resolve().parent
GRID = {
    "DIRECT_PAIRS": [1, 2, 4, 8, 16, 32, 64],
    "DIRECT_MIN_CHANNELS": [0, 1, 2, 3, 4, 8],
    "DIRECT_MAX_ROWS": [4, 8, 16, 32, 64, 10**9],
    "DIRECT_MAX_BIG": [0, 1, 2, 3, 4, 8],
    "INDIRECT_COLUMNS": [0] + [1 << v for v in range(12, 25)],
    "INDIRECT_OVERLAP": [0, 1.0, 1.5, 2.0, 2.25, 3.0, 4.0],
    "MIRROR_RATIO": [1, 2, 4, 8, 16, 10**9],
    "MIRROR_WASTE": [1.0, 1.25, 1.5, 2.0, 4.0, 10**9],
    "MAX_PHASES": [0, 4, 16, 64],
    "WINOGRAD_CHANNELS": [4, 8, 16, 32, 64],
    "WINOGRAD_WORK": [1 << 14, 1 << 15, 1 << 16, 3 << 15, 1 << 17, 3 << 16, 1 << 18, 1 << 19],
    "MAX_MARGIN": [1.0, 1.1, 1.25, 1.5, 2.0, 3.0, 4.0],
    "FFT_MIN_TAPS": [27, 49, 64, 81, 100, 125, 128, 256],
    "FFT_MARGIN": [1.0, 1.5, 2.0, 3.0, 4.0],
}


def contractions(case):
    """The planner's problems of one benchmark case: its forward, or its two gradients."""
    layer = npconv.plan(case.op, case.input_shape, case.weight_shape, **case.options())
    if case.pass_ == "forward":
        return [layer.forward.problem]
    return [layer.input_gradient.problem, layer.weight_gradient.problem]


def operands(p, rng):
    g = p.geometry
    x = rng.standard_normal((p.batch, g.groups * p.big_channels) + g.big, dtype=np.float32)
    w = rng.standard_normal(
        (g.groups * p.small_channels, p.big_channels) + g.kernel, dtype=np.float32
    )
    y = rng.standard_normal((p.batch, g.groups * p.small_channels) + g.small, dtype=np.float32)
    return {"conv": (x, w), "conv_transpose": (y, w), "conv_weight": (x, y)}[p.op]


def _run(name, p, first, second):
    """Seconds of one run of algorithm `name` on problem p's operands."""
    start = time.perf_counter()
    planner._execute(name, p.op, first, second, p.geometry, p)
    return time.perf_counter() - start


def measure(problems, runs, patience):
    """{problem key: {algorithm: seconds}}. Each candidate is warmed up (which compiles),
    then the candidates take turns for `runs` rounds and each keeps its best, so that a
    burst of load from elsewhere falls on all of them alike rather than on whichever ran
    in it; a candidate whose warm-up takes more than `patience` times the fastest warm-up
    (after a second run, in case the first compiled) is recorded at its warm-up time and
    left out of the rounds."""
    table = {}
    rng = np.random.default_rng(0)
    for i, p in enumerate(problems, 1):
        first, second = operands(p, rng)
        names = [n for n in planner.candidates(p) if planner._worth_measuring(n, p)]
        heuristic = planner.heuristic(p)[0]

        warm = {}
        for name in names:
            warm[name] = _run(name, p, first, second)
            if warm[name] > patience * min(warm.values(), default=math.inf) or len(warm) == 1:
                warm[name] = _run(name, p, first, second)  # the first run compiled, maybe
        fastest_warm = min(warm.values())
        times = {name: w for name, w in warm.items() if w > patience * fastest_warm}
        rounds = [name for name in names if name not in times]
        best = dict.fromkeys(rounds, math.inf)
        for r in range(runs):
            for name in rounds if r % 2 == 0 else rounds[::-1]:
                best[name] = min(best[name], _run(name, p, first, second))
        times.update(best)
        table[key(p)] = {"problem": encode(p), "seconds": times}
        fastest = min(times, key=times.get)
        print(
            f"[{i}/{len(problems)}] {p.op:14s} {fastest:9s} "
            f"{times[fastest] * 1e3:8.2f} ms  heuristic {heuristic:9s} "
            f"{times.get(heuristic, math.nan) / times[fastest]:5.2f}x",
            file=sys.stderr,
        )
    return table


def key(p):
    return planner._wisdom_key(p)


def encode(p):
    return {
        "op": p.op,
        "geometry": [list(v) if isinstance(v, tuple) else v for v in p.geometry],
        "B": p.big_channels,
        "M": p.small_channels,
        "N": p.batch,
        "dtype": p.dtype,
        "threads": p.threads,
    }


def decode(entry):
    fields = [tuple(v) if isinstance(v, list) else v for v in entry["geometry"]]
    return planner.Problem(
        entry["op"],
        Geometry(*fields),
        entry["B"],
        entry["M"],
        entry["N"],
        entry["dtype"],
        entry["threads"],
    )


@contextlib.contextmanager
def thresholds(values):
    before = {name: getattr(tuning, name) for name in values}
    for name, value in values.items():
        setattr(tuning, name, value)
    try:
        yield
    finally:
        for name, value in before.items():
            setattr(tuning, name, value)


def loss(table, values):
    """Geometric mean over the problems of heuristic time / fastest time under `values`."""
    logs = []
    with thresholds(values):
        for entry in table.values():
            times = entry["seconds"]
            chosen = planner.heuristic(decode(entry["problem"]))[0]
            logs.append(math.log(times.get(chosen, 10 * max(times.values())) / min(times.values())))
    return math.exp(sum(logs) / len(logs))


def search(table):
    values = {name: getattr(tuning, name) for name in GRID}
    for _ in range(2):
        for name, grid in GRID.items():
            # the least loss wins; on a tie the value in force stays
            scored = [
                (round(loss(table, {**values, name: v}), 4), v != values[name], i, v)
                for i, v in enumerate(grid)
            ]
            values[name] = min(scored)[3]
    return values


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "layers", nargs="*", default=[str(ROOT / "zoo.json"), str(ROOT / "suite.json")]
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--patience", type=float, default=4.0)
    parser.add_argument("--table", help="write the timings to this JSON file")
    parser.add_argument("--load", help="search the timings of this JSON file, measure nothing")
    options = parser.parse_args(argv)
    npconv.set_num_threads(options.threads)
    if options.load:
        table = json.loads(pathlib.Path(options.load).read_text())
    else:
        problems = {
            key(p): p
            for path in options.layers
            for case in cases.load(path)
            for p in contractions(case)
        }
        table = measure(list(problems.values()), options.runs, options.patience)
        if options.table:
            pathlib.Path(options.table).write_text(json.dumps(table, indent=1))
    current = {name: getattr(tuning, name) for name in GRID}
    found = search(table)
    print(
        f"{len(table)} problems; heuristic / fastest, geometric mean: "
        f"current {loss(table, current):.3f}, derived {loss(table, found):.3f}"
    )
    for name in GRID:
        print(f"  {name:20s} current {current[name]!r:>12}  derived {found[name]!r:>12}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
