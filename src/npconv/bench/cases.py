"""The benchmark suite: cases read from data/suite.json, their shapes, FLOPs and data.

A case is one call of conv or conv_transpose with torch's arguments (padding
symmetric, one int per dim or a list). Everything about its size comes from
npconv.shapes, so the harness and the library agree on every number.

>>> case = next(c for c in load() if c.name == "vae_dec")
>>> case.output_shape, f"{case.flops / 1e9:.2f} GFLOP"
((16, 64, 64, 64), '2.42 GFLOP')
>>> small = shrink(case)
>>> small.input_shape, small.output_shape
((1, 4, 4, 4), (1, 4, 8, 8))
"""

from __future__ import annotations

import json
import math
from importlib import resources
from typing import NamedTuple

import numpy as np

from .. import shapes

SEED = 0


class Case(NamedTuple):
    name: str
    op: str  # "conv" or "conv_transpose"
    pass_: str  # "forward" or "backward"
    batch: int
    in_channels: int
    out_channels: int
    size: tuple  # input spatial size
    kernel: tuple
    stride: tuple
    padding: tuple  # symmetric: torch's padding=p, applied as (p, p)
    output_padding: tuple  # conv_transpose only
    dilation: tuple
    groups: int
    bias: bool

    @property
    def ndim(self):
        return len(self.size)

    @property
    def input_shape(self):
        return (self.batch, self.in_channels) + self.size

    @property
    def weight_shape(self):
        if self.op == "conv":  # (C_out, C_in/groups, *k)
            return (self.out_channels, self.in_channels // self.groups) + self.kernel
        return (self.in_channels, self.out_channels // self.groups) + self.kernel

    @property
    def output_size(self):
        pairs = tuple((p, p) for p in self.padding)
        if self.op == "conv":
            return shapes.conv_output_size(
                self.size, self.kernel, self.stride, pairs, self.dilation
            )
        return shapes.conv_transpose_output_size(
            self.size, self.kernel, self.stride, pairs, self.dilation, self.output_padding
        )

    @property
    def output_shape(self):
        return (self.batch, self.out_channels) + self.output_size

    @property
    def flops(self):
        """2 x multiply-adds of the forward call; a backward pass counts twice that."""
        if self.op == "conv":
            forward = shapes.conv_flops(
                self.batch,
                self.in_channels,
                self.out_channels,
                self.groups,
                self.kernel,
                self.output_size,
            )
        else:
            forward = shapes.conv_transpose_flops(
                self.batch, self.in_channels, self.out_channels, self.groups, self.kernel, self.size
            )
        return forward * (2 if self.pass_ == "backward" else 1)

    def options(self):
        """Keyword arguments of npconv.functional.conv / conv_transpose (and torch's)."""
        common = dict(
            stride=self.stride, padding=self.padding, dilation=self.dilation, groups=self.groups
        )
        if self.op == "conv_transpose":
            common["output_padding"] = self.output_padding
        return common

    def to_json(self):
        """The case as a suite entry, which from_json reads back."""
        return {
            "name": self.name,
            "op": self.op,
            "pass": self.pass_,
            "N": self.batch,
            "Cin": self.in_channels,
            "Cout": self.out_channels,
            "size": list(self.size),
            "kernel": list(self.kernel),
            "stride": list(self.stride),
            "padding": list(self.padding),
            "output_padding": list(self.output_padding),
            "dilation": list(self.dilation),
            "groups": self.groups,
            "bias": self.bias,
        }


def from_json(entry):
    """A Case from one suite entry; ints are repeated over the spatial dims."""
    n = len(entry["size"])

    def per_dim(key, default):
        value = entry.get(key, default)
        return tuple(value) if isinstance(value, list) else (int(value),) * n

    if entry["op"] not in ("conv", "conv_transpose"):
        raise ValueError(
            f"case {entry['name']!r}: op must be 'conv' or 'conv_transpose', "
            f"but got op={entry['op']!r}"
        )
    if entry["pass"] not in ("forward", "backward"):
        raise ValueError(
            f"case {entry['name']!r}: pass must be 'forward' or 'backward', "
            f"but got pass={entry['pass']!r}"
        )
    return Case(
        entry["name"],
        entry["op"],
        entry["pass"],
        int(entry["N"]),
        int(entry["Cin"]),
        int(entry["Cout"]),
        tuple(entry["size"]),
        per_dim("kernel", 1),
        per_dim("stride", 1),
        per_dim("padding", 0),
        per_dim("output_padding", 0),
        per_dim("dilation", 1),
        int(entry.get("groups", 1)),
        bool(entry.get("bias")),
    )


PACKAGED = ("suite", "zoo")  # layer sets shipped in npconv/data, by name


def load(path=None):
    """Every case of a layer set: the packaged data/suite.json (path None), a packaged set
    by name (PACKAGED), or the file at `path`."""
    if path is None or path in PACKAGED:
        name = "suite" if path is None else path
        text = resources.files("npconv").joinpath(f"data/{name}.json").read_text()
    else:
        try:
            with open(path) as file:
                text = file.read()
        except OSError as error:
            raise ValueError(f"--suite {path!r}: {error.strerror or error}") from None
    try:
        return [from_json(entry) for entry in json.loads(text)["cases"]]
    except (KeyError, TypeError, AttributeError) as error:
        raise ValueError(
            f"--suite {path!r} is not a suite file: no {error} in it (see npconv/data/suite.json)"
        ) from None


def select(cases, names):
    """The cases named in `names` (in that order), or all of them for None."""
    if not names:
        return list(cases)
    by_name = {c.name: c for c in cases}
    unknown = [name for name in names if name not in by_name]
    if unknown:
        raise ValueError(
            f"unknown case(s) {', '.join(unknown)}; the suite has {', '.join(by_name)}"
        )
    return [by_name[name] for name in names]


def shrink(case, channels=4, groups=2, size=4):
    """The same layer scaled down for a smoke run: batch 1, a few channels, tiny inputs.

    Kernel, stride, padding and dilation are kept; groups stay groups (at most
    `groups` of them, depthwise stays depthwise) and each spatial size becomes
    the smallest that is at least min(size, original) and gives a valid call.
    """
    kept_groups = min(case.groups, groups)
    in_channels = kept_groups * min(case.in_channels // case.groups, channels)
    out_channels = kept_groups * min(case.out_channels // case.groups, channels)
    new_size = []
    for n, k, s, p, d, op in zip(
        case.size,
        case.kernel,
        case.stride,
        case.padding,
        case.dilation,
        case.output_padding,
        strict=True,
    ):
        m = min(n, size)
        (extent,) = shapes.effective_kernel((k,), (d,))
        if case.op == "conv":
            m = max(m, extent - 2 * p)  # padded input holds the kernel
        else:
            while (
                shapes.conv_transpose_output_size((m,), (k,), (s,), ((p, p),), (d,), (op,))[0] < 1
            ):
                m += 1  # output has at least one element
        new_size.append(m)
    return case._replace(
        batch=1,
        in_channels=in_channels,
        out_channels=out_channels,
        size=tuple(new_size),
        groups=kept_groups,
    )


class Data(NamedTuple):
    x: np.ndarray  # the op's input
    w: np.ndarray  # its weight, in torch's layout
    b: np.ndarray | None  # bias, when the case has one
    g: np.ndarray | None  # output gradient, for backward cases


def make(case, seed=SEED):
    """Seeded float32 operands: unit normal input and output gradient; the weight is
    divided by sqrt(fan-in), torch's fan-in (weight.shape[1] * prod(kernel)), so outputs
    stay near unit scale."""
    rng = np.random.default_rng(seed)
    fan_in = case.weight_shape[1] * math.prod(case.kernel)
    x = rng.standard_normal(case.input_shape, dtype=np.float32)
    w = rng.standard_normal(case.weight_shape, dtype=np.float32)
    w *= np.float32(1 / math.sqrt(fan_in))
    b = rng.standard_normal(case.out_channels, dtype=np.float32) if case.bias else None
    g = (
        rng.standard_normal(case.output_shape, dtype=np.float32)
        if case.pass_ == "backward"
        else None
    )
    return Data(x, w, b, g)
