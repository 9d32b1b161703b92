"""The 2-d view every rendering draws: which grids an explanation of 1, 2 or 3 spatial
dims is shown as, and where each n-d cell sits on them.

Shared by the text renderer and the pictures (frames, raster, svg), which is why it is
neither; it holds no drawing, only the cutting of n-d arrays into 2-d grids.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import numpy as np

if TYPE_CHECKING:
    from .model import Explanation, Index

# --- a 2-d view shared by every rendering -------------------------------------------------
#
# Everything is drawn as 2-d grids: a 1-d array is one row; a 3-d explanation has one
# panel per canvas depth slice its output slice reads (with the kernel depth slice that
# multiplies it), and its output is the explained depth slice.


def _grid(index: Index, n: int) -> tuple[int, int]:
    """(row, col) of an n-d index's last two dims (row 0 for 1-d)."""
    return (0, index[0]) if n == 1 else (index[-2], index[-1])


def panels(e: Explanation) -> list[tuple[int | None, int | None]]:
    """[(canvas depth or None, kernel depth or None)] for each canvas panel."""
    if e.ndim < 3:
        return [(None, None)]
    return [(c, j) for j, c in enumerate(e.axes[0].reads(cast(int, e.depth)))]


def _as2d(a: np.ndarray, n: int, depth: int | None = None) -> np.ndarray:
    if n == 1:
        return a.reshape(1, -1)
    return a if n == 2 else a[depth]


def output_padding_cells(e: Explanation) -> set[tuple[int, int]]:
    """(row, col) output cells that exist only because of output_padding."""
    axes = e.axes[-2:] if e.ndim > 1 else (None,) + e.axes
    rows, cols = _as2d(e.output, e.ndim, e.depth).shape
    last = [a.output_padding if a is not None else 0 for a in axes]
    return {
        (r, c)
        for r in range(rows)
        for c in range(cols)
        if r >= rows - last[0] or c >= cols - last[1]
    }
