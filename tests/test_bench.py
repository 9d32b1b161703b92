"""The benchmark harness keeps working: smoke runs, its files, its suite. Never timings."""

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import npconv
import npconv.functional as F
from npconv import bench
from npconv.bench import cases
from npconv.cli import main as cli_main
from npconv.compute import tuning

ROOT = Path(__file__).resolve().parent.parent
HAS_TORCH = importlib.util.find_spec("torch") is not None
ROW_KEYS = {
    "name",
    "op",
    "pass",
    "case",
    "gflop",
    "ms",
    "best_peer",
    "ratio",
    "gflops",
    "sgemm_gflops",
    "sgemm_fraction",
    "max_error",
    "peer_errors",
    "extra_mib",
    "first_call_ms",
    "import_ms",
    "notes",
}


def test_packaged_zoo_is_the_repository_zoo():
    root = Path(__file__).parent.parent / "bench"
    assert [c.to_json() for c in cases.load("zoo")] == [
        c.to_json() for c in cases.load(root / "zoo.json")
    ]
    assert len(cases.load("zoo")) == 75


def test_packaged_suite_is_the_repository_suite():
    packaged = ROOT / "src" / "npconv" / "data" / "suite.json"
    assert packaged.read_bytes() == (ROOT / "bench" / "suite.json").read_bytes()
    assert [c.name for c in cases.load()] == [
        entry["name"] for entry in json.loads(packaged.read_text())["cases"]
    ]


def test_flops_follow_the_definition():
    by_name = {c.name: c for c in cases.load()}
    # transposed conv counts its input: 2 * N * Cin/groups * Cout * prod(k) * prod(input size)
    assert by_name["dcgan_g2"].flops == 2 * 64 * 512 * 256 * 4 * 4 * 4 * 4
    # conv counts its output, and a backward pass twice the forward
    assert by_name["resnet_3x3"].flops == 2 * 8 * 64 * 64 * 3 * 3 * 56 * 56
    assert by_name["resnet_3x3_bwd"].flops == 2 * by_name["resnet_3x3"].flops


@pytest.mark.parametrize("case", cases.load(), ids=lambda c: c.name)
def test_shrunk_cases_are_valid_calls_of_the_same_kind(case):
    small = cases.shrink(case)
    assert small.batch == 1 and math.prod(small.input_shape) <= 4096
    assert (small.kernel, small.stride, small.padding) == (case.kernel, case.stride, case.padding)
    assert (small.groups == small.in_channels) == (case.groups == case.in_channels)
    x, w, _, _ = cases.make(small)
    op = F.conv if small.op == "conv" else F.conv_transpose
    assert op(x, w, **small.options()).shape == small.output_shape


def test_smoke_run_in_process(tmp_path, capsys):
    names = ["vae_dec", "resnet_3x3_bwd"]
    files = {kind: tmp_path / f"bench.{kind}" for kind in ("json", "md", "png")}
    peers = ["--peers", "torch"] if HAS_TORCH else ["--no-peers"]
    code = bench.main(
        [
            "--smoke",
            "--cases",
            ",".join(names),
            *peers,
            "--json",
            str(files["json"]),
            "--markdown",
            str(files["md"]),
            "--plot",
            str(files["png"]),
        ]
    )
    assert code == 0
    table = capsys.readouterr().out
    assert "SGEMM" in table and "geometric mean" in table
    for name in names:
        assert f"\n{name} " in table
        assert f"| {name} |" in files["md"].read_text()
    result = json.loads(files["json"].read_text())
    assert {"settings", "machine", "versions", "sgemm", "rows", "geomean_ratio"} <= set(result)
    assert [row["name"] for row in result["rows"]] == names
    low, high = result["sgemm"]["range"]
    assert low <= result["sgemm"]["gflops"] <= high
    for row in result["rows"]:
        assert ROW_KEYS <= set(row)
        assert row["ms"]["npconv"] > 0 and row["extra_mib"] >= 0
        # the yardstick is timed with the case, and is not one of its systems
        assert "sgemm" not in row["ms"] and low <= row["sgemm_gflops"] <= high
        assert row["sgemm_fraction"] == pytest.approx(row["gflops"] / row["sgemm_gflops"])
        assert row["first_call_ms"] is not None, row["notes"]
        # the algorithms that ran, each a name the planner knows
        assert set(row["algorithm"].split("/")) <= set(npconv.algorithms())
        if HAS_TORCH:
            assert row["max_error"] < 1e-5 and row["ratio"] > 0
    from PIL import Image

    with Image.open(files["png"]) as image:
        assert image.format == "PNG"


def test_measured_planner_run_names_what_it_measured(capsys):
    code = bench.main(
        [
            "--smoke",
            "--cases",
            "dcgan_g5,vae_dec_bwd",
            "--no-peers",
            "--no-first-call",
            "--planner",
            "measure",
        ]
    )
    assert code == 0
    table = capsys.readouterr().out
    assert "planner: measure" in table
    assert npconv.get_planner() == "heuristic"  # restored after the run


