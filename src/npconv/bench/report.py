"""The benchmark's results as a text table, Markdown, JSON and a PNG bar chart.

All four are rendered from the same result dict (see run() in __init__): a
header of settings and yardsticks, one row per case, and the geometric mean of
npconv's time over the best peer's.
"""

from __future__ import annotations

import json
import math


def _ms(value):
    if value is None:
        return "-"
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def _number(value, form):
    return "-" if value is None else format(value, form)


def columns(peers, measured=False):
    """(title, cell function) for every column, the chosen peers' times included."""
    return (
        [
            ("case", lambda r: r["name"]),
            ("pass", lambda r: "bwd" if r["pass"] == "backward" else "fwd"),
            ("algorithm", lambda r: r.get("algorithm") or "-"),
            ("npconv ms", lambda r: _ms(r["ms"]["npconv"])),
        ]
        + ([("measured ms", lambda r: _ms(r["ms"].get("measured")))] if measured else [])
        + [(f"{peer} ms", lambda r, peer=peer: _ms(r["ms"].get(peer))) for peer in peers]
        + [
            ("ratio", lambda r: _number(r["ratio"], ".2f")),
            ("GFLOP/s", lambda r: _number(r["gflops"], ".1f")),
            ("of SGEMM", lambda r: _number(r["sgemm_fraction"], ".0%")),
            ("err vs torch", lambda r: _number(r["max_error"], ".1e")),
            ("extra MiB", lambda r: _number(r["extra_mib"], ".1f")),
            ("1st call ms", lambda r: _ms(r.get("first_call_ms"))),
        ]
    )


def _blas_line(blas):
    if not blas:
        return "NumPy's BLAS: unknown"
    line = f"NumPy's BLAS: {blas['library']} {blas.get('version') or ''}".rstrip()
    if blas.get("kernels"):
        line += f", {blas['kernels']} kernels"
    if blas.get("forced_by_environment"):
        line += f" (forced by OPENBLAS_CORETYPE={blas['forced_by_environment']})"
    return line


def header_lines(result):
    """The settings and yardsticks every table is read against."""
    settings, machine = result["settings"], result["machine"]
    versions = ", ".join(f"{name} {version}" for name, version in result["versions"].items())
    lines = [
        f"npconv benchmark: {len(result['rows'])} cases, float32, {settings['threads']} "
        f"thread(s), median of {settings['repeat']} run(s) in "
        f"{min(settings.get('rounds', 1), settings['repeat'])} block(s) per system, "
        f"each after a warm-up"
        + (", SMOKE (tiny shapes)" if settings["smoke"] else "")
        + (f", npconv's planner: {settings['planner']}" if settings.get("planner") else ""),
        f"machine: {machine['processor']}, {machine['cpus']} usable CPU(s), "
        f"{machine['system']}, Python {machine['python']}",
        f"versions: {versions}",
        _blas_line(machine.get("blas")),
        f"SGEMM yardstick: NumPy matmul {result['sgemm']['size']}x{result['sgemm']['size']} "
        f"float32, timed with each case's systems: median "
        f"{_number(result['sgemm']['gflops'], '.1f')} GFLOP/s over the cases"
        f"{_spread(result['sgemm'])} ('of SGEMM' is npconv's GFLOP/s over the "
        f"yardstick of its own case)",
        "ratio = npconv ms / fastest peer ms (below 1: npconv is faster)",
    ]
    if result.get("import_ms") is not None:
        lines.append(
            f"import npconv in a fresh process: {result['import_ms']:.0f} ms "
            f"(median over cases; not part of '1st call ms')"
        )
    lines += result["notes"]
    return lines


def _spread(sgemm):
    low, high = sgemm.get("range") or (None, None)
    return f", {low:.0f}-{high:.0f} across them" if low is not None else ""


def footer_line(result):
    mean = result["geomean_ratio"]
    line = (
        "geometric mean of npconv / best peer: "
        + ("-" if mean is None else f"{mean:.2f}")
        + f" over {result['ratio_count']} case(s)"
    )
    if result.get("measured_over_heuristic") is not None:
        line += (
            f"; measured planner / best peer: "
            f"{_number(result.get('measured_geomean_ratio'), '.2f')}, measured / heuristic: "
            f"{result['measured_over_heuristic']:.2f}"
        )
    return line


