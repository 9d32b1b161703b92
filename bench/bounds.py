"""What bounds each case that stays above its target: the bare GEMM time of its products.

Every pass of every case is, written as im2col, a few matrix products per group (shapes
from the trilinear form, per group G with B big and M small channels, K kernel taps, L
small-side positions per sample, n samples):

    conv             (M, B*K) @ (B*K, n*L)        the output of a conv
    conv_transpose   (B*K, M) @ (M, n*L)          the columns a transposed conv scatters
    conv_weight      (M, n*L) @ (n*L, B*K)        the weight gradient

A forward pass is its op's product; a backward pass is the input gradient's (the other
op) and the weight gradient's. This script times those products bare (np.matmul into a
preallocated output, NumPy's BLAS at the benchmark's thread count, no gather, no copy),
interleaved in one process with npconv's own call of the case, and prints them beside
the peers' times of a harness run (its --json file): where npconv sits at the bare GEMM
time and a peer is faster, OpenBLAS's GEMM (the only one the project may use) bounds the
case, not npconv's gathers and copies. Depthwise cases (one channel per group) are left
out: they run no GEMM.

    python -m npconv.bench --suite zoo --peers torch,ort --json zoo.json
    python bench/bounds.py zoo.json --above 1.5 --markdown bounds.md
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np

from npconv.bench import cases, systems


def products(case):
    """[(name, groups, rows, inner, columns)] of the products of one pass of `case`."""
    g = case.groups
    if case.op == "conv":
        big, small = case.in_channels // g, case.out_channels // g
        positions = math.prod(case.output_size)
        forward, other = "conv", "conv_transpose"
    else:  # a transposed conv's input is the small side
        big, small = case.out_channels // g, case.in_channels // g
        positions = math.prod(case.size)
        forward, other = "conv_transpose", "conv"
    bk, nl = big * math.prod(case.kernel), case.batch * positions
    shapes = {
        "conv": (small, bk, nl),
        "conv_transpose": (bk, small, nl),
        "conv_weight": (small, nl, bk),
    }
    ops = [forward] if case.pass_ == "forward" else [other, "conv_weight"]
    return [(op, g, *shapes[op]) for op in ops]


def bare(product_list, rng):
    """A closure that runs every product of the list once, operands made up front."""
    work = []
    for _, g, rows, inner, columns in product_list:
        a = rng.standard_normal((g, rows, inner), dtype=np.float32)
        b = rng.standard_normal((g, inner, columns), dtype=np.float32)
        work.append((a, b, np.empty((g, rows, columns), np.float32)))

    def run():
        for a, b, out in work:
            np.matmul(a, b, out=out)

    return run


def best(call, repeat):
    call()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times) * 1e3


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", help="a harness run's --json file (its rows and suite)")
    parser.add_argument("--above", type=float, default=1.5, help="cases whose ratio is above")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--markdown", help="write the table as Markdown")
    options = parser.parse_args(argv)
    results = json.load(open(options.results))
    rows = [r for r in results["rows"] if (r.get("ratio") or 0) > options.above]
    npconv_system = systems.Npconv(options.threads)
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    lines = [
        "| case | pass | algorithm | ratio | npconv ms | best peer ms | bare GEMM ms | "
        "npconv / GEMM | peer / GEMM | products (G x rows x inner x columns) |",
        "|:---|---:|:---|---:|---:|---:|---:|---:|---:|:---|",
    ]
    for row in rows:
        case = cases.from_json(row["case"])
        if case.groups > 1 and case.in_channels == case.groups:
            continue  # depthwise: no GEMM to compare with
        plist = products(case)
        call = npconv_system.prepare(case, cases.make(case))
        gemm = bare(plist, rng)
        ours, theirs = [], []
        with threadpool_limits(options.threads, user_api="blas"):
            for _ in range(3):  # interleaved blocks
                ours.append(best(call, options.repeat))
                theirs.append(best(gemm, options.repeat))
        ours_ms, gemm_ms = min(ours), min(theirs)
        peer_ms = row["ms"][row["best_peer"]]
        shapes = ", ".join(f"{op} {g}x{r}x{i}x{c}" for op, g, r, i, c in plist)
        lines.append(
            f"| {case.name} | {case.pass_[:3]} | {row.get('algorithm', '')} | "
            f"{row['ratio']:.2f} | {ours_ms:.3g} | {peer_ms:.3g} | {gemm_ms:.3g} | "
            f"{ours_ms / gemm_ms:.2f} | {peer_ms / gemm_ms:.2f} | {shapes} |"
        )
        print(lines[-1], flush=True)
    npconv_system.close()
    if options.markdown:
        with open(options.markdown, "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
