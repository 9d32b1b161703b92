"""The pictures painted with Pillow: one frame as a palette image, an animated GIF of all
steps, and a PNG grid of them (in pages where one image would be too large).

Separate because it is the one rendering that needs Pillow (an optional dependency,
`npconv[viz]`), imported only when a GIF or PNG is drawn, and because it alone holds
the pixel budgets.
"""

from __future__ import annotations

import math
import os
from typing import Any

from .frames import _FONT, COLORS, Layout, _label_color, frame, grid_columns, layout, tile_origin
from .model import Explanation

# Pixel budgets: of a PNG grid (half Pillow's default MAX_IMAGE_PIXELS, 89,478,485, above
# which Pillow warns that an image may be a decompression bomb) and of all GIF frames
# together (each frame is painted and held in memory).
MAX_PNG_PIXELS = 89_478_485 // 2
MAX_GIF_PIXELS = 4 * MAX_PNG_PIXELS

# --- Pillow: GIF and PNG ----------------------------------------------------------------


def _pillow() -> tuple[Any, Any, Any]:
    try:
        from PIL import Image, ImageDraw, ImageFont
    except ImportError:
        raise ValueError(
            "drawing a GIF or PNG needs Pillow: pip install 'npconv[viz]' "
            "(or pip install pillow); SVG and text output work without it"
        ) from None
    return Image, ImageDraw, ImageFont


def _fonts(ImageFont: Any) -> dict[str, Any]:
    """DejaVu Sans where the system has it, else Pillow's own font."""
    fonts = {}
    for name, size in _FONT.items():
        try:
            fonts[name] = ImageFont.truetype("DejaVuSans.ttf", size)
        except OSError:
            try:
                fonts[name] = ImageFont.load_default(size=size)
            except TypeError:  # Pillow < 10.1: one bitmap size
                fonts[name] = ImageFont.load_default()
    return fonts


def _palette_colors() -> list[tuple[int, ...]]:
    """COLORS, then blends of each text color into each fill (for anti-aliased text)."""
    colors: list[tuple[int, ...]] = list(COLORS.values())
    for ink in ("text", "light_text", "kernel_weight"):
        for fill in COLORS.values():
            for t in (0.25, 0.5, 0.75):
                blend = tuple(
                    round(f + t * (i - f)) for f, i in zip(fill, COLORS[ink], strict=True)
                )
                if blend not in colors:
                    colors.append(blend)
    return colors[:256]


def _palette(Image: Any) -> Any:
    flat = [v for rgb in _palette_colors() for v in rgb]
    palette = Image.new("P", (1, 1))
    palette.putpalette(flat + flat[:3] * (256 - len(flat) // 3))
    return palette


_cache: dict[str, Any] = {}


def render_image(e: Explanation, index: int, lay: Layout | None = None) -> Any:
    """Frame `index` as a palette image: every flat fill is exactly its COLORS entry."""
    Image, ImageDraw, ImageFont = _pillow()
    lay = lay or layout(e)
    if "fonts" not in _cache:
        _cache["fonts"] = _fonts(ImageFont)
        _cache["palette"] = _palette(Image)
    fonts = _cache["fonts"]
    image = Image.new("RGB", (lay.width, lay.height), COLORS["background"])
    draw = ImageDraw.Draw(image)
    boxes, texts = frame(e, index, lay)
    for b in boxes:
        width = 2 if b.outline == "output_padding" else 1
        draw.rectangle(
            [b.x, b.y, b.x + b.size - 1, b.y + b.size - 1],
            fill=COLORS[b.fill],
            outline=COLORS[b.outline],
            width=width,
        )
        color = COLORS[_label_color(b)]
        if b.label and b.corner:
            draw.text((b.x + 3, b.y + 2), b.label, fill=color, font=fonts["label"])
        elif b.label:
            draw.text(
                (b.x + b.size / 2, b.y + b.size / 2),
                b.label,
                fill=color,
                font=fonts["label"],
                anchor="mm",
            )
        if b.corner:
            draw.text(
                (b.x + b.size - 2, b.y + b.size - 2),
                b.corner,
                fill=COLORS["kernel_weight"],
                font=fonts["corner"],
                anchor="rs",
            )
    for t in texts:
        draw.text((t.x, t.y), t.text, fill=COLORS[t.color], font=fonts[t.font])
    return image.quantize(palette=_cache["palette"], dither=Image.Dither.NONE)


def write_gif(e: Explanation, path: str | os.PathLike[str], duration: int = 900) -> None:
    """An animated GIF, one frame per output cell, looping (the last frame lingers)."""
    lay = layout(e)
    pixels = len(e.steps) * lay.width * lay.height
    if pixels > MAX_GIF_PIXELS:
        raise ValueError(
            f"a GIF of {len(e.steps)} frames of {lay.width} x {lay.height} pixels "
            f"would have {pixels:,} pixels in all, more than the budget of "
            f"{MAX_GIF_PIXELS:,}; use a smaller input"
        )
    frames = [render_image(e, i, lay) for i in range(len(e.steps))]
    durations = [duration] * (len(frames) - 1) + [duration * 3]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=durations, loop=0)


def png_pages(e: Explanation, lay: Layout | None = None) -> tuple[int, int]:
    """(steps per page, pages) of the PNG grid: whole rows of tiles, each page within
    MAX_PNG_PIXELS; a ValueError with the sizes when not even one row fits."""
    lay = lay or layout(e)
    columns = grid_columns(e)
    rows = math.ceil(len(e.steps) / columns)
    width = columns * lay.width
    per_page = MAX_PNG_PIXELS // (width * lay.height)
    if per_page < 1:
        raise ValueError(
            f"one row of the PNG grid is {width} x {lay.height} pixels, more than "
            f"the budget of {MAX_PNG_PIXELS:,} pixels; use a smaller input, an "
            f"SVG or an HTML page"
        )
    per_page = min(per_page, rows)
    return per_page * columns, math.ceil(rows / per_page)


def write_png(e: Explanation, path: str | os.PathLike[str], page: int | None = None) -> range:
    """The steps on one static PNG, tiled in rows of `grid_columns`.

    A grid larger than MAX_PNG_PIXELS is refused with its size, unless `page` (1-based)
    picks one page of whole rows that fits (see `png_pages`).
    """
    lay = layout(e)
    columns = grid_columns(e)
    per_page, pages = png_pages(e, lay)
    if page is None and pages > 1:
        rows = math.ceil(len(e.steps) / columns)
        width, height = columns * lay.width, rows * lay.height
        raise ValueError(
            f"a PNG of all {len(e.steps)} steps would be {width} x {height} "
            f"pixels ({width * height / 1e6:.1f} megapixels), more than the budget "
            f"of {MAX_PNG_PIXELS / 1e6:.1f}; draw it in {pages} pages of up to "
            f"{per_page} steps with --page 1 to --page {pages} (page=...), or "
            f"write an SVG, GIF or HTML page"
        )
    page = 1 if page is None else int(page)
    if not 1 <= page <= pages:
        raise ValueError(f"page must be in 1..{pages}, but got page={page}")
    Image, _, _ = _pillow()
    first = (page - 1) * per_page
    shown = range(first, min(first + per_page, len(e.steps)))
    rows = math.ceil(len(shown) / columns)
    sheet = Image.new("RGB", (columns * lay.width, rows * lay.height), COLORS["background"])
    for i in shown:
        x, y = tile_origin(e, i - first, lay)
        sheet.paste(render_image(e, i, lay).convert("RGB"), (x, y))
    sheet.quantize(palette=_cache["palette"], dither=Image.Dither.NONE).save(path, optimize=True)
    return shown
