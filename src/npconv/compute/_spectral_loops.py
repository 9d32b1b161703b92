"""Compiled channel contractions for fft.py (Numba), per frequency bin.

Spectra of the signals come as (units, G, C, bins) complex arrays, bins last and
contiguous; the weight's spectrum (or its gradient's) comes in blocks of BLOCK
bins, (G, blocks, M, B, BLOCK), so that the loops read it once, front to back.
Per bin the contraction is a small matrix product whose factors differ from bin
to bin, so a GEMM per bin would be all call overhead; these loops instead run
along the bins of one block (contiguous: they vectorise) inside loops over the
channels, the block of every signal channel staying in cache while it is reused:

    conv    y[u, g, m, f] (+)= sum_b w[g, m, b, f] * x[u, g, b, f]
    weight  dw[g, m, b, f] += sum_u y[u, g, m, f] * x[u, g, b, f]

Each call takes the blocks [first, last); fft.py runs a few calls at once on
npconv's threads (the loops release the GIL), each owning whole blocks, so no
two threads write the same element.
"""

from __future__ import annotations

from typing import Any

import numba

# fastmath: complex products without C99's NaN/Inf recovery branches, which keep the
# loops from vectorising; fft.py is not exact for non-finite operands anyway.
OPTIONS: dict[str, Any] = {"cache": True, "nogil": True, "fastmath": True, "error_model": "numpy"}
BLOCK = 256  # bins per block


@numba.njit(**OPTIONS)
def conv_bins(w, x, y, accumulate, first, last):
    """y[u, g, m, f] (+)= sum_b w[g, m, b, f] * x[u, g, b, f] for the bins of blocks
    [first, last): w (G, blocks, M, B, BLOCK), x (U, G, B, F), y (U, G, M, F); added to y
    if accumulate (the source channels in passes), else written."""
    groups, _, small, big, _ = w.shape
    bins = x.shape[3]
    for block in range(first, last):
        f0 = block * BLOCK
        count = min(bins, f0 + BLOCK) - f0
        for g in range(groups):
            for m in range(small):
                for b in range(big):
                    wv = w[g, block, m, b, :count]
                    for u in range(x.shape[0]):
                        out = y[u, g, m, f0 : f0 + count]
                        xv = x[u, g, b, f0 : f0 + count]
                        if b == 0 and not accumulate:
                            for f in range(count):
                                out[f] = wv[f] * xv[f]
                        else:
                            for f in range(count):
                                out[f] += wv[f] * xv[f]


@numba.njit(**OPTIONS)
def weight_bins(y, x, dw, first, last):
    """dw[g, m, b, f] += sum_u y[u, g, m, f] * x[u, g, b, f] for the bins of blocks
    [first, last): y (U, G, M, F), x (U, G, B, F), dw (G, blocks, M, B, BLOCK)."""
    groups, _, small, big, _ = dw.shape
    bins = x.shape[3]
    for block in range(first, last):
        f0 = block * BLOCK
        count = min(bins, f0 + BLOCK) - f0
        for g in range(groups):
            for m in range(small):
                for b in range(big):
                    out = dw[g, block, m, b, :count]
                    for u in range(y.shape[0]):
                        yv = y[u, g, m, f0 : f0 + count]
                        xv = x[u, g, b, f0 : f0 + count]
                        for f in range(count):
                            out[f] += yv[f] * xv[f]
