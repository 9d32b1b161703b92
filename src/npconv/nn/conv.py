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
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from .. import _arguments as args
from .. import _calls, _rng, shapes
from .. import _docstrings as docs
from .. import conv as conv_op
from .. import conv_transpose as conv_transpose_op
from .._arguments import ArrayLike, DTypeLike, Padding, PaddingMode, Size
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

    _dims: int | None = None
    _transposed = False
    _op: ModuleType  # the op module: conv or conv_transpose

    def __init__(
        self,
        in_channels,
        out_channels,
        kernel_size,
        stride,
        padding,
        dilation,
        output_padding,
        groups,
        bias,
        padding_mode,
        device,
        dtype,
    ):
        super().__init__()
        args.check_device(device)
        n = self._dims or self._dims_from(kernel_size)
        for name, value in (
            ("in_channels", in_channels),
            ("out_channels", out_channels),
            ("groups", groups),
        ):
            if not isinstance(value, (int, np.integer)) or isinstance(value, (bool, np.bool_)):
                raise TypeError(f"{name} must be an int, but got {name}={value!r}")  # as torch
        if groups <= 0:
            raise ValueError("groups must be a positive integer")
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels)):
            if value < 0:
                raise ValueError(f"{name} must be a non-negative integer, but got {name}={value!r}")
        for name, value in (
            ("in_channels", in_channels),
            ("out_channels", out_channels),
            ("groups", groups),
        ):
            if value > args.MAX_INT:
                raise ValueError(
                    f"{name} must be at most 2**62 - 1 = {args.MAX_INT}, but got {name}={value!r}"
                )
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
            raise ValueError(
                f"{cls.__name__} takes the number of spatial dims from kernel_size, "
                f"so kernel_size must be a non-empty tuple, but got "
                f"kernel_size={kernel_size!r}"
            )
        return len(kernel_size)

    def _weight_shape(self):
        if self.transposed:
            return (self.in_channels, self.out_channels // self.groups) + self.kernel_size
        return (self.out_channels, self.in_channels // self.groups) + self.kernel_size

    def _create_parameters(self):
        _calls.check_elements(
            self._weight_shape(),
            "a weight",
            f"in_channels={self.in_channels}, out_channels="
            f"{self.out_channels} and kernel_size={self.kernel_size}",
        )
        self.weight = Parameter(np.empty(self._weight_shape(), dtype=self._dtype))
        self.bias = (
            Parameter(np.empty(self.out_channels, dtype=self._dtype)) if self._has_bias else None
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """torch's init: kaiming_uniform(a=sqrt(5)) for the weight, same bound for bias."""
        fan_in = self.weight.shape[1] * math.prod(self.kernel_size)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        self.weight[...] = _rng.uniform(bound, self.weight.shape, self._dtype)
        if self.bias is not None:
            self.bias[...] = _rng.uniform(bound, self.bias.shape, self._dtype)

    @property
    def dtype(self) -> np.dtype:
        """The dtype of the parameters (float32 unless the constructor was given another)."""
        return self._dtype

    def extra_repr(self) -> str:
        """The arguments repr() shows: the channels, kernel and stride, then every argument
        that differs from its default, as torch prints them."""
        n = len(self.kernel_size)
        s = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}"
        )
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
        self._save_for_backward(call)
        return self._op.apply(call)

    def backward(self, grad_output: ArrayLike) -> np.ndarray:
        """Gradient with respect to the last input; adds into weight.grad and bias.grad.

        The input saved by forward and the weight are read as they are now:
        change parameters in place (an optimiser step) after backward, as in torch,
        not between forward and backward (torch raises there; NumPy arrays carry no
        version counter that would let npconv notice).
        """
        dx, dw, db = self._op.gradients(self._saved_for_backward(), grad_output)
        _accumulate(self.weight, dw)
        if self.bias is not None:
            _accumulate(self.bias, db)
        return dx


def _accumulate(param, grad):
    grad = grad.astype(param.dtype, copy=False)
    param.grad = grad.copy() if param.grad is None else param.grad + grad


class ConvNd(_ConvNd):
    _op = conv_op

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Size,
        stride: Size = 1,
        padding: Padding = 0,
        dilation: Size = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: PaddingMode = "zeros",
        device: str | None = None,
        dtype: DTypeLike | None = None,
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            0,
            groups,
            bias,
            padding_mode,
            device,
            dtype,
        )

    def forward(self, input: ArrayLike) -> np.ndarray:
        """The convolution of `input` (batched or not); keeps what backward needs."""
        return self._run(
            conv_op.prepare(
                input,
                self.weight,
                self.bias,
                self.stride,
                self.padding,
                self.dilation,
                self.groups,
                self.padding_mode,
            )
        )


