"""The leaders' daily-report chart, rendered headless to PNG bytes.

Two panels: new versus resolved cases per day (left) and open cases by type (right). All
text comes from the caller, already localised; this module holds no user-facing words.

Chinese needs a CJK font that is there on a fresh machine, so the font comes from a pip
package, never from the system: ``noto-cjk-sans-otc`` carries Noto Sans CJK (SIL Open Font
License 1.1) as one OpenType collection, and we use its Simplified Chinese face ("Noto Sans
CJK SC"), whose glyph shapes follow the mainland standard.

Only matplotlib's object-oriented API is used (``Figure`` + ``FigureCanvasAgg``), never
pyplot: no global figure registry, no GUI backend, no rcParams changes. The font is found
and opened on first use, not at import.

matplotlib costs 40 MB and most of a second to import: this module imports it inside the
functions that use it, so only a process that draws a chart (or reads the font) pays for
it, when it first does.
"""

from __future__ import annotations

import atexit
import io
import threading
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from dispatch.context import DailyChart, DailyPoint

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties
    from matplotlib.ft2font import FT2Font

FONT_PACKAGE = "noto_cjk_sans_otc"
FONT_FILE = "NotoSansCJK-Regular.ttc"
FONT_FAMILY = "Noto Sans CJK SC"

# 8 x 4.6667 in at 150 dpi: 1200 x 700 px, legible on a phone held upright or sideways.
WIDTH_IN = 8.0
HEIGHT_IN = 700 / 150
DPI = 150

NEW_COLOUR = "#e4572e"
RESOLVED_COLOUR = "#2e9e5b"
OPEN_COLOUR = "#3b6fb6"
GRID_COLOUR = "#dddddd"
EMPTY_COLOUR = "#777777"


@dataclass(frozen=True, slots=True)
class _Font:
    path: str
    face_index: int


_files = ExitStack()
atexit.register(_files.close)
_font_lock = threading.Lock()


@cache
def _font() -> _Font:
    """Locate the font file through its package and pick the Simplified Chinese face."""
    from matplotlib.ft2font import FT2Font

    resource = resources.files(FONT_PACKAGE).joinpath(FONT_FILE)
    # A wheel installs as plain files, so this is the file itself; as_file only copies when
    # the package sits in a zip.
    path = str(_files.enter_context(resources.as_file(resource)))
    faces = FT2Font(path).num_faces
    for index in range(faces):
        if FT2Font(path, face_index=index).family_name == FONT_FAMILY:
            return _Font(path, index)
    raise RuntimeError(f"{FONT_FAMILY!r} is not among the {faces} faces of {path}")


def font_path() -> Path:
    """The font file in use (for logs and the start-up self-check)."""
    return Path(_font().path)


@cache
def _face() -> FT2Font:
    from matplotlib.ft2font import FT2Font

    font = _font()
    return FT2Font(font.path, face_index=font.face_index)


def missing_glyphs(text: str) -> set[str]:
    """The characters of *text* (whitespace aside) that the chart font cannot draw."""
    with _font_lock:  # an FT2Font is not safe to share between threads
        face = _face()
        return {ch for ch in set(text) if not ch.isspace() and face.get_char_index(ord(ch)) == 0}


def _props(size: float) -> FontProperties:
    from matplotlib.font_manager import FontPath, FontProperties

    font = _font()
    return FontProperties(fname=FontPath(font.path, font.face_index), size=size)


def _integer_ticks(top: int) -> list[int]:
    """Whole-number ticks from 0 to at least *top* (at least 0..1, so an empty axis reads)."""
    from matplotlib.ticker import MaxNLocator

    ticks = MaxNLocator(nbins=5, integer=True, min_n_ticks=2).tick_values(0, max(top, 1))
    return [int(t) for t in ticks if t >= 0]


# The fewest day slots and category rows a panel is laid out for: one day, or one type,
# is drawn as wide (thick) as one of seven, centred on its tick, not as one fat bar.
MIN_DAY_SLOTS = 7
MIN_TYPE_ROWS = 6
# Up to this many days the date labels fit upright; more are turned 45 degrees.
UPRIGHT_DAYS = 7
BAR_WIDTH = 0.4  # each of a day's two bars, in day slots
TYPE_HEIGHT = 0.6  # each type's bar, in rows


def _say_empty(ax: Axes, words: str, font: FontProperties) -> None:
    """Words across the middle of a panel that has nothing to draw."""
    ax.text(
        0.5,
        0.5,
        words,
        transform=ax.transAxes,
        ha="center",
        va="center",
        fontproperties=font,
        color=EMPTY_COLOUR,
    )


