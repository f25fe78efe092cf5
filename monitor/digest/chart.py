"""The digest's volume chart: this week's comments against the average of the four weeks before,
per platform and per category, as a PNG for an email; and the same per school, as small
multiples, for a trust's roll-up.

Made to be read on paper and by everyone: the two series differ by fill (solid dark for this
week, white with diagonal hatching for the average) and are labelled with their values, so the
chart says the same printed in black and white; `chart_alt_text` says it in words.

matplotlib is imported inside the functions, so commands that never draw a chart start fast. The
figures are drawn on their own Agg canvas, never through pyplot, so no global backend is chosen,
no figure is kept in pyplot's registry, and other code using matplotlib is not affected. Output is
byte-for-byte the same for the same input: the bundled DejaVu Sans font, and no software name or
date in the PNG.
"""

from __future__ import annotations

import io
import math
import threading
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

# The chart's file name in an email, which is also its Content-ID: the HTML shows it with
# `<img src="cid:volume-chart.png" width="600" alt="...">`.
CHART_FILE = "volume-chart.png"
# Email bodies are about 600 px wide; drawn at twice that so the chart is sharp on high-density
# screens, and shown at 600 px by the HTML (`DISPLAY_WIDTH`).
DISPLAY_WIDTH = 600
SCALE = 2
DPI = 100 * SCALE
WIDTH_INCHES = DISPLAY_WIDTH / 100
# Heights in inches (at 100 px an inch as displayed): a panel's title and axis, then one row
# (a pair of bars) per platform or category.
PANEL_BASE = 0.9
ROW_HEIGHT = 0.42
LEGEND_HEIGHT = 0.45
# Above the first panel for its title, and between panels for the axis and the next title.
TITLE_HEIGHT = 0.22
PANEL_GAP = 0.75
# A trust's small multiples: schools per row, and the height of one school's cell.
GRID_COLUMNS = 5
CELL_HEIGHT = 1.5
CELL_ROW = 0.16

THIS_WEEK = "This week"
AVERAGE = "Average of the previous 4 weeks"
# Told apart without colour: a solid dark bar, and a white bar with black diagonal hatching.
THIS_WEEK_STYLE = {"color": "#3a3a3a", "edgecolor": "#000000", "linewidth": 0.8}
AVERAGE_STYLE = {"color": "#ffffff", "edgecolor": "#000000", "hatch": "////", "linewidth": 0.8}
FONT = "DejaVu Sans"
_RC = {"font.family": FONT, "font.size": 9, "hatch.linewidth": 0.8,
       "svg.hashsalt": "hallmonitor", "path.simplify": True}

# matplotlib's settings (rcParams) are process-wide and it is not thread-safe: one chart at a time.
_draw_lock = threading.Lock()


@dataclass(frozen=True)
class Volumes:
    """Comment counts for one school: for each platform and each category, this week's count and
    the average weekly count over the four weeks before it."""

    platforms: dict[str, tuple[int, float]]
    categories: dict[str, tuple[int, float]]


def _rows(counts: dict[str, tuple[int, float]]) -> list[tuple[str, int, float]]:
    """Largest this week first (then by name, so equal counts always come in the same order)."""
    return sorted(((name, int(now), float(avg)) for name, (now, avg) in counts.items()),
                  key=lambda row: (-row[1], -row[2], row[0]))


