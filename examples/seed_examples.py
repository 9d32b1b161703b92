"""Every code example of the five seed blog posts, run on npconv.

Each block names its seed (the files in /work/shared/seeds) and prints the
shapes the way the blog prints them. Where a blog printed a wrong shape, the
comment says what it claimed; npconv prints what torch gives. Inputs whose
batch would make the run slow or large are cut to batch 1, and say so.

Run from the repository root:  python examples/seed_examples.py
"""

import numpy as np

import npconv
from npconv import nn

npconv.manual_seed(0)
rng = np.random.default_rng(0)


def randn(*shape):
    return rng.standard_normal(shape, dtype=np.float32)


def run_layers(title, layers, x):
    print(f"--- {title}: input {x.shape}")
    for layer in layers:
        print(layer(x).shape)


# Seed 002 "Pytorch(五):神经网络之 torch.nn——Convolution Layers", 1.4 nn.Conv1d.
# Blog: 24, 23, 16, 26, 22, 24, 24, 24 as the last dim.
run_layers(
    "Conv1d",
    [
        nn.Conv1d(16, 33, 3, stride=2),
        nn.Conv1d(16, 33, 5, stride=2),
        nn.Conv1d(16, 33, 3, stride=3),
        nn.Conv1d(16, 33, 3, stride=2, padding=2),
        nn.Conv1d(16, 33, 3, stride=2, dilation=3),
        nn.Conv1d(16, 33, 3, stride=2, bias=True),
        nn.Conv1d(16, 24, 3, stride=2),
        nn.Conv1d(16, 24, 3, stride=2, groups=2),
    ],
    randn(20, 16, 50),
)

# Seed 002, 2.4 nn.Conv2d. Blog: (24, 49), (28, 100), (26, 100).
run_layers(
    "Conv2d",
    [
        nn.Conv2d(16, 33, 3, stride=2),
        nn.Conv2d(16, 33, (3, 5), stride=(2, 1), padding=(4, 2)),
        nn.Conv2d(16, 33, (3, 5), stride=(2, 1), padding=(4, 2), dilation=(3, 1)),
    ],
    randn(20, 16, 50, 100),
)

# Seed 002, 3.4 nn.Conv3d. Blog: (4, 24, 49), (8, 50, 99).
run_layers(
    "Conv3d",
    [
        nn.Conv3d(16, 33, 3, stride=2),
        nn.Conv3d(16, 33, (3, 5, 2), stride=(2, 1, 1), padding=(4, 2, 0)),
    ],
    randn(20, 16, 10, 50, 100),
)

# Seed 002, 二 1.4 nn.ConvTranspose1d. Blog: 61, 57, 58, 62.
run_layers(
    "ConvTranspose1d",
    [
        nn.ConvTranspose1d(16, 33, 3, stride=2),
        nn.ConvTranspose1d(16, 33, 3, stride=2, padding=2),
        nn.ConvTranspose1d(16, 33, 3, stride=2, padding=2, output_padding=1),
        nn.ConvTranspose1d(16, 33, 3, stride=2, padding=2, output_padding=1, dilation=3),
    ],
    randn(20, 16, 30),
)

# Seed 002, 2.4 nn.ConvTranspose2d (the first two layers are also seed 000's).
run_layers(
    "ConvTranspose2d",
    [
        nn.ConvTranspose2d(16, 33, 3, stride=2),
        nn.ConvTranspose2d(16, 33, (3, 5), stride=(2, 1), padding=(4, 2)),
        nn.ConvTranspose2d(16, 33, 3, stride=(2, 1), padding=(4, 2), output_padding=(1, 0)),
    ],
    randn(20, 16, 50, 100),
)

# Seed 002, 3.4 nn.ConvTranspose3d. The blog's input is (20, 16, 10, 50, 100);
# batch 1 here, since batch 20 would make a 1.1 GB output.
run_layers(
    "ConvTranspose3d (batch 1 instead of 20)",
    [
        nn.ConvTranspose3d(16, 33, 3, stride=2),
        nn.ConvTranspose3d(16, 33, (3, 5, 2), stride=(2, 1, 1), padding=(0, 4, 2)),
        nn.ConvTranspose3d(
            16, 33, (3, 5, 2), stride=(2, 1, 1), padding=(0, 4, 2), output_padding=(1, 0, 0)
        ),
    ],
    randn(1, 16, 10, 50, 100),
)

# Seed 000 "pytorch API 之 ConvTranspose2d": blog prints (20, 16, 50, 100) and
# (20, 33, 93, 100).
print("--- seed 000: ConvTranspose2d with padding")
m = nn.ConvTranspose2d(16, 33, (3, 5), stride=(2, 1), padding=(4, 2))
x = randn(20, 16, 50, 100)
print(x.shape)
print(m(x).shape)

