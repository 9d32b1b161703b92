"""`npconv shape` against torch and against running the npconv layer: output shapes,
the formulas it prints (evaluated here), the output_size range, parameters, FLOPs,
and the library's own errors."""

import math
import re
import subprocess
import sys

import numpy as np
import pytest

import npconv
import optional
from npconv.cli import main
from npconv.cli._layer import parse_layer

torch = optional.load("torch", "needs_torch")

TORCH_NS = {name: getattr(torch.nn, name) for name in dir(torch.nn) if name[0].isupper()}
TORCH_NS["nn"] = torch.nn

# (layer, input shape): the seed documents' examples and a few more forms
CASES = [
    ("ConvTranspose2d(16, 33, (3, 5), stride=(2, 1), padding=(4, 2))", (20, 16, 50, 100)),
    ("nn.ConvTranspose2d(16, 33, 3, stride=2)", (20, 16, 50, 100)),
    ("Conv1d(16, 33, 3, stride=2)", (20, 16, 50)),
    ("Conv1d(16, 33, 5, stride=2)", (20, 16, 50)),
    ("Conv1d(16, 33, 3, stride=3)", (20, 16, 50)),
    ("Conv1d(16, 33, 3, stride=2, padding=2)", (20, 16, 50)),
    ("Conv1d(16, 33, 3, stride=2, dilation=3)", (20, 16, 50)),
    ("Conv1d(16, 33, 3, stride=2, bias=True)", (20, 16, 50)),
    ("Conv1d(16, 24, 3, stride=2)", (20, 16, 50)),
    ("Conv1d(16, 24, 3, stride=2, groups=2)", (20, 16, 50)),
    ("Conv2d(16, 33, 3, stride=2)", (20, 16, 50, 100)),
    ("Conv2d(16, 33, (3, 5), stride=(2, 1), padding=(4, 2))", (20, 16, 50, 100)),
    ("Conv2d(16, 33, (3, 5), stride=(2, 1), padding=(4, 2), dilation=(3, 1))", (20, 16, 50, 100)),
    ("Conv3d(16, 33, 3, stride=2)", (2, 16, 10, 50, 20)),
    ("Conv3d(16, 33, (3, 5, 2), stride=(2, 1, 1), padding=(4, 2, 0))", (2, 16, 10, 50, 20)),
    ("Conv2d(16, 16, 3, stride=2, padding=1)", (1, 16, 12, 12)),
    ("Conv2d(3, 8, 4, padding='same', padding_mode='reflect')", (2, 3, 9, 7)),
    ("Conv2d(3, 8, 3, padding='valid', bias=False)", (3, 9, 7)),
    ("ConvTranspose1d(4, 6, 4, stride=3, padding=1, output_padding=2, dilation=2)", (2, 4, 7)),
    ("ConvTranspose3d(4, 6, (2, 3, 3), stride=(1, 2, 2), groups=2)", (1, 4, 3, 4, 5)),
    ("LazyConv2d(8, 3, stride=2)", (2, 5, 11, 9)),
    ("LazyConvTranspose1d(8, 3, stride=2, output_padding=1)", (5, 11)),
]

FORMULA = re.compile(r"^\s*(\w+)_out = (.+) = (-?\d+)$")


