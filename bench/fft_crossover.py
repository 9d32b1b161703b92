"""FFT against direct convolution: the long-kernel cases, the crossover, the cost model's rates.

    python bench/fft_crossover.py cases [--only NAME ...] [--repeat 3]
    python bench/fft_crossover.py crossover [--repeat 3]
    python bench/fft_crossover.py calibrate

cases      bench/long.json's cases: npconv with FFT forced, npconv with FFT ruled
           out (the direct algorithms) and torch, timed interleaved in one process
           (median of --repeat), npconv-with-FFT's extra memory (tracemalloc peak
           beyond its outputs) and its error against float64 (torch in float64
           where that is affordable, else exact float64 dot products at sampled
           output positions), and what the planner picks.
crossover  for 1-3 dims and a few channel counts, the smallest kernel at which FFT
           measures faster than the direct algorithms, and at which the cost model
           (compute.fft.preferred) sends a call to FFT.
calibrate  the cost model's rates (compute.fft's constants) measured on this machine.

Uses npconv from the source tree it sits in (PYTHONPATH=src) and torch.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import pathlib
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "src"))

import npconv
from npconv import compute, shapes
from npconv import conv as conv_op
from npconv import conv_transpose as conv_transpose_op
from npconv import functional as F
from npconv.bench.measure import peak_extra_bytes, relative_error
from npconv.compute import fft

HERE = pathlib.Path(__file__).resolve().parent


def per_dim(value, n):
    return tuple(value) if isinstance(value, list) else (value,) * n


def load(path=HERE / "long.json"):
    cases = []
    for c in json.loads(path.read_text())["cases"]:
        n = len(c["size"])
        c = dict(
            c,
            size=tuple(c["size"]),
            **{
                key: per_dim(c[key], n)
                for key in ("kernel", "stride", "padding", "output_padding", "dilation")
            },
        )
        cases.append(c)
    return cases


def options(c):
    o = {
        "stride": c["stride"],
        "padding": c["padding"],
        "dilation": c["dilation"],
        "groups": c["groups"],
    }
    if c["op"] == "conv_transpose":
        o["output_padding"] = c["output_padding"]
    return o


def shapes_of(c):
    """(input, weight, output) shapes of a case."""
    n = len(c["size"])
    pairs = tuple((p, p) for p in c["padding"])
    if c["op"] == "conv":
        w = (c["Cout"], c["Cin"] // c["groups"]) + c["kernel"]
        out = shapes.conv_output_size(c["size"], c["kernel"], c["stride"], pairs, c["dilation"])
    else:
        w = (c["Cin"], c["Cout"] // c["groups"]) + c["kernel"]
        out = shapes.conv_transpose_output_size(
            c["size"], c["kernel"], c["stride"], pairs, c["dilation"], c["output_padding"]
        )
    assert len(out) == n
    return (c["N"], c["Cin"]) + c["size"], w, (c["N"], c["Cout"]) + tuple(out)


def data(c, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    xs, ws, ys = shapes_of(c)
    x = rng.standard_normal(xs, dtype=np.float32).astype(dtype)
    w = (rng.standard_normal(ws, dtype=np.float32) / math.sqrt(math.prod(ws[1:]))).astype(dtype)
    g = rng.standard_normal(ys, dtype=np.float32).astype(dtype) if c["pass"] == "backward" else None
    return x, w, g


@contextlib.contextmanager
def fft_rule(value):
    """The planner's FFT rule forced on (True), off (False) or left alone (None)."""
    original = fft.preferred
    if value is not None:
        fft.preferred = lambda *a, **k: value
    try:
        yield
    finally:
        fft.preferred = original


def npconv_call(c, x, w, g):
    module = conv_op if c["op"] == "conv" else conv_transpose_op
    if c["pass"] == "forward":
        op = F.conv if c["op"] == "conv" else F.conv_transpose
        return lambda: [op(x, w, None, **options(c))]

    def backward():
        call = module.prepare(x, w, None, **options(c))
        return [a for a in module.gradients(call, g) if a is not None]

    return backward


