"""Check npconv's layers against the naive loop reference of the test suite.

Seed 001 checks a ConvTranspose2d by hand: it spreads the input out with
stride-1 zeros, pads it by kernel-1-padding and slides the flipped kernel over
it. tests/reference.py does the same job for any number of dims by scattering
each input element times the kernel into the output, in float64. This script
runs a few seed-like layers both ways and prints the largest difference.

Run from the repository root:  python examples/check_reference.py
"""

import pathlib
import sys

import numpy as np

import npconv
from npconv import nn

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tests"))
import reference  # the loop oracle, independent of npconv

npconv.manual_seed(0)
rng = np.random.default_rng(0)


def expected(layer, x):
    """The layer's output computed by the loop reference from its own weight and bias."""
    w, b = np.asarray(layer.weight), None if layer.bias is None else np.asarray(layer.bias)
    if layer.transposed:
        return reference.conv_transpose(
            x, w, b, layer.stride, layer.padding, layer.output_padding, layer.dilation, layer.groups
        )
    return reference.conv(
        x, w, b, layer.stride, layer.padding, layer.dilation, layer.groups, layer.padding_mode
    )


checks = [
    # seed 001's hand-written check: one channel, kernel 5, padding 2, stride 2
    (nn.ConvTranspose2d(1, 1, 5, padding=2, stride=2), (2, 1, 2, 2)),
    # seed 002's ConvTranspose1d with padding, output_padding and dilation, on a short input
    (nn.ConvTranspose1d(16, 33, 3, stride=2, padding=2, output_padding=1, dilation=3), (2, 16, 10)),
    (nn.Conv3d(3, 4, (3, 2, 2), stride=(2, 1, 1), padding=(1, 0, 1)), (1, 3, 6, 5, 4)),
    (nn.Conv1d(4, 6, 3, dilation=2, groups=2, padding=2, padding_mode="reflect"), (2, 4, 16)),
    (nn.ConvTranspose3d(4, 6, 2, stride=(2, 1, 2), groups=2, dilation=(1, 2, 1)), (1, 4, 3, 4, 3)),
]

for layer, shape in checks:
    x = rng.standard_normal(shape).astype(np.float32)
    ours, theirs = layer(x), expected(layer, x)
    error = np.abs(ours - theirs).max()
    relative = error / np.abs(theirs).max()
    print(
        f"{layer!r}\n    input {shape} -> output {ours.shape}: max |npconv - reference| "
        f"{error:.1e} (relative {relative:.1e})"
    )
    assert ours.shape == theirs.shape and relative < 1e-5
print("npconv agrees with the loop reference on every layer")
