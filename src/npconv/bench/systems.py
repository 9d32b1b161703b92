"""The systems the benchmark times: npconv and its peers torch, onnxruntime and jax.

Each system is set up once per run with a thread count and then turns a case
and its data into a closure that performs exactly one call and returns that
system's own output objects (converted to NumPy only outside the timing):

    forward   [y]              conv / conv_transpose with the case's arguments
    backward  [dx, dw(, db)]   gradients of sum(y * g); no forward pass is timed

A peer that is not installed raises ImportError at setup; a case a system cannot
run (onnxruntime has no backward) raises Unsupported, and the table shows "-".
"""

from __future__ import annotations

import os
import sys

import numpy as np


class Unsupported(Exception):
    """This system has no way to run this case."""


class Npconv:
    """npconv.functional for forward; prepare + gradients for backward.

    Threads: npconv.set_num_threads when the package has it, else threadpoolctl
    limits NumPy's BLAS.
    """

    name = "npconv"

    def __init__(self, threads, planner="heuristic"):
        import npconv

        self.version = npconv.__version__
        self._restore = _limit_npconv_threads(threads)
        self._planner = npconv.get_planner()
        npconv.set_planner(planner)

    def prepare(self, case, data):
        from .. import conv as conv_op
        from .. import conv_transpose as conv_transpose_op
        from .. import functional as F

        x, w, b, g = data
        options = case.options()
        if case.pass_ == "forward":
            op = F.conv if case.op == "conv" else F.conv_transpose
            return lambda: [op(x, w, b, **options)]
        module = conv_op if case.op == "conv" else conv_transpose_op

        def backward():
            call = module.prepare(x, w, b, **options)
            return [a for a in module.gradients(call, g) if a is not None]

        return backward

    @staticmethod
    def numpy(outputs):
        return list(outputs)

    def close(self):
        import npconv

        npconv.set_planner(self._planner)
        self._restore()


class NpconvMeasured(Npconv):
    """npconv again, with the measured planner for its calls only: its warm-up call times
    every candidate algorithm of each contraction and later calls run the fastest, so the
    table shows what the measured mode gains over the heuristic, in the same blocks."""

    name = "measured"

    def __init__(self, threads):
        super().__init__(threads)

    def prepare(self, case, data):
        import npconv

        call = super().prepare(case, data)

        def measured():
            before = npconv.get_planner()
            npconv.set_planner("measure")
            try:
                return call()
            finally:
                npconv.set_planner(before)

        return measured


def _limit_npconv_threads(threads):
    """Apply the thread count to npconv; returns a function that undoes it."""
    import npconv

    if hasattr(npconv, "set_num_threads"):
        before = npconv.get_num_threads() if hasattr(npconv, "get_num_threads") else None
        npconv.set_num_threads(threads)
        return (lambda: npconv.set_num_threads(before)) if before else (lambda: None)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return lambda: None
    limits = threadpool_limits(limits=threads)
    return limits.restore_original_limits


class Torch:
    """torch.nn.functional for forward; aten.convolution_backward for backward.

    convolution_backward is the kernel autograd itself calls, so timing it
    measures the gradients alone, as for the other systems.
    """

    name = "torch"

    def __init__(self, threads):
        import torch

        self.torch = torch
        self.version = torch.__version__
        self._before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:  # only settable before torch's first parallel work
            pass

    def prepare(self, case, data):
        torch = self.torch
        if case.ndim > 3:
            raise Unsupported(f"torch has no {case.ndim}-d convolution")
        x, w, b, g = (None if a is None else torch.from_numpy(a) for a in data)
        transposed = case.op == "conv_transpose"
        if case.pass_ == "forward":
            name = f"conv_transpose{case.ndim}d" if transposed else f"conv{case.ndim}d"
            op = getattr(torch.nn.functional, name)
            options = case.options()

            def forward():
                with torch.inference_mode():
                    return [op(x, w, b, **options)]

            return forward
        bias_sizes = [case.out_channels] if b is not None else None
        arguments = (
            bias_sizes,
            list(case.stride),
            list(case.padding),
            list(case.dilation),
            transposed,
            list(case.output_padding),
            case.groups,
            [True, True, b is not None],
        )
        backward_op = torch.ops.aten.convolution_backward

        def backward():
            with torch.inference_mode():
                return [a for a in backward_op(g, x, w, *arguments) if a is not None]

        return backward

    @staticmethod
    def numpy(outputs):
        return [a.numpy() for a in outputs]

    def close(self):
        self.torch.set_num_threads(self._before)


