"""Where a tiny layer's time goes: a call of npconv.functional, split into its steps.

For each tiny case of the zoo (and any named with --cases), times in one process,
interleaved, best of several blocks of many calls:

    call       npconv.functional.conv / conv_transpose, as a user calls it
    prepare    argument checks and the cached plan of the call (conv.prepare)
    planner    the planner's problem and choice, without running anything
    algorithm  the chosen algorithm's own function on the prepared operands
    ort        onnxruntime's session.run on the same data (when installed)

    python bench/overhead.py                 # the zoo's tiny cases
    python bench/overhead.py --cases tiny_conv,r18_b1_512
"""

from __future__ import annotations

import argparse
import sys
import time

import npconv
from npconv import conv as conv_op
from npconv import conv_transpose as conv_transpose_op
from npconv import functional as F
from npconv.bench import cases, systems
from npconv.compute import planner


def best_of(call, calls, blocks=7):
    """The best per-call time, in microseconds, of `blocks` blocks of `calls` calls."""
    for _ in range(max(10, calls // 10)):
        call()
    best = float("inf")
    for _ in range(blocks):
        start = time.perf_counter()
        for _ in range(calls):
            call()
        best = min(best, (time.perf_counter() - start) / calls)
    return best * 1e6


def steps(case):
    """(name, zero-argument call) for each step of one forward call of `case`."""
    data = cases.make(case)
    options = case.options()
    module = conv_op if case.op == "conv" else conv_transpose_op
    function = F.conv if case.op == "conv" else F.conv_transpose
    call = module.prepare(data.x, data.w, data.b, **options)
    g = call.resolved.geometry
    p = planner.problem(case.op, call.x, call.w, g)
    chosen = planner.choose(p)
    algorithm = getattr(planner.ALGORITHMS[chosen.algorithm], case.op)
    found = [
        ("call", lambda: function(data.x, data.w, data.b, **options)),
        ("prepare", lambda: module.prepare(data.x, data.w, data.b, **options)),
        ("planner", lambda: planner.choose(planner.problem(case.op, call.x, call.w, g))),
        ("algorithm", lambda: algorithm(call.x, call.w, g)),
    ]
    try:
        ort = systems.Onnxruntime(npconv.get_num_threads()).prepare(case, data)
        found.append(("ort", ort))
    except ImportError:
        pass
    return chosen.algorithm, found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", help="comma-separated zoo case names (default: tiny_*)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--calls", type=int, default=2000)
    options = parser.parse_args(argv)
    npconv.set_num_threads(options.threads)
    zoo = [c for c in cases.load("zoo") if c.pass_ == "forward"]
    names = (
        options.cases.split(",")
        if options.cases
        else [c.name for c in zoo if c.name.startswith("tiny")]
    )
    print("| case | algorithm | call us | prepare us | planner us | algorithm us | ort us |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for case in cases.select(zoo, names):
        algorithm, found = steps(case)
        times = {name: best_of(call, options.calls) for name, call in found}
        cells = " | ".join(
            f"{times[name]:.1f}" if name in times else "-"
            for name in ("call", "prepare", "planner", "algorithm", "ort")
        )
        print(f"| {case.name} | {algorithm} | {cells} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