class ConvTransposeNd(_ConvNd):
    _op = conv_transpose_op
    _transposed = True

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Size,
        stride: Size = 1,
        padding: Padding = 0,
        output_padding: Size = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: Size = 1,
        padding_mode: PaddingMode = "zeros",
        device: str | None = None,
        dtype: DTypeLike | None = None,
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            output_padding,
            groups,
            bias,
            padding_mode,
            device,
            dtype,
        )

    def _output_padding(self, input, output_size):
        """torch's rule: output_size has n or n + (batch and channel) entries, in range."""
        if output_size is None:
            return self.output_padding
        n = len(self.kernel_size)
        x = np.asarray(input)
        extra = 2 if x.ndim == n + 2 else 1
        output_size = list(args.to_tuple(tuple(output_size), len(output_size), "output_size"))
        if len(output_size) == n + extra:
            output_size = output_size[extra:]
        if len(output_size) != n:
            raise ValueError(
                f"ConvTranspose{n}D: for {x.ndim}D input, output_size must have {n} "
                f"or {n + extra} elements (got {len(output_size)})"
            )
        if isinstance(self.padding, str):
            raise ValueError(
                f"output_size cannot be combined with padding={self.padding!r}: "
                "the padding already fixes the output size"
            )
        pairs = args.padding_pairs(self.padding, n)
        return shapes.output_padding_for(
            x.shape[-n:], output_size, self.kernel_size, self.stride, pairs, self.dilation
        )

    def forward(self, input: ArrayLike, output_size: Sequence[int] | None = None) -> np.ndarray:
        """The transposed convolution of `input` (batched or not); keeps what backward needs.

        output_size, the spatial size wanted (or the whole output shape), picks the
        output_padding that gives it, as in torch; it must lie in the range of sizes the
        layer can produce (see npconv.shapes.conv_transpose_size_range).
        """
        output_padding = self._output_padding(input, output_size)
        return self._run(
            conv_transpose_op.prepare(
                input,
                self.weight,
                self.bias,
                self.stride,
                self.padding,
                output_padding,
                self.groups,
                self.dilation,
                self.padding_mode,
            )
        )


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


# the mixin's methods call _ConvNd's (next in the MRO of every Lazy class); mypy is told so
if TYPE_CHECKING:
    _LazyBase = _ConvNd
else:
    _LazyBase = object


class _LazyMixin(_LazyBase):
    """in_channels comes from the first input (or a loaded state dict); the module
    then becomes `cls_to_become`, so `type(m) is Conv2d` afterwards."""

    cls_to_become: ClassVar[type[_ConvNd]]

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        parameters = list(inspect.signature(cls.cls_to_become.__init__).parameters.values())
        # the signature is the eager class's without in_channels
        cls.__signature__ = inspect.Signature(list(parameters[2:]))

    def __init__(self, out_channels: int, kernel_size: Size, *rest, **options) -> None:
        super().__init__(0, out_channels, kernel_size, *rest, **options)

    def _materialize(self, in_channels):
        if in_channels % self.groups != 0:
            raise ValueError(
                f"in_channels must be divisible by groups, but the input has "
                f"{in_channels} channels and groups={self.groups}"
            )
        self.in_channels = int(in_channels)
        self._create_parameters()
        self.__class__ = self.cls_to_become

    def __call__(self, input, *rest, **options):
        """Take in_channels from `input`, become the eager class, then run its forward."""
        n = len(self.kernel_size)
        shape = np.shape(input)  # a Dask array's shape, uncomputed
        if len(shape) not in (n + 1, n + 2):
            raise ValueError(
                f"Expected {n + 1}D (unbatched) or {n + 2}D (batched) input to "
                f"{type(self).__name__}, but got input of size: {list(shape)}"
            )
        self._materialize(shape[1] if len(shape) == n + 2 else shape[0])
        return Module.__call__(self, input, *rest, **options)

    def _materialize_from_state(self, state, prefix):
        """in_channels from the state's weight; error messages where it cannot say."""
        key = prefix + "weight"
        weight = state.get(key)
        n = len(self.kernel_size)
        if weight is None:
            if prefix + "bias" in state:
                return [
                    f'cannot load "{prefix}bias" into {type(self).__name__} without '
                    f'"{key}": its in_channels comes from the weight'
                ]
            return []  # reported as a missing key
        if not isinstance(weight, np.ndarray):
            raise TypeError(
                f'While copying the parameter named "{key}", expected a NumPy '
                f"array or a tensor from checkpoint but received {type(weight)}"
            )
        if weight.ndim != n + 2:
            layout = self._weight_shape()  # in_channels is not known yet: named
            layout = (
                ("in_channels",) + layout[1:]
                if self.transposed
                else layout[:1] + ("in_channels/groups",) + layout[2:]
            )
            return [
                f"size mismatch for {key}: copying a param with shape {weight.shape} from "
                f"checkpoint, the shape in current model is ({', '.join(map(str, layout))}) "
                f"({type(self).__name__} takes a weight of {n + 2} dims)"
            ]
        self._materialize(weight.shape[0] if self.transposed else weight.shape[1] * self.groups)
        return []


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


