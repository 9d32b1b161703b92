"""torch.nn.grad on NumPy: the gradients of every operation, as plain functions.

conv_input / conv_weight mirror torch.nn.grad.conv{1,2,3}d_input/_weight;
conv_transpose_input / conv_transpose_weight are their transposed twins, which
torch lacks; unfold_input and fold_input complete the set. Each is the
backward of conv.py / conv_transpose.py / fold.py, where the algebra is
written down: a conv's input gradient is a transposed conv, a transposed
conv's input gradient is a conv, unfold and fold are each other's gradient.

>>> import numpy as np, npconv.grad as G
>>> w = np.ones((4, 2, 3, 3))
>>> G.conv2d_input((1, 2, 5, 5), w, np.ones((1, 4, 3, 3))).shape
(1, 2, 5, 5)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any, TypeVar

import numpy as np

from . import _arguments as args
from . import _calls
from . import _docstrings as docs
from . import conv as conv_op
from . import conv_transpose as conv_transpose_op
from . import fold as fold_op
from ._arguments import ArrayLike, Padding, PaddingMode, Size

__all__ = [
    "conv1d_input",
    "conv1d_weight",
    "conv2d_input",
    "conv2d_weight",
    "conv3d_input",
    "conv3d_weight",
    "conv_input",
    "conv_transpose1d_input",
    "conv_transpose1d_weight",
    "conv_transpose2d_input",
    "conv_transpose2d_weight",
    "conv_transpose3d_input",
    "conv_transpose3d_weight",
    "conv_transpose_input",
    "conv_transpose_weight",
    "conv_weight",
    "fold_input",
    "unfold_input",
]


def _shape(size: Any, name: str) -> tuple[int, ...]:
    try:
        values = tuple(size)
    except TypeError as error:
        raise TypeError(f"{name} must be a sequence of ints, but got {name}={size!r}") from error
    return args.to_tuple(values, len(values), name) if values else values


def _grad_call(
    op: ModuleType,
    x_shape: tuple[int, ...],
    w: np.ndarray,
    grad_output: Any,
    options: dict[str, Any],
) -> tuple[_calls.Call, np.ndarray]:
    """A Call for `op` on an input of x_shape, with grad_output checked against it."""
    g = args.as_array(grad_output, "grad_output")
    args.same_dtype(g, w, "weight")
    n = w.ndim - 2
    unbatched = len(x_shape) == n + 1
    if len(x_shape) not in (n + 1, n + 2):
        raise ValueError(
            f"input_size must have {n + 1} or {n + 2} entries for a "
            f"{n + 2}-D weight, but got input_size={list(x_shape)}"
        )
    batched_shape = (1,) + x_shape if unbatched else x_shape
    p = op.resolve(batched_shape, w, **options, unbatched=unbatched)
    dtype = _calls.compute_dtype(g.dtype)
    x = np.empty((0,), dtype)  # a stand-in: an input gradient never reads the input
    call = _calls.Call(
        x, w.astype(dtype, copy=False), None, p, g.dtype, op.output_shape(batched_shape[0], w, p)
    )
    return call, _calls.check_grad_output(g, call)


def _weight_call(
    op: ModuleType, input: Any, weight_size: Any, grad_output: Any, options: dict[str, Any]
) -> tuple[_calls.Call, np.ndarray]:
    x = args.as_array(input, "input")
    shape = _shape(weight_size, "weight_size")
    _calls.check_elements(shape, "a weight", f"weight_size={shape}")
    w = np.broadcast_to(np.zeros((), x.dtype), shape)  # only its shape is read
    call, g = _grad_call(op, tuple(x.shape), w, grad_output, options)
    xb = x[None] if call.resolved.unbatched else x
    return call._replace(x=xb.astype(call.w.dtype, copy=False)), g


def _input_gradient(
    op: ModuleType, call: _calls.Call, g: np.ndarray, x_shape: tuple[int, ...]
) -> np.ndarray:
    """op's input gradient; zeros of x_shape where an operand is empty (a zero-size batch,
    zero channels), which never reach the algorithms, as in _calls.run_gradients."""
    if g.size == 0 or call.w.size == 0:
        dx = np.zeros(((1,) if call.resolved.unbatched else ()) + x_shape, call.w.dtype)
    else:
        dx, _ = op.backward(g, call.x, call.w, call.resolved, need_weight=False)
    return _calls.finish(dx, call)


def _weight_gradient(op: ModuleType, call: _calls.Call, g: np.ndarray) -> np.ndarray:
    """op's weight gradient; zeros where an operand is empty."""
    if g.size == 0 or call.x.size == 0 or call.w.size == 0:
        dw = np.zeros(call.w.shape, call.w.dtype)
    else:
        _, dw = op.backward(g, call.x, call.w, call.resolved, need_input=False)
    return _calls.finish(dw, call, batch_axis=False)


