"""`npconv solve`: the layers that map one size to another, and the layer that undoes one.

    npconv solve --input 6 --output 12 --transposed
    npconv solve --invert "Conv2d(16, 16, 3, stride=2, padding=1)" --input 12

Each spatial dim is solved on its own by npconv.shapes.solve; for several dims the
combinations of each dim's first --limit answers are ranked by the same order:
fewest keyword arguments, the same numbers in every dim, then the smallest total
of kernel + stride + padding + output_padding + dilation.

The work is bounded before any search: the (kernel, stride, dilation) triples tried,
the answers listed and the combinations ranked are counted from the arguments
(npconv.shapes.candidate_count, count_solutions), and a request beyond a budget is
refused with its sizes.
"""

from __future__ import annotations

import argparse
import itertools
import math

from .. import shapes
from ..explain import dim_names, layer_padding
from . import _formula
from ._layer import class_name, format_layer, parse_layer, parse_shape, spatial_size

MAX_CANDIDATES = 100_000  # (kernel, stride, dilation) triples tried per dim
MAX_ANSWERS = 100_000  # answers listed
MAX_COMBINATIONS = 100_000  # combinations of the dims' answers ranked

DESCRIPTION = """\
List every (kernel, stride, padding, output_padding, dilation) that maps --input to
--output exactly, simplest first (fewest keyword arguments, then the smallest
kernel + stride + padding + output_padding + dilation), as ready-to-paste layer strings.
With --invert LAYER, print the transposed conv (or conv) that maps LAYER's output back
to the size of its input, with its output_padding or output_size."""


def register(subparsers):
    parser = subparsers.add_parser(
        "solve",
        help="find layer parameters for a size change",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--input", required=True, metavar="SIZE", help="input spatial size(s), e.g. 6 or 50,100"
    )
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--output", metavar="SIZE", help="output spatial size(s), e.g. 12")
    target.add_argument(
        "--invert",
        metavar="LAYER",
        help='a layer to undo, e.g. "Conv2d(16, 16, 3, stride=2, padding=1)"',
    )
    parser.add_argument(
        "--transposed", action="store_true", help="solve for a transposed conv (default: a conv)"
    )
    parser.add_argument("--kernel", type=_positive, metavar="K", help="only this kernel size")
    parser.add_argument("--stride", type=_positive, metavar="S", help="only this stride")
    parser.add_argument("--dilation", type=_positive, metavar="D", help="only this dilation")
    parser.add_argument(
        "--max-kernel",
        type=_positive,
        default=7,
        metavar="N",
        help="largest kernel size tried (default 7)",
    )
    parser.add_argument(
        "--max-stride",
        type=_positive,
        default=4,
        metavar="N",
        help="largest stride tried (default 4)",
    )
    parser.add_argument(
        "--max-dilation",
        type=_positive,
        default=3,
        metavar="N",
        help="largest dilation tried (default 3)",
    )
    parser.add_argument(
        "--channels",
        default="C,C",
        metavar="IN,OUT",
        help="channels written into the layer strings (default C,C)",
    )
    parser.add_argument(
        "--limit",
        type=_non_negative,
        default=20,
        metavar="N",
        help="show at most N answers, 0 for all (default 20)",
    )
    parser.set_defaults(func=run)


