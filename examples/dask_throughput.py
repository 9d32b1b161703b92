"""Throughput of npconv on a Dask array against in-memory npconv, same volume, same threads.

    python examples/dask_throughput.py                 # 192^3 float32, chunks of 96^3
    python examples/dask_throughput.py --size 256 --chunk 64 --repeats 5

The encoder-decoder of examples/dask_volume.py runs on a NumPy volume that fits in
memory (npconv with its 2 threads) and on the same volume as a Dask array (Dask's
threaded scheduler with 2 threads, npconv with 1 thread in each: the two pools would
otherwise share the same cores), interleaved, and prints the median wall time and
process CPU time of each, and their ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import npconv
from npconv import nn


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=192)
    parser.add_argument("--chunk", type=int, default=96)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    import dask.array as da

    npconv.manual_seed(0)
    net = nn.Sequential(
        nn.Conv3d(1, 8, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.ConvTranspose3d(8, 1, 3, stride=2, padding=1, output_padding=1),
    )
    x = np.random.default_rng(0).standard_normal((1, 1) + (args.size,) * 3, dtype=np.float32)
    xd = da.from_array(x, chunks=(1, 1) + (args.chunk,) * 3)

    def in_memory():
        npconv.set_num_threads(args.threads)
        return net(x)

    def chunked():
        npconv.set_num_threads(1)
        return net(xd).compute(scheduler="threads", num_workers=args.threads)

    worst = float(np.abs(in_memory() - chunked()).max() / np.abs(in_memory()).max())
    wall = {"in-memory": [], "dask": []}
    cpu = {"in-memory": [], "dask": []}
    for _ in range(args.repeats):
        for label, run in (("in-memory", in_memory), ("dask", chunked)):
            start, start_cpu = time.perf_counter(), time.process_time()
            run()
            wall[label].append(time.perf_counter() - start)
            cpu[label].append(time.process_time() - start_cpu)
    print(
        f"volume {args.size}^3 float32, chunks {args.chunk}^3 ({xd.npartitions}), "
        f"{args.threads} threads; max relative difference {worst:.1e}"
    )
    for label in ("in-memory", "dask"):
        print(
            f"{label:>9}: median {statistics.median(wall[label]):.3f} s wall, "
            f"{statistics.median(cpu[label]):.3f} s CPU (wall "
            + ", ".join(f"{t:.2f}" for t in wall[label])
            + ")"
        )
    ratio = {
        name: statistics.median(values["dask"]) / statistics.median(values["in-memory"])
        for name, values in (("wall", wall), ("CPU", cpu))
    }
    print(f"dask / in-memory: {ratio['wall']:.2f}x wall, {ratio['CPU']:.2f}x CPU")


if __name__ == "__main__":
    main()