def daily_figure(
    title: str,
    days: Sequence[DailyPoint],
    open_by_type: Sequence[tuple[str, int]],
    *,
    new_label: str,
    resolved_label: str,
    open_title: str,
    no_days_label: str = "",
    no_open_label: str = "",
) -> Figure:
    """The daily-report chart as a matplotlib Figure (drawn on an Agg canvas); see
    `render_daily_chart`."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    small, normal, large = _props(8), _props(9), _props(12)

    fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2, width_ratios=(3, 2))
    fig.suptitle(title, fontproperties=large)

    # Left: new versus resolved per day, the two bars of a day side by side, the pair
    # centred on the day's tick.
    xs = list(range(len(days)))
    width = BAR_WIDTH
    left.bar(
        [x - width / 2 for x in xs],
        [p.new for p in days],
        width,
        align="center",
        color=NEW_COLOUR,
    )
    left.bar(
        [x + width / 2 for x in xs],
        [p.resolved for p in days],
        width,
        align="center",
        color=RESOLVED_COLOUR,
    )
    labels = [f"{p.day:%m-%d}" for p in days]
    if len(days) > UPRIGHT_DAYS:
        # Turned about their end, which sits under the tick.
        left.set_xticks(
            xs, labels, fontproperties=small, rotation=45, ha="right", rotation_mode="anchor"
        )
    else:
        left.set_xticks(xs, labels, fontproperties=small)
    # At least MIN_DAY_SLOTS slots wide, the days in the middle: a lone day is a pair of
    # ordinary bars on its tick.
    slots = max(len(days), MIN_DAY_SLOTS)
    middle = (len(days) - 1) / 2 if days else (slots - 1) / 2
    half = (slots - 1) / 2 + 0.7  # 0.7: the outer bars' half-slot and a little air
    left.set_xlim(middle - half, middle + half)
    top = max((max(p.new, p.resolved) for p in days), default=0)
    ticks = _integer_ticks(top)
    left.set_yticks(ticks, [str(t) for t in ticks], fontproperties=small)
    left.set_ylim(0, ticks[-1] * 1.05)
    # Above the bars, level with the right panel's title, so it never hides a bar.
    # Handles of our own: an empty bar series would lend the legend a default colour.
    left.legend(
        handles=[
            Patch(color=NEW_COLOUR, label=new_label),
            Patch(color=RESOLVED_COLOUR, label=resolved_label),
        ],
        prop=normal,
        loc="lower left",
        bbox_to_anchor=(0, 1),
        frameon=False,
        ncols=2,
        borderaxespad=0.2,
    )
    if no_days_label and top == 0:
        _say_empty(left, no_days_label, normal)
    left.grid(axis="y", color=GRID_COLOUR, linewidth=0.8)
    left.set_axisbelow(True)

    # Right: open cases by type, top to bottom in the caller's order, in rows of one
    # height however few types there are.
    names = [name for name, _ in open_by_type]
    counts = [count for _, count in open_by_type]
    ys = list(range(len(open_by_type)))
    bars = right.barh(ys, counts, color=OPEN_COLOUR, height=TYPE_HEIGHT, align="center")
    right.bar_label(bars, [str(c) for c in counts], padding=3, fontproperties=small)
    right.set_yticks(ys, names, fontproperties=normal)
    right.set_ylim(max(len(ys), MIN_TYPE_ROWS) - 0.5, -0.5)
    xticks = _integer_ticks(max(counts, default=0))
    right.set_xticks(xticks, [str(t) for t in xticks], fontproperties=small)
    right.set_xlim(0, xticks[-1] * 1.15)  # room for the count after the longest bar
    right.set_title(open_title, fontproperties=normal)
    if no_open_label and not any(counts):
        _say_empty(right, no_open_label, normal)
    right.grid(axis="x", color=GRID_COLOUR, linewidth=0.8)
    right.set_axisbelow(True)

    for ax in (left, right):
        ax.spines[["top", "right"]].set_visible(False)
    return fig


def render_daily_chart(
    title: str,
    days: Sequence[DailyPoint],
    open_by_type: Sequence[tuple[str, int]],
    *,
    new_label: str,
    resolved_label: str,
    open_title: str,
    no_days_label: str = "",
    no_open_label: str = "",
) -> bytes:
    """The daily-report chart as PNG bytes (1200 x 700 px).

    *days* are drawn in the order given (normally the last 14, oldest first), as pairs of
    bars centred on x labels like 11-16; *open_by_type* top to bottom in the order given,
    each bar with its count. One day or one type is drawn at the size it has among many,
    not stretched across the panel. Empty sequences give empty, still labelled, panels.
    """
    fig = daily_figure(
        title,
        days,
        open_by_type,
        new_label=new_label,
        resolved_label=resolved_label,
        open_title=open_title,
        no_days_label=no_days_label,
        no_open_label=no_open_label,
    )
    out = io.BytesIO()
    # No "Software" text chunk (it names the matplotlib version): same input, same bytes.
    fig.canvas.print_png(out, metadata={"Software": None})  # type: ignore[attr-defined]
    return out.getvalue()


class MatplotlibCharts:
    """dispatch.context.ChartRenderer, drawn by `render_daily_chart`."""

    def daily_chart(self, chart: DailyChart) -> bytes:
        return render_daily_chart(
            chart.title,
            chart.days,
            chart.open_by_type,
            new_label=chart.new_label,
            resolved_label=chart.resolved_label,
            open_title=chart.open_title,
            no_days_label=chart.no_days_label,
            no_open_label=chart.no_open_label,
        )
