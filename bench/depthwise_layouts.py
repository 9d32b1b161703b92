"""Re-measure the depthwise layout thresholds (tuning.FLAT_TAPS, FLAT_WEIGHTS, FLAT_RUN).

The heuristic planner's thresholds between algorithms are re-derived by derive_tuning.py;
the depthwise algorithm's choice of layout for a stride-1 "same" conv (flat runs over
blocks of channels, or the planes' canvas loops, or channels last on small maps) happens
inside the algorithm, so this script times it directly: each layer of a sweep of real
depthwise shapes, the flat runs forced on and forced off, taking turns in one process,
and prints flat / planes beside the per-position weights per channel the rule reads.

    python bench/depthwise_layouts.py                 # the sweep, 2 threads
    python bench/depthwise_layouts.py --runs 1024,4096,16384   # FLAT_RUN too

Run it alone: concurrent work on the host moves single timings 20-40%. The figures of
the published sweep are in docs/benchmarks.md ("Depthwise: flat runs").
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

import npconv
from npconv import functional as F
from npconv.compute import tuning

# (N, C, map, kernel, dilation): MobileNet, EfficientNet, ConvNeXt and Conv-TasNet layers
# at the batch sizes they run at, and batch 1
SWEEP = [
    (8, 960, (7, 7), 3, 1),
    (4, 768, (7, 7), 7, 1),
    (16, 512, (8, 8), 3, 1),
    (1, 1024, (7, 7), 3, 1),
    (8, 576, (10, 10), 3, 1),
    (8, 576, (14, 14), 3, 1),
    (4, 384, (14, 14), 7, 1),
    (1, 384, (14, 14), 7, 1),
    (8, 256, (28, 28), 3, 1),
    (1, 256, (28, 28), 3, 1),
    (8, 240, (28, 28), 5, 1),
    (8, 192, (28, 28), 3, 1),
    (8, 144, (56, 56), 3, 1),
    (1, 144, (56, 56), 3, 1),
    (4, 96, (56, 56), 7, 1),
    (1, 32, (112, 112), 3, 1),
    (4, 512, (3000,), 3, 8),
    (1, 512, (3000,), 3, 8),
    (16, 128, (64,), 5, 1),
    (2, 64, (16, 16, 16), 3, 1),
]


def median_ms(call, runs):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1e3


def measure(layer, rounds=7, runs=5, flat_runs=None):
    """{variant: median ms}: 'planes' (flat runs off) and 'flat' (on, at tuning.FLAT_RUN,
    or at each of flat_runs), taking turns for `rounds` rounds of `runs` calls."""
    n, c, size, k, d = layer
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, c) + size, dtype=np.float32)
    w = rng.standard_normal((c, 1) + (k,) * len(size), dtype=np.float32)
    options = dict(padding=d * (k - 1) // 2, dilation=d, groups=c)
    variants = {"planes": (0, tuning.FLAT_TAPS, tuning.FLAT_RUN)}
    for run in flat_runs or [tuning.FLAT_RUN]:
        variants[f"flat {run}" if flat_runs else "flat"] = (1 << 40, 1 << 20, run)
    before = (tuning.FLAT_WEIGHTS, tuning.FLAT_TAPS, tuning.FLAT_RUN)
    times: dict[str, list[float]] = {name: [] for name in variants}
    try:
        for values in variants.values():  # compile and warm every variant first
            tuning.FLAT_WEIGHTS, tuning.FLAT_TAPS, tuning.FLAT_RUN = values
            F.conv(x, w, **options)
        for _ in range(rounds):
            for name, values in variants.items():
                tuning.FLAT_WEIGHTS, tuning.FLAT_TAPS, tuning.FLAT_RUN = values
                times[name].append(median_ms(lambda: F.conv(x, w, **options), runs))
    finally:
        tuning.FLAT_WEIGHTS, tuning.FLAT_TAPS, tuning.FLAT_RUN = before
    return {name: float(np.median(values)) for name, values in times.items()}


def weights_kib(layer):
    """Per-position weights per channel the rule reads: taps x plane positions x 4 bytes."""
    _, _, size, k, _ = layer
    return k ** len(size) * math.prod(size) * 4 / 1024


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--runs", help="comma-separated FLAT_RUN values to time as well")
    parser.add_argument("--layers", type=int, help="the first this many layers of the sweep")
    options = parser.parse_args(argv)
    npconv.set_num_threads(options.threads)
    flat_runs = [int(v) for v in options.runs.split(",")] if options.runs else None
    print(
        "| layer (N, C, map, kernel, dilation) | taps | weights per channel | "
        + (" | ".join(f"flat {r} / planes" for r in flat_runs) if flat_runs else "flat / planes")
        + " | rule |"
    )
    print("|---|---:|---:|" + "---:|" * (len(flat_runs) if flat_runs else 1) + "---|")
    for layer in SWEEP[: options.layers]:
        times = measure(layer, options.rounds, flat_runs=flat_runs)
        ratios = [v / times["planes"] for name, v in times.items() if name != "planes"]
        taps = layer[3] ** len(layer[2])
        rule = taps <= tuning.FLAT_TAPS and weights_kib(layer) * 1024 <= tuning.FLAT_WEIGHTS
        print(
            f"| {layer} | {taps} | {weights_kib(layer):.0f} KiB | "
            + " | ".join(f"{r:.2f}" for r in ratios)
            + f" | {'flat' if rule else 'planes'} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
