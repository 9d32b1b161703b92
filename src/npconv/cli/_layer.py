"""Layer strings: parse a constructor call as written in Python, and write one back.

`parse_layer("nn.ConvTranspose2d(16, 33, (3, 5), stride=(2, 1), padding=(4, 2))")`
reads the call with `ast` and builds the real npconv.nn layer, so the module's own
validation applies. Only literals are accepted (ints, negative ints, strings,
True/False/None, tuples and lists of them): nothing is ever evaluated.

>>> parse_layer("nn.Conv1d(16, 33, 3, stride=2)")
Conv1d(16, 33, kernel_size=(3,), stride=(2,))
>>> format_layer("ConvTranspose1d", "C", "C", (4,), stride=(2,), padding=((1, 1),))
'ConvTranspose1d(C, C, 4, stride=2, padding=1)'
"""

from __future__ import annotations

import ast
import difflib
import inspect
import math

from .. import nn, shapes

CONV_CLASSES = (
    "Conv1d",
    "Conv2d",
    "Conv3d",
    "ConvNd",
    "ConvTranspose1d",
    "ConvTranspose2d",
    "ConvTranspose3d",
    "ConvTransposeNd",
    "LazyConv1d",
    "LazyConv2d",
    "LazyConv3d",
    "LazyConvTranspose1d",
    "LazyConvTranspose2d",
    "LazyConvTranspose3d",
)
LAYER_CLASSES = CONV_CLASSES + ("Fold", "Unfold")
PREFIXES = ("", "nn.", "torch.nn.", "npconv.nn.")
MAX_LENGTH = 1000
MAX_WEIGHTS = 50_000_000  # the layer is really built: refuse to allocate more than this


def _literal(node, source):
    """The Python value of a literal node; anything else is a ValueError naming it."""
    if isinstance(node, ast.Constant) and (
        node.value is None or isinstance(node.value, (bool, int, str))
    ):
        return node.value
    if (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, (ast.USub, ast.UAdd))
        and isinstance(node.operand, ast.Constant)
        and type(node.operand.value) is int
    ):
        return -node.operand.value if isinstance(node.op, ast.USub) else node.operand.value
    if isinstance(node, (ast.Tuple, ast.List)):
        values = [_literal(item, source) for item in node.elts]
        return tuple(values) if isinstance(node, ast.Tuple) else values
    text = ast.get_source_segment(source, node) or ast.dump(node)
    raise ValueError(
        f"only literal arguments are allowed (ints, strings, True/False/None, "
        f"tuples and lists of them), but got {text!r}"
    )


