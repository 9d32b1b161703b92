"""Parity with torch.nn.functional: conv1d..3d, conv_transpose1d..3d, unfold, fold,
in float32 and float64, incl. unbatched input, padding='same'/'valid' and an
empty batch. Also checks the loop reference itself against torch.

The largest relative error max|ours - torch| / max|torch| seen over the grid is
printed per dtype by

    python -m pytest tests/test_functional_torch.py -q -s -k report
"""

import numpy as np
import pytest

import optional

torch = optional.load("torch", "needs_torch")
TF = optional.load("torch.nn.functional", "needs_torch")

import npconv.functional as F  # noqa: E402
import reference as R  # noqa: E402

TOLERANCE = {np.float32: 1e-5, np.float64: 1e-12}
SIZES = {1: (11,), 2: (8, 7), 3: (6, 5, 7)}


def per_dim(value, n):
    return value[:n] if isinstance(value, tuple) else value


# Each case: (c_in, c_out, kernel, batch, bias, options); batch None = unbatched.
CONV_CASES = {
    "plain": (2, 3, 3, 2, False, {}),
    "strided_padded_bias": (2, 3, 3, 2, True, dict(stride=2, padding=1)),
    "per_dim": (
        2,
        3,
        (3, 2, 3),
        2,
        False,
        dict(stride=(2, 1, 3), padding=(1, 0, 2), dilation=(1, 2, 1)),
    ),
    "groups": (4, 6, 2, 2, True, dict(groups=2, stride=(1, 2, 1))),
    "depthwise_dilated": (3, 6, 3, 1, False, dict(groups=3, dilation=2, padding=2)),
    "same_odd": (2, 3, 3, 2, True, dict(padding="same")),
    "same_even_dilated": (2, 3, (4, 2, 4), 2, False, dict(padding="same", dilation=(1, 2, 3))),
    "valid": (2, 3, (2, 3, 2), 2, False, dict(padding="valid")),
    "unbatched": (2, 3, 3, None, True, dict(stride=2)),
    "empty_batch": (2, 3, 3, 0, True, dict(padding=1)),
}

TRANSPOSE_CASES = {
    "plain": (2, 3, 3, 2, False, {}),
    "strided_padded_bias": (2, 3, 3, 2, True, dict(stride=2, padding=1, output_padding=1)),
    "per_dim": (
        2,
        3,
        (3, 2, 3),
        2,
        False,
        dict(stride=(2, 3, 1), padding=(1, 2, 0), output_padding=(1, 2, 0), dilation=(1, 1, 2)),
    ),
    "dilated_output_padding": (2, 3, 2, 2, False, dict(dilation=3, output_padding=2)),
    "groups": (4, 6, 3, 2, True, dict(groups=2, stride=2)),
    "depthwise": (3, 3, 2, 1, False, dict(groups=3, stride=(1, 2, 2), padding=1)),
    "unbatched": (2, 3, 3, None, True, dict(stride=2, padding=1)),
    "empty_batch": (2, 3, 3, 0, True, dict(stride=2)),
}

# torch's unfold and fold are 2-d: (kernel, batch, options)
FOLD_CASES = {
    "plain": (2, 2, {}),
    "everything": ((3, 2), 2, dict(stride=(2, 1), padding=(1, 2), dilation=(1, 2))),
    "unbatched": (3, None, dict(padding=1, stride=2)),
    "empty_batch": (2, 0, dict(stride=2)),
}


