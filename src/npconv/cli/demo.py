"""`npconv demo`: train a convolutional autoencoder on scikit-learn's 8x8 digits
with npconv alone, then write a PNG of digits, reconstructions and the loss curve."""

from __future__ import annotations

import argparse
import inspect
import os
import sys

from .. import demo

DEFAULTS = {
    name: p.default for name, p in inspect.signature(demo.train_autoencoder).parameters.items()
}
DEFAULTS["output"] = "npconv-demo.png"


def register(subparsers):
    parser = subparsers.add_parser(
        "demo",
        help="train a convolutional autoencoder on handwritten digits",
        description="Train a convolutional autoencoder (Conv2d encoder, ConvTranspose2d decoder, "
        "Adam, MSELoss; all npconv) on the 1797 8x8 handwritten digits that "
        "scikit-learn ships, report the test-set reconstruction error against "
        "predicting the mean training image, and save a PNG of originals, "
        f"reconstructions and the loss curve. Needs the demo extra: {demo.EXTRA}",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--epochs", type=int, default=DEFAULTS["epochs"], help="passes over the training images"
    )
    parser.add_argument(
        "--batch-size", type=int, default=DEFAULTS["batch_size"], help="images per mini-batch"
    )
    parser.add_argument("--lr", type=float, default=DEFAULTS["lr"], help="Adam's learning rate")
    parser.add_argument(
        "--seed",
        type=int,
        default=DEFAULTS["seed"],
        help="seeds the split, the shuffling and the initial weights",
    )
    parser.add_argument(
        "--output", default=DEFAULTS["output"], metavar="PNG", help="where to write the picture"
    )
    parser.set_defaults(func=run)


def run(options):
    try:
        demo.require("sklearn.datasets", "scikit-learn")
        demo.require("PIL.Image", "Pillow")
    except ModuleNotFoundError as error:
        print(f"npconv demo: {error}", file=sys.stderr)
        return 1
    folder = os.path.dirname(os.path.abspath(options.output))
    if not os.path.isdir(folder):
        raise ValueError(f"--output {options.output!r}: the folder {folder!r} does not exist")
    result = demo.train_autoencoder(
        epochs=options.epochs,
        batch_size=options.batch_size,
        lr=options.lr,
        seed=options.seed,
        progress=demo.ProgressBar(sys.stderr),
    )
    demo.render(result, options.output)
    print(
        f"test reconstruction MSE {result.test_mse:.5f} vs mean-image baseline "
        f"{result.baseline_mse:.5f} ({result.baseline_mse / result.test_mse:.1f}x lower) "
        f"after {options.epochs} epochs in {result.seconds:.1f} s; picture: {options.output}"
    )
    return 0
