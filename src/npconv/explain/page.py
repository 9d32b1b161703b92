"""npconv explain as one self-contained HTML page: the layer's input, weight and output with
real numbers, every output cell's sum on hover, and controls for every argument.

The page's engine is JavaScript (data/explain.js, inlined with data/explain.html): it
recomputes the layer in the browser whenever a control changes, so the page needs no
server and no network. `window.npconvExplain.compute(settings)` is that engine, with
torch's argument names (see the issue this answers, #22); the page draws what it returns,
and tests/test_explain_browser.py checks it against npconv in a real browser. This module
only decides, from the shapes alone, whether a layer fits the page, and writes the file;
it is separate from the Python renderings because it draws nothing itself (and every
channel, group and padding mode, which they do not).

>>> from npconv import nn
>>> settings = settings_of(nn.ConvTranspose2d(1, 1, 3, stride=2, padding=1), (3, 3))
>>> settings["padding"], settings["input_size"]
([[1, 1], [1, 1]], [3, 3])
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Sequence
from importlib import resources
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import __version__, shapes
from .. import _arguments as args
from .model import Axis

if TYPE_CHECKING:
    from ..nn.conv import _ConvNd

Settings = dict[str, Any]  # the page's settings, torch's argument names

# What the page draws readably at 100% zoom on a laptop screen, and refuses above.
LIMITS = {
    "input_dim": 32,  # input cells per spatial dim
    "input_cells": 32 * 32,  # input cells per channel (a 3-d input: all its slices)
    "channels": 8,  # channels in, and channels out
    "grid_dim": 128,  # cells per dim of the canvas, kernel and output grids
    "cells": 60_000,  # cells drawn in all: canvas planes, weight planes, output planes
    "products": 2_000_000,  # products in all output sums (the `reads` lists)
}

PRESETS: list[tuple[str, Settings]] = [
    (
        "the seeds' ConvTranspose2d(1, 1, 3, stride=2, padding=1) on 3 x 3",
        dict(op="conv_transpose", kernel_size=[3, 3], stride=2, padding=1, input_size=[3, 3]),
    ),
    (
        "Conv2d(1, 1, 3, stride=2, padding=1) on 5 x 5",
        dict(op="conv", kernel_size=[3, 3], stride=2, padding=1, input_size=[5, 5]),
    ),
    (
        "ConvTranspose2d with output_padding=1",
        dict(
            op="conv_transpose",
            kernel_size=[3, 3],
            stride=2,
            padding=1,
            output_padding=1,
            input_size=[3, 3],
        ),
    ),
    (
        "depthwise Conv2d(3, 3, 3, groups=3, padding=1)",
        dict(
            op="conv",
            in_channels=3,
            out_channels=3,
            groups=3,
            kernel_size=[3, 3],
            padding=1,
            input_size=[4, 4],
        ),
    ),
    (
        "grouped Conv1d(4, 2, 2, groups=2)",
        dict(op="conv", in_channels=4, out_channels=2, groups=2, kernel_size=[2], input_size=[5]),
    ),
    (
        "causal Conv1d(1, 1, 3, padding=((4, 0),), dilation=2)",
        dict(op="conv", kernel_size=[3], padding=[[4, 0]], dilation=2, input_size=[8]),
    ),
    (
        "Conv2d with padding='same', dilation=2",
        dict(op="conv", kernel_size=[3, 3], padding="same", dilation=2, input_size=[5, 5]),
    ),
    (
        "Conv2d with reflect padding",
        dict(op="conv", kernel_size=[3, 3], padding=1, padding_mode="reflect", input_size=[4, 4]),
    ),
    (
        "ConvTranspose1d with circular padding (npconv)",
        dict(
            op="conv_transpose", kernel_size=[3], padding=1, padding_mode="circular", input_size=[4]
        ),
    ),
    (
        "ConvTranspose1d(1, 1, 4, stride=2, padding='same') (npconv)",
        dict(op="conv_transpose", kernel_size=[4], stride=2, padding="same", input_size=[4]),
    ),
    (
        "Conv3d(1, 1, 2, stride=(1, 2, 2)) on 3 x 4 x 4",
        dict(op="conv", kernel_size=[2, 2, 2], stride=[1, 2, 2], input_size=[3, 4, 4]),
    ),
    (
        "ConvTranspose3d(1, 1, 2, stride=2) on 2 x 2 x 2",
        dict(op="conv_transpose", kernel_size=[2, 2, 2], stride=2, input_size=[2, 2, 2]),
    ),
]


def _preset(settings: Settings) -> Settings:
    n = len(settings["kernel_size"])
    full: Settings = dict(
        op="conv",
        in_channels=1,
        out_channels=1,
        groups=1,
        stride=1,
        padding=0,
        dilation=1,
        output_padding=0,
        padding_mode="zeros",
        bias=None,
    )
    full.update(settings)
    for name in ("stride", "dilation", "output_padding"):
        full[name] = args.to_tuple(full[name], n, name)
        full[name] = list(full[name])
    if isinstance(full["padding"], int):
        full["padding"] = [full["padding"]] * n
    return full


def settings_of(layer: _ConvNd, size: Sequence[int]) -> Settings:
    """The page's settings (torch's argument names) for an npconv conv module on spatial `size`.

    Padding is a string or one [lo, hi] pair per dim; no values are given, so the page
    uses its example values (input 1..n, weight 1..K, no bias).
    """
    n = len(layer.kernel_size)
    padding = (
        layer.padding
        if isinstance(layer.padding, str)
        else [list(pair) for pair in args.padding_pairs(layer.padding, n)]
    )
    # a Lazy layer learns in_channels from its first input: show the fewest its groups allow
    in_channels = int(layer.in_channels) or int(layer.groups)
    return dict(
        op="conv_transpose" if layer.transposed else "conv",
        in_channels=in_channels,
        out_channels=int(layer.out_channels),
        groups=int(layer.groups),
        kernel_size=list(layer.kernel_size),
        stride=list(layer.stride),
        padding=padding,
        dilation=list(layer.dilation),
        output_padding=list(layer.output_padding),
        padding_mode=layer.padding_mode,
        input_size=[int(s) for s in size],
        bias=None,
    )


def _pairs(settings: Settings) -> tuple[tuple[int, int], ...]:
    """(lo, hi) per dim from the settings, by npconv's rules for strings."""
    padding, n = settings["padding"], len(settings["kernel_size"])
    if padding == "valid":
        return ((0, 0),) * n
    if padding == "same":
        if settings["op"] == "conv":
            return shapes.same_padding(settings["kernel_size"], settings["dilation"])
        return shapes.conv_transpose_same_padding(
            settings["input_size"],
            settings["kernel_size"],
            settings["stride"],
            settings["dilation"],
            settings["output_padding"],
        )
    return tuple(tuple(p) for p in padding)