def run_cli(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def output_line(out):
    return next(line for line in out.splitlines() if line.startswith("output "))


def torch_output_shape(layer, shape):
    module = eval(layer, {"__builtins__": {}}, TORCH_NS)
    with torch.no_grad():
        small = (1,) + shape[1:] if len(shape) == len(module.kernel_size) + 2 else shape
        y = module(torch.zeros(small))
    out = tuple(y.shape)
    return (shape[0],) + out[1:] if small != shape else out


@pytest.mark.needs_torch
@pytest.mark.parametrize("layer,shape", CASES, ids=[c[0] for c in CASES])
def test_shape_matches_torch_and_the_formulas(capsys, layer, shape):
    code, out, err = run_cli(capsys, "shape", layer, "--input", ",".join(map(str, shape)))
    assert code == 0, err
    printed = tuple(int(v) for v in re.findall(r"-?\d+", output_line(out)))
    assert printed == torch_output_shape(layer, shape)
    formulas = [FORMULA.match(line) for line in out.splitlines()]
    formulas = [m for m in formulas if m]
    spatial = printed[len(printed) - len(formulas) :]
    module = eval(layer, {"__builtins__": {}}, TORCH_NS)
    assert len(formulas) == len(module.kernel_size)
    for m, size in zip(formulas, spatial, strict=True):
        # the printed expression, evaluated here, gives the printed number and the real size
        value = eval(m.group(2).replace("floor", "_floor"), {"_floor": math.floor})
        assert value == int(m.group(3)) == size


@pytest.mark.parametrize(
    "layer,shape", [c for c in CASES if c[1][0] <= 2 or len(c[1]) < 4], ids=lambda v: str(v)
)
def test_shape_equals_running_the_npconv_layer(capsys, layer, shape):
    code, out, _ = run_cli(capsys, "shape", layer, "--input", ",".join(map(str, shape)))
    assert code == 0
    printed = tuple(int(v) for v in re.findall(r"-?\d+", output_line(out)))
    y = parse_layer(layer)(np.zeros(shape, np.float32))
    assert printed == y.shape


def test_seed_example_through_the_console_script():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "npconv.cli",
            "shape",
            "ConvTranspose2d(16, 33, (3, 5), stride=(2, 1), padding=(4, 2))",
            "--input",
            "20,16,50,100",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = [line.strip() for line in result.stdout.splitlines()]
    assert "output  (20, 33, 93, 100)" in lines
    assert "H_out = (50 - 1)*2 - 2*4 + 1*(3 - 1) + 0 + 1 = 93" in lines
    assert "W_out = (100 - 1)*1 - 2*2 + 1*(5 - 1) + 0 + 1 = 100" in lines
    assert result.stderr == ""


@pytest.mark.needs_torch
@pytest.mark.parametrize(
    "layer,shape",
    [
        ("ConvTranspose2d(16, 33, (3, 5), stride=(2, 1), padding=(4, 2))", (1, 16, 5, 6)),
        ("ConvTranspose1d(2, 2, 3, stride=3, dilation=2, padding=1)", (1, 2, 4)),
        ("ConvTranspose2d(2, 2, 3, stride=2, padding=1)", (1, 2, 6, 6)),
    ],
)
def test_output_size_range_is_what_torch_accepts(capsys, layer, shape):
    code, out, _ = run_cli(capsys, "shape", layer, "--input", ",".join(map(str, shape)))
    assert code == 0
    line = next(line for line in out.splitlines() if line.startswith("output_size"))
    ranges = [(int(a), int(b)) for a, b in re.findall(r"(\d+)\.\.(\d+)", line)]
    module = eval(layer, {"__builtins__": {}}, TORCH_NS)
    x = torch.zeros(shape)
    for dim, (lo, hi) in enumerate(ranges):
        others = [r[0] for r in ranges]
        for size in range(lo - 2, hi + 3):
            request = list(others)
            request[dim] = size
            try:
                with torch.no_grad():
                    module(x, output_size=request)
                accepted = True
            except (RuntimeError, ValueError):
                accepted = False
            assert accepted == (lo <= size <= hi), (dim, size)


@pytest.mark.needs_torch
@pytest.mark.parametrize(
    "layer,shape", CASES[:3] + CASES[10:13] + CASES[18:20], ids=lambda v: str(v)
)
def test_params_and_flops(capsys, layer, shape):
    code, out, _ = run_cli(capsys, "shape", layer, "--input", ",".join(map(str, shape)))
    assert code == 0
    module = eval(layer, {"__builtins__": {}}, TORCH_NS)
    params = int(re.search(r"^params  ([\d,]+)", out, re.M).group(1).replace(",", ""))
    assert params == sum(p.numel() for p in module.parameters())
    flops = int(re.search(r"^FLOPs   ([\d,]+)", out, re.M).group(1).replace(",", ""))
    out_shape = torch_output_shape(layer, shape)
    k = math.prod(module.kernel_size)
    per_group = module.in_channels // module.groups
    # every multiply-add counted once per pair (input cell, kernel cell) that meets
    positions = math.prod(shape[2:]) if module.transposed else math.prod(out_shape[2:])
    assert flops == 2 * shape[0] * per_group * module.out_channels * k * positions


@pytest.mark.needs_torch
def test_fold_and_unfold(capsys):
    code, out, _ = run_cli(
        capsys, "shape", "Unfold(kernel_size=(2, 3), padding=1)", "--input", "2,5,3,4"
    )
    assert code == 0
    expected = torch.nn.Unfold(kernel_size=(2, 3), padding=1)(torch.zeros(2, 5, 3, 4)).shape
    assert output_line(out) == f"output  {tuple(expected)}"
    code, out, _ = run_cli(
        capsys, "shape", "Fold(output_size=(4, 5), kernel_size=(2, 2))", "--input", "1,12,12"
    )
    assert code == 0
    expected = torch.nn.Fold((4, 5), (2, 2))(torch.zeros(1, 12, 12)).shape
    assert output_line(out) == f"output  {tuple(expected)}"
    assert "L = 3*4 = 12" in out


@pytest.mark.parametrize(
    "layer,shape",
    [
        ("Conv2d(16, 33, 3)", (20, 16, 2, 2)),  # kernel larger than input
        ("Conv2d(16, 33, 3)", (20, 3, 10, 10)),  # wrong channels
        ("Conv2d(16, 33, 3)", (10, 10)),  # wrong rank
        ("ConvTranspose2d(1, 1, 3, stride=2, output_padding=2)", (1, 1, 3, 3)),
        ("ConvTranspose1d(1, 1, 3, padding=5)", (1, 1, 2)),  # output too small
        ("Conv1d(2, 2, 3, padding=3, padding_mode='reflect')", (1, 2, 3)),
        ("Fold((4, 5), 2)", (1, 12, 11)),
    ],
)
def test_invalid_combination_prints_the_library_error(capsys, layer, shape):
    with pytest.raises((ValueError, TypeError)) as raised:
        parse_layer(layer)(np.zeros(shape, np.float32))
    code, out, err = run_cli(capsys, "shape", layer, "--input", ",".join(map(str, shape)))
    assert code == 1
    assert out == ""
    assert err.strip() == f"npconv shape: error: {raised.value}"


@pytest.mark.parametrize(
    "text,message",
    [
        ("Conv4d(1, 1, 3)", "unknown layer 'Conv4d'"),
        ("Conv2d(1, 1, x)", "only literal arguments"),
        ("Conv2d(1, 1, 3.5)", "only literal arguments"),
        ("Conv2d(1, 1, (lambda: 3)())", "only literal arguments"),
        ("__import__('os').system('echo hacked')", "unknown layer"),
        ("Conv2d(1, 1, 3", "cannot parse layer"),
        ("Conv2d", "expected a constructor call"),
        ("Conv2d(1, 1, 3, foo=2)", "bad arguments for Conv2d"),
        ("Conv2d(1, 1, *[3])", "*args are not allowed"),
        ("Conv2d(1, 1, 3, **{'stride': 2})", "**kwargs are not allowed"),
        ("Conv2d(1, 1, 3, stride=0)", "stride must be positive"),
        ("Conv2d(4, 4, 3, groups=3)", "divisible by groups"),
        ("Conv2d(100000, 100000, 9)", "refuses more than"),
        ("", "expected a layer"),
    ],
)
def test_bad_layer_strings_exit_1_with_a_clear_message(capsys, text, message):
    code, out, err = run_cli(capsys, "shape", text, "--input", "1,1,8,8")
    assert code == 1
    assert out == ""
    assert err.startswith("npconv shape: error: ") and message in err


def test_layer_strings_accept_the_usual_spellings():
    for text in (
        "nn.Conv2d(16, 33, 3)",
        "torch.nn.Conv2d(16, 33, 3)",
        "npconv.nn.Conv2d(16, 33, 3)",
        "  Conv2d(16, 33, kernel_size=[3, 3],)  ",
    ):
        layer = parse_layer(text)
        assert type(layer) is npconv.nn.Conv2d and layer.kernel_size == (3, 3)
    layer = parse_layer("Conv1d(2, 2, 3, padding=((1, -0),), bias=False, dtype=None)")
    assert layer.padding == ((1, 0),) and layer.bias is None


def test_bad_input_shape_exits_1(capsys):
    code, _, err = run_cli(capsys, "shape", "Conv1d(1, 1, 3)", "--input", "1,a,8")
    assert code == 1 and "--input must be sizes" in err


def test_help_and_usage_errors():
    result = subprocess.run(
        [sys.executable, "-m", "npconv.cli", "shape", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and "--input" in result.stdout
    result = subprocess.run(
        [sys.executable, "-m", "npconv.cli", "shape", "Conv1d(1, 1, 3)"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "--input" in result.stderr and result.stdout == ""