# --- docstrings: one template per family, rendered for each rank -------------------------

_MODULE = """\
{rank} {what} layer: {purpose}.

{body}The weight and bias are Parameters, created (and initialised) at construction.{spatial}

Args:
    in_channels: number of channels of the input, C_in.
    out_channels: number of channels of the output, C_out.
    kernel_size: size of the kernel, one int for every spatial dim or one per dim.
{stride}
{padding}{output_padding}
{dilation}
{groups}
    bias: whether the layer adds a learnable bias. Default: True.
{padding_mode}
{device_dtype}

{shape}

Attributes:
    weight (Parameter): the learnable weight, of shape {weight},
        uniform in +-1/sqrt(fan_in) with fan_in = weight.shape[1] * prod(kernel_size).
    bias (Parameter or None): the learnable bias, of shape (C_out,), with the same bound.

{dtypes}

{module_torch}

{beyond}

Example:
{example}"""

_WHAT = {
    False: (
        "convolution",
        "slides C_out filters over an input of C_in channels",
        (
            "Each output channel is its group's input channels correlated with one filter\n"
            "each and summed, plus the bias (a cross-correlation, as in torch).\n"
        ),
    ),
    True: (
        "transposed convolution",
        "the gradient of a convolution with respect to its input",
        (
            "Each input position spreads its value, weighted by the kernel, over a window of\n"
            "the output: the layer maps a conv's output size back to its input size, and\n"
            "``forward(input, output_size=...)`` picks among the sizes a strided conv maps\n"
            "to the same one.\n"
        ),
    ),
}

_EXAMPLES = {
    (False, None): """\
    >>> import numpy as np
    >>> from npconv import nn
    >>> m = nn.ConvNd(2, 4, (3, 3, 3, 3))                     # 4 spatial dims
    >>> m(np.ones((1, 2, 5, 5, 5, 5), np.float32)).shape
    (1, 4, 3, 3, 3, 3)""",
    (False, 1): """\
    >>> import numpy as np
    >>> from npconv import nn
    >>> m = nn.Conv1d(16, 33, 3, stride=2)
    >>> m
    Conv1d(16, 33, kernel_size=(3,), stride=(2,))
    >>> y = m(np.zeros((20, 16, 50), np.float32))
    >>> y.shape
    (20, 33, 24)
    >>> m.backward(np.ones_like(y)).shape, m.weight.grad.shape
    ((20, 16, 50), (33, 16, 3))""",
    (False, 2): """\
    >>> import numpy as np
    >>> from npconv import nn
    >>> m = nn.Conv2d(16, 33, (3, 5), stride=(2, 1), padding=(4, 2), dilation=(3, 1))
    >>> m(np.zeros((1, 16, 50, 100), np.float32)).shape
    (1, 33, 26, 100)
    >>> nn.Conv2d(16, 16, 3, padding="same", padding_mode="reflect")(
    ...     np.zeros((16, 12, 12), np.float32)).shape              # unbatched
    (16, 12, 12)""",
    (False, 3): """\
    >>> import numpy as np
    >>> from npconv import nn
    >>> m = nn.Conv3d(4, 8, (3, 5, 2), stride=(2, 1, 1), padding=(4, 2, 0))
    >>> m(np.zeros((2, 4, 10, 12, 14), np.float32)).shape
    (2, 8, 8, 12, 13)""",
    (True, None): """\
    >>> import numpy as np
    >>> from npconv import nn
    >>> m = nn.ConvTransposeNd(4, 2, (2, 2, 2, 2), stride=2)   # 4 spatial dims
    >>> m(np.ones((1, 4, 3, 3, 3, 3), np.float32)).shape
    (1, 2, 6, 6, 6, 6)""",
    (True, 1): """\
    >>> import numpy as np
    >>> from npconv import nn
    >>> m = nn.ConvTranspose1d(16, 33, 3, stride=2)
    >>> y = m(np.zeros((20, 16, 50), np.float32))
    >>> y.shape
    (20, 33, 101)
    >>> m.backward(np.ones_like(y)).shape, m.weight.grad.shape
    ((20, 16, 50), (16, 33, 3))""",
    (True, 2): """\
    >>> import numpy as np
    >>> from npconv import nn
    >>> m = nn.ConvTranspose2d(16, 33, (3, 5), stride=(2, 1), padding=(4, 2))
    >>> m(np.zeros((2, 16, 50, 100), np.float32)).shape
    (2, 33, 93, 100)
    >>> x = np.zeros((1, 16, 12, 12), np.float32)
    >>> down = nn.Conv2d(16, 16, 3, stride=2, padding=1)
    >>> up = nn.ConvTranspose2d(16, 16, 3, stride=2, padding=1)
    >>> h = down(x)
    >>> h.shape, up(h).shape, up(h, output_size=x.shape).shape
    ((1, 16, 6, 6), (1, 16, 11, 11), (1, 16, 12, 12))""",
    (True, 3): """\
    >>> import numpy as np
    >>> from npconv import nn
    >>> m = nn.ConvTranspose3d(4, 2, (3, 5, 2), stride=(2, 1, 1), padding=(0, 4, 2))
    >>> m(np.zeros((2, 4, 5, 12, 12), np.float32)).shape
    (2, 2, 11, 8, 9)""",
}