def run_conv(name, n, dtype, make, transposed=False):
    """(npconv's output, torch's output) for one conv or conv_transpose case."""
    c_in, c_out, kernel, batch, bias, options = (TRANSPOSE_CASES if transposed else CONV_CASES)[
        name
    ]
    kernel = R.ntuple(per_dim(kernel, n), n)
    options = {key: per_dim(value, n) for key, value in options.items()}
    groups = options.get("groups", 1)
    lead = (c_in,) if batch is None else (batch, c_in)
    x = make(lead + SIZES[n], dtype)
    shape = (c_in, c_out // groups) if transposed else (c_out, c_in // groups)
    w = make(shape + kernel, dtype)
    b = make((c_out,), dtype) if bias else None
    op = f"conv_transpose{n}d" if transposed else f"conv{n}d"
    theirs = getattr(TF, op)(
        torch.from_numpy(x),
        torch.from_numpy(w),
        None if b is None else torch.from_numpy(b),
        **options,
    )
    return getattr(F, op)(x, w, b, **options), theirs.numpy()


def run_fold(name, dtype, make, folding=False):
    """(npconv's output, torch's output) for one unfold, or one fold, case."""
    kernel, batch, options = FOLD_CASES[name]
    lead = (3,) if batch is None else (batch, 3)
    x = make(lead + SIZES[2], dtype)
    cols = TF.unfold(torch.from_numpy(x), kernel, **options).numpy()
    if not folding:
        return F.unfold(x, kernel, **options), cols
    c = make(cols.shape, dtype)
    theirs = TF.fold(torch.from_numpy(c), SIZES[2], kernel, **options)
    return F.fold(c, SIZES[2], kernel, **options), theirs.numpy()


def relative_error(ours, theirs):
    """max|ours - theirs| / max|theirs| after checking shape and dtype match."""
    assert ours.shape == theirs.shape
    assert ours.dtype == theirs.dtype
    if theirs.size == 0:
        return 0.0
    scale = float(np.abs(theirs.astype(np.float64)).max()) or 1.0
    return float(np.abs(ours.astype(np.float64) - theirs).max()) / scale


def conv_grid():
    """Every (n, case name, transposed) of the conv and conv_transpose grids."""
    return [(n, name, False) for n in (1, 2, 3) for name in CONV_CASES] + [
        (n, name, True) for n in (1, 2, 3) for name in TRANSPOSE_CASES
    ]


DTYPES = [np.float32, np.float64]
# torch's note that padding='same' with an even kernel copies the input
pytestmark = [
    pytest.mark.needs_torch,
    pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning"),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "n, name, transposed",
    [
        pytest.param(*case, id=f"conv{'_transpose' if case[2] else ''}{case[0]}d-{case[1]}")
        for case in conv_grid()
    ],
)
def test_conv_matches_torch(n, name, transposed, dtype, make):
    ours, theirs = run_conv(name, n, dtype, make, transposed)
    assert relative_error(ours, theirs) <= TOLERANCE[dtype]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("folding", [False, True], ids=["unfold", "fold"])
@pytest.mark.parametrize("name", FOLD_CASES)
def test_fold_matches_torch(name, folding, dtype, make):
    ours, theirs = run_fold(name, dtype, make, folding)
    assert relative_error(ours, theirs) <= TOLERANCE[dtype]


def test_report_max_errors(make):
    """Print the largest relative error vs torch per dtype over the whole grid."""
    worst = {}
    for dtype in DTYPES:
        errors = [
            relative_error(*run_conv(name, n, dtype, make, transposed))
            for n, name, transposed in conv_grid()
        ]
        errors += [
            relative_error(*run_fold(name, dtype, make, folding))
            for name in FOLD_CASES
            for folding in (False, True)
        ]
        worst[dtype] = max(errors)
        print(
            f"\nlargest relative error vs torch, {np.dtype(dtype).name}: "
            f"{worst[dtype]:.3g} over {len(errors)} cases"
        )
    assert all(worst[dtype] <= TOLERANCE[dtype] for dtype in DTYPES)


# --- the oracle itself agrees with torch ---------------------------------------------


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
def test_reference_conv_matches_torch(mode, make):
    x, w, b = make((2, 4, 6, 7)), make((6, 2, 3, 2)), make((6,))
    ours = R.conv(
        x, w, b, stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2, padding_mode=mode
    )
    tx = torch.from_numpy(x)
    if mode != "zeros":  # torch's F.pad takes the last dim first
        tx, padding = TF.pad(tx, (2, 2, 1, 1), mode=mode), 0
    else:
        padding = (1, 2)
    theirs = TF.conv2d(
        tx,
        torch.from_numpy(w),
        torch.from_numpy(b),
        stride=(2, 1),
        padding=padding,
        dilation=(1, 2),
        groups=2,
    )
    np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-12, atol=1e-12)


def test_reference_conv_transpose_and_weight_match_torch(make):
    x, w, b = make((2, 4, 5, 4, 3)), make((4, 3, 3, 2, 2)), make((6,))
    options = dict(stride=(2, 3, 1), padding=(1, 2, 0), dilation=(1, 1, 2), groups=2)
    ours = R.conv_transpose(x, w, b, output_padding=(1, 2, 0), **options)
    theirs = TF.conv_transpose3d(
        torch.from_numpy(x),
        torch.from_numpy(w),
        torch.from_numpy(b),
        output_padding=(1, 2, 0),
        **options,
    )
    np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-12, atol=1e-12)
    # the weight gradient of the conv that has this transposed conv as input gradient
    z = make(theirs.shape)
    dw = torch.nn.grad.conv3d_weight(torch.from_numpy(z), w.shape, torch.from_numpy(x), **options)
    np.testing.assert_allclose(
        R.conv_weight(z, x, w.shape[2:], **options), dw.numpy(), rtol=1e-12, atol=1e-12
    )


def test_reference_unfold_fold_match_torch(make):
    x = make((2, 3, 7, 6))
    options = dict(dilation=(1, 2), padding=(1, 0), stride=(2, 1))
    cols = TF.unfold(torch.from_numpy(x), (3, 2), **options).numpy()
    np.testing.assert_array_equal(R.unfold(x, (3, 2), **options), cols)
    c = make(cols.shape)
    theirs = TF.fold(torch.from_numpy(c), (7, 6), (3, 2), **options).numpy()
    np.testing.assert_allclose(R.fold(c, (7, 6), (3, 2), **options), theirs, rtol=1e-12, atol=1e-12)
