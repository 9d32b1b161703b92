"""Convolution modules. One base owns validation, weight layout, initialisation,
repr and forward/backward; the 1d/2d/3d classes only fix the number of
spatial dims, and the N-d classes take it from len(kernel_size).

    Conv:           weight (out_channels, in_channels/groups, *kernel_size)
    ConvTranspose:  weight (in_channels, out_channels/groups, *kernel_size)

Both are initialised like torch: uniform in +-1/sqrt(fan_in), with fan_in =
weight.shape[1] * prod(kernel_size), for weight and bias.
"""
from __future__ import annotations

import inspect
import math

import numpy as np

from .. import _arguments as args
from .. import _random, shapes
from .. import conv as conv_op
from .. import conv_transpose as conv_transpose_op
from .module import Module
from .parameter import Parameter, UninitializedParameter


def _padding_attribute(padding, n, transposed, stride):
    """padding as torch stores it: a string, a tuple, or (lo, hi) pairs (npconv only)."""
    if isinstance(padding, str):
        args.padding_string(padding)
        if padding == "same" and not transposed and any(s != 1 for s in stride):
            raise ValueError("padding='same' is not supported for strided convolutions")
        return padding
    pairs = args.padding_pairs(padding, n)
    if args.is_pair_padding(padding):
        return pairs
    return tuple(lo for lo, _ in pairs)


class _ConvNd(Module):
    """Base of every conv module; `_dims` fixes the spatial dims (None: from kernel_size)."""

    _dims = None
    _transposed = False

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation,
                 output_padding, groups, bias, padding_mode, device, dtype):
        super().__init__()
        args.check_device(device)
        n = self._dims or self._dims_from(kernel_size)
        if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool) or groups <= 0:
            raise ValueError("groups must be a positive integer")
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, but got {name}={value!r}")
        if in_channels % groups != 0:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups != 0:
            raise ValueError("out_channels must be divisible by groups")
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.kernel_size = args.positive_tuple(kernel_size, n, "kernel_size")
        self.stride = args.positive_tuple(stride, n, "stride")
        self.padding = _padding_attribute(padding, n, self._transposed, self.stride)
        self.dilation = args.positive_tuple(dilation, n, "dilation")
        self.transposed = self._transposed
        self.output_padding = args.non_negative_tuple(output_padding, n, "output_padding")
        self.groups = int(groups)
        self.padding_mode = args.padding_mode(padding_mode)
        self._dtype = args.resolve_dtype(dtype)
        self._has_bias = bool(bias)
        self._saved = None
        self.weight = UninitializedParameter()
        self.bias = UninitializedParameter() if bias else None
        if not isinstance(self, _LazyMixin):
            self._create_parameters()

    @classmethod
    def _dims_from(cls, kernel_size):
        if not isinstance(kernel_size, (list, tuple)) or len(kernel_size) < 1:
            raise ValueError(f"{cls.__name__} takes the number of spatial dims from kernel_size, "
                             f"so kernel_size must be a non-empty tuple, but got "
                             f"kernel_size={kernel_size!r}")
        return len(kernel_size)

    def _weight_shape(self):
        if self.transposed:
            return (self.in_channels, self.out_channels // self.groups) + self.kernel_size
        return (self.out_channels, self.in_channels // self.groups) + self.kernel_size

    def _create_parameters(self):
        self.weight = Parameter(np.empty(self._weight_shape(), dtype=self._dtype))
        self.bias = Parameter(np.empty(self.out_channels, dtype=self._dtype)) if self._has_bias else None
        self.reset_parameters()

    def reset_parameters(self):
        """torch's init: kaiming_uniform(a=sqrt(5)) for the weight, same bound for bias."""
        fan_in = self.weight.shape[1] * math.prod(self.kernel_size)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        self.weight[...] = _random.uniform(bound, self.weight.shape, self._dtype)
        if self.bias is not None:
            self.bias[...] = _random.uniform(bound, self.bias.shape, self._dtype)

    @property
    def dtype(self):
        return self._dtype

    def extra_repr(self):
        n = len(self.kernel_size)
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0,) * n:
            padding = self.padding
            s += f", padding={padding}"
        if self.dilation != (1,) * n:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * n:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s

    # --- forward and backward -------------------------------------------------------
    def _run(self, call):
        self._saved = call
        return self._op.apply(call)

    def backward(self, grad_output):
        """Gradient with respect to the last input; adds into weight.grad and bias.grad.

        The input saved by forward and the weight are read as they are now:
        change parameters in place (an optimiser step) after backward, as in torch,
        not between forward and backward (torch raises there; NumPy arrays carry no
        version counter that would let npconv notice).
        """
        if self._saved is None:
            raise ValueError(f"{type(self).__name__}.backward() needs a forward call first")
        dx, dw, db = self._op.gradients(self._saved, grad_output)
        _accumulate(self.weight, dw)
        if self.bias is not None:
            _accumulate(self.bias, db)
        return dx


def _accumulate(param, grad):
    grad = grad.astype(param.dtype, copy=False)
    param.grad = grad.copy() if param.grad is None else param.grad + grad


class ConvNd(_ConvNd):
    """N-d convolution; the number of spatial dims is len(kernel_size).

    >>> import numpy as np, npconv
    >>> m = npconv.nn.ConvNd(2, 4, (3, 3, 3, 3))
    >>> m(np.ones((1, 2, 5, 5, 5, 5), np.float32)).shape
    (1, 4, 3, 3, 3, 3)
    """

    _op = conv_op

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, 0,
                         groups, bias, padding_mode, device, dtype)

    def forward(self, input):
        return self._run(conv_op.prepare(input, self.weight, self.bias, self.stride, self.padding,
                                         self.dilation, self.groups, self.padding_mode))


