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

import numpy as np

from . import _arguments as args
from . import conv as conv_op
from . import conv_transpose as conv_transpose_op
from . import fold as fold_op

__all__ = ["conv_input", "conv_weight", "conv_transpose_input", "conv_transpose_weight",
           "unfold_input", "fold_input"]


def _shape(size, name):
    try:
        values = tuple(size)
    except TypeError as error:
        raise TypeError(f"{name} must be a sequence of ints, but got {name}={size!r}") from error
    return args.to_tuple(values, len(values), name) if values else values


def _grad_call(op, x_shape, w, grad_output, options):
    """A Call for `op` on an input of x_shape, with grad_output checked against it."""
    g = args.as_array(grad_output, "grad_output")
    args.same_dtype(g, w, "weight")
    n = w.ndim - 2
    unbatched = len(x_shape) == n + 1
    if len(x_shape) not in (n + 1, n + 2):
        raise ValueError(f"input_size must have {n + 1} or {n + 2} entries for a "
                         f"{n + 2}-D weight, but got input_size={list(x_shape)}")
    batched_shape = (1,) + x_shape if unbatched else x_shape
    p = op.plan(batched_shape, w, **options, unbatched=unbatched)
    dtype = conv_op.compute_dtype(g.dtype)
    call = conv_op.Call(None, w.astype(dtype, copy=False), None, p, g.dtype,
                        op.output_shape(batched_shape[0], w, p))
    return call, conv_op.check_grad_output(g, call)


def _weight_call(op, input, weight_size, grad_output, options):
    x = args.as_array(input, "input")
    shape = _shape(weight_size, "weight_size")
    conv_op.check_elements(shape, "a weight", f"weight_size={shape}")
    w = np.broadcast_to(np.zeros((), x.dtype), shape)  # only its shape is read
    call, g = _grad_call(op, tuple(x.shape), w, grad_output, options)
    xb = x[None] if call.plan.unbatched else x
    return call._replace(x=xb.astype(call.w.dtype, copy=False)), g


def _input_gradient(op, call, g, x_shape):
    """op's input gradient; zeros of x_shape where an operand is empty (a zero-size batch,
    zero channels), which never reach the kernels, as in conv.run_gradients."""
    if g.size == 0 or call.w.size == 0:
        dx = np.zeros(((1,) if call.plan.unbatched else ()) + x_shape, call.w.dtype)
    else:
        dx, _ = op.backward(g, None, call.w, call.plan, need_weight=False)
    return conv_op.finish(dx, call)


def _weight_gradient(op, call, g):
    """op's weight gradient; zeros where an operand is empty."""
    if g.size == 0 or call.x.size == 0 or call.w.size == 0:
        dw = np.zeros(call.w.shape, call.w.dtype)
    else:
        _, dw = op.backward(g, call.x, call.w, call.plan, need_input=False)
    return conv_op.finish(dw, call, batch_axis=False)


def conv_input(input_size, weight, grad_output, stride=1, padding=0, dilation=1, groups=1,
               padding_mode="zeros"):
    """Gradient of conv with respect to its input, of shape input_size."""
    w = args.as_array(weight, "weight")
    call, g = _grad_call(conv_op, _shape(input_size, "input_size"), w, grad_output,
                         dict(stride=stride, padding=padding, dilation=dilation, groups=groups,
                              padding_mode=padding_mode))
    return _input_gradient(conv_op, call, g, _shape(input_size, "input_size"))


def conv_weight(input, weight_size, grad_output, stride=1, padding=0, dilation=1, groups=1,
                padding_mode="zeros"):
    """Gradient of conv with respect to its weight, of shape weight_size."""
    call, g = _weight_call(conv_op, input, weight_size, grad_output,
                           dict(stride=stride, padding=padding, dilation=dilation, groups=groups,
                                padding_mode=padding_mode))
    return _weight_gradient(conv_op, call, g)


def conv_transpose_input(input_size, weight, grad_output, stride=1, padding=0, output_padding=0,
                         groups=1, dilation=1, padding_mode="zeros"):
    """Gradient of conv_transpose with respect to its input, of shape input_size."""
    w = args.as_array(weight, "weight")
    call, g = _grad_call(conv_transpose_op, _shape(input_size, "input_size"), w, grad_output,
                         dict(stride=stride, padding=padding, output_padding=output_padding,
                              groups=groups, dilation=dilation, padding_mode=padding_mode))
    return _input_gradient(conv_transpose_op, call, g, _shape(input_size, "input_size"))


def conv_transpose_weight(input, weight_size, grad_output, stride=1, padding=0, output_padding=0,
                          groups=1, dilation=1, padding_mode="zeros"):
    """Gradient of conv_transpose with respect to its weight, of shape weight_size."""
    call, g = _weight_call(conv_transpose_op, input, weight_size, grad_output,
                           dict(stride=stride, padding=padding, output_padding=output_padding,
                                groups=groups, dilation=dilation, padding_mode=padding_mode))
    return _weight_gradient(conv_transpose_op, call, g)


def unfold_input(input_size, grad_output, kernel_size, dilation=1, padding=0, stride=1):
    """Gradient of unfold with respect to its input: fold, with the same arguments."""
    n = fold_op.resolve(kernel_size, dilation, padding, stride)[0].__len__()
    return fold_op.fold(grad_output, _shape(input_size, "input_size")[-n:], kernel_size,
                        dilation, padding, stride)


def fold_input(grad_output, kernel_size, dilation=1, padding=0, stride=1):
    """Gradient of fold with respect to its input: unfold, with the same arguments."""
    return fold_op.unfold(grad_output, kernel_size, dilation, padding, stride)


def _with_rank(op, n):
    """op under torch's name for n spatial dims (conv2d_input, ...); checks the weight rank."""
    base = op.__name__.split("_input")[0].split("_weight")[0]
    suffix = op.__name__[len(base):]
    name = f"{base}{n}d{suffix}"
    weight_position = 1

    def fixed(*arguments, **options):
        shape = arguments[weight_position] if len(arguments) > weight_position else (
            options.get("weight", options.get("weight_size")))
        rank = len(shape) if isinstance(shape, (tuple, list)) else np.ndim(shape)
        if rank != n + 2:
            raise ValueError(f"{name} expects a {n + 2}-D weight, but got one of rank {rank}")
        return op(*arguments, **options)

    fixed.__name__ = fixed.__qualname__ = name
    fixed.__doc__ = f"{n}-d form of `{op.__name__}` (same arguments).\n\n{op.__doc__}"
    fixed.__wrapped__ = op
    return fixed


for _op in (conv_input, conv_weight, conv_transpose_input, conv_transpose_weight):
    for _n in (1, 2, 3):
        _fn = _with_rank(_op, _n)
        globals()[_fn.__name__] = _fn
        __all__.append(_fn.__name__)
del _op, _n, _fn
