"""How every output cell of a convolution is computed: the steps as data, then
drawn as text, an animated GIF, a PNG grid of all steps, or an SVG; `to_html` writes
the interactive page instead (explain_html, whose engine runs in the browser).

The picture is the one of the convolution-arithmetic animations (Dumoulin &
Visin, 2016): a kernel slides, at stride 1 or `stride`, over a *canvas*, and
each position gives one output cell. Per spatial dim, with e = dilation*(k-1) + 1:

    conv:        canvas = input padded by (lo, hi)
                 out[o] = sum_j  w[j]          * canvas[o*stride + j*dilation]
    transposed:  canvas = input spread out by stride-1 zeros between cells, with a
                 border of e-1-lo zeros before and e-1-hi+output_padding after
                 out[o] = sum_j  w[k-1-j]      * canvas[o + j*dilation]

so a transposed conv is a plain stride-1 conv of the spread-out input with the
flipped kernel (a negative border crops the spread-out input). The example
values are deterministic: the input holds 1..n and the weight 1..K in row-major
order, with one channel in and out and no bias, so every sum can be checked by
hand. `build` runs the real npconv layer on them and checks that every step's
sum equals the layer's output. Before it builds anything it checks the request
against the budgets below from the sizes alone, so a request too large is refused
at once with the sizes it would need.

A 1-d layer is drawn as one row. A 3-d layer explains one depth slice of its
output (the middle one unless `depth` is given): each frame shows, side by
side, every canvas depth slice that the slice reads, with the matching kernel
depth slice under it.

>>> from npconv import nn
>>> e = build(nn.ConvTranspose1d(1, 1, 3, stride=2), (2,))
>>> e.output.tolist()
[1.0, 2.0, 5.0, 4.0, 6.0]
>>> e.equation(e.steps[2])
'out[2] = 1*3 + 2*1 = 5'
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass
from typing import NamedTuple
from xml.sax.saxutils import escape

import numpy as np

from . import _arguments as args
from . import shapes, windows

MAX_STEPS = 144
# Budgets, checked from the shapes alone before any array is made (see `check_budget`):
# cells drawn in all (each step shows the whole canvas, or for 3-d one slice per kernel
# depth slice), and the pixels of a PNG grid (half Pillow's default MAX_IMAGE_PIXELS,
# 89,478,485, above which Pillow warns that an image may be a decompression bomb) and of all
# GIF frames together (each frame is painted and held in memory).
MAX_CELLS = 250_000
MAX_PNG_PIXELS = 89_478_485 // 2
MAX_GIF_PIXELS = 4 * MAX_PNG_PIXELS

# --- the steps as data ------------------------------------------------------------------


@dataclass(frozen=True)
class Axis:
    """One spatial dim: how the canvas is laid out and where each output's window lands."""

    size: int
    kernel: int
    stride: int
    dilation: int
    lo: int
    hi: int
    output_padding: int
    transposed: bool
    mode: str = "zeros"

    @property
    def extent(self):
        return shapes.effective_kernel((self.kernel,), (self.dilation,))[0]

    @property
    def border(self):
        """Canvas cells (before, after) the input; negative crops the input."""
        if self.transposed:
            return (self.extent - 1 - self.lo, self.extent - 1 - self.hi + self.output_padding)
        return (self.lo, self.hi)

    @property
    def spread(self):
        """Cells the input covers on the canvas: stride-1 zeros between inputs if transposed."""
        return (self.size - 1) * self.stride + 1 if self.transposed else self.size

    @property
    def canvas(self):
        return self.border[0] + self.spread + self.border[1]

    @property
    def out(self):
        pair = ((self.lo, self.hi),)
        if self.transposed:
            return shapes.conv_transpose_output_size(
                (self.size,),
                (self.kernel,),
                (self.stride,),
                pair,
                (self.dilation,),
                (self.output_padding,),
            )[0]
        return shapes.conv_output_size(
            (self.size,), (self.kernel,), (self.stride,), pair, (self.dilation,)
        )[0]

    def place(self, c):
        """(kind, input index) of canvas cell c.

        kind is 'input', 'gap' (a zero inserted between inputs), 'border' (a zero
        around them: padding, or a transposed conv's implicit border) or 'padded'
        (a copy of an input made by a reflect/replicate/circular padding mode).
        """
        i = c - self.border[0]
        if self.transposed:
            if 0 <= i < self.spread:
                return ("input", i // self.stride) if i % self.stride == 0 else ("gap", None)
            return ("border", None)
        if 0 <= i < self.size:
            return ("input", i)
        if self.mode == "zeros":
            return ("border", None)
        if self.mode == "reflect":
            return ("padded", -i if i < 0 else 2 * (self.size - 1) - i)
        if self.mode == "replicate":
            return ("padded", min(max(i, 0), self.size - 1))
        return ("padded", i % self.size)

    def reads(self, o):
        """The canvas cells output o reads, one per kernel offset (of the kernel as shown)."""
        start = o if self.transposed else o * self.stride
        return tuple(start + j * self.dilation for j in range(self.kernel))


_KIND_ORDER = ("border", "gap", "padded", "input")  # a cell takes the first kind any dim gives


class Step(NamedTuple):
    """One output cell: its index, the (canvas cell, kernel cell) pairs it multiplies, the sum."""

    output: tuple
    cells: tuple
    value: float


@dataclass
class Explanation:
    """Everything a rendering needs; arrays are spatial (no batch or channel dims)."""

    title: str
    class_name: str
    transposed: bool
    axes: tuple
    input: np.ndarray
    weight: np.ndarray  # as stored in the layer
    kernel: np.ndarray  # as it slides over the canvas: flipped when transposed
    canvas: np.ndarray
    kinds: np.ndarray  # per canvas cell, see Axis.place
    output: np.ndarray  # the npconv layer's own output
    steps: list
    depth: int | None = None

    @property
    def ndim(self):
        return len(self.axes)

    def terms(self, step):
        """(canvas value, kernel value) of every product in the step."""
        return [(self.canvas[c], self.kernel[j]) for c, j in step.cells]

    def equation(self, step):
        """'out[1, 2] = 4*5 + 5*4 = 40', leaving out the products with a zero canvas cell."""
        products = [(v, w) for v, w in self.terms(step) if v != 0]
        index = ", ".join(str(i) for i in step.output)
        if not products:
            return f"out[{index}] = 0 (every cell under the kernel is a zero)"
        text = " + ".join(f"{number(v)}*{number(w)}" for v, w in products)
        text = f"out[{index}] = {text} = {number(step.value)}".replace("+ -", "- ")
        return text

    def zero_count(self, step):
        return sum(1 for v, _ in self.terms(step) if v == 0)

    def axis_notes(self):
        """One line per spatial dim saying how the canvas is built, with the numbers."""
        names = dim_names(self.ndim)
        notes = []
        for name, a in zip(names, self.axes):
            if a.transposed:

                def minus(v):
                    return f"- {v}" if v >= 0 else f"+ {-v}"

                before = f"{a.dilation}*({a.kernel} - 1) {minus(a.lo)} = {a.border[0]}"
                after = (
                    f"{a.dilation}*({a.kernel} - 1) {minus(a.hi)} + {a.output_padding} "
                    f"= {a.border[1]}"
                )
                zeros = f"{a.stride - 1} zero" + ("" if a.stride == 2 else "s")
                notes.append(
                    f"{name}: {a.size} inputs with {zeros} between (stride - 1), "
                    f"border {before} before and {after} after "
                    f"(dilation*(kernel - 1) - padding, + output_padding after): "
                    f"canvas {a.canvas} -> out {a.out}"
                )
            else:
                gaps = f", kernel cells {a.dilation} apart (dilation)" if a.dilation > 1 else ""
                what = "zeros" if a.mode == "zeros" else f"{a.mode}"
                step = "cell" if a.stride == 1 else f"{a.stride} cells"
                notes.append(
                    f"{name}: {a.size} inputs, padding {a.lo} before and {a.hi} after "
                    f"({what}), a window every {step} (stride){gaps}: "
                    f"canvas {a.canvas} -> out {a.out}"
                )
        return notes


def dim_names(n):
    """L; H, W; D, H, W; or S0, S1, ... as the formulas name spatial dims."""
    return {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}.get(n, tuple(f"S{i}" for i in range(n)))


def number(v):
    """An example value as text: an int when it is one."""
    v = float(np.real(v))
    return str(int(v)) if v == int(v) else f"{v:.3g}"


def layer_padding(layer, size):
    """A conv module's padding as (lo, hi) pairs for an input of spatial `size`."""
    n = len(size)
    if isinstance(layer.padding, str):
        if layer.padding == "valid":
            return ((0, 0),) * n
        if layer.transposed:
            return shapes.conv_transpose_same_padding(
                size, layer.kernel_size, layer.stride, layer.dilation, layer.output_padding
            )
        return shapes.same_padding(layer.kernel_size, layer.dilation)
    return args.padding_pairs(layer.padding, n)


def _example_layer(layer):
    """The layer's geometry with one channel in and out, no bias, float64, weight 1..K."""
    from . import nn  # the modules import this package's engine; keep explain importable alone

    cls = getattr(type(layer), "cls_to_become", None) or type(layer)
    options = dict(
        stride=layer.stride,
        padding=layer.padding,
        dilation=layer.dilation,
        bias=False,
        padding_mode=layer.padding_mode,
        dtype=np.float64,
    )
    if layer.transposed:
        options["output_padding"] = layer.output_padding
    if cls in (nn.ConvNd, nn.ConvTransposeNd):
        cls = nn.ConvTransposeNd if layer.transposed else nn.ConvNd
    example = cls(1, 1, layer.kernel_size, **options)
    kernel = tuple(layer.kernel_size)
    example.weight[...] = np.arange(1, math.prod(kernel) + 1, dtype=np.float64).reshape(
        (1, 1) + kernel
    )
    return example


def _shape_text(shape):
    return " x ".join(str(s) for s in shape)


def check_kernel(kernel) -> None:
    """Refuse a kernel of more cells than explain draws, before any layer is built."""
    cells = math.prod(kernel)
    if cells > MAX_CELLS:
        raise ValueError(
            f"the kernel {_shape_text(kernel)} has {cells:,} cells, more than "
            f"explain's budget of {MAX_CELLS:,} cells drawn; use a smaller kernel"
        )


def axes_of(layer, size) -> tuple:
    """The Axis of every spatial dim, validated with npconv's (torch's) errors: shape
    arithmetic only, so it is instant for any size."""
    if not hasattr(layer, "transposed"):
        raise ValueError(f"explain draws Conv and ConvTranspose layers, not {type(layer).__name__}")
    n = len(layer.kernel_size)
    if n > 3:
        raise ValueError(f"explain draws 1-, 2- and 3-d layers, but this one has {n} spatial dims")
    size = tuple(int(s) for s in size)
    if len(size) != n:
        raise ValueError(
            f"{type(layer).__name__} has {n} spatial dims, but the input size "
            f"{list(size)} has {len(size)}"
        )
    if layer.transposed and layer.padding_mode != "zeros":
        raise ValueError(
            f"explain draws transposed convs with padding_mode='zeros' only, "
            f"but got padding_mode={layer.padding_mode!r} (the HTML page, "
            f"-o FILE.html, draws every padding_mode)"
        )
    pairs = layer_padding(layer, size)
    if layer.transposed:
        shapes.check_conv_transpose_size(
            size, layer.kernel_size, layer.stride, pairs, layer.dilation, layer.output_padding
        )
    else:
        if layer.padding_mode != "zeros":  # as the example layer's run checks it
            windows.check_mode_padding(size, pairs, layer.padding_mode, (1, 1) + size)
        shapes.check_conv_size(size, layer.kernel_size, pairs, layer.dilation)
    op = layer.output_padding if layer.transposed else (0,) * n
    return tuple(
        Axis(s, k, st, d, lo, hi, o, layer.transposed, layer.padding_mode)
        for s, k, st, d, (lo, hi), o in zip(
            size, layer.kernel_size, layer.stride, layer.dilation, pairs, op
        )
    )


def check_budget(axes, max_steps: int = MAX_STEPS) -> None:
    """Refuse, with the sizes it would need, an explanation of more than `max_steps` steps
    or more than MAX_CELLS cells drawn (each step shows its canvas whole)."""
    out = tuple(a.out for a in axes)
    steps = math.prod(out[1:]) if len(axes) == 3 else math.prod(out)
    if steps > max_steps:
        raise ValueError(
            f"the output has {steps:,} cells to explain, more than the limit "
            f"of {max_steps:,} (max_steps, --max-steps); use a smaller input"
        )
    canvas = tuple(a.canvas for a in axes)
    drawn = axes[0].kernel * math.prod(canvas) if len(axes) == 3 else math.prod(canvas)
    if max(math.prod(canvas), steps * drawn) > MAX_CELLS:
        raise ValueError(
            f"explain would draw {steps:,} steps, each over a "
            f"{_shape_text(canvas)} canvas, {steps * drawn:,} cells in all, more "
            f"than its budget of {MAX_CELLS:,}; use a smaller input"
        )


def build(layer, size, depth=None, max_steps=MAX_STEPS):
    """Run `layer`'s geometry on the example values and record every output cell's sum.

    `layer` is an npconv.nn conv or transposed conv (1-3 spatial dims; channels,
    groups and bias are ignored); `size` its input's spatial size. Sizes are checked
    against the budgets first, so a request too large is refused at once.
    """
    axes = axes_of(layer, size)
    check_kernel(layer.kernel_size)
    check_budget(axes, max_steps)
    n, size = len(axes), tuple(int(s) for s in size)
    example = _example_layer(layer)
    x = np.arange(1, math.prod(size) + 1, dtype=np.float64).reshape(size)
    y = example(x[None, None])[0, 0]  # the library's answer
    if tuple(a.out for a in axes) != y.shape:
        raise RuntimeError(
            f"explain's canvas gives {tuple(a.out for a in axes)} but npconv "
            f"gives {y.shape}; please report this"
        )
    weight = example.weight[0, 0].copy()
    kernel = np.flip(weight) if layer.transposed else weight
    canvas, kinds = _canvas(axes, x)
    if n == 3:
        depth = y.shape[0] // 2 if depth is None else int(depth)
        if not 0 <= depth < y.shape[0]:
            raise ValueError(f"depth must be in 0..{y.shape[0] - 1}, but got depth={depth}")
        outputs = [(depth,) + rest for rest in np.ndindex(y.shape[1:])]
    else:
        depth = None
        outputs = list(np.ndindex(y.shape))
    steps = []
    for o in outputs:
        cells = tuple(
            (tuple(a.reads(oi)[ji] for a, oi, ji in zip(axes, o, j)), j)
            for j in np.ndindex(kernel.shape)
        )
        value = sum(canvas[c] * kernel[j] for c, j in cells)
        if value != y[o]:
            raise RuntimeError(
                f"explain's sum for out{list(o)} is {value} but npconv computes "
                f"{y[o]}; please report this"
            )
        steps.append(Step(tuple(int(i) for i in o), cells, float(value)))
    title = repr(layer).splitlines()[0]
    return Explanation(
        title,
        type(example).__name__,
        bool(layer.transposed),
        axes,
        x,
        weight,
        kernel,
        canvas,
        kinds,
        y,
        steps,
        depth,
    )


def _canvas(axes, x):
    shape = tuple(a.canvas for a in axes)
    canvas = np.zeros(shape)
    kinds = np.empty(shape, dtype=object)
    for c in np.ndindex(shape):
        placed = [a.place(ci) for a, ci in zip(axes, c)]
        kinds[c] = min((kind for kind, _ in placed), key=_KIND_ORDER.index)
        if kinds[c] in ("input", "padded"):
            canvas[c] = x[tuple(i for _, i in placed)]
    return canvas, kinds


# --- a 2-d view shared by every rendering -------------------------------------------------
#
# Everything is drawn as 2-d grids: a 1-d array is one row; a 3-d explanation has one
# panel per canvas depth slice its output slice reads (with the kernel depth slice that
# multiplies it), and its output is the explained depth slice.


def _grid(index, n):
    """(row, col) of an n-d index's last two dims (row 0 for 1-d)."""
    return (0, index[0]) if n == 1 else tuple(index[-2:])


def panels(e):
    """[(canvas depth or None, kernel depth or None)] for each canvas panel."""
    if e.ndim < 3:
        return [(None, None)]
    return [(c, j) for j, c in enumerate(e.axes[0].reads(e.depth))]


def _as2d(a, n, depth=None):
    if n == 1:
        return a.reshape(1, -1)
    return a if n == 2 else a[depth]


def output_padding_cells(e):
    """(row, col) output cells that exist only because of output_padding."""
    axes = e.axes[-2:] if e.ndim > 1 else (None,) + e.axes
    rows, cols = _as2d(e.output, e.ndim, e.depth).shape
    last = [a.output_padding if a is not None else 0 for a in axes]
    return {
        (r, c)
        for r in range(rows)
        for c in range(cols)
        if r >= rows - last[0] or c >= cols - last[1]
    }


# --- text -------------------------------------------------------------------------------


def _text_grid(values, kinds, marks=frozenset(), width=3):
    """Rows of a grid: numbers for inputs, '0' for inserted zeros, '.' for border zeros;
    [brackets] around marked cells."""
    lines = []
    for r in range(values.shape[0]):
        cells = []
        for c in range(values.shape[1]):
            kind = kinds[r, c] if kinds is not None else "input"
            label = "." if kind == "border" else ("0" if kind == "gap" else number(values[r, c]))
            cells.append(f"[{label:>{width}}]" if (r, c) in marks else f" {label:>{width}} ")
        lines.append("".join(cells).rstrip())
    return lines


def _side_by_side(blocks, gap=3):
    height = max(len(b) for b in blocks)
    widths = [max(len(line) for line in b) for b in blocks]
    rows = []
    for i in range(height):
        rows.append(
            (" " * gap)
            .join((b[i] if i < len(b) else "").ljust(w) for b, w in zip(blocks, widths))
            .rstrip()
        )
    return rows


def _flow(blocks, width):
    """Lay blocks left to right, wrapping to new rows at `width` characters."""
    lines, row, used = [], [], 0
    for block in blocks:
        w = max(len(line) for line in block)
        if row and used + 3 + w > width:
            lines += _side_by_side(row) + [""]
            row, used = [], 0
        row.append(block)
        used += w + (3 if used else 0)
    if row:
        lines += _side_by_side(row)
    return lines


def render_text(e, width=None):
    """The explanation as plain text for a terminal."""
    width = width or shutil.get_terminal_size((100, 24)).columns
    n = e.ndim

    def width_of(a):
        return max(len(number(v)) for v in a.ravel())

    w, wk, wo = width_of(e.canvas), width_of(e.kernel), width_of(e.output)
    size = " x ".join(str(a.size) for a in e.axes)
    out = " x ".join(str(s) for s in e.output.shape)
    lines = [
        f"{e.title}: input {size} -> output {out}",
        f"example values: input 1..{e.input.size}, weight 1..{e.weight.size} in row-major "
        f"order; one channel in and out, no bias",
        "",
    ]
    lines += e.axis_notes()
    lines.append("")
    if e.transposed:
        lines.append(
            "The canvas is the input spread out by stride, with a zero border; a stride-1 "
            "conv of it with the flipped kernel gives the output."
        )
    legend = "numbers: input values"
    kinds = set(e.kinds.ravel())
    if "padded" in kinds:
        legend += f" (the padding copies them, padding_mode={e.axes[0].mode!r})"
    if "border" in kinds:
        legend += ", '.': a zero of the " + ("border" if e.transposed else "padding")
    if "gap" in kinds:
        legend += ", '0': a zero inserted between inputs"
    lines.append(legend)
    lines.append("")
    blocks = []
    for depth, kdepth in panels(e):
        label = "canvas" if depth is None else f"canvas depth {depth}"
        blocks.append(
            [label] + _text_grid(_as2d(e.canvas, n, depth), _as2d(e.kinds, n, depth), width=w)
        )
        klabel = "kernel, flipped" if e.transposed else "kernel"
        if kdepth is not None:
            klabel += f" depth {kdepth}"
        blocks.append([klabel] + _text_grid(_as2d(e.kernel, n, kdepth), None, width=wk))
    lines += _flow(blocks, width) + [""]
    if n == 3:
        lines.append(
            f"output depth slice {e.depth}: one step per output cell "
            "([brackets]: the cells under the kernel)"
        )
    else:
        lines.append("one step per output cell ([brackets]: the cells under the kernel)")
    lines.append("")
    blocks = []
    for step in e.steps:
        index = ", ".join(str(i) for i in step.output)
        block = [f"out[{index}] = {number(step.value)}"]
        grids = []
        for depth, _ in panels(e):
            marks = {_grid(c, n) for c, _ in step.cells if depth is None or c[0] == depth}
            grid = _text_grid(_as2d(e.canvas, n, depth), _as2d(e.kinds, n, depth), marks, w)
            grids.append(grid if depth is None else [f"depth {depth}"] + grid)
        block += _side_by_side(grids, 2)
        blocks.append(block)
    lines += _flow(blocks, width) + [""]
    lines += [e.equation(step) for step in e.steps] + [""]
    label = "output" if n < 3 else f"output depth slice {e.depth}"
    shown = e.output.shape if n < 3 else e.output.shape[1:]
    lines.append(
        f"{label} ({' x '.join(str(s) for s in shown)}), as npconv's {e.class_name} computes it:"
    )
    lines += _text_grid(_as2d(e.output, n, e.depth), None, width=wo)
    return "\n".join(lines) + "\n"


# --- pictures: a frame is a list of boxes and texts --------------------------------------
#
# `frame` places everything as plain data (Box, Text); Pillow and SVG only paint it. All
# frames of an explanation share one `layout`, so a GIF's frames line up.

COLORS = {
    "background": (255, 255, 255),
    "text": (33, 33, 33),
    "light_text": (255, 255, 255),
    "grid": (150, 150, 150),
    "input": (166, 206, 240),  # an input value on the canvas
    "padded": (204, 226, 243),  # a copy of an input made by a padding mode
    "gap": (250, 250, 250),  # a zero inserted between inputs
    "border": (220, 220, 220),  # a zero of the padding or of the implicit border
    "window_input": (31, 100, 170),  # under the kernel: a value
    "window_zero": (112, 136, 170),  # under the kernel: a zero
    "kernel": (252, 214, 150),
    "kernel_weight": (255, 226, 110),  # the weight written on each cell under the kernel
    "output_pending": (255, 255, 255),
    "output_done": (170, 224, 198),
    "output_current": (24, 135, 96),
    "output_padding": (230, 112, 20),  # outline of the cells output_padding adds
}
HIGHLIGHT = ("window_input", "window_zero")
_FONT = {"title": 14, "note": 11, "label": 12, "corner": 9}
_MARGIN, _LINE = 16, 16


class Box(NamedTuple):
    """A square to draw: `role` is canvas/kernel/output/legend, `pos` its n-d index."""

    x: int
    y: int
    size: int
    fill: str
    label: str
    corner: str
    role: str
    pos: tuple
    outline: str = "grid"


class Text(NamedTuple):
    x: int
    y: int
    text: str
    font: str
    color: str = "text"


def _text_width(text, font):
    """A generous estimate of a text's width in pixels (no font needed, so SVG can use it)."""
    return math.ceil(len(text) * _FONT[font] * 0.6)


def _breakable(text, depth_limit=0):
    """Split text into pieces at the spaces a line may break at: at most `depth_limit`
    parentheses deep and not inside a formula (no break next to an operator or '=')."""
    pieces, start, depth = [], 0, 0
    for i, ch in enumerate(text):
        depth += (ch in "([") - (ch in ")]")
        if (
            ch == " "
            and depth <= depth_limit
            and text[i - 1] not in "+-*=/"
            and text[i + 1 : i + 2] not in ("+", "-", "*", "=", "/", "")
        ):
            pieces.append(text[start:i])
            start = i + 1
    return pieces + [text[start:]]


def _wrap(text, width, font, depth_limit=0):
    """Greedy wrap to `width` pixels (estimated), continuation lines indented."""
    lines, line = [], ""
    for piece in _breakable(text, depth_limit):
        trial = f"{line} {piece}" if line else piece
        if line.strip() and _text_width(trial, font) > width:
            lines.append(line)
            line = "    " + piece
        else:
            line = trial
    return lines + [line]


class Layout(NamedTuple):
    cell: int
    numbers: bool  # cells big enough to carry their values
    width: int
    height: int
    title: list  # the layer's repr, wrapped
    header: list  # wrapped lines under the title
    header_y: int
    origins: dict  # ('canvas', i) / ('kernel', i) / ('output', 0) -> (x, y)
    equation_y: int
    equation_lines: int
    legend: list  # [(color, label, x, y)]


def _legend(e):
    kinds = set(e.kinds.ravel())
    items = [("input", "input")]
    if "padded" in kinds:
        items.append(("padded", f"{e.axes[0].mode} padding"))
    if "gap" in kinds:
        items.append(("gap", "inserted zero"))
    if "border" in kinds:
        items.append(("border", "border zero" if e.transposed else "zero padding"))
    items += [
        ("window_input", "under the kernel"),
        ("window_zero", "a zero under it"),
        ("output_current", "this output"),
        ("output_done", "done"),
    ]
    if any(a.output_padding for a in e.axes):
        items.append(("output_padding", "added by output_padding"))
    return items


def _equation_lines(e, step, width):
    text = e.equation(step)
    zeros = e.zero_count(step)
    if 0 < zeros < len(step.cells):
        text += f"   ({zeros} zero cells left out)"
    return _wrap(text, width, "label")


def layout(e):
    """Where everything goes; every frame of `e` shares it."""
    n = e.ndim
    labels = [number(v) for v in np.concatenate([e.canvas.ravel(), e.output.ravel()])]
    cell = max(30, max(_text_width(s, "label") for s in labels) + 10)
    numbers = cell <= 64
    cell = cell if numbers else 24
    gap = 32
    x = _MARGIN
    grids = []
    for i, (depth, kdepth) in enumerate(panels(e)):
        canvas = _as2d(e.canvas, n, depth).shape
        kernel = _as2d(e.kernel, n, kdepth).shape
        grids.append((i, x, canvas, kernel))
        x += max(canvas[1], kernel[1]) * cell + gap
    out = _as2d(e.output, n, e.depth).shape
    width = max(x + out[1] * cell + _MARGIN, 640)
    inner = width - 2 * _MARGIN
    header = [
        f"example values: input 1..{e.input.size}, weight 1..{e.weight.size}; one channel, no bias"
    ]
    for note in e.axis_notes():
        header += _wrap(note, inner, "note")
    title = _wrap(e.title, inner, "title", depth_limit=1)
    header_y = _MARGIN + 20 * len(title) + 4
    top = header_y + _LINE * len(header) + 12
    origins = {("output", 0): (x, top + 18)}
    bottom = top + 18 + out[0] * cell
    for i, x0, canvas, kernel in grids:
        origins[("canvas", i)] = (x0, top + 18)
        ky = top + 18 + canvas[0] * cell + 30
        origins[("kernel", i)] = (x0, ky)
        bottom = max(bottom, ky + kernel[0] * cell)
    equation_lines = max(len(_equation_lines(e, s, inner)) for s in e.steps)
    equation_y = bottom + 18
    y = equation_y + 18 * equation_lines + 12
    legend, lx = [], _MARGIN
    for color, label in _legend(e):
        span = 16 + _text_width(label, "note") + 14
        if lx > _MARGIN and lx + span > width - _MARGIN:
            lx, y = _MARGIN, y + 18
        legend.append((color, label, lx, y))
        lx += span
    return Layout(
        cell,
        numbers,
        width,
        y + 14 + _MARGIN,
        title,
        header,
        header_y,
        origins,
        equation_y,
        equation_lines,
        legend,
    )


def frame(e, index, lay=None):
    """Boxes and texts of frame `index`: the step computing output cell e.steps[index]."""
    lay = lay or layout(e)
    n, cell, step = e.ndim, lay.cell, e.steps[index]
    boxes, texts = [], []
    for k, line in enumerate(lay.title):
        texts.append(Text(_MARGIN, _MARGIN + 20 * k, line, "title"))
    for k, line in enumerate(lay.header):
        texts.append(Text(_MARGIN, lay.header_y + _LINE * k, line, "note"))
    under = dict((c, j) for c, j in step.cells)
    for i, (depth, kdepth) in enumerate(panels(e)):
        x0, y0 = lay.origins[("canvas", i)]
        shape = " x ".join(str(s) for s in e.canvas.shape[-2 if n > 1 else -1 :])
        label = f"canvas {shape}" + ("" if depth is None else f", depth {depth}")
        texts.append(Text(x0, y0 - 16, label, "note"))
        for c in np.ndindex(e.canvas.shape):
            if depth is not None and c[0] != depth:
                continue
            r, col = _grid(c, n)
            kind, value = e.kinds[c], e.canvas[c]
            shown = number(value) if lay.numbers and kind in ("input", "padded") else ""
            if c in under:
                fill = "window_input" if value != 0 else "window_zero"
                corner = f"x{number(e.kernel[under[c]])}" if lay.numbers else ""
            else:
                fill, corner = kind, ""
            boxes.append(
                Box(
                    x0 + col * cell,
                    y0 + r * cell,
                    cell,
                    fill,
                    shown,
                    corner,
                    "canvas",
                    tuple(int(v) for v in c),
                )
            )
        x0, y0 = lay.origins[("kernel", i)]
        label = "kernel, flipped" if e.transposed else "kernel"
        texts.append(
            Text(x0, y0 - 16, label + ("" if kdepth is None else f", depth {kdepth}"), "note")
        )
        for j in np.ndindex(e.kernel.shape):
            if kdepth is not None and j[0] != kdepth:
                continue
            r, col = _grid(j, n)
            boxes.append(
                Box(
                    x0 + col * cell,
                    y0 + r * cell,
                    cell,
                    "kernel",
                    number(e.kernel[j]) if lay.numbers else "",
                    "",
                    "kernel",
                    tuple(int(v) for v in j),
                )
            )
    x0, y0 = lay.origins[("output", 0)]
    shape = " x ".join(str(s) for s in _as2d(e.output, n, e.depth).shape)
    texts.append(
        Text(x0, y0 - 16, f"output {shape}" + ("" if n < 3 else f", depth {e.depth}"), "note")
    )
    extra = output_padding_cells(e)
    done = {s.output: s.value for s in e.steps[: index + 1]}
    for o in np.ndindex(e.output.shape):
        if e.depth is not None and o[0] != e.depth:
            continue
        r, col = _grid(o, n)
        fill = (
            "output_current"
            if o == step.output
            else "output_done"
            if o in done
            else "output_pending"
        )
        label = number(done[o]) if o in done and lay.numbers else ""
        outline = "output_padding" if (r, col) in extra else "grid"
        boxes.append(
            Box(
                x0 + col * cell,
                y0 + r * cell,
                cell,
                fill,
                label,
                "",
                "output",
                tuple(int(v) for v in o),
                outline,
            )
        )
    for k, line in enumerate(_equation_lines(e, step, lay.width - 2 * _MARGIN)):
        texts.append(Text(_MARGIN, lay.equation_y + 18 * k, line, "label"))
    for color, label, x, y in lay.legend:
        outline = color if color == "output_padding" else "grid"
        boxes.append(
            Box(
                x,
                y,
                12,
                "background" if outline != "grid" else color,
                "",
                "",
                "legend",
                (),
                outline,
            )
        )
        texts.append(Text(x + 16, y - 1, label, "note"))
    return boxes, texts


def _light(fill):
    return fill in ("window_input", "window_zero", "output_current")


def _label_color(b):
    return "light_text" if _light(b.fill) else "text"


# --- Pillow: GIF and PNG ----------------------------------------------------------------


def _pillow():
    try:
        from PIL import Image, ImageDraw, ImageFont
    except ImportError:
        raise ValueError(
            "drawing a GIF or PNG needs Pillow: pip install 'npconv[viz]' "
            "(or pip install pillow); SVG and text output work without it"
        ) from None
    return Image, ImageDraw, ImageFont


def _fonts(ImageFont):
    """DejaVu Sans where the system has it, else Pillow's own font."""
    fonts = {}
    for name, size in _FONT.items():
        try:
            fonts[name] = ImageFont.truetype("DejaVuSans.ttf", size)
        except OSError:
            try:
                fonts[name] = ImageFont.load_default(size=size)
            except TypeError:  # Pillow < 10.1: one bitmap size
                fonts[name] = ImageFont.load_default()
    return fonts


def _palette_colors():
    """COLORS, then blends of each text color into each fill (for anti-aliased text)."""
    colors = list(COLORS.values())
    for ink in ("text", "light_text", "kernel_weight"):
        for fill in COLORS.values():
            for t in (0.25, 0.5, 0.75):
                blend = tuple(round(f + t * (i - f)) for f, i in zip(fill, COLORS[ink]))
                if blend not in colors:
                    colors.append(blend)
    return colors[:256]


def _palette(Image):
    flat = [v for rgb in _palette_colors() for v in rgb]
    palette = Image.new("P", (1, 1))
    palette.putpalette(flat + flat[:3] * (256 - len(flat) // 3))
    return palette


_cache: dict = {}


def render_image(e, index, lay=None):
    """Frame `index` as a palette image: every flat fill is exactly its COLORS entry."""
    Image, ImageDraw, ImageFont = _pillow()
    lay = lay or layout(e)
    if "fonts" not in _cache:
        _cache["fonts"] = _fonts(ImageFont)
        _cache["palette"] = _palette(Image)
    fonts = _cache["fonts"]
    image = Image.new("RGB", (lay.width, lay.height), COLORS["background"])
    draw = ImageDraw.Draw(image)
    boxes, texts = frame(e, index, lay)
    for b in boxes:
        width = 2 if b.outline == "output_padding" else 1
        draw.rectangle(
            [b.x, b.y, b.x + b.size - 1, b.y + b.size - 1],
            fill=COLORS[b.fill],
            outline=COLORS[b.outline],
            width=width,
        )
        color = COLORS[_label_color(b)]
        if b.label and b.corner:
            draw.text((b.x + 3, b.y + 2), b.label, fill=color, font=fonts["label"])
        elif b.label:
            draw.text(
                (b.x + b.size / 2, b.y + b.size / 2),
                b.label,
                fill=color,
                font=fonts["label"],
                anchor="mm",
            )
        if b.corner:
            draw.text(
                (b.x + b.size - 2, b.y + b.size - 2),
                b.corner,
                fill=COLORS["kernel_weight"],
                font=fonts["corner"],
                anchor="rs",
            )
    for t in texts:
        draw.text((t.x, t.y), t.text, fill=COLORS[t.color], font=fonts[t.font])
    return image.quantize(palette=_cache["palette"], dither=Image.Dither.NONE)


def grid_columns(e):
    """Tiles per row of the PNG/SVG grid: the output's width for 2-d and 3-d, so the tiles
    sit where their output cells do."""
    if e.ndim == 1:
        return min(len(e.steps), 4)
    return _as2d(e.output, e.ndim, e.depth).shape[1]


def tile_origin(e, index, lay=None):
    """Top-left corner of step `index`'s tile in the PNG/SVG grid."""
    lay = lay or layout(e)
    columns = grid_columns(e)
    return (index % columns) * lay.width, (index // columns) * lay.height


def write_gif(e, path, duration=900):
    """An animated GIF, one frame per output cell, looping (the last frame lingers)."""
    lay = layout(e)
    pixels = len(e.steps) * lay.width * lay.height
    if pixels > MAX_GIF_PIXELS:
        raise ValueError(
            f"a GIF of {len(e.steps)} frames of {lay.width} x {lay.height} pixels "
            f"would have {pixels:,} pixels in all, more than the budget of "
            f"{MAX_GIF_PIXELS:,}; use a smaller input"
        )
    frames = [render_image(e, i, lay) for i in range(len(e.steps))]
    durations = [duration] * (len(frames) - 1) + [duration * 3]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=durations, loop=0)


def png_pages(e, lay=None) -> tuple:
    """(steps per page, pages) of the PNG grid: whole rows of tiles, each page within
    MAX_PNG_PIXELS; a ValueError with the sizes when not even one row fits."""
    lay = lay or layout(e)
    columns = grid_columns(e)
    rows = math.ceil(len(e.steps) / columns)
    width = columns * lay.width
    per_page = MAX_PNG_PIXELS // (width * lay.height)
    if per_page < 1:
        raise ValueError(
            f"one row of the PNG grid is {width} x {lay.height} pixels, more than "
            f"the budget of {MAX_PNG_PIXELS:,} pixels; use a smaller input, an "
            f"SVG or an HTML page"
        )
    per_page = min(per_page, rows)
    return per_page * columns, math.ceil(rows / per_page)


def write_png(e, path, page: int | None = None) -> range:
    """The steps on one static PNG, tiled in rows of `grid_columns`.

    A grid larger than MAX_PNG_PIXELS is refused with its size, unless `page` (1-based)
    picks one page of whole rows that fits (see `png_pages`).
    """
    lay = layout(e)
    columns = grid_columns(e)
    per_page, pages = png_pages(e, lay)
    if page is None and pages > 1:
        rows = math.ceil(len(e.steps) / columns)
        width, height = columns * lay.width, rows * lay.height
        raise ValueError(
            f"a PNG of all {len(e.steps)} steps would be {width} x {height} "
            f"pixels ({width * height / 1e6:.1f} megapixels), more than the budget "
            f"of {MAX_PNG_PIXELS / 1e6:.1f}; draw it in {pages} pages of up to "
            f"{per_page} steps with --page 1 to --page {pages} (page=...), or "
            f"write an SVG, GIF or HTML page"
        )
    page = 1 if page is None else int(page)
    if not 1 <= page <= pages:
        raise ValueError(f"page must be in 1..{pages}, but got page={page}")
    Image, _, _ = _pillow()
    first = (page - 1) * per_page
    shown = range(first, min(first + per_page, len(e.steps)))
    rows = math.ceil(len(shown) / columns)
    sheet = Image.new("RGB", (columns * lay.width, rows * lay.height), COLORS["background"])
    for i in shown:
        x, y = tile_origin(e, i - first, lay)
        sheet.paste(render_image(e, i, lay).convert("RGB"), (x, y))
    sheet.quantize(palette=_cache["palette"], dither=Image.Dither.NONE).save(path, optimize=True)
    return shown


# --- SVG ----------------------------------------------------------------------------------


def _hex(name):
    return "#%02x%02x%02x" % COLORS[name]


def render_svg(e):
    """Every step as <g class="step" data-output="i,j"> in a grid, like the PNG.

    Cells are <rect>s with data-role (canvas/kernel/output/legend), data-pos (the n-d
    index), data-label (the number written in it) and a class naming their fill, plus
    "highlight" for the cells under the kernel.
    """
    lay = layout(e)
    columns = grid_columns(e)
    rows = math.ceil(len(e.steps) / columns)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{columns * lay.width}" '
        f'height="{rows * lay.height}" font-family="DejaVu Sans, Verdana, sans-serif">',
        f"<title>{escape(e.title)}</title>",
    ]
    for i, step in enumerate(e.steps):
        x0, y0 = tile_origin(e, i, lay)
        position = ",".join(str(v) for v in step.output)
        out.append(
            f'<g class="step" data-output="{position}" data-value="{number(step.value)}" '
            f'transform="translate({x0},{y0})">'
        )
        out.append(
            f'<rect width="{lay.width}" height="{lay.height}" fill="{_hex("background")}" '
            f'stroke="{_hex("grid")}"/>'
        )
        boxes, texts = frame(e, i, lay)
        for b in boxes:
            kind = [b.role, b.fill] + (["highlight"] if b.fill in HIGHLIGHT else [])
            width = 2 if b.outline == "output_padding" else 1
            pos = ",".join(str(v) for v in b.pos)
            out.append(
                f'<rect x="{b.x + 0.5}" y="{b.y + 0.5}" width="{b.size - 1}" '
                f'height="{b.size - 1}" fill="{_hex(b.fill)}" stroke="{_hex(b.outline)}" '
                f'stroke-width="{width}" class="{" ".join(kind)}" data-role="{b.role}" '
                f'data-pos="{pos}" data-label="{escape(b.label)}"/>'
            )
            color, size = _hex(_label_color(b)), _FONT["label"]
            if b.label and b.corner:
                out.append(
                    f'<text x="{b.x + 3}" y="{b.y + 2 + size}" font-size="{size}" '
                    f'fill="{color}">{escape(b.label)}</text>'
                )
            elif b.label:
                out.append(
                    f'<text x="{b.x + b.size / 2}" y="{b.y + b.size / 2 + size * 0.35}" '
                    f'font-size="{size}" fill="{color}" text-anchor="middle">'
                    f"{escape(b.label)}</text>"
                )
            if b.corner:
                out.append(
                    f'<text x="{b.x + b.size - 2}" y="{b.y + b.size - 2}" '
                    f'font-size="{_FONT["corner"]}" fill="{_hex("kernel_weight")}" '
                    f'text-anchor="end">{escape(b.corner)}</text>'
                )
        for t in texts:
            out.append(
                f'<text x="{t.x}" y="{t.y + _FONT[t.font]}" font-size="{_FONT[t.font]}" '
                f'fill="{_hex(t.color)}">{escape(t.text)}</text>'
            )
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


FORMATS = ("gif", "png", "svg", "html")


def file_format(path) -> str:
    """'gif', 'png', 'svg' or 'html' from a file name, or a ValueError."""
    suffix = str(path).rsplit(".", 1)[-1].lower() if "." in str(path) else ""
    if suffix == "htm":
        suffix = "html"
    if suffix not in FORMATS:
        raise ValueError(
            f"cannot tell the format of {str(path)!r}: use a .gif, .png, .svg or "
            ".html file, or no file for text"
        )
    return suffix


def write(e, path, page: int | None = None) -> None:
    """Write `e` to `path` as .gif (animation), .png (grid of steps) or .svg (grid of steps);
    `page` picks one page of a PNG grid too large for one file."""
    suffix = file_format(path)
    if suffix == "html":
        raise ValueError("an HTML page is written by to_html(layer, size, path)")
    if suffix == "svg":
        with open(path, "w", encoding="utf-8") as f:
            f.write(render_svg(e))
    elif suffix == "gif":
        write_gif(e, path)
    else:
        write_png(e, path, page)


# --- HTML: the interactive page ----------------------------------------------------------


def to_html(layer, size, path=None) -> str:
    """One self-contained HTML page explaining `layer` on spatial input `size`.

    The page shows the input (for a transposed conv spread out by stride, inside its
    border), the weight and the output with example values (input 1..n, weight 1..K over
    every channel), each output cell's sum on hover, and controls for every argument that
    recompute it in the browser. Returns the page; writes it to `path` when given. Layers
    too large to draw readably are refused from their shapes alone (explain_html.LIMITS).

    >>> from npconv import nn
    >>> html = to_html(nn.ConvTranspose2d(1, 1, 3, stride=2, padding=1), (3, 3))
    >>> html.startswith("<!DOCTYPE html>") and "npconvExplain" in html
    True
    """
    from . import explain_html

    if not hasattr(layer, "transposed"):
        raise ValueError(f"explain draws Conv and ConvTranspose layers, not {type(layer).__name__}")
    n = len(layer.kernel_size)
    size = tuple(int(s) for s in size)
    if len(size) != n:
        raise ValueError(
            f"{type(layer).__name__} has {n} spatial dims, but the input size "
            f"{list(size)} has {len(size)}"
        )
    if n > 3:
        raise ValueError(f"explain draws 1-, 2- and 3-d layers, but this one has {n} spatial dims")
    settings = explain_html.settings_of(layer, size)
    explain_html.check_page(settings)
    expected = explain_html.npconv_output(settings)  # npconv's errors, in torch's words
    title = repr(layer).splitlines()[0]
    html = explain_html.page(settings, title, expected)
    if path is not None:
        with open(path, "w", encoding="utf-8") as f:
            f.write(html)
    return html
