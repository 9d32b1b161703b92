"""Extra memory of large convolutions at 1, 2, 8 and 16 threads: peak RSS of the first call
over the RSS just before it, less the result's own bytes, in a fresh process per case.

Each child process allocates (and touches) the operands, loads every compiled loop
(npconv.warmup: the compiler's own memory is not the call's), resets the kernel's
peak-RSS mark (/proc/self/clear_refs), makes the call once and reports VmHWM. The bound
npconv keeps is max(64 MiB, the result's size).

    python bench/memory.py                 # the table, as in docs/benchmarks.md
    python bench/memory.py --cases conv3d --threads 16
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

THREADS = (1, 2, 8, 16)
MIB = 2**20


def _cases():
    """name -> (description, make), make() -> (call, result bytes) with operands allocated."""
    import numpy as np

    import npconv
    import npconv.functional as F
    import npconv.grad as G

    def array(*shape):
        return np.random.default_rng(0).standard_normal(shape, dtype=np.float32)

    def conv3d():
        x, w = array(1, 64, 96, 96, 96), array(64, 64, 3, 3, 3)
        return (lambda: F.conv3d(x, w, padding=1)), x.nbytes

    def strided():
        x, w = array(8, 256, 128, 128), array(256, 256, 3, 3)
        return (lambda: F.conv2d(x, w, stride=2, padding=1)), 8 * 256 * 64 * 64 * 4

    def strided_weight():
        x, dy = array(8, 256, 128, 128), array(8, 256, 64, 64)
        return (
            lambda: G.conv2d_weight(x, (256, 256, 3, 3), dy, stride=2, padding=1)
        ), 256 * 256 * 9 * 4

    def strided_input():
        w, dy = array(256, 256, 3, 3), array(8, 256, 64, 64)
        return (
            lambda: G.conv2d_input((8, 256, 128, 128), w, dy, stride=2, padding=1)
        ), 8 * 256 * 128 * 128 * 4

    def transposed():
        y, w = array(8, 256, 64, 64), array(256, 128, 4, 4)
        return (lambda: F.conv_transpose2d(y, w, stride=2, padding=1)), 8 * 128 * 128 * 128 * 4

    def module_backward():
        m = npconv.nn.Conv2d(64, 64, 3, padding=1)
        x, dy = array(16, 64, 128, 128), array(16, 64, 128, 128)
        m(x)
        return (lambda: m.backward(dy)), x.nbytes + m.weight.nbytes + m.bias.nbytes

    return {
        "conv3d": ("Conv3d 64->64 k3 p1, (1, 64, 96, 96, 96)", conv3d),
        "strided": ("Conv2d 256->256 k3 s2 p1, (8, 256, 128, 128)", strided),
        "strided_weight": ("its weight gradient", strided_weight),
        "strided_input": ("its input gradient", strided_input),
        "transposed": ("ConvTranspose2d 256->128 k4 s2 p1, (8, 256, 64, 64)", transposed),
        "backward": ("Conv2d(64, 64, 3, padding=1).backward, (16, 64, 128, 128)", module_backward),
    }


def _status(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _child(name, threads):
    import npconv

    npconv.set_num_threads(threads)
    call, result = _cases()[name][1]()
    npconv.warmup(dtypes=("float32",))
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # peak RSS := current RSS
    before = _status("VmRSS")
    call()
    print(json.dumps({"extra": _status("VmHWM") - before - result, "result": result}))


def measure(name, threads):
    done = subprocess.run(
        [sys.executable, __file__, "--child", name, str(threads)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--cases", nargs="*", help="case names (default: all)")
    parser.add_argument("--threads", nargs="*", type=int, default=list(THREADS))
    options = parser.parse_args(argv)
    if options.child:
        _child(options.child[0], int(options.child[1]))
        return
    cases = _cases()
    names = options.cases or list(cases)
    head = " | ".join(f"{t} thread{'s' * (t > 1)}" for t in options.threads)
    print(f"| case | bound | {head} |")
    print("|---|---:|" + "---:|" * len(options.threads))
    for name in names:
        cells, bound = [], None
        for threads in options.threads:
            found = measure(name, threads)
            bound = max(64 * MIB, found["result"])
            over = "**" if found["extra"] > bound else ""
            cells.append(f"{over}{found['extra'] / MIB:.0f}{over}")
        print(f"| {cases[name][0]} | {bound / MIB:.0f} | " + " | ".join(cells) + " |", flush=True)
    print(
        f"\nExtra MiB over the RSS before the first call, less the result; "
        f"bold: above the bound. {os.cpu_count()} CPUs."
    )


if __name__ == "__main__":
    main()
