"""Shape arithmetic for every layer npconv has: pure functions on tuples of ints.

This module is the single source of size formulas; the engine, the modules and
the command line all call it. Per spatial dimension, with padding as (lo, hi):

    conv:            out = floor((size + lo + hi - dilation*(kernel-1) - 1) / stride) + 1
    conv_transpose:  out = (size-1)*stride - lo - hi + dilation*(kernel-1) + output_padding + 1

torch's symmetric `padding=p` is the pair (p, p), so 2p becomes lo + hi.
All functions take and return tuples with one entry per spatial dimension.

>>> conv_output_size((50, 100), (3, 5), (2, 1), ((4, 4), (2, 2)), (1, 1))
(28, 100)
>>> conv_transpose_output_size((50, 100), (3, 5), (2, 1), ((4, 4), (2, 2)), (1, 1), (0, 0))
(93, 100)
"""

from __future__ import annotations

import heapq
import inspect
import math
from collections.abc import Sequence
from typing import NamedTuple

Ints = Sequence[int]  # one int per spatial dim
Pairs = Sequence[Sequence[int]]  # one (lo, hi) pair per spatial dim

__all__ = [
    "Solution",
    "check_conv_size",
    "check_conv_transpose_size",
    "conv_flops",
    "conv_output_size",
    "conv_paddings_for",
    "conv_transpose_flops",
    "conv_transpose_output_size",
    "conv_transpose_paddings_for",
    "conv_transpose_same_padding",
    "conv_transpose_size_range",
    "dim_labels",
    "effective_kernel",
    "output_padding_for",
    "padding_repr",
    "parameter_count",
    "same_padding",
    "simplicity",
    "solve",
    "spell",
    "unfold_output_shape",
    "window_span",
]


def _fmt(values):
    return " x ".join(str(v) for v in values)


def dim_labels(n: int) -> tuple[str, ...]:
    """Names of n spatial dims in torch's messages: width; height, width; depth, height, width.

    Four and more dims are named dim0, dim1, ...

    >>> dim_labels(2), dim_labels(4)
    (('height', 'width'), ('dim0', 'dim1', 'dim2', 'dim3'))
    """
    return {1: ("width",), 2: ("height", "width"), 3: ("depth", "height", "width")}.get(
        n, tuple(f"dim{i}" for i in range(n))
    )


def spell(label: str, values: Ints) -> str:
    """Per-dim values as torch writes them in its messages: label_dim: value, ...

    >>> spell("stride", (2, 1))
    'stride_height: 2 stride_width: 1'
    """
    return " ".join(
        f"{label}_{name}: {v}" for name, v in zip(dim_labels(len(values)), values, strict=True)
    )


def effective_kernel(kernel: Ints, dilation: Ints) -> tuple[int, ...]:
    """Extent of a dilated kernel: dilation*(kernel-1) + 1 per dim.

    The number of input positions one window covers, from its first tap to its last.

    >>> effective_kernel((3, 1), (2, 5))
    (5, 1)
    """
    return tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=True))


def window_span(blocks: Ints, kernel: Ints, stride: Ints, dilation: Ints) -> tuple[int, ...]:
    """Extent of the input that `blocks` windows touch: (blocks-1)*stride + dilation*(kernel-1) + 1.

    >>> window_span((3,), (3,), (2,), (1,))
    (7,)
    """
    return tuple(
        (b - 1) * s + e
        for b, s, e in zip(blocks, stride, effective_kernel(kernel, dilation), strict=True)
    )