def _class_name(func, source):
    dotted = ast.get_source_segment(source, func) or ""
    for prefix in PREFIXES:
        name = dotted[len(prefix) :]
        if dotted.startswith(prefix) and name in LAYER_CLASSES:
            return name
    close = difflib.get_close_matches(dotted.rsplit(".", 1)[-1], LAYER_CLASSES, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    raise ValueError(
        f"unknown layer {dotted!r}{hint}; expected one of: " + ", ".join(LAYER_CLASSES)
    )


def parse_call(text):
    """(class name, positional args, keyword args) of a layer string, without building it."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(
            "expected a layer such as 'Conv2d(16, 33, 3, stride=2)', but got an empty string"
        )
    if len(text) > MAX_LENGTH:
        raise ValueError(
            f"layer string is {len(text)} characters long; at most {MAX_LENGTH} are accepted"
        )
    source = text.strip()
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as error:
        raise ValueError(
            f"cannot parse layer {source!r}: {error.msg} at column {error.offset}"
        ) from None
    call = tree.body
    if not isinstance(call, ast.Call):
        raise ValueError(
            f"expected a constructor call such as 'Conv2d(16, 33, 3)', but got {source!r}"
        )
    name = _class_name(call.func, source)
    positional = []
    for node in call.args:
        if isinstance(node, ast.Starred):
            raise ValueError("*args are not allowed in a layer string")
        positional.append(_literal(node, source))
    keywords = {}
    for keyword in call.keywords:
        if keyword.arg is None:
            raise ValueError("**kwargs are not allowed in a layer string")
        keywords[keyword.arg] = _literal(keyword.value, source)
    return name, positional, keywords


def _weight_count(cls, bound):
    """Weights the layer would allocate, or None when the arguments are not plain."""
    try:
        kernel = bound.arguments["kernel_size"]
        dims = cls._dims or len(kernel)
        kernel = kernel if isinstance(kernel, (tuple, list)) else (kernel,) * dims
        channels = bound.arguments.get("in_channels", 1) * bound.arguments["out_channels"]
        return channels // bound.arguments.get("groups", 1) * math.prod(kernel)
    except (KeyError, TypeError, ZeroDivisionError, AttributeError):
        return None


def bind_layer(text: str) -> tuple:
    """(class, bound arguments) of a layer string, defaults applied for conv classes; nothing
    is built yet, so a caller can check sizes first."""
    name, positional, keywords = parse_call(text)
    cls = getattr(nn, name)
    signature = inspect.signature(cls)
    try:
        bound = signature.bind(*positional, **keywords)
    except TypeError as error:
        raise ValueError(
            f"bad arguments for {name}: {error}; its signature is {name}{signature}"
        ) from None
    if name in CONV_CLASSES:
        bound.apply_defaults()
    return cls, bound


def kernel_of(cls, bound) -> tuple | None:
    """The kernel size as a tuple from bound arguments, or None when it is not plain ints."""
    kernel = bound.arguments.get("kernel_size")
    if isinstance(kernel, int) and not isinstance(kernel, bool) and getattr(cls, "_dims", None):
        return (kernel,) * cls._dims
    if (
        isinstance(kernel, (tuple, list))
        and kernel
        and all(isinstance(k, int) and not isinstance(k, bool) for k in kernel)
    ):
        return tuple(kernel)
    return None


def build_layer(cls, bound):
    """The layer of `bind_layer`'s answer, refusing more than MAX_WEIGHTS weights."""
    if cls.__name__ in CONV_CLASSES:
        count = _weight_count(cls, bound)
        if count is not None and count > MAX_WEIGHTS:
            raise ValueError(
                f"{cls.__name__} would have {count:,} weights; npconv builds the "
                f"layer to check it, and refuses more than {MAX_WEIGHTS:,}"
            )
    return cls(*bound.args, **bound.kwargs)


def parse_layer(text):
    """Build the npconv.nn layer a string such as "nn.Conv2d(16, 33, 3, stride=2)" names."""
    return build_layer(*bind_layer(text))


def _compact(values):
    """A tuple whose entries are all equal prints as one int, as a user would write it."""
    values = tuple(values)
    return str(values[0]) if len(set(values)) == 1 else str(values)


def format_padding(pairs):
    """(lo, hi) pairs as the shortest padding argument: an int, a tuple, or the pairs."""
    padding = shapes.padding_repr(tuple(tuple(p) for p in pairs))
    if padding and isinstance(padding[0], tuple):
        return str(tuple(padding))
    return _compact(padding)


def format_layer(
    class_name,
    in_channels,
    out_channels,
    kernel,
    stride=None,
    padding=None,
    output_padding=None,
    dilation=None,
    groups=1,
    bias=True,
    padding_mode="zeros",
):
    """A ready-to-paste constructor call; arguments at their default are left out.

    Tuples are per spatial dim; `padding` is (lo, hi) pairs; channels may be any text.
    """
    n = len(kernel)
    # the N-d classes count their dims from kernel_size, so it stays a tuple there
    kernel_text = str(tuple(kernel)) if class_name.endswith("Nd") else _compact(kernel)
    parts = [str(in_channels), str(out_channels), kernel_text]
    if stride is not None and tuple(stride) != (1,) * n:
        parts.append(f"stride={_compact(stride)}")
    if padding is not None and any(v for pair in padding for v in pair):
        parts.append(f"padding={format_padding(padding)}")
    if output_padding is not None and tuple(output_padding) != (0,) * n:
        parts.append(f"output_padding={_compact(output_padding)}")
    if dilation is not None and tuple(dilation) != (1,) * n:
        parts.append(f"dilation={_compact(dilation)}")
    if groups != 1:
        parts.append(f"groups={groups}")
    if not bias:
        parts.append("bias=False")
    if padding_mode != "zeros":
        parts.append(f"padding_mode={padding_mode!r}")
    return f"{class_name}({', '.join(parts)})"


def class_name(transposed, n):
    """Conv2d / ConvTranspose3d / ConvNd for n spatial dims."""
    base = "ConvTranspose" if transposed else "Conv"
    return f"{base}{n}d" if n <= 3 else f"{base}Nd"


def parse_shape(text, name="--input"):
    """A shape such as "20,16,50,100", "(20, 16, 50, 100)" or "20x16x50x100" as a tuple.

    >>> parse_shape("(20, 16, 50, 100)")
    (20, 16, 50, 100)
    """
    cleaned = text.strip().strip("()[]").replace("x", ",").replace(" ", ",")
    parts = [p for p in cleaned.split(",") if p]
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        raise ValueError(
            f"{name} must be sizes separated by commas, such as 20,16,50,100, but got {text!r}"
        ) from None
    if not values or any(v < 0 for v in values):
        raise ValueError(
            f"{name} must be non-negative sizes separated by commas, such as "
            f"20,16,50,100, but got {text!r}"
        )
    return values


def spatial_size(values, n, name="--input"):
    """The n spatial sizes from one size (used for every dim), n sizes, or a whole
    (C, *S) / (N, C, *S) shape."""
    if len(values) == 1:
        return values * n
    if len(values) in (n, n + 1, n + 2):
        return values[-n:]
    raise ValueError(
        f"{name} needs 1 or {n} spatial sizes (or a full shape of {n + 1} or "
        f"{n + 2} values) for a layer with {n} spatial dims, but got "
        f"{len(values)}: {list(values)}"
    )