def _integer_at_least(least, wording):
    """An argparse type: an int >= least, else a usage error in `wording`."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < least:
            raise argparse.ArgumentTypeError(f"expected {wording}, got {text!r}")
        return value

    return parse


_positive = _integer_at_least(1, "a positive integer")
_non_negative = _integer_at_least(0, "an integer >= 0")


def _channels(text):
    parts = [p.strip() for p in text.split(",")]
    if len(parts) == 1:
        parts *= 2
    if len(parts) != 2 or not all(parts):
        raise ValueError(f"--channels must be IN,OUT such as 16,33, but got {text!r}")
    return parts


def _sizes(options):
    sizes_in = parse_shape(options.input)
    sizes_out = parse_shape(options.output, "--output")
    n = max(len(sizes_in), len(sizes_out))
    sizes_in = spatial_size(sizes_in, n) if len(sizes_in) == 1 else sizes_in
    sizes_out = spatial_size(sizes_out, n, "--output") if len(sizes_out) == 1 else sizes_out
    if len(sizes_in) != len(sizes_out):
        raise ValueError(
            f"--input has {len(sizes_in)} sizes and --output {len(sizes_out)}; "
            "give one size or the same number of sizes"
        )
    if any(v < 1 for v in sizes_in + sizes_out):
        raise ValueError("sizes must be positive")
    return sizes_in, sizes_out


def _rank(combo):
    """Order of combined answers: fewest keywords, uniform, smallest total, per-dim order."""
    keywords = {k for s in combo for k in s.keywords()}
    return (
        len(keywords),
        len(set(combo)) > 1,
        sum(sum(s) for s in combo),
        [shapes.simplicity(s) for s in combo],
    )


def _layer_string(name, channels, combo):
    kernel, stride, padding, output_padding, dilation = zip(*combo, strict=True)
    return format_layer(
        name,
        channels[0],
        channels[1],
        kernel,
        stride,
        tuple((p, p) for p in padding),
        output_padding,
        dilation,
    )


def _formulas(combo, sizes_in, transposed):
    kernel, stride, padding, output_padding, dilation = zip(*combo, strict=True)
    pairs = tuple((p, p) for p in padding)
    if transposed:
        return _formula.conv_transpose_lines(
            sizes_in, kernel, stride, pairs, dilation, output_padding
        )
    return _formula.conv_lines(sizes_in, kernel, stride, pairs, dilation)


def solve(options):
    sizes_in, sizes_out = _sizes(options)
    n = len(sizes_in)
    kernels = [options.kernel] if options.kernel else range(1, options.max_kernel + 1)
    strides = [options.stride] if options.stride else range(1, options.max_stride + 1)
    dilations = [options.dilation] if options.dilation else range(1, options.max_dilation + 1)
    ranges = f"kernel {_span(kernels)}, stride {_span(strides)} and dilation {_span(dilations)}"
    candidates = shapes.candidate_count(kernels, strides, dilations)
    if candidates > MAX_CANDIDATES:
        raise ValueError(
            f"the search would try {candidates:,} (kernel, stride, dilation) "
            f"combinations per dim ({ranges}); npconv solve tries at most "
            f"{MAX_CANDIDATES:,}: lower --max-kernel, --max-stride or "
            "--max-dilation, or fix --kernel, --stride or --dilation"
        )
    limit = options.limit or None
    totals = []
    for name, a, b in zip(dim_names(n), sizes_in, sizes_out, strict=True):
        total = shapes.count_solutions(a, b, options.transposed, kernels, strides, dilations)
        if not total:
            what = "transposed conv" if options.transposed else "conv"
            raise ValueError(
                f"no {what} with {ranges} maps {a} to {b}"
                + (f" (dim {name})" if n > 1 else "")
                + "; try --transposed, or raise --max-kernel, --max-stride, --max-dilation"
            )
        totals.append(total)
    pools = [min(total, limit) if limit else total for total in totals]
    if n == 1 and pools[0] > MAX_ANSWERS:
        raise ValueError(
            f"{totals[0]:,} layers map {sizes_in[0]} to {sizes_out[0]} ({ranges}); "
            f"npconv solve lists at most {MAX_ANSWERS:,}: give --limit N"
        )
    if n > 1 and math.prod(pools) > MAX_COMBINATIONS:
        raise ValueError(
            f"ranking the combinations of each dim's answers would take "
            f"{' x '.join(f'{p:,}' for p in pools)} = {math.prod(pools):,} "
            f"combinations; npconv solve ranks at most {MAX_COMBINATIONS:,}: "
            "lower --limit (0 means all) or the --max-* ranges"
        )
    per_dim = [
        shapes.solve(a, b, options.transposed, kernels, strides, dilations, limit=pool)
        for a, b, pool in zip(sizes_in, sizes_out, pools, strict=True)
    ]
    counted = totals[0] if n == 1 else None
    combos = sorted(itertools.product(*per_dim), key=_rank)
    shown = combos[:limit]
    name = class_name(options.transposed, n)
    channels = _channels(options.channels)
    strings = [_layer_string(name, channels, combo) for combo in shown]
    width = max(len(s) for s in strings)
    arrow = " x ".join(map(str, sizes_in)) + " -> " + " x ".join(map(str, sizes_out))
    print(
        f"# {name}: {arrow}, simplest first (fewest keywords, then the smallest kernel + "
        f"stride + padding + output_padding + dilation); {ranges}"
    )
    for text, combo in zip(strings, shown, strict=True):
        lines = _formulas(combo, sizes_in, options.transposed)
        print(f"{text.ljust(width)}  # " + "; ".join(lines))
    if counted is not None and counted > len(shown):
        more = "--limit 0 shows all" if counted <= MAX_ANSWERS else "raise --limit for more"
        print(f"# {len(shown)} of {counted:,} shown; {more}")
    elif counted is None and limit and len(combos) > len(shown):
        print(f"# the first {len(shown)} shown; raise --limit for more")
    return 0


def _span(values):
    values = list(values)
    return str(values[0]) if len(values) == 1 else f"{values[0]}..{values[-1]}"


def invert(options):
    """The layer mapping LAYER's output back to its input size."""
    layer = parse_layer(options.invert)
    if not hasattr(layer, "transposed"):
        raise ValueError(
            f"--invert takes a Conv or ConvTranspose layer, not {type(layer).__name__}"
        )
    n = len(layer.kernel_size)
    given = parse_shape(options.input)
    size = spatial_size(given, n)
    pairs = layer_padding(layer, size)
    k, s, d = layer.kernel_size, layer.stride, layer.dilation
    in_channels = layer.in_channels or (given[-n - 1] if len(given) > n else "C")
    out_channels = layer.out_channels
    if layer.transposed:
        shapes.check_conv_transpose_size(size, k, s, pairs, d, layer.output_padding)
        middle = shapes.conv_transpose_output_size(size, k, s, pairs, d, layer.output_padding)
        forward_lines = _formula.conv_transpose_lines(size, k, s, pairs, d, layer.output_padding)
    else:
        shapes.check_conv_size(size, k, pairs, d)
        middle = shapes.conv_output_size(size, k, s, pairs, d)
        forward_lines = _formula.conv_lines(size, k, s, pairs, d)
    text = " x ".join(map(str, size))
    mid = " x ".join(map(str, middle))
    print(f"{repr(layer).splitlines()[0]} maps {text} to {mid}:")
    print("\n".join("  " + line for line in forward_lines))
    back = class_name(not layer.transposed, n)
    common = dict(
        stride=s, padding=pairs, dilation=d, groups=layer.groups, padding_mode=layer.padding_mode
    )
    if layer.transposed:
        if any(v < 0 for pair in pairs for v in pair):
            raise ValueError(
                f"padding {pairs} extends this transposed conv's output; a conv "
                "cannot undo that with negative padding"
            )
        restored = shapes.conv_output_size(middle, k, s, pairs, d)
        if restored != size:
            raise ValueError(
                f"a conv with the same parameters maps {mid} to "
                f"{' x '.join(map(str, restored))}, not back to {text}"
            )
        print(
            f"{format_layer(back, out_channels, in_channels, k, **common)} maps {mid} back "
            f"to {text}:"
        )
        print("\n".join("  " + line for line in _formula.conv_lines(middle, k, s, pairs, d)))
        return 0
    output_padding = shapes.output_padding_for(middle, size, k, s, pairs, d)
    up = format_layer(back, out_channels, in_channels, k, output_padding=output_padding, **common)
    print(f"{up} maps {mid} back to {text}:")
    lines = _formula.conv_transpose_lines(middle, k, s, pairs, d, output_padding)
    print("\n".join("  " + line for line in lines))
    smallest, largest = shapes.conv_transpose_size_range(middle, k, s, pairs, d)
    if any(output_padding):
        ranges = ", ".join(f"{lo}..{hi}" for lo, hi in zip(smallest, largest, strict=True))
        print(
            f"or keep output_padding=0 and ask for the size when calling it "
            f"(output_size may be {ranges} per dim):"
        )
        print(f"  up = {format_layer(back, out_channels, in_channels, k, **common)}")
        print(f"  up(h, output_size={tuple(size)})")
    return 0


def run(options):
    if options.invert:
        if options.transposed:
            raise ValueError("--invert takes the direction from LAYER; leave out --transposed")
        return invert(options)
    return solve(options)
