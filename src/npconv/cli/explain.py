"""`npconv explain LAYER --input SIZE [-o FILE]`: how every output cell is computed.

A thin front for npconv.explain: parse the layer, check from the shapes alone that the
request fits explain's budgets, build the explanation (which runs the layer and checks
every step against it), then print it as text or write it as .gif / .png / .svg, or write
the interactive .html page.
"""

from __future__ import annotations

import argparse
import os

from .. import explain
from ._layer import bind_layer, build_layer, kernel_of, parse_shape, spatial_size

DESCRIPTION = """\
Show how every output cell of LAYER is computed, in the style of the
convolution-arithmetic animations: the kernel slides over the canvas (the padded
input of a conv; for a transposed conv the input spread out by stride-1 inserted
zeros inside a border of dilation*(kernel-1)-padding zeros, with output_padding
added at the end) and each position gives one output cell. The example input holds
1..n and the weight 1..K (one channel, no bias), and every step is checked against
the npconv layer's own output. 1-d and 2-d layers are drawn whole; a 3-d layer
explains one output depth slice (--depth, the middle one by default).

Without -o the explanation is printed as text. -o FILE.gif writes an animation with
one frame per output cell, FILE.png a grid of all steps (--page N for one page of a
grid too large for one image), FILE.svg the same grid as SVG. GIF and PNG need Pillow
(pip install 'npconv[viz]'). -o FILE.html writes one self-contained interactive page
(no network needed) with every channel and group, hover to see each sum, and controls
for every argument.

Requests too large to draw are refused at once, from the sizes alone, with the
sizes they would need."""


def _count(text):
    """A positive count, also written as 1e9 or 100_000."""
    try:
        value = float(text.replace("_", "")) if "e" in text.lower() else int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, but got {text!r}") from None
    if value != int(value) or value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, but got {text!r}")
    return int(value)


def register(subparsers):
    parser = subparsers.add_parser(
        "explain",
        help="draw how each output cell is computed",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "layer", metavar="LAYER", help='e.g. "ConvTranspose2d(1, 1, 3, stride=2, padding=1)"'
    )
    parser.add_argument(
        "--input",
        required=True,
        metavar="SIZE",
        help="spatial input size, e.g. 3,3 (one number is used for every dim; "
        "a whole N,C,*spatial shape works too)",
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write FILE.gif (animation), FILE.png or FILE.svg (grid of steps), "
        "or FILE.html (interactive page)",
    )
    parser.add_argument(
        "--depth", type=int, metavar="D", help="for a 3-d layer, the output depth slice to explain"
    )
    parser.add_argument(
        "--max-steps",
        type=_count,
        default=explain.MAX_STEPS,
        metavar="N",
        help=f"refuse outputs of more than N cells (default {explain.MAX_STEPS}; "
        f"at most {explain.MAX_CELLS:,} cells are drawn in all)",
    )
    parser.add_argument(
        "--page",
        type=_count,
        metavar="N",
        help="for a PNG grid too large for one image, draw page N of it",
    )
    parser.add_argument(
        "--width", type=int, metavar="COLUMNS", help="text width (default: the terminal's)"
    )
    parser.set_defaults(func=run)


def check_output_path(path: str) -> str:
    """Refuse a file name whose format is unknown or whose folder does not exist, before
    any work is done."""
    kind = explain.file_format(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ValueError(f"cannot write {path}: the folder {folder} does not exist")
    return kind


def run(options):
    kind = check_output_path(options.output) if options.output else "text"
    if options.page is not None and kind != "png":
        raise ValueError("--page applies to PNG grids only")
    cls, bound = bind_layer(options.layer)
    if not hasattr(cls, "_transposed"):
        raise ValueError(f"explain draws Conv and ConvTranspose layers, not {cls.__name__}")
    kernel = kernel_of(cls, bound)
    if kernel is not None:
        explain.check_kernel(kernel)  # before the layer allocates its weights
    layer = build_layer(cls, bound)
    size = spatial_size(parse_shape(options.input), len(layer.kernel_size))
    if options.depth is not None and len(size) != 3:
        raise ValueError("--depth applies to 3-d layers only")
    if kind == "html":
        if options.depth is not None:
            raise ValueError(
                "--depth applies to text, GIF, PNG and SVG; the HTML page shows every depth slice"
            )
        explain.to_html(layer, size, options.output)
        print(f"wrote {options.output}: an interactive page of {layer!r}".splitlines()[0])
        return 0
    e = explain.build(layer, size, depth=options.depth, max_steps=options.max_steps)
    if kind == "png":
        shown = explain.write_png(e, options.output, options.page)
        _, pages = explain.png_pages(e)
        if pages > 1:
            print(
                f"wrote {options.output}: steps {shown.start + 1}..{shown.stop} of "
                f"{len(e.steps)} (page {options.page} of {pages}), one per output cell"
            )
        else:
            print(f"wrote {options.output}: {len(e.steps)} steps, one per output cell")
    elif options.output:
        explain.write(e, options.output)
        print(f"wrote {options.output}: {len(e.steps)} steps, one per output cell")
    else:
        print(explain.render_text(e, options.width), end="")
    return 0
