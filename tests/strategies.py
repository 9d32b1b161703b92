"""Hypothesis strategies: random convolution problems, generated within what each algorithm
(or the public API) supports rather than drawn at large and filtered or skipped."""

from hypothesis import strategies as st

from npconv.compute import Geometry

OPS = ("conv", "conv_transpose", "conv_weight")


def constraints(name):
    """What algorithm `name` needs of a geometry: (kernel fixed per dim or None, stride 1
    only, some stride > 1, dilation 1 only, the ops it runs)."""
    return {
        "winograd": dict(kernel=3, unit_stride=True, unit_dilation=True),
        "shifted": dict(unit_stride=True),
        "mirror": dict(unit_stride=True),
        "phase": dict(strided=True),
        "pointwise": dict(kernel=1),
        "col2im": dict(ops=("conv_transpose",)),
        "direct": dict(ops=("conv",)),
    }.get(name, {})


@st.composite
def problems(draw, name):
    """(op, geometry, (lo, hi) pairs, B, M, N) that algorithm `name` supports."""
    need = constraints(name)
    op = draw(st.sampled_from(need.get("ops", OPS)))
    nd = draw(st.integers(1, 3))
    kernel, stride, dilation, pads, big = [], [], [], [], []
    for axis in range(nd):
        fixed = need.get("kernel")
        if fixed == 3 and axis < nd - 2:
            fixed = None  # Winograd transforms the last two dims only
        k = fixed if fixed is not None else draw(st.integers(1, 4))
        s = 1 if need.get("unit_stride") else draw(st.integers(1, 3))
        d = 1 if need.get("unit_dilation") else draw(st.integers(1, 2))
        lo, hi = draw(st.integers(-1, 2)), draw(st.integers(-1, 2))
        reach = d * (k - 1) + 1 - lo - hi  # smallest big with one output
        size = draw(st.integers(max(1, reach, lo + 1 if lo < 0 else 1), max(1, reach) + 5))
        kernel.append(k), stride.append(s), dilation.append(d), pads.append((lo, hi))
        big.append(size)
    if need.get("strided") and all(s == 1 for s in stride):
        stride[draw(st.integers(0, nd - 1))] = 2
    small = tuple(
        (b + lo + hi - d * (k - 1) - 1) // s + 1
        for b, k, s, d, (lo, hi) in zip(big, kernel, stride, dilation, pads, strict=True)
    )
    groups = draw(st.integers(1, 3))
    b, m, n = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 2))
    g = Geometry(
        tuple(kernel),
        tuple(stride),
        tuple(dilation),
        tuple(lo for lo, _ in pads),
        tuple(big),
        small,
        groups,
    )
    return op, g, tuple(pads), b, m, n


@st.composite
def conv_calls(draw):
    """Keyword arguments of a public conv call, and the input's and weight's shapes, within
    what torch accepts: 1-3 dims, any stride, dilation and groups, padding as ints or
    (lo, hi) pairs in every padding mode (reflect: each pad smaller than the size)."""
    nd = draw(st.integers(1, 3))
    mode = draw(st.sampled_from(["zeros", "reflect", "replicate", "circular"]))
    symmetric = draw(st.booleans())  # padding as ints, else as (lo, hi) pairs
    kernel, stride, dilation, padding, size = [], [], [], [], []
    for _ in range(nd):
        k, s, d = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 2))
        lo = draw(st.integers(0, 2))
        hi = lo if symmetric else draw(st.integers(0, 2))
        reach = d * (k - 1) + 1 - lo - hi
        least = max(1, reach, lo + 1, hi + 1)  # reflect: a pad reaches less than the size
        kernel.append(k), stride.append(s), dilation.append(d)
        size.append(draw(st.integers(least, least + 4)))
        padding.append(lo if symmetric else (lo, hi))
    padding = padding[0] if symmetric and len(set(padding)) == 1 else tuple(padding)
    groups = draw(st.integers(1, 3))
    c_in, c_out = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    options = dict(
        stride=tuple(stride),
        padding=padding,
        dilation=tuple(dilation),
        groups=groups,
        padding_mode=mode,
    )
    x = (draw(st.integers(1, 2)), c_in) + tuple(size)
    w = (c_out, c_in // groups) + tuple(kernel)
    return options, x, w


@st.composite
def conv_transpose_calls(draw):
    """Keyword arguments of a public transposed conv call and its input's and weight's
    shapes: output_padding below the stride or the dilation per dim (torch's rule), the
    padding no larger than the full output it crops."""
    nd = draw(st.integers(1, 3))
    kernel, stride, dilation, padding, output_padding, size = [], [], [], [], [], []
    for _ in range(nd):
        k, s, d = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 2))
        o = draw(st.integers(1, 4))
        op = draw(st.integers(0, max(s, d) - 1))
        full = (o - 1) * s + d * (k - 1) + 1 + op  # the output before the crop
        lo = draw(st.integers(0, min(2, (full - 1) // 2)))
        kernel.append(k), stride.append(s), dilation.append(d), size.append(o)
        padding.append(lo), output_padding.append(op)
    groups = draw(st.integers(1, 3))
    c_in, c_out = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    options = dict(
        stride=tuple(stride),
        padding=tuple(padding),
        output_padding=tuple(output_padding),
        dilation=tuple(dilation),
        groups=groups,
    )
    y = (draw(st.integers(1, 2)), c_in) + tuple(size)
    w = (c_in, c_out // groups) + tuple(kernel)
    return options, y, w
