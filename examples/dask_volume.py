"""A 3-D encoder-decoder on a float32 volume larger than any worker's memory, with Dask.

    python examples/dask_volume.py                    # 816^3 (2 GiB) on 2 workers of 512 MiB
    python examples/dask_volume.py --size 1024 --memory-limit 1GiB --chunk 128   # 4 GiB

Writes a random float32 volume to zarr, runs

    Conv3d(1, 8, 3, stride=2, padding=1) -> ReLU -> ConvTranspose3d(8, 1, 3, stride=2,
                                                   padding=1, output_padding=1)

on it with npconv on a dask.distributed LocalCluster (2 workers, one thread each, an
explicit memory_limit), writes the result to zarr with Dask's progress bar, then
checks sample blocks (corners included) against the same model on NumPy arrays and
prints the timings, each worker's peak memory (sampled by a worker plugin) against
its limit, whether any worker was restarted, and what the workers spilled.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import threading
import time

import numpy as np
from distributed import WorkerPlugin

import npconv
from npconv import nn


def parse():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--size",
        type=int,
        default=816,
        help="edge of the cubic volume (default 816: 2 GiB of float32)",
    )
    parser.add_argument("--chunk", type=int, default=68, help="zarr and Dask chunk edge")
    parser.add_argument("--memory-limit", default="512MiB", help="per worker (default 512MiB)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--channels", type=int, default=8, help="encoder channels")
    parser.add_argument(
        "--directory",
        default=None,
        help="where the zarr stores go (default: a temporary directory)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the zarr stores")
    return parser.parse_args()


class PeakMemory(WorkerPlugin):
    """A worker plugin: samples the worker process's RSS every 50 ms, keeps the peak."""

    name = "npconv-peak-memory"

    def setup(self, worker):
        import psutil

        process = psutil.Process()
        worker.npconv_peak = process.memory_info().rss

        def sample():
            while worker.status.name not in ("closing", "closed"):
                worker.npconv_peak = max(worker.npconv_peak, process.memory_info().rss)
                time.sleep(0.05)

        threading.Thread(target=sample, daemon=True).start()


def _cpu_seconds():
    import psutil

    times = psutil.Process().cpu_times()
    return times.user + times.system


def model(channels):
    npconv.manual_seed(0)
    return nn.Sequential(
        nn.Conv3d(1, channels, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.ConvTranspose3d(channels, 1, 3, stride=2, padding=1, output_padding=1),
    )


def check_samples(net, source, result, size, rng, count=4, margin=8):
    """Compare blocks of the Dask result with the model on NumPy crops of the input
    (with a margin the receptive field cannot cross; crops start on even positions, so
    the strides align, and a corner crop checks the global padding)."""
    worst = 0.0
    edge = min(48, size)
    starts = [(0, 0, 0), (size - edge,) * 3] + [
        tuple(int(v) for v in rng.integers(0, size - edge + 1, 3)) for _ in range(count - 2)
    ]
    for start in starts:
        lo = [max(0, (s - margin) // 2 * 2) for s in start]
        hi = [min(size, s + edge + margin) for s in start]
        crop = source[(0, slice(None)) + tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))]
        local = net(crop[None])[0]
        want = local[
            (slice(None),)
            + tuple(slice(s - a, s - a + edge) for s, a in zip(start, lo, strict=True))
        ]
        got = result[(0, slice(None)) + tuple(slice(s, s + edge) for s in start)]
        scale = float(np.abs(want).max()) or 1.0
        worst = max(worst, float(np.abs(got - want).max()) / scale)
    return worst


def main():
    args = parse()
    import dask
    import dask.array as da
    import zarr
    from dask.utils import format_bytes, parse_bytes
    from distributed import Client, LocalCluster, progress

    limit = parse_bytes(args.memory_limit)
    shape = (1, 1) + (args.size,) * 3
    nbytes = int(np.prod(shape)) * 4
    print(
        f"volume {list(shape)} float32, {format_bytes(nbytes)}; {args.workers} workers x "
        f"{format_bytes(limit)}: the volume is {nbytes / limit:.1f}x one worker's memory"
    )
    root = args.directory or tempfile.mkdtemp(prefix="npconv-dask-")
    os.makedirs(root, exist_ok=True)
    chunks = (1, 1) + (args.chunk,) * 3
    net = model(args.channels)
    with (
        LocalCluster(
            n_workers=args.workers, threads_per_worker=1, memory_limit=limit, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as client,
    ):
        client.register_plugin(PeakMemory())
        client.run(npconv.set_num_threads, 1)  # one core per worker: Dask's threads
        before = client.run(os.getpid)

        source = zarr.create_array(
            os.path.join(root, "input.zarr"),
            shape=shape,
            chunks=chunks,
            dtype="float32",
            compressors=None,
            overwrite=True,
        )
        volume = da.random.default_rng(0).standard_normal(shape, chunks=chunks, dtype=np.float32)
        start = time.perf_counter()
        future = client.compute(da.store(volume, source, lock=False, compute=False))
        progress(future)
        future.result()
        write_time = time.perf_counter() - start

        x = da.from_zarr(source)
        y = net(x)
        plan = npconv.chunked.plan(net, x)
        target = zarr.create_array(
            os.path.join(root, "output.zarr"),
            shape=y.shape,
            chunks=chunks,
            dtype="float32",
            compressors=None,
            overwrite=True,
        )
        print(f"\n{plan}\n{len(y.__dask_graph__())} tasks in the graph")
        cpu = client.run(_cpu_seconds)
        start = time.perf_counter()
        future = client.compute(da.store(y, target, lock=False, compute=False))
        progress(future)
        future.result()
        run_time = time.perf_counter() - start

        cpu = {
            address: seconds - cpu[address] for address, seconds in client.run(_cpu_seconds).items()
        }
        peaks = client.run(lambda dask_worker: dask_worker.npconv_peak)
        spilled = client.run(
            lambda dask_worker: str(getattr(dask_worker.data, "spilled_total", "n/a"))
        )
        after = client.run(os.getpid)
    restarted = before != after
    print(
        f"\ninput written in {write_time:.1f} s; model run (zarr to zarr) in {run_time:.1f} s, "
        f"{nbytes / run_time / 2**20:.0f} MiB/s of input"
    )
    for address, peak in sorted(peaks.items()):
        print(
            f"worker {address}: peak RSS {format_bytes(peak)} of {format_bytes(limit)} "
            f"({peak / limit:.0%}); {cpu[address]:.0f} CPU s in the model run; "
            f"spilled {spilled[address]}"
        )
    print(f"{nbytes / sum(cpu.values()) / 2**20:.0f} MiB of input per worker CPU second")
    print("workers restarted:", "yes" if restarted else "none")
    worst = check_samples(
        net,
        zarr.open_array(os.path.join(root, "input.zarr"), mode="r"),
        zarr.open_array(os.path.join(root, "output.zarr"), mode="r"),
        args.size,
        np.random.default_rng(1),
    )
    print(f"sample blocks vs the NumPy model: max relative difference {worst:.1e}")
    if not args.keep and args.directory is None:
        shutil.rmtree(root)
    if restarted or worst > 1e-5 or max(peaks.values()) >= limit:
        raise SystemExit("FAILED")
    dask.config.refresh()


if __name__ == "__main__":
    main()
