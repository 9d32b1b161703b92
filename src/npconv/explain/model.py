"""The steps as data: which canvas cells and kernel cells every output cell of a
convolution multiplies, on deterministic example values, checked against npconv itself.

Kept apart from the renderings (text, frames, raster, svg) and the HTML page so that each
of them reads one model and none needs another's drawing code; and so that the budgets
are checked from the shapes alone, here, before anything is built or drawn.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from .. import _arguments as args
from .. import shapes, windows

if TYPE_CHECKING:
    from ..nn.conv import _ConvNd

Index = tuple[int, ...]  # an n-d cell index

MAX_STEPS = 144
# Budgets, checked from the shapes alone before any array is made (see `check_budget`):
# cells drawn in all (each step shows the whole canvas, or for 3-d one slice per kernel
# depth slice). The pixel budgets of the pictures are in raster.py.
MAX_CELLS = 250_000

# --- the steps as data ------------------------------------------------------------------


@dataclass(frozen=True)
class Axis:
    """One spatial dim: how the canvas is laid out and where each output's window lands."""

    size: int
    kernel: int
    stride: int
    dilation: int
    lo: int
    hi: int
    output_padding: int
    transposed: bool
    mode: str = "zeros"

    @property
    def extent(self) -> int:
        return shapes.effective_kernel((self.kernel,), (self.dilation,))[0]

    @property
    def border(self) -> tuple[int, int]:
        """Canvas cells (before, after) the input; negative crops the input."""
        if self.transposed:
            return (self.extent - 1 - self.lo, self.extent - 1 - self.hi + self.output_padding)
        return (self.lo, self.hi)

    @property
    def spread(self) -> int:
        """Cells the input covers on the canvas: stride-1 zeros between inputs if transposed."""
        return (self.size - 1) * self.stride + 1 if self.transposed else self.size

    @property
    def canvas(self) -> int:
        return self.border[0] + self.spread + self.border[1]

    @property
    def out(self) -> int:
        pair = ((self.lo, self.hi),)
        if self.transposed:
            return shapes.conv_transpose_output_size(
                (self.size,),
                (self.kernel,),
                (self.stride,),
                pair,
                (self.dilation,),
                (self.output_padding,),
            )[0]
        return shapes.conv_output_size(
            (self.size,), (self.kernel,), (self.stride,), pair, (self.dilation,)
        )[0]

    def place(self, c: int) -> tuple[str, int | None]:
        """(kind, input index) of canvas cell c.

        kind is 'input', 'gap' (a zero inserted between inputs), 'border' (a zero
        around them: padding, or a transposed conv's implicit border) or 'padded'
        (a copy of an input made by a reflect/replicate/circular padding mode).
        """
        i = c - self.border[0]
        if self.transposed:
            if 0 <= i < self.spread:
                return ("input", i // self.stride) if i % self.stride == 0 else ("gap", None)
            return ("border", None)
        if 0 <= i < self.size:
            return ("input", i)
        if self.mode == "zeros":
            return ("border", None)
        if self.mode == "reflect":
            return ("padded", -i if i < 0 else 2 * (self.size - 1) - i)
        if self.mode == "replicate":
            return ("padded", min(max(i, 0), self.size - 1))
        return ("padded", i % self.size)

    def reads(self, o: int) -> tuple[int, ...]:
        """The canvas cells output o reads, one per kernel offset (of the kernel as shown)."""
        start = o if self.transposed else o * self.stride
        return tuple(start + j * self.dilation for j in range(self.kernel))


_KIND_ORDER = ("border", "gap", "padded", "input")  # a cell takes the first kind any dim gives


class Step(NamedTuple):
    """One output cell: its index, the (canvas cell, kernel cell) pairs it multiplies, the sum."""

    output: Index
    cells: tuple[tuple[Index, Index], ...]
    value: float


@dataclass
class Explanation:
    """Everything a rendering needs; arrays are spatial (no batch or channel dims)."""

    title: str
    class_name: str
    transposed: bool
    axes: tuple[Axis, ...]
    input: np.ndarray
    weight: np.ndarray  # as stored in the layer
    kernel: np.ndarray  # as it slides over the canvas: flipped when transposed
    canvas: np.ndarray
    kinds: np.ndarray  # per canvas cell, see Axis.place
    output: np.ndarray  # the npconv layer's own output
    steps: list[Step]
    depth: int | None = None

    @property
    def ndim(self) -> int:
        return len(self.axes)

    def terms(self, step: Step) -> list[tuple[float, float]]:
        """(canvas value, kernel value) of every product in the step."""
        return [(self.canvas[c], self.kernel[j]) for c, j in step.cells]

    def equation(self, step: Step) -> str:
        """'out[1, 2] = 4*5 + 5*4 = 40', leaving out the products with a zero canvas cell."""
        products = [(v, w) for v, w in self.terms(step) if v != 0]
        index = ", ".join(str(i) for i in step.output)
        if not products:
            return f"out[{index}] = 0 (every cell under the kernel is a zero)"
        text = " + ".join(f"{number(v)}*{number(w)}" for v, w in products)
        text = f"out[{index}] = {text} = {number(step.value)}".replace("+ -", "- ")
        return text

    def zero_count(self, step: Step) -> int:
        return sum(1 for v, _ in self.terms(step) if v == 0)

    def axis_notes(self) -> list[str]:
        """One line per spatial dim saying how the canvas is built, with the numbers."""
        names = dim_names(self.ndim)
        notes = []
        for name, a in zip(names, self.axes, strict=True):
            if a.transposed:

                def minus(v: int) -> str:
                    return f"- {v}" if v >= 0 else f"+ {-v}"

                before = f"{a.dilation}*({a.kernel} - 1) {minus(a.lo)} = {a.border[0]}"
                after = (
                    f"{a.dilation}*({a.kernel} - 1) {minus(a.hi)} + {a.output_padding} "
                    f"= {a.border[1]}"
                )
                zeros = f"{a.stride - 1} zero" + ("" if a.stride == 2 else "s")
                notes.append(
                    f"{name}: {a.size} inputs with {zeros} between (stride - 1), "
                    f"border {before} before and {after} after "
                    f"(dilation*(kernel - 1) - padding, + output_padding after): "
                    f"canvas {a.canvas} -> out {a.out}"
                )
            else:
                gaps = f", kernel cells {a.dilation} apart (dilation)" if a.dilation > 1 else ""
                what = "zeros" if a.mode == "zeros" else f"{a.mode}"
                step = "cell" if a.stride == 1 else f"{a.stride} cells"
                notes.append(
                    f"{name}: {a.size} inputs, padding {a.lo} before and {a.hi} after "
                    f"({what}), a window every {step} (stride){gaps}: "
                    f"canvas {a.canvas} -> out {a.out}"
                )
        return notes


def dim_names(n: int) -> tuple[str, ...]:
    """L; H, W; D, H, W; or S0, S1, ... as the formulas name spatial dims."""
    return {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}.get(n, tuple(f"S{i}" for i in range(n)))


def number(v: complex | np.generic) -> str:
    """An example value as text: an int when it is one."""
    v = float(np.real(v))
    return str(int(v)) if v == int(v) else f"{v:.3g}"


def layer_padding(layer: _ConvNd, size: Index) -> tuple[tuple[int, int], ...]:
    """A conv module's padding as (lo, hi) pairs for an input of spatial `size`."""
    n = len(size)
    if isinstance(layer.padding, str):
        if layer.padding == "valid":
            return ((0, 0),) * n
        if layer.transposed:
            return shapes.conv_transpose_same_padding(
                size, layer.kernel_size, layer.stride, layer.dilation, layer.output_padding
            )
        return shapes.same_padding(layer.kernel_size, layer.dilation)
    return args.padding_pairs(layer.padding, n)


def _example_layer(layer: _ConvNd) -> _ConvNd:
    """The layer's geometry with one channel in and out, no bias, float64, weight 1..K."""
    from .. import nn  # the modules import this package's engine; keep explain importable alone

    cls = getattr(type(layer), "cls_to_become", None) or type(layer)
    options = dict(
        stride=layer.stride,
        padding=layer.padding,
        dilation=layer.dilation,
        bias=False,
        padding_mode=layer.padding_mode,
        dtype=np.float64,
    )
    if layer.transposed:
        options["output_padding"] = layer.output_padding
    if cls in (nn.ConvNd, nn.ConvTransposeNd):
        cls = nn.ConvTransposeNd if layer.transposed else nn.ConvNd
    example = cls(1, 1, layer.kernel_size, **options)
    kernel = tuple(layer.kernel_size)
    example.weight[...] = np.arange(1, math.prod(kernel) + 1, dtype=np.float64).reshape(
        (1, 1) + kernel
    )
    return example


def _shape_text(shape: Sequence[int]) -> str:
    return " x ".join(str(s) for s in shape)


def check_kernel(kernel: Sequence[int]) -> None:
    """Refuse a kernel of more cells than explain draws, before any layer is built."""
    cells = math.prod(kernel)
    if cells > MAX_CELLS:
        raise ValueError(
            f"the kernel {_shape_text(kernel)} has {cells:,} cells, more than "
            f"explain's budget of {MAX_CELLS:,} cells drawn; use a smaller kernel"
        )


def axes_of(layer: _ConvNd, size: Sequence[int]) -> tuple[Axis, ...]:
    """The Axis of every spatial dim, validated with npconv's (torch's) errors: shape
    arithmetic only, so it is instant for any size."""
    if not hasattr(layer, "transposed"):
        raise ValueError(f"explain draws Conv and ConvTranspose layers, not {type(layer).__name__}")
    n = len(layer.kernel_size)
    if n > 3:
        raise ValueError(f"explain draws 1-, 2- and 3-d layers, but this one has {n} spatial dims")
    size = tuple(int(s) for s in size)
    if len(size) != n:
        raise ValueError(
            f"{type(layer).__name__} has {n} spatial dims, but the input size "
            f"{list(size)} has {len(size)}"
        )
    if layer.transposed and layer.padding_mode != "zeros":
        raise ValueError(
            f"explain draws transposed convs with padding_mode='zeros' only, "
            f"but got padding_mode={layer.padding_mode!r} (the HTML page, "
            f"-o FILE.html, draws every padding_mode)"
        )
    pairs = layer_padding(layer, size)
    if layer.transposed:
        shapes.check_conv_transpose_size(
            size, layer.kernel_size, layer.stride, pairs, layer.dilation, layer.output_padding
        )
    else:
        if layer.padding_mode != "zeros":  # as the example layer's run checks it
            windows.check_mode_padding(size, pairs, layer.padding_mode, (1, 1) + size)
        shapes.check_conv_size(size, layer.kernel_size, pairs, layer.dilation)
    op = layer.output_padding if layer.transposed else (0,) * n
    return tuple(
        Axis(s, k, st, d, lo, hi, o, layer.transposed, layer.padding_mode)
        for s, k, st, d, (lo, hi), o in zip(
            size, layer.kernel_size, layer.stride, layer.dilation, pairs, op, strict=True
        )
    )


def check_budget(axes: Sequence[Axis], max_steps: int = MAX_STEPS) -> None:
    """Refuse, with the sizes it would need, an explanation of more than `max_steps` steps
    or more than MAX_CELLS cells drawn (each step shows its canvas whole)."""
    out = tuple(a.out for a in axes)
    steps = math.prod(out[1:]) if len(axes) == 3 else math.prod(out)
    if steps > max_steps:
        raise ValueError(
            f"the output has {steps:,} cells to explain, more than the limit "
            f"of {max_steps:,} (max_steps, --max-steps); use a smaller input"
        )
    canvas = tuple(a.canvas for a in axes)
    drawn = axes[0].kernel * math.prod(canvas) if len(axes) == 3 else math.prod(canvas)
    if max(math.prod(canvas), steps * drawn) > MAX_CELLS:
        raise ValueError(
            f"explain would draw {steps:,} steps, each over a "
            f"{_shape_text(canvas)} canvas, {steps * drawn:,} cells in all, more "
            f"than its budget of {MAX_CELLS:,}; use a smaller input"
        )


def build(
    layer: _ConvNd, size: Sequence[int], depth: int | None = None, max_steps: int = MAX_STEPS
) -> Explanation:
    """Run `layer`'s geometry on the example values and record every output cell's sum.

    `layer` is an npconv.nn conv or transposed conv (1-3 spatial dims; channels,
    groups and bias are ignored); `size` its input's spatial size. Sizes are checked
    against the budgets first, so a request too large is refused at once.
    """
    axes = axes_of(layer, size)
    check_kernel(layer.kernel_size)
    check_budget(axes, max_steps)
    n, size = len(axes), tuple(int(s) for s in size)
    example = _example_layer(layer)
    x = np.arange(1, math.prod(size) + 1, dtype=np.float64).reshape(size)
    y = example(x[None, None])[0, 0]  # the library's answer
    if tuple(a.out for a in axes) != y.shape:
        raise RuntimeError(
            f"explain's canvas gives {tuple(a.out for a in axes)} but npconv "
            f"gives {y.shape}; please report this"
        )
    weight = example.weight[0, 0].copy()
    kernel = np.flip(weight) if layer.transposed else weight
    canvas, kinds = _canvas(axes, x)
    if n == 3:
        depth = y.shape[0] // 2 if depth is None else int(depth)
        if not 0 <= depth < y.shape[0]:
            raise ValueError(f"depth must be in 0..{y.shape[0] - 1}, but got depth={depth}")
        outputs = [(depth,) + rest for rest in np.ndindex(y.shape[1:])]
    else:
        depth = None
        outputs = list(np.ndindex(y.shape))
    steps = []
    for o in outputs:
        cells = tuple(
            (tuple(a.reads(oi)[ji] for a, oi, ji in zip(axes, o, j, strict=True)), j)
            for j in np.ndindex(kernel.shape)
        )
        value = sum(canvas[c] * kernel[j] for c, j in cells)
        if value != y[o]:
            raise RuntimeError(
                f"explain's sum for out{list(o)} is {value} but npconv computes "
                f"{y[o]}; please report this"
            )
        steps.append(Step(tuple(int(i) for i in o), cells, float(value)))
    title = repr(layer).splitlines()[0]
    return Explanation(
        title,
        type(example).__name__,
        bool(layer.transposed),
        axes,
        x,
        weight,
        kernel,
        canvas,
        kinds,
        y,
        steps,
        depth,
    )


def _canvas(axes: Sequence[Axis], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    shape = tuple(a.canvas for a in axes)
    canvas = np.zeros(shape)
    kinds = np.empty(shape, dtype=object)
    for c in np.ndindex(shape):
        placed = [a.place(ci) for a, ci in zip(axes, c, strict=True)]
        kinds[c] = min((kind for kind, _ in placed), key=_KIND_ORDER.index)
        if kinds[c] in ("input", "padded"):
            canvas[c] = x[tuple(i for _, i in placed)]
    return canvas, kinds
