"""How every output cell of a convolution is computed: the steps as data, then
drawn as text, an animated GIF, a PNG grid of all steps, or an SVG; `to_html` writes
the interactive page instead (page.py, whose engine runs in the browser).

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

The package's modules, each one job:

    model    the steps as data (Axis, Step, Explanation, build) and the budgets
    view     the 2-d grids every rendering cuts an n-d explanation into
    text     render_text: the explanation for a terminal
    frames   each step's picture as Boxes and Texts in pixels (layout, frame, COLORS)
    raster   those painted with Pillow: write_gif, write_png
    svg      those written as SVG: render_svg
    files    file_format and write: which format a path names
    page     to_html: the interactive HTML page and its limits

This module re-exports their public names, so `npconv.explain.build` and the like are
the API.

>>> from npconv import nn
>>> e = build(nn.ConvTranspose1d(1, 1, 3, stride=2), (2,))
>>> e.output.tolist()
[1.0, 2.0, 5.0, 4.0, 6.0]
>>> e.equation(e.steps[2])
'out[2] = 1*3 + 2*1 = 5'
"""

from .files import FORMATS, file_format, write
from .frames import COLORS, HIGHLIGHT, Box, Layout, Text, frame, grid_columns, layout, tile_origin
from .model import (
    MAX_CELLS,
    MAX_STEPS,
    Axis,
    Explanation,
    Step,
    axes_of,
    build,
    check_budget,
    check_kernel,
    dim_names,
    layer_padding,
    number,
)
from .page import to_html
from .raster import (
    MAX_GIF_PIXELS,
    MAX_PNG_PIXELS,
    png_pages,
    render_image,
    write_gif,
    write_png,
)
from .svg import render_svg
from .text import render_text
from .view import output_padding_cells, panels

__all__ = [
    "COLORS",
    "FORMATS",
    "HIGHLIGHT",
    "MAX_CELLS",
    "MAX_GIF_PIXELS",
    "MAX_PNG_PIXELS",
    "MAX_STEPS",
    "Axis",
    "Box",
    "Explanation",
    "Layout",
    "Step",
    "Text",
    "axes_of",
    "build",
    "check_budget",
    "check_kernel",
    "dim_names",
    "file_format",
    "frame",
    "grid_columns",
    "layer_padding",
    "layout",
    "number",
    "output_padding_cells",
    "panels",
    "png_pages",
    "render_image",
    "render_svg",
    "render_text",
    "tile_origin",
    "to_html",
    "write",
    "write_gif",
    "write_png",
]
