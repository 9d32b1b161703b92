"""ONNX's own operator test cases for Conv, ConvTranspose and Col2Im, run on npconv.

Two sources, both shipped inside the onnx package and independent of npconv:

* the node test-case generators (onnx.backend.test.case.node.conv,
  .convtranspose, .col2im): every `export*` method builds a node and calls
  `expect(node, inputs=..., outputs=..., name=...)`; we capture those calls;
* the stored test data of torch modules exported to ONNX
  (backend/test/data/pytorch-converted/test_Conv*, test_ConvTranspose*, and
  pytorch-operator/test_operator_conv*): model.onnx holds one node and its
  weights, test_data_set_0/*.pb the input and the expected output.

Each node's attributes are mapped onto npconv's arguments here, following the
ONNX operator specification, and the result is compared with ONNX's expected
output. Nothing is skipped: an attribute combination the mapping cannot
express raises, so it fails loudly.
"""

import glob
import inspect
import os
from unittest import mock

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import npconv.functional as F

ONNX_DIR = os.path.dirname(onnx.__file__)
DATA_DIR = os.path.join(ONNX_DIR, "backend", "test", "data")


# --- collecting the cases ------------------------------------------------------------


def _attributes(node):
    values = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    if isinstance(values.get("auto_pad"), bytes):
        values["auto_pad"] = values["auto_pad"].decode()
    return values


def _generated_cases(module_name):
    """(name, op_type, attributes, inputs, outputs) of every expect() in a generator module."""
    import importlib

    from onnx.backend.test.case.base import Base

    module = importlib.import_module(f"onnx.backend.test.case.node.{module_name}")
    cases = []

    def record(node, inputs, outputs, name, **_):
        cases.append((name, node.op_type, _attributes(node), list(inputs), list(outputs)))

    with mock.patch.object(module, "expect", record):
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if not (issubclass(cls, Base) and cls.__module__ == module.__name__):
                continue
            for attribute in sorted(vars(cls)):
                if attribute.startswith("export"):
                    np.random.seed(0)  # noqa: NPY002 - onnx's exporters draw from NumPy's global generator
                    getattr(cls, attribute)()
    return cases


def _stored_cases(pattern):
    """Cases from model directories: one node, weights as initializers, data as .pb files."""
    cases = []
    for directory in sorted(glob.glob(os.path.join(DATA_DIR, pattern))):
        model = onnx.load(os.path.join(directory, "model.onnx"))
        (node,) = model.graph.node
        known = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
        data = os.path.join(directory, "test_data_set_0")
        feeds = sorted(glob.glob(os.path.join(data, "input_*.pb")))
        graph_inputs = [i.name for i in model.graph.input if i.name not in known]
        for name, path in zip(graph_inputs, feeds, strict=True):
            known[name] = numpy_helper.to_array(onnx.load_tensor(path))
        (expected,) = [
            numpy_helper.to_array(onnx.load_tensor(path))
            for path in sorted(glob.glob(os.path.join(data, "output_*.pb")))
        ]
        inputs = [known[name] for name in node.input if name]
        cases.append(
            (
                f"{os.path.basename(os.path.dirname(directory))}/{os.path.basename(directory)}",
                node.op_type,
                _attributes(node),
                inputs,
                [expected],
            )
        )
    return cases


CASES = (
    _generated_cases("conv")
    + _generated_cases("convtranspose")
    + _generated_cases("col2im")
    + _stored_cases("pytorch-converted/test_Conv*")
    + _stored_cases("pytorch-operator/test_operator_conv*")
)


# --- mapping ONNX attributes onto npconv ---------------------------------------------


def _common(attrs, w, n):
    kernel = tuple(w.shape[2:])
    if "kernel_shape" in attrs:
        assert tuple(attrs["kernel_shape"]) == kernel, "kernel_shape disagrees with W"
    strides = tuple(attrs.get("strides", (1,) * n))
    dilations = tuple(attrs.get("dilations", (1,) * n))
    return kernel, strides, dilations


def _pads(attrs, n):
    """ONNX pads [x1_begin, x2_begin, ..., x1_end, x2_end] as npconv's (lo, hi) pairs."""
    pads = attrs.get("pads", (0,) * (2 * n))
    return tuple(zip(pads[:n], pads[n:], strict=True))


def _split(total, auto_pad):
    """ONNX's begin/end split of a padding total: SAME_UPPER puts the odd one at the end.

    Integer division as onnx.reference computes it (floor), which also decides
    where a negative total (an extension) goes.
    """
    if auto_pad == "SAME_UPPER":
        begin = total // 2
    else:  # SAME_LOWER, and ConvTranspose's NOTSET with output_shape
        begin = total - total // 2
    return begin, total - begin