class Onnxruntime:
    """A one-node Conv / ConvTranspose model built in memory; forward only.

    The weight (and bias) are graph inputs, not initializers, so that every
    system receives the same arrays on every call and none can pre-pack them.
    """

    name = "ort"

    def __init__(self, threads):
        import onnx  # noqa: F401 (the model builder; fail at setup when it is missing)
        import onnxruntime

        self.ort = onnxruntime
        self.version = onnxruntime.__version__
        self.options = onnxruntime.SessionOptions()
        self.options.intra_op_num_threads = threads
        self.options.inter_op_num_threads = 1
        self.options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        self.options.log_severity_level = 3

    def prepare(self, case, data):
        if case.pass_ == "backward":
            raise Unsupported("onnxruntime runs inference only")
        session = self.ort.InferenceSession(
            onnx_model(case).SerializeToString(), self.options, providers=["CPUExecutionProvider"]
        )
        feeds = {"x": data.x, "w": data.w}
        if data.b is not None:
            feeds["b"] = data.b
        return lambda: session.run(None, feeds)

    @staticmethod
    def numpy(outputs):
        return list(outputs)

    def close(self):
        pass


def onnx_model(case, opset=17):
    """The ONNX model of one case: inputs x, w(, b); output y."""
    from onnx import TensorProto, helper

    attributes = dict(
        kernel_shape=list(case.kernel),
        strides=list(case.stride),
        dilations=list(case.dilation),
        group=case.groups,
        pads=list(case.padding) * 2,
    )  # all begins, then all ends
    if case.op == "conv_transpose":
        attributes["output_padding"] = list(case.output_padding)
    names = ["x", "w"] + (["b"] if case.bias else [])
    node = helper.make_node(
        "Conv" if case.op == "conv" else "ConvTranspose", names, ["y"], **attributes
    )
    shapes = [case.input_shape, case.weight_shape, (case.out_channels,)]
    inputs = [  # without a bias, names has two entries: zip drops the bias shape
        helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape))
        for name, shape in zip(names, shapes, strict=False)
    ]
    output = helper.make_tensor_value_info("y", TensorProto.FLOAT, list(case.output_shape))
    graph = helper.make_graph([node], case.name, inputs, [output])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8  # readable by every onnxruntime the bench extra allows
    return model


class Jax:
    """jax.lax.conv_general_dilated, jit-compiled; backward through jax.vjp.

    A transposed conv is the same primitive with input dilation (lhs_dilation =
    stride), the kernel flipped and its channel axes swapped per group, and
    padding d*(k-1) - p before and that plus output_padding after: what
    jax.lax.conv_transpose does, written for torch's weight layout and groups.

    Threads: XLA sizes its CPU thread pool from the NPROC environment variable
    (else the CPU count), and runs single-threaded with
    --xla_cpu_multi_thread_eigen=false; both must be set before jax is first
    imported, so a second setup in the same process keeps the first count.
    """

    name = "jax"

    def __init__(self, threads):
        if "jax" not in sys.modules:
            os.environ["NPROC"] = str(threads)
            os.environ.setdefault("JAX_PLATFORMS", "cpu")
            if threads == 1:
                flags = os.environ.get("XLA_FLAGS", "")
                os.environ["XLA_FLAGS"] = (
                    flags + " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
                ).strip()
        import jax

        self.jax = jax
        self.version = jax.__version__

    def forward_function(self, case):
        from jax import lax

        highest = lax.Precision.HIGHEST
        spatial = tuple(range(2, 2 + case.ndim))

        def conv(x, w):
            return lax.conv_general_dilated(
                x,
                w,
                case.stride,
                [(p, p) for p in case.padding],
                rhs_dilation=case.dilation,
                feature_group_count=case.groups,
                precision=highest,
            )

        def conv_transpose(x, w):
            g = case.groups
            # (C_in, C_out/g, *k) -> (g, C_in/g, C_out/g, *k) -> (C_out, C_in/g, *k), flipped
            w = w.reshape((g, w.shape[0] // g) + w.shape[1:])
            w = w.swapaxes(1, 2).reshape((-1, w.shape[1]) + w.shape[3:])
            w = self.jax.numpy.flip(w, spatial)
            padding = [
                (d * (k - 1) - p, d * (k - 1) - p + op)
                for k, p, d, op in zip(
                    case.kernel, case.padding, case.dilation, case.output_padding, strict=True
                )
            ]
            return lax.conv_general_dilated(
                x,
                w,
                (1,) * case.ndim,
                padding,
                lhs_dilation=case.stride,
                rhs_dilation=case.dilation,
                feature_group_count=g,
                precision=highest,
            )

        op = conv if case.op == "conv" else conv_transpose

        def forward(x, w, *bias):
            y = op(x, w)
            return y + bias[0].reshape((1, -1) + (1,) * case.ndim) if bias else y

        return forward

    def prepare(self, case, data):
        jax = self.jax
        forward = self.forward_function(case)
        operands = [jax.device_put(a) for a in (data.x, data.w, data.b) if a is not None]
        if case.pass_ == "forward":
            compiled = jax.jit(forward)
            return lambda: [jax.block_until_ready(compiled(*operands))]

        def gradients(g, *operands):
            return jax.vjp(forward, *operands)[1](g)

        compiled = jax.jit(gradients)
        g = jax.device_put(data.g)
        return lambda: list(jax.block_until_ready(compiled(g, *operands)))

    @staticmethod
    def numpy(outputs):
        return [np.asarray(a) for a in outputs]

    def close(self):
        pass


PEERS = {"torch": Torch, "ort": Onnxruntime, "jax": Jax}
