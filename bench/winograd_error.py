"""Float32 error of Winograd against direct convolution on every zoo and suite case the
planner sends to Winograd: forward, input gradient and weight gradient.

The error of a result is max |result - exact| / max |exact|, exact being torch's float64
result on the same float32 operands (the harness's data: unit normal input and output
gradient, weight scaled by 1/sqrt(fan-in)). Columns: npconv's Winograd (the module
called directly; the input gradient is its conv of the mirrored geometry), npconv's gemm
path (the module called directly) and torch in float32.

    PYTHONPATH=src python bench/winograd_error.py [--cases r50_l1_3x3,...] [--markdown]
"""

from __future__ import annotations

import argparse
import pathlib

import numpy as np
import torch

from npconv import compute
from npconv.bench import cases
from npconv.compute import Geometry

HERE = pathlib.Path(__file__).parent
PASSES = ("forward", "input_gradient", "weight_gradient")


def winograd_cases():
    """Zoo and suite cases with a pass the planner sends to Winograd (mirror of Winograd
    included), each once by shape."""
    import npconv

    seen, found = set(), []
    for suite in ("zoo.json", "suite.json"):
        for c in cases.load(str(HERE / suite)):
            options = dict(stride=c.stride, padding=c.padding, dilation=c.dilation, groups=c.groups)
            if c.op != "conv":
                continue
            p = npconv.plan(c.op, c.input_shape, c.weight_shape, "float32", **options)
            plans = [p.forward, p.input_gradient, p.weight_gradient]
            if not any("winograd" in (q.algorithm + (q.variant or "")) for q in plans):
                continue
            key = (c.batch, c.in_channels, c.out_channels, c.size, c.kernel, c.padding)
            if key not in seen:
                seen.add(key)
                found.append(c)
    return found


def geometry(c):
    small = tuple(s + 2 * p - k + 1 for s, p, k in zip(c.size, c.padding, c.kernel, strict=True))
    n = len(c.size)
    return Geometry(c.kernel, (1,) * n, (1,) * n, c.padding, c.size, small, c.groups)


def error(result, exact):
    return float(np.abs(np.asarray(result, dtype=np.float64) - exact).max() / np.abs(exact).max())


def torch_results(x, w, dy, c, dtype):
    conv = getattr(torch.nn.functional, f"conv{len(c.size)}d")
    xt = torch.from_numpy(x).to(dtype).requires_grad_()
    wt = torch.from_numpy(w).to(dtype).requires_grad_()
    y = conv(xt, wt, None, 1, c.padding, 1, c.groups)
    y.backward(torch.from_numpy(dy).to(dtype))
    return y.detach().numpy(), xt.grad.numpy(), wt.grad.numpy()


def npconv_results(module, x, w, dy, g):
    return module.conv(x, w, g), module.conv_transpose(dy, w, g), module.conv_weight(x, dy, g)


def measure(c):
    """{pass: {system: error}} of one case."""
    data = cases.make(c)
    x, w = data.x, data.w
    dy = np.random.default_rng(1).standard_normal(c.output_shape, dtype=np.float32)
    g = geometry(c)
    exact = torch_results(x, w, dy, c, torch.float64)
    systems = {
        "winograd": npconv_results(compute.winograd, x, w, dy, g),
        "gemm": npconv_results(compute.gemm, x, w, dy, g),
        "torch": torch_results(x, w, dy, c, torch.float32),
    }
    return {
        name: {s: error(r[i], exact[i]) for s, r in systems.items()}
        for i, name in enumerate(PASSES)
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", help="comma-separated case names (default: all)")
    parser.add_argument("--markdown", action="store_true", help="a markdown table")
    options = parser.parse_args(argv)
    chosen = winograd_cases()
    if options.cases:
        names = options.cases.split(",")
        chosen = [c for c in chosen if c.name in names]
    if options.markdown:
        print("| case | pass | Winograd | gemm | torch | Winograd / best direct |")
        print("|---|---|---|---|---|---|")
    for c in chosen:
        for name, errors in measure(c).items():
            ratio = errors["winograd"] / min(errors["gemm"], errors["torch"])
            if options.markdown:
                print(
                    f"| {c.name} | {name} | {errors['winograd']:.1e} | {errors['gemm']:.1e} "
                    f"| {errors['torch']:.1e} | {ratio:.1f} |"
                )
            else:
                cells = "  ".join(f"{s} {e:.2e}" for s, e in errors.items())
                print(f"{c.name:16s} {name:16s} {cells}  ratio {ratio:.1f}", flush=True)


if __name__ == "__main__":
    main()
