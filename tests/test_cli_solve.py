"""`npconv solve`: every answer is built (in torch and in npconv) and run on an input of
the given size; the listing is compared with a brute-force search written here; and
--invert restores the seed example's 12x12 input."""

import re
import subprocess
import sys

import numpy as np
import pytest

import optional
from npconv.cli import main
from npconv.cli._layer import parse_layer

torch = optional.load("torch", "needs_torch")

TORCH_NS = {name: getattr(torch.nn, name) for name in dir(torch.nn) if name[0].isupper()}


def run_cli(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def answers(out):
    """The layer strings of a listing: every line that is not a '#' comment."""
    return [
        line.split("  #")[0].strip()
        for line in out.splitlines()
        if line and not line.startswith("#")
    ]


def torch_size(layer, size):
    module = eval(layer, {"__builtins__": {}}, TORCH_NS)
    with torch.no_grad():
        return tuple(module(torch.zeros((1, 1) + size)).shape[2:])


def brute_force(
    size, out, transposed, kernels=range(1, 8), strides=range(1, 5), dilations=range(1, 4)
):
    """Every (kernel, stride, padding, output_padding, dilation) by trying paddings."""
    found = set()
    for k in kernels:
        for s in strides:
            for d in dilations:
                if k == 1 and d > 1:
                    continue
                for p in range(3 * (size + out) + 3 * k * d + out * s):
                    if transposed:
                        for op in range(max(s, d)):
                            # the last output index any (input, kernel) pair reaches, plus one
                            last = (size - 1) * s + (k - 1) * d - 2 * p + op
                            if last + 1 == out:
                                found.add((k, s, p, op, d))
                    else:
                        # window starts that fit in the padded input
                        count = len(range(0, size + 2 * p - (k - 1) * d, s))
                        if count == out:
                            found.add((k, s, p, 0, d))
    return found


def parameters(layer):
    m = parse_layer(layer)
    pad = m.padding[0]
    op = m.output_padding[0] if m.transposed else 0
    return (m.kernel_size[0], m.stride[0], pad, op, m.dilation[0])


@pytest.mark.needs_torch
@pytest.mark.parametrize(
    "size,out,transposed",
    [
        (6, 12, True),
        (12, 6, False),
        (7, 7, False),
        (5, 11, True),
        (16, 5, False),
        (3, 3, True),
    ],
)
def test_every_answer_maps_input_to_output(capsys, size, out, transposed):
    argv = [
        "solve",
        "--input",
        str(size),
        "--output",
        str(out),
        "--channels",
        "1,1",
        "--limit",
        "0",
    ] + (["--transposed"] if transposed else [])
    code, text, err = run_cli(capsys, *argv)
    assert code == 0, err
    layers = answers(text)
    assert layers
    # all of them, in torch: the independent oracle
    for layer in layers:
        assert torch_size(layer, (size,)) == (out,), layer
    # and complete: exactly the brute-force set, each once
    listed = [parameters(layer) for layer in layers]
    assert len(listed) == len(set(listed))
    assert set(listed) == brute_force(size, out, transposed)
    # simplest first: fewest keywords, then the smallest total
    keys = []
    for k, s, p, op, d in listed:
        keywords = (s != 1) + (p != 0) + (op != 0) + (d != 1)
        keys.append((keywords, k + s + p + op + d))
    assert keys == sorted(keys)


def test_some_answers_also_run_in_npconv(capsys):
    code, text, _ = run_cli(
        capsys,
        "solve",
        "--input",
        "6",
        "--output",
        "12",
        "--transposed",
        "--channels",
        "2,3",
        "--limit",
        "8",
    )
    assert code == 0
    for layer in answers(text):
        assert parse_layer(layer)(np.zeros((1, 2, 6), np.float32)).shape == (1, 3, 12)


def test_the_documented_order_for_6_to_12(capsys):
    code, text, _ = run_cli(
        capsys, "solve", "--input", "6", "--output", "12", "--transposed", "--limit", "8"
    )
    assert code == 0
    layers = answers(text)
    assert layers[:2] == ["ConvTranspose1d(C, C, 7)", "ConvTranspose1d(C, C, 2, stride=2)"]
    assert "ConvTranspose1d(C, C, 4, stride=2, padding=1)" in layers
    assert len(layers) == 8
    assert re.search(r"^# 8 of \d+ shown", text, re.M)


def test_fixed_kernel_stride_and_dilation(capsys):
    code, text, _ = run_cli(
        capsys,
        "solve",
        "--input",
        "12",
        "--output",
        "6",
        "--kernel",
        "3",
        "--stride",
        "2",
        "--dilation",
        "1",
        "--channels",
        "1,1",
    )
    assert code == 0
    assert answers(text) == ["Conv1d(1, 1, 3, stride=2, padding=1)"]
    code, text, _ = run_cli(
        capsys,
        "solve",
        "--input",
        "12",
        "--output",
        "6",
        "--kernel",
        "3",
        "--stride",
        "2",
        "--channels",
        "1,1",
    )
    assert code == 0
    assert set(map(parameters, answers(text))) == brute_force(12, 6, False, [3], [2])


@pytest.mark.needs_torch
@pytest.mark.parametrize(
    "size,out,transposed",
    [
        ((50, 100), (93, 100), True),
        ((12, 9), (6, 9), False),
        ((4, 4, 4), (8, 8, 8), True),
    ],
)
def test_several_dims(capsys, size, out, transposed):
    argv = [
        "solve",
        "--input",
        ",".join(map(str, size)),
        "--output",
        ",".join(map(str, out)),
        "--channels",
        "1,1",
        "--limit",
        "10",
    ] + (["--transposed"] if transposed else [])
    code, text, err = run_cli(capsys, *argv)
    assert code == 0, err
    layers = answers(text)
    assert len(layers) == 10
    for layer in layers:
        assert layer.startswith(("ConvTranspose" if transposed else "Conv") + f"{len(size)}d(")
        assert torch_size(layer, size) == out, layer


@pytest.mark.needs_torch
def test_invert_the_seed_downsample(capsys):
    code, text, err = run_cli(
        capsys, "solve", "--invert", "Conv2d(16, 16, 3, stride=2, padding=1)", "--input", "12"
    )
    assert code == 0, err
    assert "maps 12 x 12 to 6 x 6" in text
    up = "ConvTranspose2d(16, 16, 3, stride=2, padding=1, output_padding=1)"
    assert f"{up} maps 6 x 6 back to 12 x 12" in text
    assert "output_size=(12, 12)" in text
    # the seed example, in torch: downsample then upsample restores the 12 x 12 input
    x = torch.zeros(1, 16, 12, 12)
    down = torch.nn.Conv2d(16, 16, 3, stride=2, padding=1)
    with torch.no_grad():
        h = down(x)
        assert eval(up, {"__builtins__": {}}, TORCH_NS)(h).shape == x.shape
        plain = torch.nn.ConvTranspose2d(16, 16, 3, stride=2, padding=1)
        assert plain(h, output_size=(12, 12)).shape == x.shape


@pytest.mark.needs_torch
@pytest.mark.parametrize(
    "layer,size",
    [
        ("Conv1d(4, 8, 5, stride=3, padding=2, dilation=2)", (23,)),
        ("Conv2d(3, 6, (3, 4), stride=(2, 3), groups=3)", (17, 20)),
        ("Conv3d(2, 2, 3, stride=2)", (9, 10, 11)),
    ],
)
def test_invert_restores_the_input_size(capsys, layer, size):
    code, text, err = run_cli(
        capsys, "solve", "--invert", layer, "--input", ",".join(map(str, size))
    )
    assert code == 0, err
    back = next(line.split(" maps ")[0] for line in text.splitlines() if " back to " in line)
    forward = eval(layer, {"__builtins__": {}}, TORCH_NS)
    inverse = eval(back, {"__builtins__": {}}, TORCH_NS)
    with torch.no_grad():
        x = torch.zeros((1, forward.in_channels) + size)
        assert inverse(forward(x)).shape == x.shape


@pytest.mark.needs_torch
def test_invert_a_transposed_conv(capsys):
    layer = "ConvTranspose2d(16, 33, (3, 5), stride=(2, 1), padding=(4, 2))"
    code, text, _ = run_cli(capsys, "solve", "--invert", layer, "--input", "50,100")
    assert code == 0
    back = next(line.split(" maps ")[0] for line in text.splitlines() if " back to " in line)
    assert back.startswith("Conv2d(33, 16, ")
    with torch.no_grad():
        y = eval(layer, {"__builtins__": {}}, TORCH_NS)(torch.zeros(1, 16, 50, 100))
        assert eval(back, {"__builtins__": {}}, TORCH_NS)(y).shape == (1, 16, 50, 100)


def test_no_solution_exits_1(capsys):
    code, out, err = run_cli(
        capsys,
        "solve",
        "--input",
        "6",
        "--output",
        "100",
        "--transposed",
        "--max-kernel",
        "2",
        "--max-stride",
        "2",
        "--max-dilation",
        "1",
    )
    assert code == 1 and out == ""
    assert "no transposed conv with kernel 1..2, stride 1..2 and dilation 1 maps 6 to 100" in err


def test_errors_and_usage(capsys):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "npconv.cli",
            "solve",
            "--input",
            "6",
            "--output",
            "12",
            "--transposed",
            "--limit",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and len(answers(result.stdout)) == 2
    for argv in (["--help"], ["--input", "6"], ["--input", "6", "--output", "3", "--kernel", "0"]):
        with pytest.raises(SystemExit) as exited:
            main(["solve", *argv])
        assert exited.value.code == (0 if argv == ["--help"] else 2)
    capsys.readouterr()
    code, _, err = run_cli(capsys, "solve", "--invert", "Conv2d(1, 1, 3", "--input", "6")
    assert code == 1 and "cannot parse layer" in err
    code, _, err = run_cli(capsys, "solve", "--input", "6", "--output", "0")
    assert code == 1 and "positive" in err


# --- bounded work: the simplest answers without the others, and refusals from counts ----


@pytest.mark.parametrize(
    "size,out,transposed,limit",
    [
        (6, 12, True, 5),
        (12, 6, False, 7),
        (16, 5, False, 1),
        (5, 11, True, 40),
        (7, 7, False, 3),
    ],
)
def test_limited_search_finds_the_simplest_answers(size, out, transposed, limit):
    from npconv import shapes

    expected = sorted(
        brute_force(size, out, transposed), key=lambda a: shapes.simplicity(shapes.Solution(*a))
    )
    ranges = (range(1, 8), range(1, 5), range(1, 4))
    found = shapes.solve(size, out, transposed, *ranges, limit=limit)
    assert [tuple(a) for a in found] == expected[:limit]
    assert shapes.count_solutions(size, out, transposed, *ranges) == len(expected)


def _timed(capsys, *argv):
    import time

    start = time.perf_counter()
    code, out, err = run_cli(capsys, *argv)
    return code, out, err, time.perf_counter() - start


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["--max-kernel", "1000000", "--max-stride", "1000000"],
            "would try 2,999,998,000,000 (kernel, stride, dilation) combinations per dim",
        ),
        (
            ["--max-kernel", "100", "--max-stride", "100", "--limit", "0"],
            "754,869 layers map 56 to 28",
        ),
    ],
)
def test_oversized_searches_are_refused_at_once_with_the_sizes(capsys, argv, message):
    code, out, err, seconds = _timed(capsys, "solve", "--input", "56", "--output", "28", *argv)
    assert code == 1 and out == "" and message in err
    assert seconds < 1.0