def torch_call(c, x, w, g):
    import torch

    n = len(c["size"])
    tx, tw = torch.from_numpy(x), torch.from_numpy(w)
    transposed = c["op"] == "conv_transpose"
    if c["pass"] == "forward":
        op = getattr(torch.nn.functional, f"conv_transpose{n}d" if transposed else f"conv{n}d")

        def forward():
            with torch.inference_mode():
                return [op(tx, tw, None, **options(c))]

        return forward
    tg = torch.from_numpy(g)
    arguments = (
        None,
        list(c["stride"]),
        list(c["padding"]),
        list(c["dilation"]),
        transposed,
        list(c["output_padding"]),
        c["groups"],
        [True, True, False],
    )

    def backward():
        with torch.inference_mode():
            return [
                a
                for a in torch.ops.aten.convolution_backward(tg, tx, tw, *arguments)
                if a is not None
            ]

    return backward


def timed(call):
    start = time.perf_counter()
    outputs = call()
    return time.perf_counter() - start, outputs


def interleaved(calls, repeat):
    """{name: median seconds} of calls {name: fn}, one call of each per round."""
    times = {name: [] for name in calls}
    for _ in range(repeat):
        for name, call in calls.items():
            seconds, outputs = timed(call)
            del outputs
            times[name].append(seconds)
    return {name: statistics.median(ts) for name, ts in times.items()}


def sampled_error(c, x, w, outputs, count=256, seed=1):
    """max error / max value of a forward conv's output at sampled positions, against
    float64 dot products over their windows (for cases too large for a float64 run)."""
    assert c["op"] == "conv" and c["pass"] == "forward" and c["groups"] == 1
    y = outputs[0]
    rng = np.random.default_rng(seed)
    n = len(c["size"])
    worst, scale = 0.0, 0.0
    w64 = w.astype(np.float64)
    for _ in range(count):
        sample = rng.integers(y.shape[0])
        o = tuple(int(rng.integers(s)) for s in y.shape[2:])
        start = tuple(oo * s - p for oo, s, p in zip(o, c["stride"], c["padding"], strict=True))
        window = np.zeros((x.shape[1],) + c["kernel"])
        src, dst = [], []
        for st, k, d, size in zip(start, c["kernel"], c["dilation"], c["size"], strict=True):
            taps = st + np.arange(k) * d
            inside = (taps >= 0) & (taps < size)
            src.append(taps[inside])
            dst.append(np.nonzero(inside)[0])
        window[np.ix_(range(x.shape[1]), *dst)] = x[sample][np.ix_(range(x.shape[1]), *src)]
        exact = np.tensordot(w64, window, axes=(tuple(range(1, n + 2)), tuple(range(n + 1))))
        got = y[(sample, slice(None)) + o].astype(np.float64)
        worst = max(worst, float(np.abs(got - exact).max()))
        scale = max(scale, float(np.abs(exact).max()))
    return worst / scale


def macs(c):
    xs, ws, ys = shapes_of(c)
    small = ys if c["op"] == "conv" else xs
    return (
        small[0]
        * math.prod(small[2:])
        * ws[0]
        * math.prod(ws[1:])
        * (2 if c["pass"] == "backward" else 1)
    )


def planner_choice(c):
    """The algorithms the planner picks for the case's kernel calls."""
    xs, ws, _ = shapes_of(c)
    w = np.empty(ws, dtype=np.float32)
    if c["op"] == "conv":
        p = conv_op.resolve(xs, w, c["stride"], c["padding"], c["dilation"], c["groups"], "zeros")
        ops = ["conv"] if c["pass"] == "forward" else ["conv_transpose", "conv_weight"]
    else:
        p = conv_transpose_op.resolve(
            xs,
            w,
            c["stride"],
            c["padding"],
            c["output_padding"],
            c["groups"],
            c["dilation"],
            "zeros",
        )
        ops = ["conv_transpose"] if c["pass"] == "forward" else ["conv", "conv_weight"]
    g = p.geometry
    b, m = ws[1], ws[0] // g.groups
    return "+".join(compute.choose(op, g, b, m, xs[0]).__name__.rsplit(".", 1)[-1] for op in ops)


