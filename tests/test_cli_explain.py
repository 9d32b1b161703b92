"""`npconv explain`: the steps it shows against index arithmetic written here, the values
against torch, and the GIF/PNG/SVG it writes opened (Pillow, xml.etree) and read back.

For output cell o and kernel offset j (per spatial dim), the canvas cell under the
kernel is o*stride + j*dilation for a conv and o + j*dilation for a transposed conv;
the input cell it holds is i = c - padding (conv) or (c - border)/stride with
border = dilation*(kernel-1) - padding (transposed, when that divides).
"""

import itertools
import math
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import optional
from npconv import explain, nn
from npconv.cli import main

torch = optional.load("torch", "needs_torch")

TORCH_NS = {name: getattr(torch.nn, name) for name in dir(torch.nn) if name[0].isupper()}
SEED = "ConvTranspose2d(1, 1, 3, stride=2, padding=1)"


def run_cli(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def torch_output(layer, size):
    """The layer on the example values, in torch: input 1..n, weight 1..K, no bias."""
    module = eval(layer, {"__builtins__": {}}, TORCH_NS).double()
    kernel = tuple(module.kernel_size)
    with torch.no_grad():
        module.weight.copy_(
            torch.arange(1, math.prod(kernel) + 1, dtype=torch.float64).reshape((1, 1) + kernel)
        )
        module.bias.zero_()
        x = torch.arange(1, math.prod(size) + 1, dtype=torch.float64).reshape((1, 1) + size)
        return module(x)[0, 0].numpy()


def geometry(layer):
    m = eval(layer, {"__builtins__": {}}, TORCH_NS)
    n = len(m.kernel_size)
    op = tuple(m.output_padding) if m.transposed else (0,) * n
    return m.transposed, m.kernel_size, m.stride, m.padding, m.dilation, op


def canvas_cells(layer, o):
    """The canvas cells under the kernel for output cell o, by the rule in the docstring."""
    transposed, kernel, stride, _, dilation, _ = geometry(layer)
    per_dim = [
        [(oi if transposed else oi * s) + j * d for j in range(k)]
        for oi, k, s, d in zip(o, kernel, stride, dilation, strict=True)
    ]
    return set(itertools.product(*per_dim))


def products(layer, size, o):
    """Sorted (input value, weight value) pairs meeting at output cell o, from scratch."""
    transposed, kernel, stride, padding, dilation, _ = geometry(layer)
    x = np.arange(1, math.prod(size) + 1).reshape(size)
    w = np.arange(1, math.prod(kernel) + 1).reshape(kernel)
    found = []
    for i in np.ndindex(size):
        for k in np.ndindex(kernel):
            if transposed:  # input i, kernel k land on output i*s + k*d - p
                hit = all(
                    ii * s + kk * d - p == oo
                    for ii, kk, s, d, p, oo in zip(i, k, stride, dilation, padding, o, strict=True)
                )
            else:  # output o reads input o*s + k*d - p
                hit = all(
                    oo * s + kk * d - p == ii
                    for ii, kk, s, d, p, oo in zip(i, k, stride, dilation, padding, o, strict=True)
                )
            if hit:
                found.append((int(x[i]), int(w[k])))
    return sorted(found)


TEXT_CASES = [
    (SEED, (3, 3)),
    ("ConvTranspose2d(1, 1, 3, stride=2, padding=1, output_padding=1)", (3, 3)),
    ("ConvTranspose2d(1, 1, (2, 3), stride=(3, 1), dilation=(1, 2))", (2, 3)),
    ("ConvTranspose1d(1, 1, 4, stride=3, padding=2, dilation=2, output_padding=2)", (4,)),
    ("Conv2d(1, 1, 3, stride=2, padding=1)", (5, 5)),
    ("Conv2d(1, 1, (2, 3), stride=(1, 2), padding=(1, 0), dilation=(2, 1))", (4, 5)),
    ("Conv1d(1, 1, 3, stride=2, padding=2, dilation=3)", (9,)),
    ("Conv1d(16, 33, 3, stride=2)", (7,)),  # channels are reduced to one
]


def equations(out):
    found = {}
    for line in out.splitlines():
        m = re.match(r"^out\[([\d, ]+)\] = (\d+\*\d+(?: \+ \d+\*\d+)*) = (\d+)$", line)
        if m:
            o = tuple(int(v) for v in m.group(1).split(","))
            terms = sorted(tuple(int(v) for v in t.split("*")) for t in m.group(2).split(" + "))
            found[o] = (terms, int(m.group(3)))
        m = re.match(r"^out\[([\d, ]+)\] = 0 \(every cell", line)
        if m:
            found[tuple(int(v) for v in m.group(1).split(","))] = ([], 0)
    return found


@pytest.mark.needs_torch
@pytest.mark.parametrize("layer,size", TEXT_CASES, ids=[c[0] for c in TEXT_CASES])
def test_text_shows_every_output_cell_with_the_right_products(capsys, layer, size):
    code, out, err = run_cli(
        capsys, "explain", layer, "--input", ",".join(map(str, size)), "--width", "120"
    )
    assert code == 0, err
    expected = torch_output(re.sub(r"\((\d+), (\d+),", "(1, 1,", layer, count=1), size)
    found = equations(out)
    assert set(found) == set(np.ndindex(expected.shape))
    for o, (terms, value) in found.items():
        assert terms == products(layer, size, o)
        assert sum(a * b for a, b in terms) == value == expected[o]
    # the final grid, as printed, is torch's output
    grid = out.rstrip().split("computes it:\n")[1].splitlines()
    printed = np.array([[float(v) for v in row.split()] for row in grid])
    np.testing.assert_array_equal(printed, expected.reshape(printed.shape))


@pytest.mark.needs_torch
def test_text_marks_the_cells_under_the_kernel(capsys):
    code, out, _ = run_cli(capsys, "explain", SEED, "--input", "3,3", "--width", "40")
    assert code == 0
    blocks = out.split("\n\n")
    for o in np.ndindex(5, 5):
        title = f"out[{o[0]}, {o[1]}] = "
        block = next(b for b in blocks if b.startswith(title)).splitlines()[1:]
        marked = {
            (r, c)
            for r, row in enumerate(block)
            for c, cell in enumerate(re.findall(r"[\[ ].{1}[\] ]", row))
            if cell[0] == "["
        }
        assert marked == canvas_cells(SEED, o)


def build(layer, size, **options):
    return explain.build(build_layer(layer), size, **options)


def dominant(image, box):
    """The most common colour inside a box (its fill: the text covers less of it)."""
    inner = image.crop((box.x + 2, box.y + 2, box.x + box.size - 2, box.y + box.size - 2))
    return max(inner.getcolors(maxcolors=inner.width * inner.height))[1]


def check_frame(image, e, index, layer, lay, origin=(0, 0)):
    """The highlighted canvas cells and output cells of one drawn frame."""
    boxes, _ = explain.frame(e, index, lay)
    highlight = {explain.COLORS[name] for name in explain.HIGHLIGHT}
    o = tuple(np.ndindex(e.output.shape))[index] if e.ndim < 3 else e.steps[index].output
    marked, current, done = set(), set(), set()
    for box in boxes:
        shifted = box._replace(x=box.x + origin[0], y=box.y + origin[1])
        color = dominant(image, shifted)
        if box.role == "canvas" and color in highlight:
            marked.add(box.pos)
        if box.role == "output" and color == explain.COLORS["output_current"]:
            current.add(box.pos)
        if box.role == "output" and color == explain.COLORS["output_done"]:
            done.add(box.pos)
    assert marked == canvas_cells(layer, o)
    assert current == {o}
    return done


@pytest.mark.needs_torch
def test_gif_of_the_seed_example(tmp_path):
    from PIL import Image

    path = tmp_path / "seed.gif"
    code = main(["explain", SEED, "--input", "3,3", "-o", str(path)])
    assert code == 0
    e = build(SEED, (3, 3))
    lay = explain.layout(e)
    with Image.open(path) as gif:
        assert gif.n_frames == 25 == e.output.size
        for index in range(gif.n_frames):
            gif.seek(index)
            frame = gif.convert("RGB")
            assert frame.size == (lay.width, lay.height)
            done = check_frame(frame, e, index, SEED, lay)
            assert len(done) == index  # every earlier cell is filled in
    np.testing.assert_array_equal(e.output, torch_output(SEED, (3, 3)))


@pytest.mark.needs_torch
@pytest.mark.parametrize(
    "layer,size",
    [
        ("Conv1d(1, 1, 3, stride=2, padding=1, dilation=2)", (7,)),
        ("ConvTranspose2d(1, 1, 2, stride=2, output_padding=1)", (2, 2)),
    ],
)
def test_png_grid_has_every_step(tmp_path, layer, size):
    from PIL import Image

    path = tmp_path / "steps.png"
    assert main(["explain", layer, "--input", ",".join(map(str, size)), "-o", str(path)]) == 0
    e = build(layer, size)
    lay = explain.layout(e)
    columns = explain.grid_columns(e)
    with Image.open(path) as png:
        sheet = png.convert("RGB")
    assert sheet.size == (columns * lay.width, math.ceil(e.output.size / columns) * lay.height)
    for index in range(e.output.size):
        origin = explain.tile_origin(e, index, lay)
        check_frame(sheet, e, index, layer, lay, origin)


SVG_CASES = [
    (SEED, (3, 3)),
    ("Conv2d(1, 1, 2, padding=1, padding_mode='reflect')", (3, 3)),
    ("Conv2d(1, 1, 3, padding='same', dilation=2)", (4, 5)),
    ("Conv3d(1, 1, (2, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))", (3, 4, 5)),
    ("ConvTranspose3d(1, 1, 2, stride=2)", (2, 2, 2)),
]


@pytest.mark.needs_torch
@pytest.mark.parametrize("layer,size", SVG_CASES, ids=[c[0] for c in SVG_CASES])
def test_svg_parses_and_matches_the_arithmetic(tmp_path, layer, size):
    path = tmp_path / "steps.svg"
    code = main(["explain", layer, "--input", ",".join(map(str, size)), "-o", str(path)])
    assert code == 0
    root = ET.parse(path).getroot()
    ns = {"svg": "http://www.w3.org/2000/svg"}
    steps = root.findall("svg:g[@class='step']", ns)
    expected = torch_output(layer, size)
    n = len(size)
    cells = list(np.ndindex(expected.shape))
    if n == 3:  # the middle depth slice of the output
        cells = [c for c in cells if c[0] == expected.shape[0] // 2]
    assert len(steps) == len(cells)
    padding = eval(layer, {"__builtins__": {}}, TORCH_NS).padding
    for step, o in zip(steps, cells, strict=True):
        assert tuple(int(v) for v in step.get("data-output").split(",")) == o
        assert float(step.get("data-value")) == expected[o]
        rects = step.findall("svg:rect[@data-role='canvas']", ns)
        marked = {
            tuple(int(v) for v in r.get("data-pos").split(","))
            for r in rects
            if "highlight" in r.get("class").split()
        }
        if padding == "same":  # dilation 2, kernel 3: (2, 2) per dim, as torch splits it
            assert marked == canvas_cells(layer.replace("'same'", "2"), o)
        else:
            assert marked == canvas_cells(layer, o)
    # the last step shows the whole output, labelled with torch's values
    last = steps[-1].findall("svg:rect[@data-role='output']", ns)
    labels = {
        tuple(int(v) for v in r.get("data-pos").split(",")): r.get("data-label") for r in last
    }
    assert labels == {o: str(int(expected[o])) for o in cells}


@pytest.mark.needs_torch
def test_3d_explains_the_requested_depth_slice(capsys):
    layer = "Conv3d(1, 1, 2, stride=(2, 1, 1))"
    code, out, _ = run_cli(capsys, "explain", layer, "--input", "5,3,3", "--depth", "0")
    assert code == 0
    found = equations(out)
    assert set(found) == {(0, i, j) for i in range(2) for j in range(2)}
    expected = torch_output(layer, (5, 3, 3))
    for o, (terms, value) in found.items():
        assert terms == products(layer, (5, 3, 3), o) and value == expected[o]
    code, _, err = run_cli(capsys, "explain", layer, "--input", "5,3,3", "--depth", "2")
    assert code == 1 and "depth must be in 0..1" in err


def test_without_pillow_images_fail_clearly_and_text_works(capsys, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "PIL", None)
    code, out, err = run_cli(
        capsys, "explain", SEED, "--input", "3,3", "-o", str(tmp_path / "x.gif")
    )
    assert code == 1 and out == ""
    assert "pip install 'npconv[viz]'" in err
    assert not (tmp_path / "x.gif").exists()
    code, out, _ = run_cli(capsys, "explain", SEED, "--input", "3,3")
    assert code == 0 and "out[4, 4] = 9*5 = 45" in out


@pytest.mark.parametrize(
    "argv,message",
    [
        (["Unfold(2)", "--input", "4,4"], "explain draws Conv and ConvTranspose layers"),
        (["Conv2d(1, 1, 3)", "--input", "30"], "more than the limit of 144"),
        (["Conv2d(1, 1, 3)", "--input", "2,2"], "Kernel size can't be greater than actual input"),
        (["Conv2d(1, 1, 3)", "--input", "4,4", "-o", "x.jpg"], "use a .gif, .png, .svg or .html"),
        (["ConvNd(1, 1, (2, 2, 2, 2))", "--input", "3"], "1-, 2- and 3-d layers"),
        (
            ["ConvTranspose1d(1, 1, 3, padding_mode='reflect')", "--input", "4"],
            "padding_mode='zeros'",
        ),
        (["Conv2d(1, 1, 3)", "--input", "4,4,4,4,4"], "--input needs 1 or 2 spatial sizes"),
        (["Conv2d(1, 1 3)", "--input", "4"], "cannot parse layer"),
    ],
)
def test_errors_exit_1(capsys, argv, message):
    code, out, err = run_cli(capsys, "explain", *argv)
    assert code == 1 and out == ""
    assert err.startswith("npconv explain: error: ") and message in err


def test_console_script(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "npconv.cli",
            "explain",
            SEED,
            "--input",
            "3",
            "-o",
            str(tmp_path / "seed.svg"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "25 steps" in result.stdout
    ET.parse(tmp_path / "seed.svg")
    result = subprocess.run(
        [sys.executable, "-m", "npconv.cli", "explain", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and "--input" in result.stdout
    result = subprocess.run(
        [sys.executable, "-m", "npconv.cli", "explain", SEED],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "--input" in result.stderr


# --- budgets: every request too large is refused from its sizes alone, at once ----------------


def run_process(*argv, cwd=None):
    """The npconv command in a fresh process: (exit code, stderr, seconds)."""
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "npconv.cli", "explain", *argv],
        capture_output=True,
        text=True,
        timeout=10,
        cwd=cwd,
        check=False,
    )
    return result.returncode, result.stderr, time.perf_counter() - start


REFUSALS = [
    (["Conv1d(1, 1, 3)", "--input", "100000000"], "99,999,998 cells to explain"),
    (["Conv1d(1, 1, 3)", "--input", "1000000000000"], "999,999,999,998 cells to explain"),
    (
        ["Conv1d(1, 1, 3)", "--input", "100000000", "--max-steps", "1e9"],
        "99,999,998 steps, each over a 100000000 canvas",
    ),
    (
        ["Conv1d(1, 1, 3, dilation=100000000)", "--input", "5"],
        "Kernel size: (200000001). Kernel size can't be greater than actual input size",
    ),
    (
        ["ConvTranspose1d(1, 1, 3, dilation=100000000)", "--input", "5"],
        "200,000,005 cells to explain",
    ),
    (["Conv1d(1, 1, 3, padding=100000000)", "--input", "5"], "200,000,003 cells to explain"),
    (["Conv2d(1, 1, 7000)", "--input", "7000"], "the kernel 7000 x 7000 has 49,000,000 cells"),
    (
        ["ConvTranspose1d(1, 1, 1, stride=1000000000)", "--input", "2"],
        "1,000,000,001 cells to explain",
    ),
    (
        ["Conv2d(1, 1, 3)", "--input", "56", "--max-steps", "1e9"],
        "2,916 steps, each over a 56 x 56 canvas, 9,144,576 cells in all",
    ),
    (
        ["Conv2d(1, 1, 3)", "--input", "56", "--max-steps", "100000"],
        "9,144,576 cells in all, more than its budget of 250,000",
    ),
    (["Conv1d(1, 1, 1)", "--input", "3000", "-o", "steps.png"], "3,000 cells to explain"),
    (
        ["Conv1d(1, 1, 1)", "--input", "3000", "--max-steps", "3000", "-o", "steps.png"],
        "3,000 steps, each over a 3000 canvas, 9,000,000 cells in all",
    ),
    (
        ["Conv2d(1, 1, 3)", "--input", "14", "-o", "steps.png"],
        "a PNG of all 144 steps would be 12936 x 10668 pixels (138.0 megapixels)",
    ),
    (
        ["Conv1d(1, 1, 1)", "--input", "144", "-o", "steps.gif"],
        "a GIF of 144 frames of 9280 x 274 pixels would have 366,151,680 pixels in all",
    ),
    (
        ["Conv2d(1, 1, 3)", "--input", "40", "-o", "page.html"],
        "the input is 40 x 40 (1,600 cells per channel)",
    ),
    (
        ["Conv1d(1, 1, 3)", "--input", "5", "-o", "no-such-folder/steps.svg"],
        "no-such-folder does not exist",
    ),
]


@pytest.mark.parametrize("argv,message", REFUSALS, ids=[" ".join(a) for a, _ in REFUSALS])
def test_refusals_are_immediate(capsys, tmp_path, monkeypatch, argv, message):
    """In the process: refused in well under a second with the sizes it would need; as a
    command: exit 1 with that one line, no traceback, within the subprocess timeout."""
    monkeypatch.chdir(tmp_path)
    start = time.perf_counter()
    code, out, err = run_cli(capsys, "explain", *argv)
    assert time.perf_counter() - start < 1.0
    assert code == 1 and out == "" and message in err, err
    code, err, _ = run_process(*argv, cwd=tmp_path)
    assert code == 1 and message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())  # nothing written


def test_build_refuses_before_making_arrays():
    start = time.perf_counter()
    with pytest.raises(ValueError, match="999,999,999,998 cells"):
        build("Conv1d(1, 1, 3)", (10**12,))
    with pytest.raises(ValueError, match="9,000,000 cells in all"):
        build("Conv1d(1, 1, 1)", (3000,), max_steps=10**9)
    assert time.perf_counter() - start < 1.0


@pytest.mark.needs_torch
def test_png_pages_stay_within_the_pixel_budget(tmp_path, capsys):
    from PIL import Image

    layer, size = "Conv2d(1, 1, 3)", (14, 14)
    e = build(layer, size)
    lay = explain.layout(e)
    per_page, pages = explain.png_pages(e, lay)
    assert pages > 1 and per_page % explain.grid_columns(e) == 0
    code, out, err = run_cli(
        capsys,
        "explain",
        layer,
        "--input",
        "14",
        "-o",
        str(tmp_path / "x.png"),
        "--page",
        str(pages + 1),
    )
    assert code == 1 and f"page must be in 1..{pages}" in err
    code, out, _ = run_cli(
        capsys,
        "explain",
        layer,
        "--input",
        "14",
        "-o",
        str(tmp_path / "last.png"),
        "--page",
        str(pages),
    )
    assert code == 0 and f"(page {pages} of {pages})" in out
    first = (pages - 1) * per_page
    with Image.open(tmp_path / "last.png") as png:
        sheet = png.convert("RGB")
    columns = explain.grid_columns(e)
    rows = math.ceil((len(e.steps) - first) / columns)
    assert sheet.size == (columns * lay.width, rows * lay.height)
    assert sheet.size[0] * sheet.size[1] <= explain.MAX_PNG_PIXELS
    for index in range(first, len(e.steps)):
        origin = explain.tile_origin(e, index - first, lay)
        check_frame(sheet, e, index, layer, lay, origin)
    code, _, err = run_cli(capsys, "explain", layer, "--input", "14", "--page", "1")
    assert code == 1 and "--page applies to PNG grids only" in err


@pytest.mark.needs_torch
def test_html_page_is_self_contained(tmp_path, capsys):
    path = tmp_path / "seed.html"
    code, _, err = run_cli(capsys, "explain", SEED, "--input", "3,3", "-o", str(path))
    assert code == 0, err
    html = path.read_text(encoding="utf-8")
    assert html == explain.to_html(build_layer(SEED), (3, 3))
    assert html.startswith("<!DOCTYPE html>") and "window.npconvExplain" in html
    for outside in ("http://", "https://", "<link", "src=", "@import", "url("):
        assert outside not in html, outside
    # the page carries npconv's (and torch's) output for its layer, which it checks against
    config = re.search(
        r'<script id="npconv-config" type="application/json">(.*?)</script>', html, re.S
    ).group(1)
    import json

    expected = json.loads(config)["expected"]
    np.testing.assert_array_equal(expected, torch_output(SEED, (3, 3)).ravel())


@pytest.mark.parametrize(
    "layer,size,message",
    [
        ("ConvNd(1, 1, (2, 2, 2, 2))", (3, 3, 3, 3), "1-, 2- and 3-d layers"),
        ("Conv2d(16, 33, 3)", (5, 5), "it has 16 channels in and 33 out"),
        ("Conv2d(1, 1, 3)", (3, 33), "the input is 3 x 33"),
        ("ConvTranspose2d(1, 1, 3, stride=8)", (20, 20), "its canvas is 157 x 157"),
        ("Conv2d(1, 1, 5)", (3, 3), "Kernel size can't be greater than actual input size"),
        (
            "ConvTranspose1d(1, 1, 3, stride=2, output_padding=2)",
            (3,),
            "output padding must be smaller than either stride or dilation",
        ),
    ],
)
def test_to_html_refuses_what_it_cannot_draw(layer, size, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        explain.to_html(build_layer(layer), size)


def build_layer(text):
    return eval(text, {"__builtins__": {}}, vars(nn))
