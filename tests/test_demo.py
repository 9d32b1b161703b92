"""The demo: training makes progress, its figures are right, the command works."""

import io
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from npconv import demo
from npconv.cli import main


@pytest.fixture(scope="module")
def run():
    return demo.train_autoencoder(epochs=2, batch_size=64, seed=1)


def test_loss_falls_and_errors_are_finite(run):
    assert len(run.batch_losses) == 2 * 23 and len(run.epoch_losses) == 2
    assert np.all(np.isfinite(run.batch_losses))
    assert run.epoch_losses[1] < run.epoch_losses[0]
    assert np.mean(run.batch_losses[-5:]) < 0.8 * np.mean(run.batch_losses[:5])
    assert np.isfinite(run.test_mse) and np.isfinite(run.baseline_mse)
    assert 0 < run.test_mse < 1 and 0 < run.baseline_mse < 1


@pytest.mark.needs_torch
def test_reported_errors_match_an_independent_evaluation(run):
    """torch, given the trained weights, and plain NumPy recompute both figures."""
    import torch

    train, test, labels = demo.load_digits(seed=1)
    assert (len(train), len(test)) == (1438, 359) and sorted(set(labels)) == list(range(10))
    reference = torch.nn.Sequential(
        torch.nn.Conv2d(1, 32, 3, stride=2, padding=1),
        torch.nn.LeakyReLU(0.1),
        torch.nn.Conv2d(32, 8, 3, stride=2, padding=1),
        torch.nn.Tanh(),
        torch.nn.ConvTranspose2d(8, 32, 3, stride=2, padding=1, output_padding=1),
        torch.nn.LeakyReLU(0.1),
        torch.nn.ConvTranspose2d(32, 1, 3, stride=2, padding=1, output_padding=1),
        torch.nn.Sigmoid(),
    )
    reference.load_state_dict({k: torch.tensor(v) for k, v in run.model.state_dict().items()})
    with torch.no_grad():
        expected = torch.nn.functional.mse_loss(reference(torch.tensor(test)), torch.tensor(test))
    assert run.test_mse == pytest.approx(expected.item(), rel=1e-4)
    mean_image = train.astype(np.float64).mean(axis=0)
    assert run.baseline_mse == pytest.approx(((test - mean_image) ** 2).mean(), rel=1e-5)


def test_progress_bar_redraws_one_line_per_epoch():
    stream = io.StringIO()
    bar = demo.ProgressBar(stream, width=10)
    bar(1, 2, 1, 4, 0.5)
    bar(1, 2, 4, 4, 0.25)
    text = stream.getvalue()
    assert text.startswith("\repoch 1/2 [##........]   1/4 loss 0.50000\r")
    assert text.endswith("[##########]   4/4 loss 0.25000\n")


def test_render_writes_a_png(run, tmp_path):
    path = demo.render(run, tmp_path / "digits.png")
    with Image.open(path) as image:
        assert image.format == "PNG" and image.width > 10 * 64 and image.height > 2 * 64


def test_command_trains_and_writes_a_png(tmp_path):
    output = tmp_path / "demo.png"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "npconv.cli",
            "demo",
            "--epochs",
            "1",
            "--batch-size",
            "128",
            "--output",
            str(output),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "test reconstruction MSE" in done.stdout and "baseline" in done.stdout
    assert "epoch 1/1 [" in done.stderr and "12/12 loss" in done.stderr
    with Image.open(output) as image:
        assert image.format == "PNG"


def test_help_documents_the_options():
    done = subprocess.run(
        [sys.executable, "-m", "npconv.cli", "demo", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0
    for option in ("--epochs", "--output", "--seed", "--batch-size", "--lr", "npconv-demo.png"):
        assert option in done.stdout


def test_missing_scikit_learn_says_how_to_install(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    assert main(["demo", "--output", str(tmp_path / "x.png")]) == 1
    assert 'pip install "npconv[demo]"' in capsys.readouterr().err
    with pytest.raises(ModuleNotFoundError, match="needs scikit-learn"):
        demo.load_digits()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--epochs", "0"], "epochs must be a positive integer"),
        (["--batch-size", "-3"], "batch_size must be a positive integer"),
        (["--lr", "-1"], "Invalid learning rate: -1.0"),
        (["--output", "/no/such/folder/x.png"], "does not exist"),
    ],
)
def test_bad_arguments_exit_1_with_a_message(argv, message, capsys):
    assert main(["demo", *argv]) == 1
    assert message in capsys.readouterr().err