def conv_input(
    input_size: Sequence[int],
    weight: ArrayLike,
    grad_output: ArrayLike,
    stride: Size = 1,
    padding: Padding = 0,
    dilation: Size = 1,
    groups: int = 1,
    padding_mode: PaddingMode = "zeros",
) -> np.ndarray:
    w = args.as_array(weight, "weight")
    call, g = _grad_call(
        conv_op,
        _shape(input_size, "input_size"),
        w,
        grad_output,
        dict(
            stride=stride,
            padding=padding,
            dilation=dilation,
            groups=groups,
            padding_mode=padding_mode,
        ),
    )
    return _input_gradient(conv_op, call, g, _shape(input_size, "input_size"))


def conv_weight(
    input: ArrayLike,
    weight_size: Sequence[int],
    grad_output: ArrayLike,
    stride: Size = 1,
    padding: Padding = 0,
    dilation: Size = 1,
    groups: int = 1,
    padding_mode: PaddingMode = "zeros",
) -> np.ndarray:
    call, g = _weight_call(
        conv_op,
        input,
        weight_size,
        grad_output,
        dict(
            stride=stride,
            padding=padding,
            dilation=dilation,
            groups=groups,
            padding_mode=padding_mode,
        ),
    )
    return _weight_gradient(conv_op, call, g)


def conv_transpose_input(
    input_size: Sequence[int],
    weight: ArrayLike,
    grad_output: ArrayLike,
    stride: Size = 1,
    padding: Padding = 0,
    output_padding: Size = 0,
    groups: int = 1,
    dilation: Size = 1,
    padding_mode: PaddingMode = "zeros",
) -> np.ndarray:
    w = args.as_array(weight, "weight")
    call, g = _grad_call(
        conv_transpose_op,
        _shape(input_size, "input_size"),
        w,
        grad_output,
        dict(
            stride=stride,
            padding=padding,
            output_padding=output_padding,
            groups=groups,
            dilation=dilation,
            padding_mode=padding_mode,
        ),
    )
    return _input_gradient(conv_transpose_op, call, g, _shape(input_size, "input_size"))


def conv_transpose_weight(
    input: ArrayLike,
    weight_size: Sequence[int],
    grad_output: ArrayLike,
    stride: Size = 1,
    padding: Padding = 0,
    output_padding: Size = 0,
    groups: int = 1,
    dilation: Size = 1,
    padding_mode: PaddingMode = "zeros",
) -> np.ndarray:
    call, g = _weight_call(
        conv_transpose_op,
        input,
        weight_size,
        grad_output,
        dict(
            stride=stride,
            padding=padding,
            output_padding=output_padding,
            groups=groups,
            dilation=dilation,
            padding_mode=padding_mode,
        ),
    )
    return _weight_gradient(conv_transpose_op, call, g)


def unfold_input(
    input_size: Sequence[int],
    grad_output: ArrayLike,
    kernel_size: Size,
    dilation: Size = 1,
    padding: Padding = 0,
    stride: Size = 1,
) -> np.ndarray:
    """Gradient of unfold with respect to its input: `fold`, with the same arguments.

    Args:
        input_size: shape of unfold's input, (N, C, S_1, ..., S_n) or (C, S_1, ..., S_n).
        grad_output: gradient with respect to unfold's output, of that output's shape
            (N, C * prod(kernel_size), L) or (C * prod(kernel_size), L).
        kernel_size, dilation, padding, stride: unfold's arguments.

    Returns:
        np.ndarray: the gradient with respect to the input, of shape input_size.

    Example:
        >>> import numpy as np, npconv.grad as G
        >>> G.unfold_input((1, 1, 3, 3), np.ones((1, 4, 4)), 2)[0, 0]   # windows per cell
        array([[1., 2., 1.],
               [2., 4., 2.],
               [1., 2., 1.]])
    """
    n = fold_op.resolve(kernel_size, dilation, padding, stride)[0].__len__()
    return fold_op.fold(
        grad_output, _shape(input_size, "input_size")[-n:], kernel_size, dilation, padding, stride
    )