# Seeds 000 and 002: an exact output size for the transposed conv. Blog:
# (1, 16, 12, 12), (1, 16, 6, 6), (1, 16, 12, 12), and False (sizes are
# restored, values are not).
print("--- seeds 000/002: downsample, then upsample with output_size")
x = randn(1, 16, 12, 12)
downsample = nn.Conv2d(16, 16, 3, stride=2, padding=1)
upsample = nn.ConvTranspose2d(16, 16, 3, stride=2, padding=1)
h = downsample(x)
print(x.shape)
print(h.shape)
y = upsample(h, output_size=x.shape)
print(y.shape)
print(np.array_equal(x, y))

# Seed 001 "理解ConvTranspose2d操作": conv and tconv with the same arguments
# invert each other's shapes. Blog: (1, 3, 7, 9) -> (1, 5, 5, 7) -> (1, 3, 7, 9).
print("--- seed 001: conv / tconv round trip")
conv = nn.Conv2d(3, 5, 5, padding=1)
tconv = nn.ConvTranspose2d(5, 3, 5, padding=1)
x = randn(1, 3, 7, 9)
h = conv(x)
print(x.shape)
print(h.shape)
print(tconv(h).shape)


def loop_conv_transpose2d(x, weight, bias, stride, padding):
    """Seed 001's MyTranspose2d idea: spread the input out by `stride` inside a
    frame of zeros, then slide the flipped kernel over it, one output pixel at a
    time. Square kernels only, as in the blog; needs padding <= kernel - 1."""
    n, c, h, w = x.shape
    k = weight.shape[-1]
    frame = k - 1 - padding
    spread = np.zeros(
        (n, c, (h - 1) * stride + 2 * frame + 1, (w - 1) * stride + 2 * frame + 1), dtype=x.dtype
    )
    spread[
        :,
        :,
        frame : frame + (h - 1) * stride + 1 : stride,
        frame : frame + (w - 1) * stride + 1 : stride,
    ] = x
    flipped = weight[:, :, ::-1, ::-1]  # (C_in, C_out, k, k)
    out_h, out_w = spread.shape[2] - k + 1, spread.shape[3] - k + 1
    out = np.empty((n, weight.shape[1], out_h, out_w), dtype=x.dtype)
    for i in range(out_h):
        for j in range(out_w):
            window = spread[:, :, i : i + k, j : j + k]  # (N, C_in, k, k)
            out[:, :, i, j] = np.einsum("ncab,cdab->nd", window, flipped)
    return out + bias[None, :, None, None]


# Seed 001: the hand-written loop version agrees with the library. The blog
# compares its MyTranspose2d with torch and reports a max error of 2.98e-8.
print("--- seed 001: npconv vs a loop transposed conv")
convt = nn.ConvTranspose2d(1, 1, 5, padding=2, stride=2)
x = randn(2, 1, 2, 2)
ours = convt(x)
loop = loop_conv_transpose2d(x, np.asarray(convt.weight), np.asarray(convt.bias), 2, 2)
print(ours.shape, loop.shape)
print(f"max error: {np.abs(ours - loop).max():.3g}")

# Seed 003, MegEngine's ConvTranspose3d example. Its input is
# (16, 3, 32, 32, 32) and it prints (16, 64, 63, 63, 63); batch 1 here.
print("--- seed 003: MegEngine ConvTranspose3d (batch 1 instead of 16)")
conv_transpose = nn.ConvTranspose3d(3, 64, 3, stride=2, padding=1)
print(conv_transpose(randn(1, 3, 32, 32, 32)).shape)

# Seed 004 "【Python】nn.ConvTranspose1、2、3d()函数详解和示例".
print("--- seed 004: ConvTranspose1d/2d/3d")
m = nn.ConvTranspose1d(
    in_channels=16, out_channels=33, kernel_size=3, stride=2, padding=1, output_padding=0
)
print(m(randn(20, 16, 50)).shape)  # blog: (20, 33, 99)

# The blog claims (20, 33, 101, 201) here; torch (and npconv) give
# (20, 33, 100, 200): (50-1)*2 - 2*1 + 3 + 1 = 100.
m = nn.ConvTranspose2d(
    in_channels=16, out_channels=33, kernel_size=3, stride=2, padding=1, output_padding=1
)
print(m(randn(20, 16, 50, 100)).shape)

# The blog does not print this shape; its input (20, 16, 10, 50, 100) is cut to
# batch 1 here.
m = nn.ConvTranspose3d(
    in_channels=16,
    out_channels=33,
    kernel_size=(3, 3, 3),
    stride=(2, 2, 2),
    padding=(1, 1, 1),
    output_padding=(0, 1, 1),
)
print(m(randn(1, 16, 10, 50, 100)).shape)
