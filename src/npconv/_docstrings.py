"""The shared parts of npconv's public docstrings, each written once.

The 1d/2d/3d/N-d functions and classes differ only in their number of spatial
dims, so their docstrings are one template each, rendered per rank here: the
argument notes (padding forms, padding modes, groups, dilation, dtypes), the
shape lines with their output-size formula, and the differences from torch.
Examples are written per rank in the modules themselves, so that each one is a
doctest of the object it documents.

Templates are plain `str.format` strings over NOTES and the per-rank fields of
`rank_fields` (dim names such as "H_in", the weight's kernel dims, ...).
"""

from __future__ import annotations

# --- argument notes (Google-style "Args:" entries, indented as they appear there) -----

NOTES = {}

NOTES["input"] = """\
    input: the input, of shape {input_shape} (batched) or {input_shape_unbatched}
        (unbatched), anything ``np.asarray`` accepts."""

NOTES["bias"] = """\
    bias: optional bias of shape (C_out,), added to every output position. Default: None."""

NOTES["stride"] = """\
    stride: step of the sliding window, one int for every spatial dim or one per dim.
        Default: 1."""

NOTES["conv_padding"] = """\
    padding: zeros (or ``padding_mode`` values) added around the input. One of: an int or
        a tuple of one int per dim, added on both sides; ``'valid'``, no padding;
        ``'same'``, the output has the input's size (stride 1 only; an odd total puts
        the extra element at the end, as in torch); or one ``(lo, hi)`` pair per dim,
        ``lo`` before and ``hi`` after (npconv only). Default: 0."""

NOTES["conv_transpose_padding"] = """\
    padding: what is cropped from each side of the full transposed output, the inverse
        of a conv's padding: an int or a tuple of one int per dim, cropped from both
        sides; ``'valid'``, nothing cropped; ``'same'``, the output is the input's size
        times the stride, split as ONNX's ``auto_pad='SAME_UPPER'`` (npconv only); or one
        ``(lo, hi)`` pair per dim, ``lo`` from the start and ``hi`` from the end (npconv
        only). Default: 0."""

NOTES["output_padding"] = """\
    output_padding: extra size added at the end of each output dim, to pick one of the
        ``stride`` output sizes that the same input size can come from. Each entry must be
        smaller than the stride or the dilation of its dim. Default: 0."""

NOTES["dilation"] = """\
    dilation: spacing between kernel taps: a kernel of size k covers
        ``dilation * (k - 1) + 1`` positions. Default: 1."""

NOTES["groups"] = """\
    groups: number of blocked connections from input to output channels: each group of
        C_in / groups input channels is convolved with its own C_out / groups filters.
        Both channel counts must be divisible by groups; groups == C_in is a depthwise
        convolution. Default: 1."""

NOTES["conv_padding_mode"] = """\
    padding_mode: ``'zeros'``, ``'reflect'``, ``'replicate'`` or ``'circular'``: what
        the padding is filled with. Default: ``'zeros'``."""

NOTES["conv_transpose_padding_mode"] = """\
    padding_mode: ``'zeros'`` (the crop above), or ``'reflect'``, ``'replicate'``,
        ``'circular'`` (npconv only): the transposed conv is then the exact adjoint of a
        conv with the same padding and mode, the full output's border folded back onto
        the interior. Default: ``'zeros'``."""

NOTES["device_dtype"] = """\
    device: None or ``'cpu'`` (npconv runs on the CPU). Default: None.
    dtype: dtype of the parameters: float16, float32, float64, complex64 or complex128.
        Default: float32."""

NOTES["block_kernel_size"] = """\
    kernel_size: size of the sliding blocks: a tuple of one int per spatial dim (its
        length sets the number of spatial dims), or an int for 2-d blocks, as in torch."""

NOTES["block_arguments"] = """\
    dilation: spacing between the elements of a block, an int or one per dim. Default: 1.
    padding: zeros around the input of unfold (the output of fold): an int or one per
        dim on both sides, or one ``(lo, hi)`` pair per dim (npconv only). Default: 0.
    stride: step between blocks, an int or one per dim. Default: 1."""

# --- notes that close a docstring -------------------------------------------------------

NOTES["dtypes"] = """\
Inputs and weights must share their dtype: float16 (computed in float32), float32,
float64, complex64 or complex128. The result has that dtype."""

NOTES["cross_correlation"] = """\
As in torch, this is a cross-correlation: the kernel is not flipped."""