def conv_output_size(
    size: Ints, kernel: Ints, stride: Ints, padding: Pairs, dilation: Ints
) -> tuple[int, ...]:
    """Output size of a convolution (and the number of unfold blocks) per dim.

    floor((size + lo + hi - dilation*(kernel-1) - 1) / stride) + 1, with padding as
    (lo, hi) pairs. The result can be < 1 for a kernel larger than the padded input:
    check_conv_size raises torch's error for that.

    >>> conv_output_size((50,), (3,), (2,), ((0, 0),), (1,))
    (24,)
    >>> conv_output_size((7, 7), (3, 3), (1, 1), ((1, 1), (0, 2)), (1, 2))
    (7, 5)
    """
    return tuple(
        (n + lo + hi - e) // s + 1
        for n, e, s, (lo, hi) in zip(
            size, effective_kernel(kernel, dilation), stride, padding, strict=True
        )
    )


def check_conv_size(size: Ints, kernel: Ints, padding: Pairs, dilation: Ints) -> None:
    """Raise torch's error when a dilated kernel is larger than the padded input.

    >>> check_conv_size((2,), (3,), ((0, 0),), (1,))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: Calculated padded input size per channel: (2). Kernel size: (3). Kernel ...
    """
    padded = tuple(n + lo + hi for n, (lo, hi) in zip(size, padding, strict=True))
    extent = effective_kernel(kernel, dilation)
    if any(p < e for p, e in zip(padded, extent, strict=True)):
        raise ValueError(
            f"Calculated padded input size per channel: ({_fmt(padded)}). "
            f"Kernel size: ({_fmt(extent)}). Kernel size can't be greater than actual input size"
        )


def conv_transpose_output_size(
    size: Ints, kernel: Ints, stride: Ints, padding: Pairs, dilation: Ints, output_padding: Ints
) -> tuple[int, ...]:
    """Output size of a transposed convolution per dim.

    (size-1)*stride - lo - hi + dilation*(kernel-1) + output_padding + 1, with padding
    as (lo, hi) pairs: the largest input a conv of the same arguments maps to `size`,
    less the output_padding it leaves out.

    >>> conv_transpose_output_size((6, 6), (3, 3), (2, 2), ((1, 1), (1, 1)), (1, 1), (1, 0))
    (12, 11)
    """
    return tuple(
        (n - 1) * s - lo - hi + e + op
        for n, e, s, (lo, hi), op in zip(
            size, effective_kernel(kernel, dilation), stride, padding, output_padding, strict=True
        )
    )


def check_conv_transpose_size(
    size: Ints, kernel: Ints, stride: Ints, padding: Pairs, dilation: Ints, output_padding: Ints
) -> tuple[int, ...]:
    """The transposed conv's output size, or torch's error for an output_padding too large
    or an output smaller than 1.

    >>> check_conv_transpose_size((4,), (3,), (2,), ((1, 1),), (1,), (2,))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: output padding must be smaller than either stride or dilation, but got ...
    """
    if any(op >= s and op >= d for op, s, d in zip(output_padding, stride, dilation, strict=True)):
        raise ValueError(
            "output padding must be smaller than either stride or dilation, "
            "but got "
            + " ".join(
                (
                    spell("output_padding", output_padding),
                    spell("stride", stride),
                    spell("dilation", dilation),
                )
            )
        )
    out = conv_transpose_output_size(size, kernel, stride, padding, dilation, output_padding)
    if any(o < 1 for o in out):
        raise ValueError(
            f"Given input size per channel: ({_fmt(size)}). Calculated output size "
            f"per channel: ({_fmt(out)}). Output size is too small"
        )
    return out