def run_cases(args):
    import torch

    torch.set_num_threads(npconv.get_num_threads())
    rows = []
    for c in load():
        if args.only and not any(name in c["name"] for name in args.only):
            continue
        x, w, g = data(c)
        huge = macs(c) > 5e10
        calls = {"fft": _with_rule(True, npconv_call(c, x, w, g))}
        if not huge and not args.no_direct:
            calls["direct"] = _with_rule(False, npconv_call(c, x, w, g))
        calls["torch"] = torch_call(c, x, w, g)
        repeat = 1 if huge else args.repeat
        for call in calls.values():  # warm up (compiles, thread pools), and keep outputs
            if huge:
                break
            call()
        times = interleaved(calls, repeat)
        with fft_rule(True):
            extra = peak_extra_bytes(npconv_call(c, x, w, g))
        with fft_rule(True):
            got = npconv_call(c, x, w, g)()
        if huge:
            error = sampled_error(c, x, w, got)
        else:
            exact = torch_call(
                c, *(None if a is None else a.astype(np.float64) for a in (x, w, g))
            )()
            error = relative_error(got, [a.numpy() for a in exact])
        del got
        xs, ws, ys = shapes_of(c)
        output_bytes = 4 * (
            math.prod(ys) if c["pass"] == "forward" else math.prod(xs) + math.prod(ws)
        )
        row = dict(
            name=c["name"],
            fft=times["fft"],
            direct=times.get("direct"),
            torch=times["torch"],
            extra=extra,
            output=output_bytes,
            error=error,
            planner=planner_choice(c),
        )
        rows.append(row)
        direct = "-" if row["direct"] is None else f"{row['direct'] * 1e3:9.1f}"
        print(
            f"{row['name']:18s} fft {row['fft'] * 1e3:9.1f} ms  direct {direct} ms  "
            f"torch {row['torch'] * 1e3:9.1f} ms  fft/torch {row['fft'] / row['torch']:6.3f}  "
            f"extra {extra / 2**20:7.1f} MiB (output {output_bytes / 2**20:7.1f} MiB)  "
            f"error {error:.1e}  planner {row['planner']}",
            flush=True,
        )
    return rows


def _with_rule(value, call):
    def run():
        with fft_rule(value):
            return call()

    return run


