"""`npconv explain LAYER --input SIZE [-o FILE]`: how every output cell is computed.

A thin front for npconv.explain: parse the layer, build the explanation (which
runs the layer and checks every step against it), then print it as text or
write it as .gif / .png / .svg.
"""
from __future__ import annotations

import argparse

from .. import explain
from ._layer import parse_layer, parse_shape, spatial_size

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
one frame per output cell, FILE.png a grid of all steps, FILE.svg the same grid as
SVG. GIF and PNG need Pillow (pip install 'npconv[viz]')."""


def register(subparsers):
    parser = subparsers.add_parser("explain", help="draw how each output cell is computed",
                                   description=DESCRIPTION,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("layer", metavar="LAYER",
                        help='e.g. "ConvTranspose2d(1, 1, 3, stride=2, padding=1)"')
    parser.add_argument("--input", required=True, metavar="SIZE",
                        help="spatial input size, e.g. 3,3 (one number is used for every dim; "
                             "a whole N,C,*spatial shape works too)")
    parser.add_argument("-o", "--output", metavar="FILE",
                        help="write FILE.gif (animation), FILE.png or FILE.svg (grid of steps)")
    parser.add_argument("--depth", type=int, metavar="D",
                        help="for a 3-d layer, the output depth slice to explain")
    parser.add_argument("--max-steps", type=int, default=explain.MAX_STEPS, metavar="N",
                        help=f"refuse outputs of more than N cells (default {explain.MAX_STEPS})")
    parser.add_argument("--width", type=int, metavar="COLUMNS",
                        help="text width (default: the terminal's)")
    parser.set_defaults(func=run)


def run(options):
    layer = parse_layer(options.layer)
    if not hasattr(layer, "transposed"):
        raise ValueError(f"explain draws Conv and ConvTranspose layers, not "
                         f"{type(layer).__name__}")
    size = spatial_size(parse_shape(options.input), len(layer.kernel_size))
    if options.depth is not None and len(size) != 3:
        raise ValueError("--depth applies to 3-d layers only")
    e = explain.build(layer, size, depth=options.depth, max_steps=options.max_steps)
    if options.output:
        explain.write(e, options.output)
        print(f"wrote {options.output}: {len(e.steps)} steps, one per output cell")
    else:
        print(explain.render_text(e, options.width), end="")
    return 0