def fold_input(
    grad_output: ArrayLike,
    kernel_size: Size,
    dilation: Size = 1,
    padding: Padding = 0,
    stride: Size = 1,
) -> np.ndarray:
    """Gradient of fold with respect to its input: `unfold`, with the same arguments.

    Args:
        grad_output: gradient with respect to fold's output, (N, C, output_size...) or
            (C, output_size...).
        kernel_size, dilation, padding, stride: fold's arguments.

    Returns:
        np.ndarray: the gradient with respect to fold's input, of its shape
        (N, C * prod(kernel_size), L) or (C * prod(kernel_size), L).

    Example:
        >>> import numpy as np, npconv.grad as G
        >>> G.fold_input(np.arange(9.0).reshape(1, 1, 3, 3), 2)[0]      # each block's cells
        array([[0., 1., 3., 4.],
               [1., 2., 4., 5.],
               [3., 4., 6., 7.],
               [4., 5., 7., 8.]])
    """
    return fold_op.unfold(grad_output, kernel_size, dilation, padding, stride)


_Op = TypeVar("_Op", bound=Callable[..., np.ndarray])


def _with_rank(op: _Op, n: int) -> _Op:
    """op under torch's name for n spatial dims (conv2d_input, ...); checks the weight rank."""
    base = op.__name__.split("_input")[0].split("_weight")[0]
    suffix = op.__name__[len(base) :]
    name = f"{base}{n}d{suffix}"
    weight_position = 1

    def fixed(*arguments: Any, **options: Any) -> np.ndarray:
        shape = (
            arguments[weight_position]
            if len(arguments) > weight_position
            else options.get("weight", options.get("weight_size", ()))
        )
        rank = len(shape) if isinstance(shape, (tuple, list)) else np.ndim(shape)
        if rank != n + 2:
            raise ValueError(f"{name} expects a {n + 2}-D weight, but got one of rank {rank}")
        return op(*arguments, **options)

    fixed.__name__ = fixed.__qualname__ = name
    fixed.__doc__ = _doc(op.__name__, n)
    fixed.__wrapped__ = op  # type: ignore[attr-defined]  # signature and annotations of op
    return fixed  # type: ignore[return-value]


# --- docstrings: one template per gradient, rendered for each rank -----------------------

_TEMPLATE = """\
Gradient of {op}{n_name} with respect to its {what}.

The backward pass of ``{op}{n_name}(input, weight, ...)`` for the output gradient
grad_output, computed as {relation}.{spatial}

Args:
{first}
    grad_output: gradient with respect to {op}'s output, of that output's shape.
{stride}
{arguments}

Returns:
    np.ndarray: of shape {result}, in the dtype of grad_output.

{dtypes}

Differences from torch: {torch}

Example:
{example}"""

_ARGUMENTS = {
    "conv": "{conv_padding}\n{dilation}\n{groups}\n{conv_padding_mode}",
    "conv_transpose": "{conv_transpose_padding}\n{output_padding}\n{groups}\n{dilation}\n"
    "{conv_transpose_padding_mode}",
}

_RELATIONS = {
    "conv_input": "a transposed conv of grad_output with the\nsame weight and arguments",
    "conv_weight": "the input's windows correlated with\ngrad_output, summed over the batch",
    "conv_transpose_input": "a conv of grad_output with the same\nweight and arguments",
    "conv_transpose_weight": "grad_output's windows correlated with\nthe input, summed over "
    "the batch (conv_weight with the roles swapped)",
}

_FIRST = {
    "input": """\
    input_size: shape of {op}'s input, batched (N, C_in, ...) or unbatched (C_in, ...).
    weight: {op}'s weight, of shape {weight}.""",
    "weight": """\
    input: {op}'s input, batched (N, C_in, ...) or unbatched (C_in, ...).
    weight_size: shape of {op}'s weight, {weight}.""",
}

