"""The pictures as one SVG: every step's frame in a grid like the PNG's, each cell a
<rect> carrying its role, n-d position and label as data attributes.

Separate from raster.py: it needs no Pillow, and its markup is what a browser or a
test reads back.
"""

from __future__ import annotations

import math
from xml.sax.saxutils import escape

from .frames import _FONT, COLORS, HIGHLIGHT, _label_color, frame, grid_columns, layout, tile_origin
from .model import Explanation, number

# --- SVG ----------------------------------------------------------------------------------


def _hex(name: str) -> str:
    return "#{:02x}{:02x}{:02x}".format(*COLORS[name])


def render_svg(e: Explanation) -> str:
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
