"""How the benchmark measures: time, error, memory, the SGEMM yardstick, the first call.

time        each system in blocks of its own: a pause of `settle` seconds
            (the thread pools of the system timed before it spin for a while
            after their last call and would steal its cores), warm-up calls
            for at least `warm` seconds (a system whose threads sleep between
            calls, rather than spin, needs a few calls to get its cores back
            after the pause), then calls back to back. `rounds` blocks per
            system, the systems taking turns (in a rotated order each round),
            `repeat` calls in all at least; the median over every block, in ms.
            Several shorter blocks spread a burst of outside load (a shared
            machine) over all systems instead of letting it land on one
            system's only block. With
            interleave=True, rounds call every system once in turn instead
            (spreads load the most, but each pays for the previous one's
            spinning threads).
error       max|a - b| / max|b| against torch, the largest over the outputs.
memory      tracemalloc's peak during one npconv call, minus what was traced
            before it and minus the outputs' bytes. NumPy reports every array
            buffer to tracemalloc, so this is the temporary arrays npconv needs
            beyond its operands and results; memory a BLAS library or a
            compiled kernel allocates for itself is not seen. The work buffers
            npconv's threads keep between calls are dropped before that call,
            so it allocates, and this counts, them.
sgemm       NumPy's float32 matmul of two n x n matrices, as GFLOP/s: the rate
            the machine's BLAS reaches with these threads. Timed within every
            case as one more system, in the same rotated blocks and as the same
            median, so that "of SGEMM" compares npconv with the yardstick at the
            same moments: on a host whose speed drifts by a third within
            minutes, one yardstick taken at the start of the run misstates every
            later case's fraction.
first call  a fresh Python process imports npconv and makes the case's data,
            then times its first call: what a script pays once, including any
            lazy set-up (planning, compilation) that warm-up hides.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
import tracemalloc

import numpy as np


def _timed(call):
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def median_times(calls, repeat, warmup=1, interleave=False, settle=0.25, rounds=1, warm=0.05):
    """{name: median ms} for zero-argument callables, each timed in `rounds` blocks of
    its own (or round by round with interleave=True)."""
    samples = {name: [] for name in calls}
    if interleave:
        for call in calls.values():
            for _ in range(warmup):
                call()
        for _ in range(repeat):
            for name, call in calls.items():
                samples[name].append(_timed(call))
    else:
        rounds = max(1, min(rounds, repeat))
        per_block = -(-repeat // rounds)
        names = list(calls)
        for turn in range(rounds):
            for name in names[turn % len(names) :] + names[: turn % len(names)]:
                time.sleep(settle)
                start, done = time.perf_counter(), 0
                while done < max(warmup, 1) or time.perf_counter() - start < warm:
                    calls[name]()
                    done += 1
                samples[name] += [_timed(calls[name]) for _ in range(per_block)]
    return {name: 1e3 * statistics.median(values) for name, values in samples.items()}


def relative_error(outputs, reference):
    """max|a - b| / max|b|, the largest over corresponding outputs."""
    worst = 0.0
    for a, b in zip(outputs, reference, strict=True):
        scale = float(np.abs(b).max()) if b.size else 0.0
        difference = float(np.abs(a.astype(np.float64) - b).max()) if b.size else 0.0
        worst = max(worst, difference / scale if scale else difference)
    return worst


def peak_extra_bytes(call):
    """Bytes npconv holds at its peak during call() beyond what existed before and its outputs.
    The work buffers npconv's threads keep between calls are dropped first, so that the
    call allocates, and this counts, them again."""
    from npconv import _threads

    _threads.drop_scratch()
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        outputs = call()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        if not was_tracing:
            tracemalloc.stop()
    kept = sum(a.nbytes for a in outputs)
    return max(0, peak - before - kept)


def sgemm_call(n=2048, seed=0):
    """(call, flop): a zero-argument float32 matmul of two n x n matrices, and its FLOP."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    out = np.empty((n, n), dtype=np.float32)
    return (lambda: np.matmul(a, b, out=out)), 2 * n**3


_CHILD = (
    "import sys, time; start = time.perf_counter(); import npconv; "
    "imported = time.perf_counter(); from npconv.bench.measure import first_call_child; "
    "first_call_child(sys.argv[1], int(sys.argv[2]), imported - start)"
)


def first_call(case, threads, timeout=600):
    """{"import_ms", "first_call_ms"} of `case` in a fresh interpreter, or {"error"}."""
    environment = dict(os.environ)
    for variable in (
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
        "NUMBA_NUM_THREADS",
    ):
        environment[variable] = str(threads)
    command = [sys.executable, "-c", _CHILD, json.dumps(case.to_json()), str(threads)]
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, env=environment, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return {"error": f"no result within {timeout} s"}
    if result.returncode:
        lines = result.stderr.strip().splitlines()
        return {"error": lines[-1] if lines else f"exit code {result.returncode}"}
    return json.loads(result.stdout.strip().splitlines()[-1])


def first_call_child(case_json, threads, import_seconds):
    """Run in the fresh interpreter: time the case's first npconv call and print JSON."""
    from .cases import from_json, make
    from .systems import Npconv

    case = from_json(json.loads(case_json))
    call = Npconv(threads).prepare(case, make(case))
    start = time.perf_counter()
    call()
    elapsed = time.perf_counter() - start
    print(json.dumps({"import_ms": 1e3 * import_seconds, "first_call_ms": 1e3 * elapsed}))


def machine():
    """What the numbers were measured on."""
    import platform

    processor = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as file:
            names = [
                line.split(":", 1)[1].strip() for line in file if line.startswith("model name")
            ]
        processor = names[0] if names else processor
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "processor": processor,
        "cpus": usable,
        "system": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas": blas(),
    }


def blas():
    """NumPy's BLAS as every GEMM-bound row depends on it: library, version and kernel set,
    and the OPENBLAS_CORETYPE that forced the kernel set, if one did (an OpenBLAS picks
    its kernels by the CPU model unless told; an older set can halve its rate)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:  # pragma: no cover
        return None
    for lib in threadpool_info():
        if lib.get("user_api") == "blas":
            openblas = lib["internal_api"] == "openblas"
            forced = os.environ.get("OPENBLAS_CORETYPE") if openblas else None
            return {
                "library": lib["internal_api"],
                "version": lib.get("version"),
                "kernels": lib.get("architecture"),
                "forced_by_environment": forced,
            }
    return None
