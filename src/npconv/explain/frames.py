"""The pictures as plain data: a `layout` shared by every frame of an explanation and,
per step, a `frame` of Boxes and Texts in pixels, with their COLORS; and where each
step's tile goes in the grid of all steps.

Pillow (raster.py) and SVG (svg.py) only paint what this module places, so the two
draw the same picture, and tests can check a frame without painting it.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .model import Explanation, Index, Step, number
from .view import _as2d, _grid, output_padding_cells, panels

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
    pos: Index
    outline: str = "grid"


class Text(NamedTuple):
    x: int
    y: int
    text: str
    font: str
    color: str = "text"


def _text_width(text: str, font: str) -> int:
    """A generous estimate of a text's width in pixels (no font needed, so SVG can use it)."""
    return math.ceil(len(text) * _FONT[font] * 0.6)


def _breakable(text: str, depth_limit: int = 0) -> list[str]:
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


def _wrap(text: str, width: int, font: str, depth_limit: int = 0) -> list[str]:
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


def _legend(e: Explanation) -> list[tuple[str, str]]:
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


def _equation_lines(e: Explanation, step: Step, width: int) -> list[str]:
    text = e.equation(step)
    zeros = e.zero_count(step)
    if 0 < zeros < len(step.cells):
        text += f"   ({zeros} zero cells left out)"
    return _wrap(text, width, "label")


def layout(e: Explanation) -> Layout:
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


def frame(e: Explanation, index: int, lay: Layout | None = None) -> tuple[list[Box], list[Text]]:
    """Boxes and texts of frame `index`: the step computing output cell e.steps[index]."""
    lay = lay or layout(e)
    n, cell, step = e.ndim, lay.cell, e.steps[index]
    boxes, texts = [], []
    for k, line in enumerate(lay.title):
        texts.append(Text(_MARGIN, _MARGIN + 20 * k, line, "title"))
    for k, line in enumerate(lay.header):
        texts.append(Text(_MARGIN, lay.header_y + _LINE * k, line, "note"))
    under = dict(step.cells)
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


def _light(fill: str) -> bool:
    return fill in ("window_input", "window_zero", "output_current")


def _label_color(b: Box) -> str:
    return "light_text" if _light(b.fill) else "text"


def grid_columns(e: Explanation) -> int:
    """Tiles per row of the PNG/SVG grid: the output's width for 2-d and 3-d, so the tiles
    sit where their output cells do."""
    if e.ndim == 1:
        return min(len(e.steps), 4)
    return _as2d(e.output, e.ndim, e.depth).shape[1]


def tile_origin(e: Explanation, index: int, lay: Layout | None = None) -> tuple[int, int]:
    """Top-left corner of step `index`'s tile in the PNG/SVG grid."""
    lay = lay or layout(e)
    columns = grid_columns(e)
    return (index % columns) * lay.width, (index // columns) * lay.height