def test_too_many_combinations_of_dims_are_refused(capsys):
    code, _, err, seconds = _timed(
        capsys, "solve", "--input", "56,56,56", "--output", "28,28,28", "--limit", "100"
    )
    assert code == 1 and "89 x 89 x 89 = 704,969 combinations" in err
    assert seconds < 1.0


def test_a_larger_search_lists_the_simplest_and_counts_the_rest(capsys):
    from npconv import shapes

    code, out, _ = run_cli(
        capsys,
        "solve",
        "--input",
        "20",
        "--output",
        "9",
        "--max-kernel",
        "30",
        "--max-stride",
        "30",
        "--limit",
        "6",
        "--channels",
        "1,1",
    )
    expected = sorted(
        brute_force(20, 9, False, range(1, 31), range(1, 31), range(1, 4)),
        key=lambda a: shapes.simplicity(shapes.Solution(*a)),
    )
    assert code == 0
    assert f"# 6 of {len(expected):,} shown" in out
    assert [parameters(layer) for layer in answers(out)] == expected[:6]


def test_large_solve_in_a_subprocess_finishes_in_time():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "npconv.cli",
            "solve",
            "--input",
            "56",
            "--output",
            "28",
            "--max-kernel",
            "1000",
            "--max-stride",
            "1000",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "npconv solve tries at most 100,000" in result.stderr
