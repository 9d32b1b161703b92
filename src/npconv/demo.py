"""The `npconv demo` model: a convolutional autoencoder for scikit-learn's 8x8
handwritten digits (1797 real images, shipped with scikit-learn, no download),
built and trained only with npconv: Conv2d, ConvTranspose2d, activations,
MSELoss, Sequential and Adam.

    image (1, 8, 8) -> Conv2d s2 -> (32, 4, 4) -> Conv2d s2 -> code (8, 2, 2)
    code  (8, 2, 2) -> ConvTranspose2d s2 -> (32, 4, 4) -> ConvTranspose2d s2 -> (1, 8, 8)

The code holds 32 numbers for 64 pixels, so the network must learn what digits
look like; its test error is measured against predicting the mean training image.
"""

from __future__ import annotations

import importlib
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from . import _rng, nn, optim

EXTRA = 'pip install "npconv[demo]"'


def require(module, package):
    """Import an optional dependency of the demo, or say how to install it."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        raise ModuleNotFoundError(
            f"npconv demo needs {package}, which is not installed: {EXTRA}", name=error.name
        ) from None


def load_digits(test_fraction=0.2, seed=0):
    """scikit-learn's digits scaled to [0, 1], shuffled and split: train images,
    test images, each (n, 1, 8, 8) float32, and the test labels (n,)."""
    datasets = require("sklearn.datasets", "scikit-learn")
    digits = datasets.load_digits()
    order = np.random.default_rng(seed).permutation(len(digits.images))
    images = digits.images[order, None].astype(np.float32) / 16  # (1797, 1, 8, 8), from 0..16
    n_test = round(len(images) * test_fraction)
    return images[n_test:], images[:n_test], digits.target[order[:n_test]]


def autoencoder(channels=32, code_channels=8):
    """The demo's network; Sigmoid keeps the reconstruction in [0, 1] like the pixels.

    output_padding=1 makes each stride-2 ConvTranspose2d exactly double the size
    (3 -> 4 -> 8 would otherwise be 3 -> 7)."""
    c, k = channels, code_channels
    return nn.Sequential(
        nn.Conv2d(1, c, 3, stride=2, padding=1),
        nn.LeakyReLU(0.1),  # (n, c, 4, 4)
        nn.Conv2d(c, k, 3, stride=2, padding=1),
        nn.Tanh(),  # (n, k, 2, 2)
        nn.ConvTranspose2d(k, c, 3, stride=2, padding=1, output_padding=1),
        nn.LeakyReLU(0.1),  # (n, c, 4, 4)
        nn.ConvTranspose2d(c, 1, 3, stride=2, padding=1, output_padding=1),
        nn.Sigmoid(),
    )  # (n, 1, 8, 8)


@dataclass
class TrainingRun:
    """What train_autoencoder returns: the model, its loss per mini-batch and per
    epoch, the test-set MSE beside the mean-image baseline, and one test image
    of each digit with its reconstruction."""

    model: nn.Sequential
    batch_losses: list = field(repr=False)
    epoch_losses: list
    test_mse: float
    baseline_mse: float
    originals: np.ndarray = field(repr=False)
    reconstructions: np.ndarray = field(repr=False)
    seconds: float


def train_autoencoder(epochs=30, batch_size=32, lr=1e-2, seed=0, progress=None):
    """Train `autoencoder()` on the digits with Adam and MSELoss; returns a TrainingRun.

    progress(epoch, epochs, batch, batches, running_loss) is called after every
    mini-batch (epochs and batches count from 1), e.g. `ProgressBar(sys.stderr)`.
    """
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, but got {name}={value!r}")
    start = time.perf_counter()
    train, test, labels = load_digits(seed=seed)
    _rng.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = autoencoder()
    loss = nn.MSELoss()
    optimizer = optim.Adam(model.parameters(), lr=lr)
    batches = -(-len(train) // batch_size)
    batch_losses, epoch_losses = [], []
    for epoch in range(1, epochs + 1):
        model.train()
        order = rng.permutation(len(train))
        total = 0.0
        for batch in range(1, batches + 1):
            images = train[order[(batch - 1) * batch_size : batch * batch_size]]
            value = float(loss(model(images), images))
            optimizer.zero_grad()
            model.backward(loss.backward())
            optimizer.step()
            batch_losses.append(value)
            total += value
            if progress is not None:
                progress(epoch, epochs, batch, batches, total / batch)
        epoch_losses.append(total / batches)
    model.eval()
    reconstructions = model(test)
    baseline = train.mean(axis=0)  # (1, 8, 8)
    shown = [np.flatnonzero(labels == d)[0] for d in range(10) if (labels == d).any()]
    return TrainingRun(
        model,
        batch_losses,
        epoch_losses,
        test_mse=float(np.mean((reconstructions - test) ** 2)),
        baseline_mse=float(np.mean((baseline - test) ** 2)),
        originals=test[shown, 0],
        reconstructions=reconstructions[shown, 0],
        seconds=time.perf_counter() - start,
    )


class ProgressBar:
    """A one-line text progress bar per epoch, redrawn with '\\r', for train_autoencoder."""

    def __init__(self, stream=None, width=30):
        self.stream, self.width = stream or sys.stderr, width

    def __call__(self, epoch, epochs, batch, batches, running_loss):
        filled = self.width * batch // batches
        bar = "#" * filled + "." * (self.width - filled)
        digits = len(str(epochs))
        end = "\n" if batch == batches else ""
        self.stream.write(
            f"\repoch {epoch:{digits}d}/{epochs} [{bar}] {batch:3d}/{batches} "
            f"loss {running_loss:.5f}{end}"
        )
        self.stream.flush()


def render(run, path, scale=8):
    """Write a PNG: the test digits above their reconstructions, and the loss curve."""
    image_module = require("PIL.Image", "Pillow")
    draw_module = require("PIL.ImageDraw", "Pillow")
    count, side, gap, margin, label = len(run.originals), 8 * scale, 6, 12, 90
    width = label + count * (side + gap) - gap + margin
    digits_height = 2 * side + gap + 2 * margin
    plot_height = 220
    canvas = image_module.new("RGB", (width, digits_height + plot_height), "white")
    draw = draw_module.Draw(canvas)
    for row, (title, images) in enumerate(
        (("original", run.originals), ("reconstructed", run.reconstructions))
    ):
        top = margin + row * (side + gap)
        draw.text((margin, top + side // 2 - 6), title, fill="black")
        for i, digit in enumerate(images):
            pixels = (255 * (1 - np.clip(digit, 0, 1))).astype(np.uint8)  # ink is dark
            tile = image_module.fromarray(pixels, "L").resize((side, side), image_module.NEAREST)
            canvas.paste(tile, (label + i * (side + gap), top))
    _draw_loss_curve(
        draw, run, (label, digits_height + 20, width - margin, digits_height + plot_height - 30)
    )
    canvas.save(path, format="PNG")
    return path


def _draw_loss_curve(draw, run, box):
    """Mini-batch losses (grey), epoch means (blue) and the mean-image baseline (red),
    on a log scale, inside box = (left, top, right, bottom)."""
    left, top, right, bottom = box
    losses = np.asarray(run.batch_losses)
    values = np.log10(np.concatenate([losses, [run.baseline_mse, run.test_mse]]))
    low, high = values.min(), values.max()
    span = max(high - low, 1e-12)

    def point(step, value):
        x = left + (right - left) * step / max(len(losses) - 1, 1)
        return x, bottom - (bottom - top) * (np.log10(value) - low) / span

    draw.rectangle(box, outline="black")
    draw.line([point(i, v) for i, v in enumerate(losses)], fill=(170, 170, 170))
    per_epoch = len(losses) / len(run.epoch_losses)
    epochs = [point((e + 1) * per_epoch - 1, v) for e, v in enumerate(run.epoch_losses)]
    if len(epochs) > 1:
        draw.line(epochs, fill=(30, 80, 200), width=2)
    y = point(0, run.baseline_mse)[1]
    draw.line([(left, y), (right, y)], fill=(200, 40, 40))
    draw.text((left + 4, y - 12), f"mean-image baseline {run.baseline_mse:.4f}", fill=(200, 40, 40))
    draw.text((left - 80, top - 4), f"{10**high:.3g}", fill="black")
    draw.text((left - 80, bottom - 8), f"{10**low:.3g}", fill="black")
    draw.text(
        (left, bottom + 6),
        f"training loss (MSE, log scale): {len(losses)} mini-batches "
        f"(grey), epoch means (blue); test MSE {run.test_mse:.4f}",
        fill="black",
    )