_WEIGHTS = {
    "conv": "(C_out, C_in / groups, {kernel})",
    "conv_transpose": "(C_in, C_out / groups, {kernel})",
}

_SIZES = {
    None: ((1, 2, 4, 4, 4, 4), (3, 2, 3, 3, 3, 3)),
    1: ((1, 2, 9), (3, 2, 3)),
    2: ((1, 2, 7, 9), (3, 2, 3, 3)),
    3: ((1, 2, 5, 6, 7), (3, 2, 3, 3, 3)),
}

_EXAMPLES = {
    "conv_input": """\
    >>> import numpy as np, npconv.functional as F, npconv.grad as G
    >>> x, w = np.ones({x}), np.ones({w})
    >>> g = np.ones_like(F.{op}{n_name}(x, w, stride=2))        # d loss / d output
    >>> G.{name}(x.shape, w, g, stride=2).shape
    {x}""",
    "conv_weight": """\
    >>> import numpy as np, npconv.functional as F, npconv.grad as G
    >>> x, w = np.ones({x}), np.ones({w})
    >>> g = np.ones_like(F.{op}{n_name}(x, w, stride=2))        # d loss / d output
    >>> G.{name}(x, w.shape, g, stride=2).shape
    {w}""",
    "conv_transpose_input": """\
    >>> import numpy as np, npconv.functional as F, npconv.grad as G
    >>> y, w = np.ones({x}), np.ones({wt})
    >>> g = np.ones_like(F.{op}{n_name}(y, w, stride=2))        # d loss / d output
    >>> G.{name}(y.shape, w, g, stride=2).shape
    {x}""",
    "conv_transpose_weight": """\
    >>> import numpy as np, npconv.functional as F, npconv.grad as G
    >>> y, w = np.ones({x}), np.ones({wt})
    >>> g = np.ones_like(F.{op}{n_name}(y, w, stride=2))        # d loss / d output
    >>> G.{name}(y, w.shape, g, stride=2).shape
    {wt}""",
}


def _doc(function: str, n: int | None = None) -> str:
    """The docstring of `function` (conv_input, ...) for n spatial dims (None: N-d)."""
    op, what = function.rsplit("_", 1)
    n_name = f"{n}d" if n else ""
    fields = docs.rank_fields(n)
    weight = _WEIGHTS[op].format(**fields)
    x, w = _SIZES[n]
    wt = (w[1], w[0]) + w[2:]  # a transposed conv's weight is (C_in, C_out / groups, *k)
    result = "input_size" if what == "input" else "weight_size"
    torch = (
        "torch.nn.grad has no gradients of transposed convs."
        if op == "conv_transpose"
        else f"torch.nn.grad.{op}{n_name or '{1,2,3}d'}_{what} takes the same arguments;\n"
        "npconv also takes padding pairs and padding modes."
    )
    example = _EXAMPLES[function].format(
        op=op, n_name=n_name, name=f"{op}{n_name}_{what}", x=x, w=w, wt=wt
    )
    template = _TEMPLATE.replace("{arguments}", _ARGUMENTS[op]).replace("{first}", _FIRST[what])
    return docs.render(
        template,
        n,
        op=op,
        n_name=n_name,
        what=what,
        weight=weight,
        relation=_RELATIONS[function],
        result=result,
        torch=torch,
        spatial="\n\nAny number of spatial dims: the weight's rank less 2." if not n else "",
        example=example,
    )


for _op in (conv_input, conv_weight, conv_transpose_input, conv_transpose_weight):
    _op.__doc__ = _doc(_op.__name__)
del _op

conv1d_input, conv2d_input, conv3d_input = (_with_rank(conv_input, n) for n in (1, 2, 3))
conv1d_weight, conv2d_weight, conv3d_weight = (_with_rank(conv_weight, n) for n in (1, 2, 3))
conv_transpose1d_input, conv_transpose2d_input, conv_transpose3d_input = (
    _with_rank(conv_transpose_input, n) for n in (1, 2, 3)
)
conv_transpose1d_weight, conv_transpose2d_weight, conv_transpose3d_weight = (
    _with_rank(conv_transpose_weight, n) for n in (1, 2, 3)
)