def conv_arguments(attrs, x, w):
    """npconv.functional.conv keyword arguments for an ONNX Conv node."""
    n = x.ndim - 2
    kernel, strides, dilations = _common(attrs, w, n)
    auto_pad = attrs.get("auto_pad", "NOTSET")
    if auto_pad == "VALID":
        pairs = ((0, 0),) * n
    elif auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        # ONNX: output = ceil(input / stride), padded as little as that needs; torch's
        # padding='same' is stride-1 only, so spell the pairs out.
        pairs = []
        for size, k, s, d in zip(x.shape[2:], kernel, strides, dilations, strict=True):
            out = -(-size // s)
            total = max(0, (out - 1) * s + d * (k - 1) + 1 - size)
            pairs.append(_split(total, auto_pad))
        pairs = tuple(pairs)
    else:
        pairs = _pads(attrs, n)
    return dict(stride=strides, padding=pairs, dilation=dilations, groups=attrs.get("group", 1))


def conv_transpose_arguments(attrs, x, w):
    """npconv.functional.conv_transpose keyword arguments for an ONNX ConvTranspose node."""
    n = x.ndim - 2
    kernel, strides, dilations = _common(attrs, w, n)
    output_padding = list(attrs.get("output_padding", (0,) * n))
    auto_pad = attrs.get("auto_pad", "NOTSET")
    options = dict(stride=strides, dilation=dilations, groups=attrs.get("group", 1))
    if auto_pad == "SAME_UPPER" and "output_shape" not in attrs:
        # output = input * stride, the extension npconv names padding='same'
        return dict(options, padding="same", output_padding=tuple(output_padding))
    if "output_shape" in attrs or auto_pad == "SAME_LOWER":
        # ONNX: total_padding = stride*(in-1) + output_padding + dilated kernel - output_shape,
        # split by auto_pad; the pads attribute is ignored.
        target = attrs.get("output_shape") or [
            i * s for i, s in zip(x.shape[2:], strides, strict=True)
        ]
        pairs = []
        for axis, (size, k, s, d, want) in enumerate(
            zip(x.shape[2:], kernel, strides, dilations, target, strict=True)
        ):
            total = s * (size - 1) + output_padding[axis] + d * (k - 1) + 1 - want
            begin, end = _split(total, auto_pad)
            if begin < 0:
                raise NotImplementedError(
                    f"ONNX extends the start of axis {axis}; "
                    "map it to padding='same' or extend this test"
                )
            if end < 0:  # the output grows at the far end: that is output_padding
                output_padding[axis] -= end
                end = 0
            pairs.append((begin, end))
        return dict(options, padding=tuple(pairs), output_padding=tuple(output_padding))
    pairs = ((0, 0),) * n if auto_pad == "VALID" else _pads(attrs, n)
    return dict(options, padding=pairs, output_padding=tuple(output_padding))


def run(op_type, attrs, inputs):
    if op_type == "Conv":
        x, w, *b = inputs
        return F.conv(x, w, b[0] if b else None, **conv_arguments(attrs, x, w))
    if op_type == "ConvTranspose":
        x, w, *b = inputs
        return F.conv_transpose(x, w, b[0] if b else None, **conv_transpose_arguments(attrs, x, w))
    if op_type == "Col2Im":
        data, image_shape, block_shape = inputs
        n = len(image_shape)
        return F.fold(
            data,
            tuple(int(v) for v in image_shape),
            tuple(int(v) for v in block_shape),
            dilation=tuple(attrs.get("dilations", (1,) * n)),
            padding=_pads(attrs, n),
            stride=tuple(attrs.get("strides", (1,) * n)),
        )
    raise AssertionError(f"no mapping for {op_type}")


# --- the tests -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, op_type, attrs, inputs, outputs", CASES, ids=[case[0] for case in CASES]
)
def test_onnx_case(name, op_type, attrs, inputs, outputs):
    (expected,) = outputs
    got = run(op_type, attrs, inputs)
    assert got.shape == expected.shape
    assert got.dtype == expected.dtype
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_every_source_was_collected():
    """The capture must not silently find nothing (e.g. after an onnx upgrade)."""
    counts = {}
    for name, op_type, *_ in CASES:
        source = "stored" if "/" in name else "generated"
        counts[op_type, source] = counts.get((op_type, source), 0) + 1
    assert counts[("Conv", "generated")] >= 6
    assert counts[("ConvTranspose", "generated")] >= 10
    assert counts[("Col2Im", "generated")] >= 5
    assert counts[("Conv", "stored")] >= 26
    assert counts[("ConvTranspose", "stored")] >= 2


def test_attribute_mapping_covers_the_interesting_cases():
    """SAME_LOWER, SAME_UPPER, output_shape, groups and N-d Col2Im are all present."""
    seen = {(op, key) for _, op, attrs, *_ in CASES for key in attrs}
    autopads = {(op, attrs.get("auto_pad")) for _, op, attrs, *_ in CASES}
    assert ("Conv", "SAME_LOWER") in autopads
    assert ("ConvTranspose", "SAME_UPPER") in autopads
    assert ("ConvTranspose", "output_shape") in seen
    assert ("ConvTranspose", "group") in seen and ("Conv", "group") in seen
    assert any(op == "Col2Im" and len(inputs[1]) == 3 for _, op, _, inputs, _ in CASES)


@pytest.mark.parametrize(
    "size, kernel, stride, dilation",
    [(3, 3, 2, 1), (4, 2, 2, 1), (3, 4, 3, 1), (5, 3, 1, 2), (3, 2, 3, 1), (2, 5, 2, 1)],
)
def test_conv_transpose_same_lower_through_explicit_pairs(size, kernel, stride, dilation):
    """SAME_LOWER has no npconv string; the pairs the mapping derives match onnx.reference."""
    from onnx.reference import ReferenceEvaluator

    rng = np.random.default_rng(size * 100 + kernel * 10 + stride)
    x = rng.standard_normal((1, 2, size, size + 1)).astype(np.float32)
    w = rng.standard_normal((2, 3, kernel, kernel)).astype(np.float32)
    node = onnx.helper.make_node(
        "ConvTranspose",
        ["X", "W"],
        ["Y"],
        auto_pad="SAME_LOWER",
        strides=[stride, stride],
        dilations=[dilation, dilation],
    )
    (expected,) = ReferenceEvaluator(node).run(None, {"X": x, "W": w})
    got = run("ConvTranspose", _attributes(node), [x, w])
    assert got.shape == (1, 3, size * stride, (size + 1) * stride) == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
