"""npconv's benchmark: every suite case timed on npconv, torch, onnxruntime and jax.

All systems run in one process on the same seeded float32 data with the same
thread count; measure.py says how time, error, memory and the first call are
taken, systems.py how each system is called. Run it as `npconv bench` or

    python -m npconv.bench --json docs/bench.json --plot docs/bench.png \\
        --markdown docs/benchmarks-table.md

`--smoke` runs every case scaled down to tiny shapes once, to check that the
harness works (CI does), not to measure anything.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys

from ..compute import planner
from . import cases, measure, report, systems

DEFAULT_PEERS = ("torch", "ort", "jax")
SMOKE_PEERS = ("torch", "ort")  # jax costs seconds to import and compile
PEER_TOLERANCE = 1e-3  # a peer further than this from torch is noted as suspect
SGEMM = "sgemm"  # the yardstick's name among each case's timed calls
NPCONV_SYSTEMS = ("npconv", "measured")  # npconv itself, never a peer


def add_arguments(parser):
    """The benchmark's options, shared by `npconv bench` and `python -m npconv.bench`."""
    parser.add_argument("--cases", help="comma-separated case names (default: the whole suite)")
    parser.add_argument(
        "--peers",
        help=f"comma-separated peers among {','.join(DEFAULT_PEERS)} "
        f"(default: all; with --smoke: {','.join(SMOKE_PEERS)})",
    )
    parser.add_argument("--no-peers", action="store_true", help="time npconv alone")
    parser.add_argument(
        "--threads", type=int, default=2, help="threads for every system (default: 2)"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        help="timed runs per system, the median is reported (default: 9; 1 with --smoke)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="blocks per system, the systems taking turns; the --repeat runs "
        "are spread over them (default: 3)",
    )
    parser.add_argument(
        "--interleave",
        action="store_true",
        help="time the systems round by round instead of each in its own block",
    )
    parser.add_argument(
        "--smoke", action="store_true", help="tiny shapes, one run: checks the harness in seconds"
    )
    parser.add_argument(
        "--no-first-call",
        action="store_true",
        help="skip timing each case's first call in a fresh process",
    )
    parser.add_argument(
        "--planner",
        choices=("heuristic", "measure"),
        default="heuristic",
        help="npconv's planner mode: 'measure' times the algorithms in each "
        "case's warm-up call and runs the fastest (default: heuristic)",
    )
    parser.add_argument(
        "--measured",
        action="store_true",
        help="also time npconv with its measured planner ('measured' column; "
        "not a peer: the ratio stays npconv's heuristic against the peers)",
    )
    parser.add_argument(
        "--suite",
        metavar="FILE",
        help="a suite JSON file, or the name of one shipped in npconv/data: "
        "'suite' (the default: 21 layers) or 'zoo' (75 layers from 16 "
        "published models)",
    )
    parser.add_argument("--json", metavar="FILE", help="write the results as JSON")
    parser.add_argument("--markdown", metavar="FILE", help="write the table as Markdown")
    parser.add_argument("--plot", metavar="FILE", help="write a PNG chart of the ratios")
    return parser


def _names(text):
    return [name.strip() for name in text.split(",") if name.strip()] if text else []


def chosen_peers(options):
    if options.no_peers:
        return []
    peers = _names(options.peers) or list(SMOKE_PEERS if options.smoke else DEFAULT_PEERS)
    unknown = [peer for peer in peers if peer not in systems.PEERS]
    if unknown:
        raise ValueError(
            f"unknown peer(s) {', '.join(unknown)}; choose among {', '.join(systems.PEERS)}"
        )
    return peers


def setup(peers, threads, notes, planner_mode="heuristic", measured=False):
    """npconv and every peer that imports; a note for each one that does not."""
    ready = [systems.Npconv(threads, planner_mode)]
    if measured:
        ready.append(systems.NpconvMeasured(threads))
    for peer in peers:
        try:
            ready.append(systems.PEERS[peer](threads))
        except ImportError as error:
            notes.append(f"{peer}: not installed ({error.name or error}), skipped")
    return ready


def _geomean(values):
    values = [v for v in values if v]
    return math.exp(statistics.fmean(math.log(v) for v in values)) if values else None


def algorithm_names(ran):
    """The algorithms of a call's contractions, as a table cell: 'winograd', or for a
    backward pass 'input/weight' (e.g. 'mirror/winograd')."""
    by_op = {}
    for op, name in ran:
        by_op.setdefault(op, name)
    if not by_op:
        return "-"
    names = list(dict.fromkeys(by_op.values()))
    return "/".join(names)