def number(value: float) -> str:
    """A count as a person says it: 12, 12.5, 38.3 for 38.25 (an average keeps one decimal only
    when it has one, rounded half up as people round)."""
    rounded = Decimal(str(value)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return f"{rounded:.0f}" if rounded == rounded.to_integral_value() else f"{rounded:.1f}"


def chart_height(volumes: Volumes) -> float:
    """The chart's height in inches: its width is always `WIDTH_INCHES`."""
    panels = [p for p in (volumes.platforms, volumes.categories) if p] or [{}]
    rows = sum(max(len(p), 1) for p in panels)
    return round(LEGEND_HEIGHT + PANEL_BASE * len(panels) + ROW_HEIGHT * rows, 2)


def chart_pixels(volumes: Volumes) -> tuple[int, int]:
    """The PNG's width and height in pixels (twice its displayed size)."""
    return round(WIDTH_INCHES * DPI), round(chart_height(volumes) * DPI)


def volume_chart(volumes: Volumes) -> bytes:
    """One PNG: a panel per platform and a panel per category (each left out when empty), each
    a pair of bars per row, this week against the four-week average, labelled with their
    values."""
    panels = [(title, _rows(counts)) for title, counts in
              (("By platform", volumes.platforms), ("By category", volumes.categories))
              if counts]
    with _draw_lock:
        from matplotlib import rc_context
        from matplotlib.figure import Figure

        with rc_context(_RC):
            figure = Figure(figsize=(WIDTH_INCHES, chart_height(volumes)), dpi=DPI)
            if not panels:
                figure.text(0.5, 0.5, "No comments this week or in the four weeks before",
                            ha="center", va="center")
                return _png(figure)
            heights = [max(len(rows), 1) * ROW_HEIGHT + PANEL_BASE for _, rows in panels]
            total = chart_height(volumes)
            # Room above the first panel for its title under the legend; below each panel
            # for its axis numbers and the next one's title (a fixed gap in inches, however
            # many rows the panels have: matplotlib's hspace is a share of their height).
            top, bottom = 1 - (LEGEND_HEIGHT + TITLE_HEIGHT) / total, 0.35 / total
            axes_height = (top - bottom) * total - PANEL_GAP * (len(panels) - 1)
            grid = figure.add_gridspec(len(panels), 1, height_ratios=heights, left=0.22,
                                       right=0.9, top=top, bottom=bottom,
                                       hspace=PANEL_GAP / (axes_height / len(panels)))
            top_value = max(max(now, avg) for _, rows in panels for _, now, avg in rows)
            for index, (title, rows) in enumerate(panels):
                axes = figure.add_subplot(grid[index])
                _bars(axes, rows, top_value, labels=True)
                axes.set_title(title, loc="left", fontweight="bold", fontsize=10)
            handles = [_legend_patch(THIS_WEEK_STYLE), _legend_patch(AVERAGE_STYLE)]
            figure.legend(handles, [THIS_WEEK, AVERAGE], loc="upper left", ncols=2,
                          frameon=False, bbox_to_anchor=(0.02, 1.0), fontsize=9)
            return _png(figure)


def _bars(axes, rows: list[tuple[str, int, float]], top_value: float, *, labels: bool,
          font_size: float = 8.5) -> None:
    """A pair of horizontal bars per row: this week above, the average below it."""
    names = [name for name, _, _ in rows]
    positions = list(range(len(rows)))
    height = 0.38
    now_bars = axes.barh([p - height / 2 for p in positions], [now for _, now, _ in rows],
                         height=height, label=THIS_WEEK, **THIS_WEEK_STYLE)
    avg_bars = axes.barh([p + height / 2 for p in positions], [avg for _, _, avg in rows],
                         height=height, label=AVERAGE, **AVERAGE_STYLE)
    if labels:
        axes.bar_label(now_bars, labels=[number(now) for _, now, _ in rows], padding=3,
                       fontsize=font_size)
        axes.bar_label(avg_bars, labels=[f"avg {number(avg)}" for _, _, avg in rows],
                       padding=3, fontsize=font_size, color="#333333")
    axes.set_yticks(positions, labels=names, fontsize=font_size)
    axes.set_ylim(len(rows) - 0.5 if rows else 0.5, -0.5)  # the largest at the top
    # Room at the right for the value labels; a shared scale across every panel.
    axes.set_xlim(0, max(top_value, 1) * (1.22 if labels else 1.05))
    axes.tick_params(axis="x", labelsize=font_size - 1, colors="#333333")
    axes.tick_params(axis="y", length=0)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    axes.xaxis.grid(True, color="#d0d0d0", linewidth=0.6)
    axes.set_axisbelow(True)


def _legend_patch(style: dict):
    from matplotlib.patches import Patch

    return Patch(facecolor=style["color"], edgecolor=style["edgecolor"],
                 hatch=style.get("hatch"), linewidth=style["linewidth"])


def _png(figure) -> bytes:
    """The figure as PNG bytes, with no software name or date in its metadata; the figure is
    emptied afterwards so nothing it drew is held on to."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    out = io.BytesIO()
    try:
        figure.savefig(out, format="png", dpi=figure.dpi, metadata={"Software": None})
    finally:
        figure.clear()
    return out.getvalue()


def chart_alt_text(volumes: Volumes) -> str:
    """The chart in words, for the image's alt text and for readers who cannot see it: every
    number it shows."""
    parts = ["Comments this week against the weekly average of the previous four weeks."]
    for title, counts in (("By platform", volumes.platforms),
                          ("By category", volumes.categories)):
        if counts:
            rows = [f"{name} {now} (average {number(avg)})" for name, now, avg in _rows(counts)]
            parts.append(f"{title}: " + "; ".join(rows) + ".")
    if len(parts) == 1:
        parts.append("No comments this week or in the four weeks before.")
    return " ".join(parts)


def small_multiples_pixels(per_school: dict[str, Volumes]) -> tuple[int, int]:
    """The small multiples' width and height in pixels for this many schools."""
    platforms = {p for v in per_school.values() for p in v.platforms}
    return round(WIDTH_INCHES * DPI), round(_grid_height(len(per_school), len(platforms)) * DPI)


def _grid_height(schools: int, platforms: int) -> float:
    rows = max(math.ceil(schools / GRID_COLUMNS), 1)
    return round(LEGEND_HEIGHT + rows * (CELL_HEIGHT + CELL_ROW * max(platforms - 3, 0)), 2)


def small_multiples(per_school: dict[str, Volumes]) -> bytes:
    """One PNG for a trust: a small chart per school (titled with its name), each its platforms'
    bars this week against their four-week average, all on one scale so schools compare at a
    glance. Five schools a row, in the order given (put those needing attention first); made
    for up to about fifty."""
    names = list(per_school)
    platforms = sorted({p for v in per_school.values() for p in v.platforms})
    columns = min(max(len(names), 1), GRID_COLUMNS)
    height = _grid_height(len(names), len(platforms))
    with _draw_lock:
        from matplotlib import rc_context
        from matplotlib.figure import Figure

        with rc_context(_RC):
            figure = Figure(figsize=(WIDTH_INCHES, height), dpi=DPI)
            if not names:
                figure.text(0.5, 0.5, "No schools", ha="center", va="center")
                return _png(figure)
            rows_count = math.ceil(len(names) / columns)
            top_value = max([max(now, avg) for v in per_school.values()
                             for now, avg in v.platforms.values()] or [1])
            grid = figure.add_gridspec(rows_count, columns, left=0.12, right=0.98,
                                       top=1 - LEGEND_HEIGHT / height,
                                       bottom=0.25 / height, hspace=0.6, wspace=0.3)
            for index, name in enumerate(names):
                axes = figure.add_subplot(grid[index // columns, index % columns])
                counts = per_school[name].platforms
                rows = [(p, *counts.get(p, (0, 0.0))) for p in platforms]
                _bars(axes, [(p, int(n), float(a)) for p, n, a in rows], top_value,
                      labels=False, font_size=6.5)
                axes.set_title(_short(name), fontsize=6.5, loc="left")
                if index % columns:
                    axes.tick_params(axis="y", labelleft=False)
            handles = [_legend_patch(THIS_WEEK_STYLE), _legend_patch(AVERAGE_STYLE)]
            figure.legend(handles, [THIS_WEEK, AVERAGE], loc="upper left", ncols=2,
                          frameon=False, bbox_to_anchor=(0.02, 1.0), fontsize=8)
            return _png(figure)


def _short(name: str, limit: int = 20) -> str:
    """A school's name that fits above its chart."""
    return name if len(name) <= limit else name[: limit - 1].rstrip() + "…"
