"""The daily-report chart: a real PNG of the promised size, every Chinese character the
chart can show has a glyph in the packaged font (and the check can fail), empty data
renders, pyplot's global state is never touched, and starting up does not import matplotlib."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import warnings
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from PIL import Image

from dispatch.context import DailyPoint
from dispatch.orgfile import DEMO_ORG_PATH
from handlers import charts
from handlers.charts import (
    BAR_WIDTH,
    MIN_DAY_SLOTS,
    MIN_TYPE_ROWS,
    daily_figure,
    missing_glyphs,
    render_daily_chart,
)
from locales import DEFAULT, catalog

ROOT = Path(__file__).resolve().parents[1]

# Words a digest or chart caption may use beside the category names.
DIGEST_WORDS = "新增 化解 未结 按类型 近14天 每日工作情况 未结案件 截至 （）：，、。0123456789-"


def _catalog_texts(*sections: str) -> list[str]:
    return [value for key, value in catalog(DEFAULT).items() if key.split(".", 1)[0] in sections]


def _demo_place_names() -> list[str]:
    """Region and unit names of the demo organisation (a chart title names the region)."""
    names: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("name"), str):
                names.append(node["name"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(yaml.safe_load(DEMO_ORG_PATH.read_text(encoding="utf-8")))
    return names


def _days(n: int = 14) -> list[DailyPoint]:
    start = date(2026, 11, 16)
    return [DailyPoint(start + timedelta(days=i), (i * 7) % 10, (i * 3) % 6) for i in range(n)]


def _render(
    title: str = "每日工作情况（近14天）",
    days: list[DailyPoint] | None = None,
    open_by_type: list[tuple[str, int]] | None = None,
) -> bytes:
    return render_daily_chart(
        title,
        _days() if days is None else days,
        [("劳动争议（含欠薪）", 12), ("邻里纠纷", 5), ("其他", 1)]
        if open_by_type is None
        else open_by_type,
        new_label="新增",
        resolved_label="化解",
        open_title="未结案件（按类型）",
    )


def _image(png: bytes) -> Image.Image:
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


def test_renders_a_phone_sized_png() -> None:
    png = _render()
    image = _image(png)
    assert image.format == "PNG"
    assert image.size == (1200, 700)
    # Something was drawn: more than a blank canvas's handful of colours.
    assert len(image.convert("RGB").getcolors(maxcolors=1 << 16) or []) > 10


def test_same_input_same_bytes() -> None:
    png = _render()
    assert png == _render()
    assert b"Software" not in png


def test_every_chart_character_has_a_glyph() -> None:
    categories = _catalog_texts("cat")
    places = _demo_place_names()
    assert len(categories) >= 10 and len(places) >= 10
    texts = [*categories, *_catalog_texts("chart"), *places, DIGEST_WORDS]
    assert missing_glyphs("".join(texts)) == set()

    words = catalog(DEFAULT)
    with warnings.catch_warnings():
        # matplotlib warns "Glyph ... missing from font(s)" and draws a box instead.
        warnings.simplefilter("error")
        png = render_daily_chart(
            DIGEST_WORDS,
            _days(),
            [(name, i) for i, name in enumerate(categories)],
            new_label=words.get("chart.new", "新增"),
            resolved_label=words.get("chart.resolved", "化解"),
            open_title=words.get("chart.open_by_type", "未结案件（按类型）"),
        )
        _image(png)
        # Every character of the place names, in titles that fit the width.
        chars = "".join(sorted(set("".join(places))))
        for start in range(0, len(chars), 40):
            _render(title=chars[start : start + 40], days=[], open_by_type=[])


def test_glyph_check_can_fail() -> None:
    assert missing_glyphs("\U0010fffd") == {"\U0010fffd"}
    assert missing_glyphs("新增 😀 化解") == {"😀"}
    assert missing_glyphs(" \t\n") == set()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(UserWarning, match="missing from font"):
            _render(open_by_type=[("😀", 1)])


def test_font_is_the_simplified_chinese_face_from_the_package() -> None:
    path = charts.font_path()
    assert path.is_file()
    assert "noto_cjk_sans_otc" in path.parts
    from matplotlib.ft2font import FT2Font

    font = charts._font()
    assert FT2Font(font.path, face_index=font.face_index).family_name == "Noto Sans CJK SC"


@pytest.mark.parametrize(
    ("days", "open_by_type"),
    [
        ([], []),
        ([DailyPoint(date(2026, 11, 16) + timedelta(days=i), 0, 0) for i in range(14)], []),
        ([], [("邻里纠纷", 0)]),
        (_days(1), [("其他", 0)]),
    ],
    ids=["nothing", "quiet-fortnight", "zero-open", "one-day"],
)
def test_empty_data_renders(days: list[DailyPoint], open_by_type: list[tuple[str, int]]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        image = _image(_render(days=days, open_by_type=open_by_type))
    assert image.size == (1200, 700)


def _panel_words(days: list[DailyPoint], open_by_type: list[tuple[str, int]]) -> list[set[str]]:
    words = catalog(DEFAULT)
    fig = daily_figure(
        "t",
        days,
        open_by_type,
        new_label="n",
        resolved_label="r",
        open_title="o",
        no_days_label=words["chart.no_days"],
        no_open_label=words["chart.no_open"],
    )
    return [{text.get_text() for text in ax.texts} for ax in fig.axes]


def test_a_panel_with_nothing_to_draw_says_so_in_words() -> None:
    words = catalog(DEFAULT)
    quiet = [DailyPoint(date(2026, 11, 16) + timedelta(days=i), 0, 0) for i in range(14)]
    days_panel, open_panel = _panel_words(quiet, [])
    assert days_panel == {words["chart.no_days"]}
    assert open_panel == {words["chart.no_open"]}
    # A zero count is nothing to draw either; one case anywhere is a bar, and no words.
    assert words["chart.no_open"] in _panel_words(quiet, [("邻里纠纷", 0)])[1]
    days_panel, open_panel = _panel_words(_days(), [("邻里纠纷", 1)])
    assert days_panel == set()
    assert open_panel == {"1"}  # the bar's count, and no words


def test_does_not_touch_pyplot() -> None:
    script = (
        "import sys\n"
        "from datetime import date\n"
        "from dispatch.context import DailyPoint\n"
        "from handlers.charts import render_daily_chart\n"
        "png = render_daily_chart('t', [DailyPoint(date(2026, 11, 16), 1, 2)], [('x', 3)],"
        " new_label='n', resolved_label='r', open_title='o')\n"
        "assert png.startswith(b'\\x89PNG')\n"
        "print('matplotlib.pyplot' in sys.modules)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    assert _python(script, "-W", "error", env=env) == "False"


def test_starting_does_not_import_matplotlib() -> None:
    # `pingan run` builds the renderer at start-up; matplotlib waits for the first chart.
    script = (
        "import sys\n"
        "import bot.app, bot.cli, bot.runner, handlers.charts\n"
        "bot.app.build_domain(None, None)\n"
        "print(sorted(m for m in sys.modules if m.startswith('matplotlib')))\n"
    )
    assert _python(script) == "[]"


def _python(script: str, *options: str, env: dict[str, str] | None = None) -> str:
    """What `script` prints, run by a fresh interpreter from the project root."""
    result = subprocess.run(
        [sys.executable, *options, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_renders_from_several_threads_at_once() -> None:
    from concurrent.futures import ThreadPoolExecutor

    inputs = [_days(n) for n in (1, 14)] * 2
    expected = {len(days): _render(days=days) for days in inputs}
    with ThreadPoolExecutor(max_workers=2) as pool:
        outputs = list(pool.map(lambda days: _render(days=days), inputs))
    assert outputs == [expected[len(days)] for days in inputs]


# geometry: what a leader sees ------------------------------------------------------------------


def _figure(days: list[DailyPoint], open_by_type: list[tuple[str, int]]) -> Any:
    fig = daily_figure(
        "每日工作情况",
        days,
        open_by_type,
        new_label="新增",
        resolved_label="化解",
        open_title="未结案件（按类型）",
    )
    fig.canvas.draw()  # lays out the text, so its extents are final
    return fig


@pytest.mark.parametrize("n", [1, 3, 14])
def test_each_days_pair_of_bars_sits_on_its_tick_and_its_label_under_it(n: int) -> None:
    fig = _figure(_days(n), [("邻里纠纷", 3)])
    left = fig.axes[0]
    new, resolved = left.containers[0], left.containers[1]
    ticks = list(left.get_xticks())
    assert len(ticks) == n
    renderer = fig.canvas.get_renderer()
    for tick, a, b, label in zip(
        ticks, new.patches, resolved.patches, left.get_xticklabels(), strict=True
    ):
        # the two bars touch at the tick, one each side
        assert a.get_x() + a.get_width() == pytest.approx(tick)
        assert b.get_x() == pytest.approx(tick)
        # the label under the tick: centred on it, or (turned) ending at it
        tick_px = left.transData.transform((tick, 0))[0]
        box = label.get_window_extent(renderer)
        if n > 7:  # turned about its end: the end's top corner at the tick
            assert 0 <= box.x1 - tick_px < 16 and box.x0 < tick_px, (box, tick_px)
        else:
            assert abs((box.x0 + box.x1) / 2 - tick_px) < 2, (box, tick_px)
    # a day is as wide with 1 day as with 7: no pair of fat bars filling the panel
    width_px = abs(
        left.transData.transform((BAR_WIDTH, 0))[0] - left.transData.transform((0, 0))[0]
    )
    panel_px = left.get_window_extent(renderer).width
    assert width_px <= panel_px / (2 * MIN_DAY_SLOTS)


@pytest.mark.parametrize("types", [1, 2, 6, 9])
def test_one_type_is_a_bar_of_ordinary_thickness(types: int) -> None:
    names = [
        "邻里纠纷",
        "婚姻家庭",
        "山林土地",
        "物业纠纷",
        "其他",
        "合同纠纷",
        "医疗纠纷",
        "消费纠纷",
    ]
    rows = [(names[i % len(names)] + str(i), types - i) for i in range(types)]
    fig = _figure(_days(3), rows)
    right = fig.axes[1]
    renderer = fig.canvas.get_renderer()
    panel_px = right.get_window_extent(renderer).height
    for bar, y in zip(right.containers[0].patches, range(types), strict=True):
        assert bar.get_y() + bar.get_height() / 2 == pytest.approx(y)  # centred on its row
        top, bottom = (right.transData.transform((0, v))[1] for v in (y - 0.3, y + 0.3))
        assert abs(top - bottom) <= panel_px / MIN_TYPE_ROWS  # never one fat bar