def sizes(settings: Settings) -> dict[str, Any]:
    """Grid sizes the page would draw, from shape arithmetic alone (nothing is built).

    The canvas is explain's (Axis.canvas), except that a transposed conv in a padding mode
    other than 'zeros' shows its full output's canvas, whose border then folds back.
    """
    transposed = settings["op"] == "conv_transpose"
    folded = transposed and settings["padding_mode"] != "zeros"
    output_padding = settings["output_padding"] if transposed else (0,) * len(settings["stride"])
    axes = [
        Axis(s, k, st, d, lo, hi, op, transposed)
        for s, k, st, d, (lo, hi), op in zip(
            settings["input_size"],
            settings["kernel_size"],
            settings["stride"],
            settings["dilation"],
            _pairs(settings),
            output_padding,
            strict=True,
        )
    ]
    size, kernel = tuple(settings["input_size"]), tuple(settings["kernel_size"])
    out = tuple(a.out for a in axes)
    canvas = tuple((dataclasses.replace(a, lo=0, hi=0) if folded else a).canvas for a in axes)
    cin, cout, groups = settings["in_channels"], settings["out_channels"], settings["groups"]
    weights = cin * (cout // max(groups, 1)) * math.prod(kernel)
    cells = cin * math.prod(canvas) + cout * math.prod(out) + weights
    products = cout * math.prod(out) * (cin // max(groups, 1)) * math.prod(kernel)
    return dict(
        input=size, canvas=canvas, kernel=kernel, output=out, cells=cells, products=products
    )


def check_page(settings: Settings) -> None:
    """Refuse, with the sizes it would need, a layer too large for the page to draw.

    Sizes that make no layer (an output below one cell) pass here: npconv's own check
    says why afterwards, in torch's words.
    """
    s = sizes(settings)
    size = s["input"]
    problems = []
    if max(size) > LIMITS["input_dim"] or math.prod(size) > LIMITS["input_cells"]:
        problems.append(
            f"the input is {' x '.join(map(str, size))} ({math.prod(size):,} cells "
            f"per channel); the page draws inputs up to {LIMITS['input_dim']} per "
            f"dim and {LIMITS['input_cells']:,} cells per channel (32 x 32)"
        )
    channels = max(settings["in_channels"], settings["out_channels"])
    if channels > LIMITS["channels"]:
        problems.append(
            f"it has {settings['in_channels']} channels in and "
            f"{settings['out_channels']} out; the page draws at most "
            f"{LIMITS['channels']} of each"
        )
    grids = s["canvas"] + s["kernel"] + s["output"]
    if max(grids) > LIMITS["grid_dim"]:
        problems.append(
            f"its canvas is {' x '.join(map(str, s['canvas']))}, its kernel "
            f"{' x '.join(map(str, s['kernel']))} and its output "
            f"{' x '.join(map(str, s['output']))}; the page draws grids up to "
            f"{LIMITS['grid_dim']} cells per dim"
        )
    if not problems and s["cells"] > LIMITS["cells"]:
        problems.append(
            f"it would draw {s['cells']:,} cells; the page draws at most {LIMITS['cells']:,}"
        )
    if not problems and s["products"] > LIMITS["products"]:
        problems.append(
            f"its output sums have {s['products']:,} products; the page computes "
            f"at most {LIMITS['products']:,}"
        )
    if problems:
        raise ValueError("too large for the HTML page: " + "; ".join(problems))


def _example(settings: Settings) -> tuple[np.ndarray, np.ndarray]:
    """The page's example values: input 1..n, weight 1..K, as float64 arrays in torch layouts."""
    cin, cout, groups = settings["in_channels"], settings["out_channels"], settings["groups"]
    kernel = tuple(settings["kernel_size"])
    x_shape = (cin,) + tuple(settings["input_size"])
    w_shape = (
        (cin, cout // groups) if settings["op"] == "conv_transpose" else (cout, cin // groups)
    ) + kernel
    x = np.arange(1, math.prod(x_shape) + 1, dtype=np.float64).reshape(x_shape)
    w = np.arange(1, math.prod(w_shape) + 1, dtype=np.float64).reshape(w_shape)
    return x, w


def npconv_output(settings: Settings) -> np.ndarray:
    """npconv's own output for the settings on the example values (raises npconv's errors)."""
    from .. import functional as F

    x, w = _example(settings)
    padding = settings["padding"]
    if not isinstance(padding, str):
        padding = tuple(tuple(p) for p in padding)
    common = dict(
        stride=tuple(settings["stride"]),
        padding=padding,
        dilation=tuple(settings["dilation"]),
        groups=settings["groups"],
        padding_mode=settings["padding_mode"],
    )
    if settings["op"] == "conv_transpose":
        return F.conv_transpose(x, w, output_padding=tuple(settings["output_padding"]), **common)
    return F.conv(x, w, **common)


def _script_safe(text: str) -> str:
    """Text that cannot close the <script> element it is inlined in."""
    return text.replace("</", "<\\/")


def page(settings: Settings, title: str, expected: np.ndarray | None = None) -> str:
    """The HTML page for `settings`; `expected` is npconv's output shown as the check."""
    data = resources.files("npconv") / "data"
    template = (data / "explain.html").read_text(encoding="utf-8")
    script = (data / "explain.js").read_text(encoding="utf-8")
    config = dict(
        settings=settings,
        layer=title,
        limits=LIMITS,
        expected=None if expected is None else np.asarray(expected).ravel().tolist(),
        presets=[dict(name=name, settings=_preset(s)) for name, s in PRESETS],
    )
    escaped = title.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    replacements = {
        "__TITLE__": escaped,
        "__VERSION__": __version__,
        "__CONFIG__": _script_safe(json.dumps(config)),
        "__SCRIPT__": _script_safe(script),
    }
    for key, value in replacements.items():
        template = template.replace(key, value)
    return template


# --- HTML: the interactive page ----------------------------------------------------------


def to_html(layer: _ConvNd, size: Sequence[int], path: str | os.PathLike[str] | None = None) -> str:
    """One self-contained HTML page explaining `layer` on spatial input `size`.

    The page shows the input (for a transposed conv spread out by stride, inside its
    border), the weight and the output with example values (input 1..n, weight 1..K over
    every channel), each output cell's sum on hover, and controls for every argument that
    recompute it in the browser. Returns the page; writes it to `path` when given. Layers
    too large to draw readably are refused from their shapes alone (LIMITS).

    >>> from npconv import nn
    >>> html = to_html(nn.ConvTranspose2d(1, 1, 3, stride=2, padding=1), (3, 3))
    >>> html.startswith("<!DOCTYPE html>") and "npconvExplain" in html
    True
    """
    if not hasattr(layer, "transposed"):
        raise ValueError(f"explain draws Conv and ConvTranspose layers, not {type(layer).__name__}")
    n = len(layer.kernel_size)
    size = tuple(int(s) for s in size)
    if len(size) != n:
        raise ValueError(
            f"{type(layer).__name__} has {n} spatial dims, but the input size "
            f"{list(size)} has {len(size)}"
        )
    if n > 3:
        raise ValueError(f"explain draws 1-, 2- and 3-d layers, but this one has {n} spatial dims")
    settings = settings_of(layer, size)
    check_page(settings)
    expected = npconv_output(settings)  # npconv's errors, in torch's words
    title = repr(layer).splitlines()[0]
    html = page(settings, title, expected)
    if path is not None:
        with open(path, "w", encoding="utf-8") as f:
            f.write(html)
    return html