def test_smoke_run_as_a_module():
    result = subprocess.run(
        [sys.executable, "-m", "npconv.bench", "--smoke", "--cases", "dcgan_g2", "--no-peers"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "\ndcgan_g2 " in result.stdout


def test_command_line_subcommand(capsys):
    assert (
        cli_main(["bench", "--smoke", "--cases", "unet_up1", "--no-peers", "--no-first-call"]) == 0
    )
    assert "unet_up1" in capsys.readouterr().out


def test_unknown_case_is_a_clear_error(capsys):
    assert bench.main(["--smoke", "--cases", "no_such_case", "--no-peers"]) == 1
    assert "unknown case(s) no_such_case" in capsys.readouterr().err


def test_relative_error_is_scaled_by_the_reference():
    reference = [np.array([2.0, -4.0], np.float32)]
    assert bench.measure.relative_error([np.array([2.0, -3.0], np.float32)], reference) == 0.25


def test_blocks_take_turns_and_cover_the_repeats():
    log = []
    calls = {name: (lambda name=name: log.append(name)) for name in ("a", "b", "c")}
    ms = bench.measure.median_times(calls, repeat=7, warmup=1, settle=0, rounds=3, warm=0)
    assert set(ms) == {"a", "b", "c"}
    # three blocks each: a warm-up then ceil(7 / 3) = 3 timed calls; the order rotates
    blocks = [log[i : i + 4] for i in range(0, len(log), 4)]
    assert [block[0] for block in blocks] == list("abcbcacab")
    assert all(len(set(block)) == 1 and len(block) == 4 for block in blocks)


def test_extra_memory_counts_the_work_buffers_kept_between_calls():
    """A strided conv gathers its columns (positions x taps x channels) into work buffers its
    threads keep; a warm call allocates none, yet the harness must count them."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 16, 32, 32), dtype=np.float32)
    w = rng.standard_normal((32, 16, 3, 3), dtype=np.float32)
    call = lambda: [F.conv(x, w, None, stride=2, padding=1)]  # noqa: E731
    call()  # the buffers now exist
    columns = 2 * 16 * 16 * (9 * 16) * 4  # both samples' windows
    assert bench.measure.peak_extra_bytes(call) >= columns // 2  # at least one tile's


def test_bounds_products_count_the_case_flops():
    """bench/bounds.py's im2col products of every zoo pass do exactly the case's
    multiply-adds (cases.Case.flops counts them from npconv.shapes, independently)."""
    spec = importlib.util.spec_from_file_location(
        "bounds", Path(__file__).parent.parent / "bench" / "bounds.py"
    )
    bounds = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bounds)
    for case in cases.load("zoo"):
        macs = sum(g * r * i * c for _, g, r, i, c in bounds.products(case))
        assert 2 * macs == case.flops, case.name


def test_machine_record_names_numpys_blas_and_what_forced_its_kernels(monkeypatch):
    from threadpoolctl import threadpool_info

    from npconv.bench import measure, report

    found = next(lib for lib in threadpool_info() if lib["user_api"] == "blas")
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Prescott")
    record = measure.machine()["blas"]
    assert record["library"] == found["internal_api"] and record["version"] == found["version"]
    assert record["kernels"] == found.get("architecture")
    line = report._blas_line(record)
    if found["internal_api"] == "openblas":
        assert record["forced_by_environment"] == "Prescott"
        assert "OPENBLAS_CORETYPE=Prescott" in line
    monkeypatch.delenv("OPENBLAS_CORETYPE")
    assert "OPENBLAS_CORETYPE" not in report._blas_line(measure.machine()["blas"])
    assert report._blas_line(None) == "NumPy's BLAS: unknown"


def test_depthwise_layouts_script_times_both_layouts(capsys):
    """bench/depthwise_layouts.py runs its first layer both ways and restores the
    thresholds it forces (a smoke run: no timing is asserted)."""
    spec = importlib.util.spec_from_file_location(
        "depthwise_layouts", Path(__file__).parent.parent / "bench" / "depthwise_layouts.py"
    )
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    before = (tuning.FLAT_WEIGHTS, tuning.FLAT_TAPS, tuning.FLAT_RUN)
    threads = npconv.get_num_threads()
    try:
        script.main(["--layers", "1", "--rounds", "1", "--runs", "1024,4096"])
    finally:
        npconv.set_num_threads(threads)
    assert (tuning.FLAT_WEIGHTS, tuning.FLAT_TAPS, tuning.FLAT_RUN) == before
    out = capsys.readouterr().out
    assert "flat 1024 / planes" in out and "(8, 960, (7, 7), 3, 1) | 9 | 2 KiB" in out