def measure_case(case, ready, repeat, sgemm, threads, first_call=True, interleave=False, rounds=1):
    """One table row: every system's median time and npconv's rate, error and memory.
    sgemm is the yardstick's (call, flop), timed with the systems (measure.py)."""
    data = cases.make(case)
    calls, notes, outputs = {SGEMM: sgemm[0]}, {}, {}
    algorithm = None
    for system in ready:
        try:
            calls[system.name] = system.prepare(case, data)
            with planner.recording() as ran:
                outputs[system.name] = system.numpy(calls[system.name]())  # also the warm-up
            if system.name == "npconv":
                algorithm = algorithm_names(ran)
        except Exception as error:  # a peer failing on one case must not end the run
            if system.name == "npconv":
                raise
            calls.pop(system.name, None)
            if not isinstance(error, systems.Unsupported):
                notes[system.name] = f"{type(error).__name__}: {error}"
    reference = outputs.get("torch")
    errors = {
        name: measure.relative_error(out, reference)
        for name, out in outputs.items()
        if reference is not None and name != "torch"
    }
    del outputs
    ms = measure.median_times(
        calls,
        repeat,
        warmup=0 if interleave else 1,
        interleave=interleave,
        settle=0.25,
        rounds=rounds,
    )
    yardstick = sgemm[1] / (ms.pop(SGEMM) / 1e3) / 1e9
    peer_ms = {name: value for name, value in ms.items() if name not in NPCONV_SYSTEMS}
    best = min(peer_ms, key=peer_ms.get) if peer_ms else None
    gflops = case.flops / (ms["npconv"] / 1e3) / 1e9
    row = {
        "name": case.name,
        "op": case.op,
        "pass": case.pass_,
        "case": case.to_json(),
        "algorithm": algorithm,
        "gflop": case.flops / 1e9,
        "ms": ms,
        "best_peer": best,
        "ratio": ms["npconv"] / peer_ms[best] if best else None,
        "measured_ratio": (ms["measured"] / peer_ms[best] if best and "measured" in ms else None),
        "gflops": gflops,
        "sgemm_gflops": yardstick,
        "sgemm_fraction": gflops / yardstick,
        "max_error": errors.pop("npconv", None),
        "peer_errors": errors,
        "extra_mib": measure.peak_extra_bytes(calls["npconv"]) / 2**20,
        "first_call_ms": None,
        "import_ms": None,
        "notes": notes,
    }
    if first_call:
        fresh = measure.first_call(case, threads)
        if "error" in fresh:
            notes["first call"] = fresh["error"]
        row.update(first_call_ms=fresh.get("first_call_ms"), import_ms=fresh.get("import_ms"))
    return row


def run(options, out=None):
    """Measure the chosen cases, print the table, write the requested files; returns 0."""
    out = out or sys.stdout
    if options.threads < 1:
        raise ValueError(f"--threads must be at least 1, but got {options.threads}")
    repeat = options.repeat or (1 if options.smoke else 9)
    if repeat < 1:
        raise ValueError(f"--repeat must be at least 1, but got {repeat}")
    if options.rounds < 1:
        raise ValueError(f"--rounds must be at least 1, but got {options.rounds}")
    for flag, path in (
        ("--json", options.json),
        ("--markdown", options.markdown),
        ("--plot", options.plot),
    ):  # before minutes of measuring
        folder = os.path.dirname(os.path.abspath(path)) if path else None
        if folder and not os.path.isdir(folder):
            raise ValueError(f"{flag} {path!r}: the folder {folder!r} does not exist")
    chosen = cases.select(cases.load(options.suite), _names(options.cases))
    if options.smoke:
        chosen = [cases.shrink(case) for case in chosen]
    peers = chosen_peers(options)
    notes = []
    ready = setup(peers, options.threads, notes, options.planner, options.measured)
    try:
        sgemm_size = 256 if options.smoke else 2048
        sgemm = measure.sgemm_call(sgemm_size)
        rows = []
        for i, case in enumerate(chosen, 1):
            print(f"[{i}/{len(chosen)}] {case.name}", file=sys.stderr, flush=True)
            rows.append(
                measure_case(
                    case,
                    ready,
                    repeat,
                    sgemm,
                    options.threads,
                    not options.no_first_call,
                    options.interleave,
                    options.rounds,
                )
            )
    finally:
        for system in ready:
            system.close()
    for row in rows:
        notes += [f"{row['name']}: {name}: {message}" for name, message in row["notes"].items()]
        notes += [
            f"{row['name']}: {name} differs from torch by {error:.1e} (relative)"
            for name, error in row["peer_errors"].items()
            if error > PEER_TOLERANCE
        ]
    ratios = [row["ratio"] for row in rows if row["ratio"]]
    yardsticks = [row["sgemm_gflops"] for row in rows]
    imports = [row["import_ms"] for row in rows if row["import_ms"] is not None]
    result = {
        "settings": {
            "threads": options.threads,
            "repeat": repeat,
            "smoke": options.smoke,
            "interleave": options.interleave,
            "rounds": options.rounds,
            "peers": peers,
            "seed": cases.SEED,
            "planner": options.planner,
            "measured": options.measured,
        },
        "machine": measure.machine(),
        "versions": {system.name: system.version for system in ready},
        "sgemm": {
            "size": sgemm_size,
            "gflops": statistics.median(yardsticks) if yardsticks else None,
            "range": [min(yardsticks), max(yardsticks)] if yardsticks else None,
        },
        "import_ms": statistics.median(imports) if imports else None,
        "notes": notes,
        "rows": rows,
        "geomean_ratio": (
            math.exp(statistics.fmean(math.log(r) for r in ratios)) if ratios else None
        ),
        "ratio_count": len(ratios),
        "measured_geomean_ratio": _geomean([row.get("measured_ratio") for row in rows]),
        "measured_over_heuristic": _geomean(
            [row["ms"]["measured"] / row["ms"]["npconv"] for row in rows if "measured" in row["ms"]]
        ),
    }
    print(report.text(result), file=out)
    if options.json:
        report.write_json(result, options.json)
    if options.markdown:
        report.write_markdown(result, options.markdown)
    if options.plot:
        report.plot(result, options.plot)
    return 0


def main(argv=None):
    parser = add_arguments(
        argparse.ArgumentParser(prog="python -m npconv.bench", description=__doc__.splitlines()[0])
    )
    options = parser.parse_args(argv)
    try:
        return run(options)
    except (ValueError, OSError) as error:
        print(f"npconv bench: error: {error}", file=sys.stderr)
        return 1