NOTES["functional_torch"] = """\
Differences from torch: arrays are NumPy arrays and nothing records a graph; the
gradients are the functions of npconv.grad."""

NOTES["module_torch"] = """\
Differences from torch: arrays are NumPy arrays; ``m.backward(grad_output)`` returns
the gradient with respect to the last input and adds the parameters' gradients into
their ``.grad``. Parameters are initialised as torch initialises them, uniform in
+-1/sqrt(fan_in), from the generator that ``npconv.manual_seed`` seeds (so the values
differ from torch's)."""

NOTES["conv_beyond"] = """\
Beyond torch, ``padding`` also takes one ``(lo, hi)`` pair per dim."""

NOTES["conv_transpose_beyond"] = """\
Beyond torch, ``padding`` also takes ``'same'``, ``'valid'`` and ``(lo, hi)`` pairs, and
``padding_mode`` may be other than ``'zeros'``."""

# --- per-rank fields ---------------------------------------------------------------------

_DIMS: dict[int | None, tuple[str, ...]] = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}


def dims(n: int | None) -> tuple[str, ...]:
    """Names of the spatial dims: L; H, W; D, H, W; or S_1 ... S_n for the N-d forms."""
    return _DIMS.get(n, ("S_1", "...", "S_n"))


def _joined(names, suffix):
    return ", ".join(name if name == "..." else name + suffix for name in names)


def rank_fields(n: int | None) -> dict[str, str]:
    """The names a template may use for rank n (None: the N-d form)."""
    if n:
        names = dims(n)
        inputs, outputs = _joined(names, "_in"), _joined(names, "_out")
        kernel = "k" if n == 1 else ", ".join(f"k_{name}" for name in names)
    else:
        inputs, outputs, kernel = "S_1, ..., S_n", "O_1, ..., O_n", "k_1, ..., k_n"
    return {
        "rank": f"{n}-d" if n else "N-d",
        "input_shape": f"(N, C_in, {inputs})",
        "input_shape_unbatched": f"(C_in, {inputs})",
        "output_shape": f"(N, C_out, {outputs})",
        "output_shape_unbatched": f"(C_out, {outputs})",
        "kernel": kernel,
    }


def _formula(template, n):
    """One formula line per dim; `template` uses {d} (the dim's name) and {i} (its index).
    The N-d form has one line for every dim i, from S_i in to O_i out."""
    if not n:
        line = template.format(d="", i="i").replace("_in", "S_i", 1).replace("_out", "O_i", 1)
        return "        " + line
    return "\n".join("        " + template.format(d=d, i=i) for i, d in enumerate(dims(n)))


CONV_SIZE = (
    "{d}_out = floor(({d}_in + 2*padding[{i}] - dilation[{i}]*(kernel_size[{i}] - 1) - 1)"
    " / stride[{i}]) + 1"
)
CONV_TRANSPOSE_SIZE = (
    "{d}_out = ({d}_in - 1)*stride[{i}] - 2*padding[{i}]"
    " + dilation[{i}]*(kernel_size[{i}] - 1) + output_padding[{i}] + 1"
)

PAIRS = """\
    With a ``(lo, hi)`` pair, ``2*padding`` is ``lo + hi``; ``'same'`` and ``'valid'``
    are resolved to pairs first."""


def _shape(n, weight, formula):
    f = rank_fields(n)
    return f"""\
Shape:
    Input, weight and output, and the output size per spatial dim::

        input   {f["input_shape"]} or {f["input_shape_unbatched"]}
        weight  {weight}
        output  {f["output_shape"]} or {f["output_shape_unbatched"]}

{_formula(formula, n)}

{PAIRS}"""


def conv_shape(n: int | None, weight: str) -> str:
    """The Shape section of a conv: input, weight, output and the size per dim."""
    return _shape(n, weight, CONV_SIZE)


def conv_transpose_shape(n: int | None, weight: str) -> str:
    """The Shape section of a transposed conv."""
    return _shape(n, weight, CONV_TRANSPOSE_SIZE)


def render(template: str, n: int | None = None, **extra: str) -> str:
    """`template` with the NOTES, the fields of rank n and `extra` filled in."""
    fields = {**NOTES, **rank_fields(n), **extra}
    fields = {
        key: value.format(**rank_fields(n)) if key in NOTES else value
        for key, value in fields.items()
    }
    return template.format(**fields)