def _module_doc(transposed: bool, n: int | None) -> str:
    what, purpose, body = _WHAT[transposed]
    kernel = docs.rank_fields(n)["kernel"]
    if transposed:
        weight = f"(C_in, C_out / groups, {kernel})"
        shape = docs.conv_transpose_shape(n, weight)
        padding, mode = "{conv_transpose_padding}", "{conv_transpose_padding_mode}"
        output_padding, beyond = "\n{output_padding}", "{conv_transpose_beyond}"
    else:
        weight = f"(C_out, C_in / groups, {kernel})"
        shape = docs.conv_shape(n, weight)
        padding, mode, output_padding, beyond = (
            "{conv_padding}",
            "{conv_padding_mode}",
            "",
            "{conv_beyond}",
        )
    template = (
        _MODULE.replace("{padding}", padding)
        .replace("{padding_mode}", mode)
        .replace("{output_padding}", output_padding)
        .replace("{beyond}", beyond)
    )
    spatial = (
        " The number of spatial dims is len(kernel_size), which must be a tuple." if not n else ""
    )
    return docs.render(
        template,
        n,
        what=what,
        purpose=purpose,
        body=body,
        spatial=spatial,
        shape=shape,
        weight=weight,
        example=_EXAMPLES[transposed, n],
    )


_LAZY = """\
A {eager} whose in_channels is taken from the first input.

Its weight and bias are uninitialised (`UninitializedParameter`) until the first
call, or until ``load_state_dict`` gives them a shape; the module then becomes a
{eager} (``type(m) is {eager}``) with the same arguments, initialised as one.

Args:
    {arguments}: {eager}'s
        arguments, without in_channels; see {eager} for them, the shapes and the notes.

Example:
    >>> import numpy as np
    >>> from npconv import nn
    >>> m = nn.{name}(8, {kernel})
    >>> m(np.zeros({x}, np.float32)).shape
    {y}
    >>> type(m).__name__, m.weight.shape
    ('{eager}', {w})"""

_LAZY_EXAMPLES = {  # kernel size, input, output, weight shape
    "LazyConv1d": (3, (2, 5, 10), (2, 8, 8), (8, 5, 3)),
    "LazyConv2d": (3, (2, 5, 10, 10), (2, 8, 8, 8), (8, 5, 3, 3)),
    "LazyConv3d": (3, (1, 5, 4, 4, 4), (1, 8, 2, 2, 2), (8, 5, 3, 3, 3)),
    "LazyConvTranspose1d": (3, (2, 5, 10), (2, 8, 12), (5, 8, 3)),
    "LazyConvTranspose2d": (3, (2, 5, 4, 4), (2, 8, 6, 6), (5, 8, 3, 3)),
    "LazyConvTranspose3d": (3, (1, 5, 2, 2, 2), (1, 8, 4, 4, 4), (5, 8, 3, 3, 3)),
}

ConvNd.__doc__ = _module_doc(False, None)
ConvTransposeNd.__doc__ = _module_doc(True, None)
_cls: type
for _n, _cls in enumerate((Conv1d, Conv2d, Conv3d), 1):
    _cls.__doc__ = _module_doc(False, _n)
for _n, _cls in enumerate((ConvTranspose1d, ConvTranspose2d, ConvTranspose3d), 1):
    _cls.__doc__ = _module_doc(True, _n)
for _cls in (
    LazyConv1d,
    LazyConv2d,
    LazyConv3d,
    LazyConvTranspose1d,
    LazyConvTranspose2d,
    LazyConvTranspose3d,
):
    _k, _x, _y, _w = _LAZY_EXAMPLES[_cls.__name__]
    _cls.__doc__ = _LAZY.format(
        eager=_cls.cls_to_become.__name__,
        name=_cls.__name__,
        arguments=", ".join(inspect.signature(_cls).parameters),
        kernel=_k,
        x=_x,
        y=_y,
        w=_w,
    )
del _n, _cls, _k, _x, _y, _w