class ConvTransposeNd(_ConvNd):
    """N-d transposed convolution; the number of spatial dims is len(kernel_size).

    `forward(input, output_size=None)`: output_size (spatial, or with the batch
    and channel dims) picks the output_padding, as in torch.
    """

    _op = conv_transpose_op
    _transposed = True

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, bias=True, dilation=1, padding_mode="zeros",
                 device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         output_padding, groups, bias, padding_mode, device, dtype)

    def _output_padding(self, input, output_size):
        """torch's rule: output_size has n or n + (batch and channel) entries, in range."""
        if output_size is None:
            return self.output_padding
        n = len(self.kernel_size)
        x = np.asarray(input)
        extra = 2 if x.ndim == n + 2 else 1
        output_size = [int(v) for v in output_size]
        if len(output_size) == n + extra:
            output_size = output_size[extra:]
        if len(output_size) != n:
            raise ValueError(f"ConvTranspose{n}D: for {x.ndim}D input, output_size must have {n} "
                             f"or {n + extra} elements (got {len(output_size)})")
        if isinstance(self.padding, str):
            raise ValueError(f"output_size cannot be combined with padding={self.padding!r}: "
                             "the padding already fixes the output size")
        pairs = args.padding_pairs(self.padding, n)
        return shapes.output_padding_for(x.shape[-n:], output_size, self.kernel_size,
                                         self.stride, pairs, self.dilation)

    def forward(self, input, output_size=None):
        output_padding = self._output_padding(input, output_size)
        return self._run(conv_transpose_op.prepare(
            input, self.weight, self.bias, self.stride, self.padding, output_padding,
            self.groups, self.dilation, self.padding_mode))


class Conv1d(ConvNd):
    _dims = 1


class Conv2d(ConvNd):
    _dims = 2


class Conv3d(ConvNd):
    _dims = 3


class ConvTranspose1d(ConvTransposeNd):
    _dims = 1


class ConvTranspose2d(ConvTransposeNd):
    _dims = 2


class ConvTranspose3d(ConvTransposeNd):
    _dims = 3


class _LazyMixin:
    """in_channels comes from the first input (or a loaded state dict); the module
    then becomes `cls_to_become`, so `type(m) is Conv2d` afterwards."""

    cls_to_become = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        parameters = list(inspect.signature(cls.cls_to_become.__init__).parameters.values())
        # the signature is the eager class's without in_channels
        cls.__signature__ = inspect.Signature([p for p in parameters[2:]])

    def __init__(self, out_channels, kernel_size, *rest, **options):
        super().__init__(0, out_channels, kernel_size, *rest, **options)

    def _materialize(self, in_channels):
        if in_channels % self.groups != 0:
            raise ValueError(f"in_channels must be divisible by groups, but the input has "
                             f"{in_channels} channels and groups={self.groups}")
        self.in_channels = int(in_channels)
        self._create_parameters()
        self.__class__ = self.cls_to_become

    def __call__(self, input, *rest, **options):
        n = len(self.kernel_size)
        shape = np.shape(input)                     # a Dask array's shape, uncomputed
        if len(shape) not in (n + 1, n + 2):
            raise ValueError(f"Expected {n + 1}D (unbatched) or {n + 2}D (batched) input to "
                             f"{type(self).__name__}, but got input of size: {list(shape)}")
        self._materialize(shape[1] if len(shape) == n + 2 else shape[0])
        return Module.__call__(self, input, *rest, **options)

    def _materialize_from_state(self, state, prefix):
        weight = state.get(prefix + "weight")
        if weight is not None and weight.ndim == len(self.kernel_size) + 2:
            self._materialize(weight.shape[0] if self.transposed else weight.shape[1] * self.groups)


class LazyConv1d(_LazyMixin, Conv1d):
    cls_to_become = Conv1d


class LazyConv2d(_LazyMixin, Conv2d):
    cls_to_become = Conv2d


class LazyConv3d(_LazyMixin, Conv3d):
    cls_to_become = Conv3d


class LazyConvTranspose1d(_LazyMixin, ConvTranspose1d):
    cls_to_become = ConvTranspose1d


class LazyConvTranspose2d(_LazyMixin, ConvTranspose2d):
    cls_to_become = ConvTranspose2d


class LazyConvTranspose3d(_LazyMixin, ConvTranspose3d):
    cls_to_become = ConvTranspose3d