def text(result):
    """A fixed-width table with header and footer lines, for the terminal."""
    table = columns(result["settings"]["peers"], result["settings"].get("measured", False))
    cells = [[title for title, _ in table]] + [
        [cell(row) for _, cell in table] for row in result["rows"]
    ]
    widths = [max(len(line[i]) for line in cells) for i in range(len(table))]

    def render(line):
        first = line[0].ljust(widths[0])
        return "  ".join([first] + [c.rjust(w) for c, w in zip(line[1:], widths[1:], strict=True)])

    rule = "-" * len(render(cells[0]))
    return "\n".join(
        header_lines(result)
        + ["", render(cells[0]), rule]
        + [render(line) for line in cells[1:]]
        + [rule, footer_line(result)]
    )


def markdown(result):
    """The same table as Markdown, with the header as a list."""
    table = columns(result["settings"]["peers"], result["settings"].get("measured", False))
    lines = [f"- {line}" for line in header_lines(result)] + [""]
    lines.append("| " + " | ".join(title for title, _ in table) + " |")
    lines.append("|" + "|".join([":---"] + ["---:"] * (len(table) - 1)) + "|")
    lines += ["| " + " | ".join(cell(row) for _, cell in table) + " |" for row in result["rows"]]
    return "\n".join(lines + ["", footer_line(result)]) + "\n"


def write_json(result, path):
    with open(path, "w") as file:
        json.dump(result, file, indent=1)
        file.write("\n")


def write_markdown(result, path):
    with open(path, "w") as file:
        file.write(markdown(result))


def plot(result, path):
    """A horizontal bar per case: npconv's time over the best peer's, log2 axis, 1.0 marked."""
    from PIL import Image, ImageDraw, ImageFont

    rows = [row for row in result["rows"] if row["ratio"]]
    font = ImageFont.load_default()
    label_width = 10 + max([draw_width(font, row["name"]) for row in rows] + [40])
    bar_height, top, bottom, chart_width, margin = 18, 40, 40, 560, 40
    width = label_width + chart_width + 2 * margin
    height = top + bar_height * max(len(rows), 1) + bottom
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    span = max([abs(math.log2(row["ratio"])) for row in rows] + [1.0])
    span = math.ceil(span)

    def x_of(ratio):
        return label_width + margin + chart_width * (math.log2(ratio) + span) / (2 * span)

    draw.text(
        (10, 10),
        "npconv time / best peer time (below 1: npconv faster), log scale",
        fill="black",
        font=font,
    )
    axis_y = top + bar_height * len(rows)
    for power in range(-span, span + 1):
        x = x_of(2.0**power)
        draw.line([(x, top - 4), (x, axis_y)], fill=(225, 225, 225))
        label = f"{2.0**power:g}" if power >= 0 else f"1/{2**-power}"
        draw.text((x - draw_width(font, label) / 2, axis_y + 6), label, fill="black", font=font)
    for i, row in enumerate(rows):
        y = top + i * bar_height
        draw.text((10, y + 3), row["name"], fill="black", font=font)
        one, end = x_of(1.0), x_of(row["ratio"])
        colour = (46, 139, 87) if row["ratio"] < 1 else (205, 92, 92)
        draw.rectangle([min(one, end), y + 3, max(one, end), y + bar_height - 3], fill=colour)
        value = f"{row['ratio']:.2f}"
        draw.text(
            (
                max(one, end) + 4
                if row["ratio"] >= 1
                else min(one, end) - 4 - draw_width(font, value),
                y + 3,
            ),
            value,
            fill="black",
            font=font,
        )
    draw.line([(x_of(1.0), top - 6), (x_of(1.0), axis_y)], fill="black", width=2)
    image.save(path)


def draw_width(font, label):
    left, _, right, _ = font.getbbox(label)
    return right - left
