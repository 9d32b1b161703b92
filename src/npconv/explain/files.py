"""Which file format a path asks for, and writing an explanation to a .gif, .png or .svg
file: the one place that knows every output format, so the CLI asks here.
"""

from __future__ import annotations

import os

from .model import Explanation
from .raster import write_gif, write_png
from .svg import render_svg

FORMATS = ("gif", "png", "svg", "html")


def file_format(path: str | os.PathLike[str]) -> str:
    """'gif', 'png', 'svg' or 'html' from a file name, or a ValueError."""
    suffix = str(path).rsplit(".", 1)[-1].lower() if "." in str(path) else ""
    if suffix == "htm":
        suffix = "html"
    if suffix not in FORMATS:
        raise ValueError(
            f"cannot tell the format of {str(path)!r}: use a .gif, .png, .svg or "
            ".html file, or no file for text"
        )
    return suffix


def write(e: Explanation, path: str | os.PathLike[str], page: int | None = None) -> None:
    """Write `e` to `path` as .gif (animation), .png (grid of steps) or .svg (grid of steps);
    `page` picks one page of a PNG grid too large for one file."""
    suffix = file_format(path)
    if suffix == "html":
        raise ValueError("an HTML page is written by to_html(layer, size, path)")
    if suffix == "svg":
        with open(path, "w", encoding="utf-8") as f:
            f.write(render_svg(e))
    elif suffix == "gif":
        write_gif(e, path)
    else:
        write_png(e, path, page)
