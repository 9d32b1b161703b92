"""User mistakes on the command line end in one line on stderr and exit code 1 or 2, never
a traceback (npconv explain is tested on its own); refusals come before any work."""

import subprocess
import sys
import time

import pytest

import optional
from npconv.cli import main

torch = optional.load("torch", "needs_torch")

MISTAKES = [
    ["shape", "Conv2d(1,1,3,stride=99999999999999999999)", "--input", "1,1,5,5"],
    ["shape", "Conv2d(1,1,3,padding=4611686018427387000)", "--input", "1,1,5,5"],
    ["shape", "Unfold(3, padding=1000000000000)", "--input", "1,1,10,10"],
    ["shape", "Fold(5, 3)", "--input", "1,9,10"],
    ["shape", "ConvTranspose2d(1,1,3,stride=4611686018427387000)", "--input", "1,1,5,5"],
    ["shape", "Conv2d(1,1,[3,3,3])", "--input", "1,1,5,5"],
    ["shape", "Conv2d(1,1,3)", "--input", "1,1,5"],
    ["shape", "Conv2d(1,1,3)", "--input", ""],
    ["shape", "Conv2d(1,1,3", "--input", "1,1,5,5"],
    ["shape", "Conv2d(1,1,0)", "--input", "1,1,5,5"],
    ["shape", "Unfold((2,2), stride=(1,1,1))", "--input", "1,1,5,5"],
    ["shape", "LazyConv2d(1,3, groups=3)", "--input", "1,4,5,5"],
    ["shape", "Conv2d(" + "(" * 200 + "1" + ")" * 200 + ",1,3)", "--input", "1,1,5,5"],
    ["solve", "--input", "0", "--output", "5"],
    ["solve", "--input", "5,5", "--output", "5,5,5"],
    ["solve", "--input", "5", "--output", "3", "--channels", ",,"],
    ["solve", "--invert", "Conv2d(16,16,3,stride=2)", "--input", "1"],
    ["solve", "--invert", "Unfold(3)", "--input", "5"],
    ["solve", "--invert", "ConvTranspose2d(16,16,3, padding=4611686018427387000)", "--input", "5"],
    ["solve", "--input", "5", "--output", "3", "--limit", "-1"],
    ["demo", "--output", "/nonexistent/folder/x.png"],
    ["bench", "--suite", "/nonexistent/suite.json", "--smoke"],
    ["bench", "--threads", "0"],
    ["bench", "--smoke", "--peers", "nope"],
    ["bench", "--smoke", "--no-peers", "--cases", "nope"],
]


@pytest.mark.parametrize("argv", MISTAKES, ids=lambda argv: " ".join(argv)[:60])
def test_mistakes_give_one_line_and_no_traceback(capsys, argv):
    try:
        code = main(argv)
    except SystemExit as exit:  # argparse's usage errors
        code = exit.code
    err = capsys.readouterr().err
    assert code in (1, 2), err
    assert "Traceback" not in err and err.strip()


@pytest.mark.parametrize("flag", ["--json", "--markdown", "--plot"])
def test_bench_refuses_an_output_in_a_missing_folder_before_measuring(capsys, flag):
    start = time.perf_counter()
    code = main(
        ["bench", "--smoke", "--no-peers", "--no-first-call", flag, "/nonexistent/folder/out"]
    )
    captured = capsys.readouterr()
    assert code == 1 and "/nonexistent/folder" in captured.err and "does not exist" in captured.err
    assert captured.out == "" and "[1/" not in captured.err  # nothing was measured
    assert time.perf_counter() - start < 1.0


def test_bench_output_folder_mistake_in_a_subprocess():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "npconv.cli",
            "bench",
            "--smoke",
            "--no-peers",
            "--json",
            "/nonexistent/folder/x.json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1


@pytest.mark.needs_torch
@pytest.mark.parametrize(
    "layer, shape",
    [
        ("Unfold(3)", (1, 1000, 1000, 1000)),
        ("Unfold((2, 3), stride=2, padding=1)", (2, 3, 7, 9)),
        ("Fold((400, 500), 3)", (1, 18, 398 * 498)),
    ],
)
def test_shape_of_fold_and_unfold_comes_from_arithmetic(capsys, layer, shape):
    start = time.perf_counter()
    code = main(["shape", layer, "--input", ",".join(map(str, shape))])
    out = capsys.readouterr().out
    assert code == 0 and time.perf_counter() - start < 1.0
    # torch's shape for the same layer: on a meta tensor, which holds no data
    module = eval("torch.nn." + layer, {"torch": torch})
    expected = tuple(module(torch.empty(shape, device="meta")).shape)
    assert f"output  {expected}" in out
