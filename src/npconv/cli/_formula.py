"""Size formulas as text with the numbers put in, in the style of the documentation:

    H_out = (50 - 1)*2 - 2*4 + 1*(3 - 1) + 0 + 1 = 93

The result after '=' always comes from npconv.shapes; this module only writes text.
"""

from __future__ import annotations

from .. import shapes
from ..explain import dim_names


def _padding_term(lo, hi):
    return f"2*{lo}" if lo == hi else f"({lo} + {hi})"


def conv_line(name, size, kernel, stride, pair, dilation, result):
    """'L_out = floor((50 + 2*0 - 1*(3 - 1) - 1) / 2) + 1 = 24'"""
    return (
        f"{name} = floor(({size} + {_padding_term(*pair)} - {dilation}*({kernel} - 1) - 1)"
        f" / {stride}) + 1 = {result}"
    )


def conv_transpose_line(name, size, kernel, stride, pair, dilation, output_padding, result):
    """'H_out = (50 - 1)*2 - 2*4 + 1*(3 - 1) + 0 + 1 = 93'"""
    return (
        f"{name} = ({size} - 1)*{stride} - {_padding_term(*pair)} + {dilation}*({kernel} - 1)"
        f" + {output_padding} + 1 = {result}"
    )


def conv_lines(size, kernel, stride, pairs, dilation, suffix="_out"):
    """One conv formula per spatial dim, results from shapes.conv_output_size."""
    out = shapes.conv_output_size(size, kernel, stride, pairs, dilation)
    return [
        conv_line(name + suffix, *values)
        for name, values in zip(
            dim_names(len(size)),
            zip(size, kernel, stride, pairs, dilation, out, strict=True),
            strict=True,
        )
    ]


def conv_transpose_lines(size, kernel, stride, pairs, dilation, output_padding):
    """One transposed-conv formula per spatial dim, results from shapes."""
    out = shapes.conv_transpose_output_size(size, kernel, stride, pairs, dilation, output_padding)
    return [
        conv_transpose_line(name + "_out", *values)
        for name, values in zip(
            dim_names(len(size)),
            zip(size, kernel, stride, pairs, dilation, output_padding, out, strict=True),
            strict=True,
        )
    ]
