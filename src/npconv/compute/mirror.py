"""A stride-1 problem as its mirror image: swap the big and small sides.

With stride 1, x[i] = sum_j w[j] y[i - j*d + lo] is a conv of y with the kernel
reversed and its channel axes swapped (geometry.flipped), lo' = (k-1)*d - lo:

    T(x, w, y) = T'(y, flipped(w), x)      T' = the mirrored geometry

so each operation is its partner on the mirrored geometry:

    conv_transpose(y, w)  = conv'(y, flipped(w))
    conv(x, w)            = conv_transpose'(x, flipped(w))
    conv_weight(x, y)     = flipped(conv_weight'(y, x))

The planner uses it for transposed convs whose columns are cheaper on the
small side (im2col of y instead of col2im into x).
"""

from __future__ import annotations

from .geometry import flipped, mirrored

# NaN and Inf do not land where a direct convolution puts them: the mirrored problem
# multiplies the zeros of the other side's border by them, or skips the zeros this side's
# border would multiply
EXACT_NONFINITE = False


def supports(geometry):
    return all(s == 1 for s in geometry.stride)


def variant(p):
    """The algorithm the mirrored problem (big and small sides swapped) runs by."""
    from . import planner

    swapped = {"conv": "conv_transpose", "conv_transpose": "conv"}.get(p.op, p.op)
    inner = p._replace(
        op=swapped,
        geometry=mirrored(p.geometry),
        big_channels=p.small_channels,
        small_channels=p.big_channels,
    )
    return f"mirrored {swapped} by {planner.heuristic_plan(inner).algorithm}"


def conv(x, w, geometry):
    from . import conv_transpose as solve

    return solve(x, flipped(w, geometry.groups), mirrored(geometry))


def conv_transpose(y, w, geometry):
    from . import conv as solve

    return solve(y, flipped(w, geometry.groups), mirrored(geometry))


def conv_weight(x, y, geometry):
    from . import conv_weight as solve

    return flipped(solve(y, x, mirrored(geometry)), geometry.groups)
