"""An explanation as plain text for a terminal: the canvas and kernel grids, one grid
per step with the cells under the kernel in [brackets], every sum, and the output.

Separate from the pictures: it needs no layout in pixels and no Pillow.
"""

from __future__ import annotations

import shutil
from collections.abc import Collection, Sequence

import numpy as np

from .model import Explanation, number
from .view import _as2d, _grid, panels

# --- text -------------------------------------------------------------------------------


def _text_grid(
    values: np.ndarray,
    kinds: np.ndarray | None,
    marks: Collection[tuple[int, int]] = frozenset(),
    width: int = 3,
) -> list[str]:
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


def _side_by_side(blocks: Sequence[Sequence[str]], gap: int = 3) -> list[str]:
    height = max(len(b) for b in blocks)
    widths = [max(len(line) for line in b) for b in blocks]
    rows = []
    for i in range(height):
        rows.append(
            (" " * gap)
            .join(
                (b[i] if i < len(b) else "").ljust(w) for b, w in zip(blocks, widths, strict=True)
            )
            .rstrip()
        )
    return rows


def _flow(blocks: Sequence[Sequence[str]], width: int) -> list[str]:
    """Lay blocks left to right, wrapping to new rows at `width` characters."""
    lines: list[str] = []
    row: list[Sequence[str]] = []
    used = 0
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


def render_text(e: Explanation, width: int | None = None) -> str:
    """The explanation as plain text for a terminal."""
    width = width or shutil.get_terminal_size((100, 24)).columns
    n = e.ndim

    def width_of(a: np.ndarray) -> int:
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