def crossover(args):
    """Smallest kernel per (dims, channels) at which FFT measures faster than direct, and
    at which the cost model prefers it."""
    grids = {
        1: ((8192,), (7, 15, 31, 63, 127, 255)),
        2: ((96, 96), (3, 5, 7, 9, 11, 15, 21)),
        3: ((24, 24, 24), (3, 5, 7, 9, 11)),
    }
    for n, (size, ks) in grids.items():
        for channels in (1, 16, 64):
            measured = predicted = None
            line, wins = [], 0
            for k in ks:
                if wins >= 2:  # FFT won twice running: larger kernels only widen the gap
                    break
                c = dict(
                    name="x",
                    op="conv",
                    pass_="forward",
                    N=1,
                    Cin=channels,
                    Cout=channels,
                    size=size,
                    kernel=(k,) * n,
                    stride=(1,) * n,
                    padding=(k // 2,) * n,
                    output_padding=(0,) * n,
                    dilation=(1,) * n,
                    groups=1,
                )
                c["pass"] = "forward"
                x, w, _ = data(c)
                calls = {
                    "fft": _with_rule(True, npconv_call(c, x, w, None)),
                    "direct": _with_rule(False, npconv_call(c, x, w, None)),
                }
                for call in calls.values():
                    call()
                times = interleaved(calls, args.repeat)
                ratio = times["fft"] / times["direct"]
                xs, ws, _ = shapes_of(c)
                p = conv_op.resolve(
                    xs,
                    np.empty(ws, np.float32),
                    c["stride"],
                    c["padding"],
                    c["dilation"],
                    1,
                    "zeros",
                )
                model = fft.cost("conv", p.geometry, channels, channels, 1) / fft.direct_cost(
                    "conv", p.geometry, channels, channels, 1
                )
                line.append(f"k={k}: {ratio:.2f} (model {model:.2f})")
                if args.verbose:
                    estimate = fft.cost("conv", p.geometry, channels, channels, 1)
                    direct = fft.direct_cost("conv", p.geometry, channels, channels, 1)
                    print(
                        f"  {n}-d C={channels} k={k}: fft {times['fft'] * 1e3:.2f} ms (model "
                        f"{estimate * 1e3:.2f}), direct {times['direct'] * 1e3:.2f} ms (model "
                        f"{direct * 1e3:.2f})",
                        flush=True,
                    )
                wins = wins + 1 if ratio < 1 else 0
                if measured is None and ratio < 1:
                    measured = k
                if predicted is None and fft.preferred("conv", p.geometry, channels, channels, 1):
                    predicted = k
            print(
                f"{n}-d {size} C={channels}: fft/direct "
                + ", ".join(line)
                + f" | fft faster from k={measured}, planner picks fft from k={predicted}",
                flush=True,
            )


def calibrate(args):
    """Rates of the cost model's terms, measured here."""
    import scipy.fft

    from npconv.compute import _spectral_loops

    rng = np.random.default_rng(0)

    def best(call, repeat=5):
        call()
        return min(timed(call)[0] for _ in range(repeat))

    rates = []
    for shape, grid in (
        ((64, 16384), (16384,)),
        ((16, 256, 256), (256, 256)),
        ((8, 64, 64, 64), (64, 64, 64)),
    ):
        a = rng.standard_normal(shape, dtype=np.float32)
        seconds = best(lambda a=a, grid=grid: fft._spectrum(a, grid, True))
        flops = shape[0] * fft._transform_flops(grid, grid, True)
        rates.append(flops / seconds)
    print(f"FLOP_RATE = {statistics.median(rates):.2e}   ({', '.join(f'{r:.2e}' for r in rates)})")
    rates = []
    for u, gr, m, b, bins in (
        (8, 1, 16, 16, 8192),
        (32, 1, 16, 1, 8193),
        (1, 256, 1, 1, 6145),
        (4, 1, 64, 1, 8193),
    ):
        w = fft._blocked((rng.standard_normal((gr * m, b, bins)) + 1j).astype(np.complex64), gr)
        x = (rng.standard_normal((u, gr, b, bins)) + 1j).astype(np.complex64)
        y = np.empty((u, gr, m, bins), np.complex64)
        seconds = best(lambda w=w, x=x, y=y: fft._contract(_spectral_loops.conv_bins, w, x, y))
        rates.append(u * gr * m * b * bins / seconds)
    print(f"CMAC_RATE = {statistics.median(rates):.2e}   ({', '.join(f'{r:.2e}' for r in rates)})")
    a = rng.standard_normal(16 << 20, dtype=np.float32)
    out = np.empty_like(a)
    print(f"BYTE_RATE = {2 * a.nbytes / best(lambda: np.copyto(out, a)):.2e}")
    rates = []
    for n, size, k, channels, groups in (
        (1, (8192,), 63, 16, 1),
        (2, (64, 64), 9, 32, 1),
        (1, (8192,), 255, 64, 1),
        (3, (24, 24, 24), 5, 16, 1),
    ):
        x = rng.standard_normal((1, channels) + size, dtype=np.float32)
        w = rng.standard_normal((channels, channels // groups) + (k,) * n, dtype=np.float32)
        with fft_rule(False):
            seconds = best(
                lambda x=x, w=w, k=k, groups=groups: F.conv(x, w, padding=k // 2, groups=groups), 3
            )
        rates.append(channels * channels // groups * k**n * math.prod(size) / seconds)
    print(f"GEMM_RATE = {statistics.median(rates):.2e}   ({', '.join(f'{r:.2e}' for r in rates)})")
    rates = []
    for size, k, channels in (((8192,), 255, 64), ((128, 128), 9, 64)):
        n = len(size)
        x = rng.standard_normal((1, channels) + size, dtype=np.float32)
        w = rng.standard_normal((channels, 1) + (k,) * n, dtype=np.float32)
        with fft_rule(False):
            seconds = best(
                lambda x=x, w=w, k=k, groups=channels: F.conv(x, w, padding=k // 2, groups=groups),
                3,
            )
        rates.append(channels * k**n * math.prod(size) / seconds)
    print(
        f"DEPTHWISE_RATE = {statistics.median(rates):.2e}   "
        f"({', '.join(f'{r:.2e}' for r in rates)})"
    )
    del scipy


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("cases", "crossover", "calibrate"))
    parser.add_argument("--only", nargs="*", default=[])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", help="write the cases' rows here")
    parser.add_argument("--verbose", action="store_true", help="crossover: absolute times too")
    parser.add_argument(
        "--no-direct",
        action="store_true",
        help="cases: leave out the direct algorithms (the slowest column)",
    )
    args = parser.parse_args()
    if args.mode == "cases":
        rows = run_cases(args)
        if args.json:
            pathlib.Path(args.json).write_text(json.dumps(rows, indent=1))
    elif args.mode == "crossover":
        crossover(args)
    else:
        calibrate(args)


if __name__ == "__main__":
    main()