def conv_transpose_size_range(
    size: Ints, kernel: Ints, stride: Ints, padding: Pairs, dilation: Ints
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(smallest, largest) output sizes a transposed conv can produce, per dim.

    output_padding picks one size in [smallest, smallest + stride - 1]; this is
    the range torch accepts for `output_size`.

    >>> conv_transpose_size_range((6,), (3,), (2,), ((1, 1),), (1,))
    ((11,), (12,))
    """
    smallest = conv_transpose_output_size(size, kernel, stride, padding, dilation, (0,) * len(size))
    return smallest, tuple(m + s - 1 for m, s in zip(smallest, stride, strict=True))


def output_padding_for(
    size: Ints, output_size: Ints, kernel: Ints, stride: Ints, padding: Pairs, dilation: Ints
) -> tuple[int, ...]:
    """The output_padding that makes a transposed conv produce `output_size`.

    Raises a ValueError naming the valid range when output_size is outside it
    (see conv_transpose_size_range).

    >>> output_padding_for((6, 6), (12, 11), (3, 3), (2, 2), ((1, 1), (1, 1)), (1, 1))
    (1, 0)
    """
    smallest, largest = conv_transpose_size_range(size, kernel, stride, padding, dilation)
    if any(
        not lo <= want <= hi for want, lo, hi in zip(output_size, smallest, largest, strict=True)
    ):
        raise ValueError(
            f"requested an output size of {list(output_size)}, but valid sizes range from "
            f"{list(smallest)} to {list(largest)} (for an input of {list(size)})"
        )
    return tuple(want - lo for want, lo in zip(output_size, smallest, strict=True))


def same_padding(kernel: Ints, dilation: Ints) -> tuple[tuple[int, int], ...]:
    """Padding pairs for conv padding='same' at stride 1, torch's split.

    The total dilation*(kernel-1) is split with the extra element at the end
    (for even kernels), as torch does.

    >>> same_padding((3, 4), (1, 1))
    ((1, 1), (1, 2))
    """
    pairs = []
    for k, d in zip(kernel, dilation, strict=True):
        total = d * (k - 1)
        pairs.append((total // 2, total - total // 2))
    return tuple(pairs)


def conv_transpose_same_padding(
    size: Ints, kernel: Ints, stride: Ints, dilation: Ints, output_padding: Ints
) -> tuple[tuple[int, int], ...]:
    """Crop pairs for conv_transpose padding='same': output = size * stride.

    Follows ONNX ConvTranspose auto_pad='SAME_UPPER': total = full - target,
    begin = total // 2, end = total - begin. When kernel < stride the total is
    negative and the 'crop' extends the output instead.

    >>> conv_transpose_same_padding((3,), (3,), (2,), (1,), (0,))
    ((0, 1),)
    """
    pairs = []
    for n, e, s, op in zip(
        size, effective_kernel(kernel, dilation), stride, output_padding, strict=True
    ):
        total = (n - 1) * s + e + op - n * s
        pairs.append((total // 2, total - total // 2))
    return tuple(pairs)


def unfold_output_shape(
    size: Ints, kernel: Ints, stride: Ints, padding: Pairs, dilation: Ints
) -> tuple[int, ...]:
    """Number of sliding blocks per dim; raise torch's error when one is < 1.

    The count is conv_output_size's; unfold's L is their product.

    >>> unfold_output_shape((4, 4), (2, 2), (2, 2), ((0, 0), (0, 0)), (1, 1))
    (2, 2)
    """
    blocks = conv_output_size(size, kernel, stride, padding, dilation)
    if any(b < 1 for b in blocks):
        raise ValueError(
            f"Given input with spatial size {tuple(size)}, kernel_size={tuple(kernel)}, "
            f"dilation={tuple(dilation)}, padding={padding_repr(padding)}, calculated shape of "
            f"the array of sliding blocks as {blocks}, but its components must be at least one."
        )
    return blocks


def padding_repr(padding: Pairs) -> tuple:
    """Symmetric pairs as torch prints padding (a tuple of ints); asymmetric ones as pairs.

    >>> padding_repr(((1, 1), (2, 2))), padding_repr(((1, 0),))
    ((1, 2), ((1, 0),))
    """
    if all(lo == hi for lo, hi in padding):
        return tuple(lo for lo, _ in padding)
    return tuple(padding)


def conv_flops(
    batch: int, in_channels: int, out_channels: int, groups: int, kernel: Ints, out_size: Ints
) -> int:
    """Multiply-adds times two of a convolution, counted on its output.

    Each output element sums in_channels/groups * prod(kernel) products; padding
    counts as if it were data (as the usual FLOP counts do).

    >>> conv_flops(1, 16, 32, 1, (3, 3), (10, 10))
    921600
    """
    return (
        2 * batch * (in_channels // groups) * out_channels * math.prod(kernel) * math.prod(out_size)
    )


def conv_transpose_flops(
    batch: int, in_channels: int, out_channels: int, groups: int, kernel: Ints, in_size: Ints
) -> int:
    """Multiply-adds times two of a transposed convolution, counted on its input.

    Each input element is spread over out_channels/groups * prod(kernel) outputs: the
    same count as the conv whose input gradient this is.

    >>> conv_transpose_flops(1, 16, 32, 1, (3, 3), (10, 10))
    921600
    """
    return (
        2 * batch * (in_channels // groups) * out_channels * math.prod(kernel) * math.prod(in_size)
    )


def parameter_count(
    in_channels: int, out_channels: int, groups: int, kernel: Ints, bias: bool = True
) -> int:
    """Weights plus biases of a conv or transposed conv layer.

    >>> parameter_count(16, 33, 1, (3, 5))          # ConvTranspose2d(16, 33, (3, 5))
    7953
    """
    return in_channels // groups * out_channels * math.prod(kernel) + (out_channels if bias else 0)


# --- solving for parameters (one spatial dimension at a time, plain ints) -------------------
#
# The formulas above run forwards; `solve` runs them backwards. Per dimension, with e the
# dilated kernel extent d*(k-1) + 1 and symmetric padding p:
#
#   conv:       floor((n + 2p - e) / s) + 1 = out   <=>   (out-1)*s <= n + 2p - e <= (out-1)*s + s-1
#   transposed: (n-1)*s - 2p + e + op = out         <=>   2p = (n-1)*s + e + op - out
#
# so for a conv every p with 2p in a window of s consecutive values works, and for a
# transposed conv each output_padding op (0 <= op < max(s, d), torch's bound) fixes p.


class Solution(NamedTuple):
    """One parameter set for one spatial dimension; the defaults are torch's.

    What `solve` lists: a kernel size with the stride, padding, output_padding and
    dilation that map one size to another.

    >>> Solution(3, stride=2, padding=1).keywords()
    ('stride', 'padding')
    """

    kernel: int
    stride: int = 1
    padding: int = 0
    output_padding: int = 0
    dilation: int = 1

    def keywords(self) -> tuple[str, ...]:
        """The keyword arguments a layer string needs: those that differ from their default."""
        return tuple(
            name
            for name, default in (
                ("stride", 1),
                ("padding", 0),
                ("output_padding", 0),
                ("dilation", 1),
            )
            if getattr(self, name) != default
        )


def simplicity(solution: Solution) -> tuple[int, ...]:
    """Sort key of `solve`: fewest keywords, then smallest total, then the plainest.

    The total is kernel + stride + padding + output_padding + dilation; ties go to the
    smaller dilation, stride, padding, output_padding, then kernel.

    >>> simplicity(Solution(4, stride=2, padding=1))
    (2, 8, 1, 2, 1, 0, 4)
    """
    k, s, p, op, d = solution
    return (len(solution.keywords()), k + s + p + op + d, d, s, p, op, k)


def conv_paddings_for(
    size: int, output_size: int, kernel: int, stride: int, dilation: int
) -> list[int]:
    """Every symmetric padding with which a conv maps `size` to `output_size` (one dim).

    >>> conv_paddings_for(12, 6, 3, 2, 1)
    [1]
    >>> conv_paddings_for(50, 24, 3, 2, 1)
    [0]
    >>> conv_paddings_for(10, 3, 1, 4, 1)
    [0, 1]
    """
    extent = dilation * (kernel - 1) + 1
    least = (output_size - 1) * stride + extent - size  # smallest 2p
    first = max(0, (least + 1) // 2)
    return [
        p
        for p in range(first, (least + stride - 1) // 2 + 1)
        if conv_output_size((size,), (kernel,), (stride,), ((p, p),), (dilation,)) == (output_size,)
    ]


def conv_transpose_paddings_for(
    size: int, output_size: int, kernel: int, stride: int, dilation: int
) -> list[tuple[int, int]]:
    """Every (padding, output_padding) with which a transposed conv maps `size` to
    `output_size` (one dim), output_padding ascending; output_padding < max(stride, dilation).

    >>> conv_transpose_paddings_for(6, 12, 4, 2, 1)
    [(1, 0)]
    >>> conv_transpose_paddings_for(6, 12, 3, 2, 1)
    [(1, 1)]
    >>> conv_transpose_paddings_for(50, 93, 3, 2, 1)
    [(4, 0)]
    """
    extent = dilation * (kernel - 1) + 1
    found = []
    for op in range(max(stride, dilation)):
        twice = (size - 1) * stride + extent + op - output_size
        if twice >= 0 and twice % 2 == 0:
            p = twice // 2
            if conv_transpose_output_size(
                (size,), (kernel,), (stride,), ((p, p),), (dilation,), (op,)
            ) == (output_size,):
                found.append((p, op))
    return found


def candidate_count(kernels, strides, dilations) -> int:
    """How many (kernel, stride, dilation) triples `solve` tries: a kernel of 1 ignores
    dilation, so it is tried with dilation 1 only.

    >>> candidate_count(range(1, 8), range(1, 5), range(1, 4))
    76
    """
    ones = 1 in kernels
    return (len(kernels) - ones) * len(strides) * len(dilations) + ones * len(strides) * (
        1 in dilations
    )


def _runs(size, output_size, transposed, kernels, strides, dilations):
    """Per (kernel, stride, dilation) with answers: (k, s, d, first, count, step).

    The answers of one triple form a run, each simpler than the next (see `simplicity`):
    for a conv the paddings first, first + 1, ... (2p in a window of s values); for a
    transposed conv the output_paddings first, first + 2, ... below max(s, d) (2p must
    be even), each fixing its padding. Closed forms of conv_paddings_for and
    conv_transpose_paddings_for, so counting costs nothing per answer.
    """
    for k in kernels:
        for s in strides:
            for d in dilations:
                if k == 1 and d != 1:
                    continue
                extent = d * (k - 1) + 1
                if transposed:
                    least = output_size - (size - 1) * s - extent  # smallest op: 2p >= 0
                    first = max(0, least)
                    first += (first - least) % 2  # 2p even
                    count = max(0, (max(s, d) - first + 1) // 2)
                    step = 2
                else:
                    least = (output_size - 1) * s + extent - size  # smallest 2p
                    first = max(0, (least + 1) // 2)
                    count = max(0, (least + s - 1) // 2 - first + 1)
                    step = 1
                if count:
                    yield k, s, d, first, count, step


def _answer(transposed, size, output_size, k, s, d, value):
    """The Solution of a run at padding (conv) or output_padding (transposed) `value`."""
    if not transposed:
        return Solution(k, s, value, 0, d)
    twice = (size - 1) * s + d * (k - 1) + 1 + value - output_size
    return Solution(k, s, twice // 2, value, d)


def count_solutions(
    size: int,
    output_size: int,
    transposed: bool = False,
    kernels=range(1, 8),
    strides=range(1, 5),
    dilations=range(1, 4),
) -> int:
    """How many Solutions `solve` would list, without listing them.

    >>> count_solutions(6, 12, transposed=True), len(solve(6, 12, transposed=True))
    (105, 105)
    """
    return sum(run[4] for run in _runs(size, output_size, transposed, kernels, strides, dilations))


def solve(
    size: int,
    output_size: int,
    transposed: bool = False,
    kernels: Sequence[int] = range(1, 8),
    strides: Sequence[int] = range(1, 5),
    dilations: Sequence[int] = range(1, 4),
    limit: int | None = None,
) -> list[Solution]:
    """Every Solution mapping `size` to `output_size` (one dim) with kernel, stride and
    dilation drawn from the given ranges, simplest first (see `simplicity`); only the
    first `limit` when given, found without making the others. A kernel of 1 ignores
    dilation, so it is listed with dilation 1 only.

    >>> [tuple(s) for s in solve(6, 12, transposed=True)][:3]
    [(7, 1, 0, 0, 1), (2, 2, 0, 0, 1), (4, 1, 0, 0, 2)]
    >>> solve(12, 6, kernels=[3], strides=[2], dilations=[1])
    [Solution(kernel=3, stride=2, padding=1, output_padding=0, dilation=1)]
    """
    if size < 1 or output_size < 1:
        raise ValueError(f"sizes must be positive, but got input {size} and output {output_size}")
    runs = _runs(size, output_size, transposed, kernels, strides, dilations)
    if limit is None:
        found = [
            _answer(transposed, size, output_size, k, s, d, first + i * step)
            for k, s, d, first, count, step in runs
            for i in range(count)
        ]
        return sorted(found, key=simplicity)
    # a merge of the runs, each sorted: the simplest head is the next answer
    heap = []
    for k, s, d, first, count, step in runs:
        head = _answer(transposed, size, output_size, k, s, d, first)
        heap.append((simplicity(head), head, first, count, step))
    heapq.heapify(heap)
    found = []
    while heap and len(found) < limit:
        _, head, value, count, step = heapq.heappop(heap)
        found.append(head)
        if count > 1:
            k, s, _, _, d = head
            following = _answer(transposed, size, output_size, k, s, d, value + step)
            heapq.heappush(heap, (simplicity(following), following, value + step, count - 1, step))
    return found


# --- docstrings: the arguments, described once for every function that takes them ---------

_ARGUMENTS = {
    "size": "the input's spatial size, one int per dim",
    "output_size": "the spatial size wanted, one int per dim",
    "kernel": "the kernel size, one int per dim",
    "stride": "the stride, one int per dim",
    "padding": "one (lo, hi) pair per dim: torch's padding=p is (p, p)",
    "dilation": "the dilation, one int per dim",
    "output_padding": "a transposed conv's output_padding, one int per dim",
    "blocks": "the number of windows per dim",
    "batch": "the number of samples, N",
    "in_channels": "input channels, C_in",
    "out_channels": "output channels, C_out",
    "groups": "the conv's groups",
    "out_size": "the conv's output size, one int per dim",
    "in_size": "the transposed conv's input size, one int per dim",
    "bias": "whether the layer has a bias",
    "solution": "a Solution",
    "transposed": "solve for a transposed conv instead of a conv",
    "kernels": "the kernel sizes to try",
    "strides": "the strides to try",
    "dilations": "the dilations to try",
    "limit": "list only the simplest `limit` answers (None: all of them)",
    "label": "the argument's name, e.g. 'stride'",
    "values": "its values, one per dim",
    "n": "the number of spatial dims",
}

_SCALAR = {"conv_paddings_for", "conv_transpose_paddings_for", "solve"}  # one dim, plain ints


def _with_arguments(function):
    """function's docstring with an Args section, from _ARGUMENTS, before its example."""
    doc = inspect.cleandoc(function.__doc__)
    names = [name for name in inspect.signature(function).parameters if name != "self"]
    lines = []
    for name in names:
        text = _ARGUMENTS[name]
        if function.__name__ in _SCALAR:
            text = text.replace(", one int per dim", " (one dim, an int)")
        lines.append(f"    {name}: {text}.")
    head, example = doc.split("\n>>>", 1) if "\n>>>" in doc else (doc, None)
    doc = head.rstrip() + "\n\nArgs:\n" + "\n".join(lines) + "\n"
    return doc + ("\n>>>" + example if example is not None else "")


for _name in __all__:
    _function = globals()[_name]
    if inspect.isfunction(_function):
        _function.__doc__ = _with_arguments(_function)
del _name, _function
