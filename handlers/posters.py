"""一码通 posters: a printable page per grid with its QR codes (PNG, A5 at 300 dpi).

`write_posters` makes one file per grid: it asks WeChat for the grid's parametric QR code
(scene = grid code) and fills in the Telegram deep link; `render_poster` draws the codes
with segno and lays out the page with Pillow, in the CJK font the charts use.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import segno
from PIL import Image, ImageDraw, ImageFont

from dispatch.queries import GridPlace
from handlers.charts import font_path
from handlers.wechat_api import WeChatAPI, WeChatAPIError
from locales import text

# A5 is 148 x 210 mm; at 300 dpi (print) that is 1748 x 2480 pixels. The layout below is
# drawn in units of the old 150 dpi page (874 px wide) times SCALE.
DPI = 300
WIDTH, HEIGHT = 1748, 2480
SCALE = WIDTH / 874
# Widest a QR code may be: one code alone fills most of the width rather than sitting in
# a corner of an empty page; two share it.
ONE_CODE = int(WIDTH * 0.62)


@dataclass(frozen=True, slots=True)
class Code:
    caption: str  # e.g. "微信扫一扫"
    content: str  # what the QR encodes


def _px(size: float) -> int:
    return round(size * SCALE)


def _font(size: int) -> ImageFont.FreeTypeFont:
    # Noto Sans CJK comes as a collection; index 2 is Simplified Chinese (SC) in the
    # noto-cjk-sans-otc package. A wrong index only changes glyph shapes, not coverage.
    return ImageFont.truetype(str(font_path()), _px(size), index=_sc_index())


def _sc_index() -> int:
    for index in range(10):
        try:
            face = ImageFont.truetype(str(font_path()), 12, index=index)
        except OSError:
            break
        if (face.getname()[0] or "").endswith("SC"):
            return index
    return 0


def _qr(content: str, size: int) -> Image.Image:
    buffer = io.BytesIO()
    # Error correction M survives a scuffed poster; border 2 keeps the quiet zone scannable.
    segno.make(content, error="m", micro=False).save(buffer, kind="png", scale=10, border=2)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB").resize((size, size), Image.Resampling.NEAREST)


def _centered(draw: ImageDraw.ImageDraw, y: int, text: str, font: ImageFont.FreeTypeFont) -> int:
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    draw.text(((WIDTH - (right - left)) / 2, y), text, font=font, fill=(30, 30, 30))
    # Pillow types the box as floats; for a FreeType font it holds whole pixels.
    return y + int(bottom - top) + _px(18)


def code_layout(count: int) -> tuple[int, list[int]]:
    """The side of each QR code and the x of each, centred as a group: one code alone is
    drawn large in the middle, two side by side."""
    count = max(1, count)
    margin = _px(60)
    size = min(ONE_CODE, (WIDTH - margin * (count + 1)) // count)
    gap = (WIDTH - size * count) // (count + 1)
    return size, [gap + i * (size + gap) for i in range(count)]


def render_poster(
    title: str,
    lines: Sequence[str],
    codes: Sequence[Code],
    footer: str,
    notes: Sequence[str] = (),
) -> bytes:
    """A PNG poster: a title, the place lines (grid, village …), the codes side by side,
    how-to notes under them and the centre's name at the foot."""
    page = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(page)
    band = _px(150)
    draw.rectangle((0, 0, WIDTH, band), fill=(196, 30, 58))
    title_font = _font(64)
    left, top, right, bottom = draw.textbbox((0, 0), title, font=title_font)
    draw.text(
        ((WIDTH - (right - left)) / 2, (band - (bottom - top)) / 2 - top),
        title,
        font=title_font,
        fill="white",
    )
    y = _px(190)
    for i, line in enumerate(lines):
        y = _centered(draw, y, line, _font(46 if i == 0 else 34))
    y += _px(20)
    size, xs = code_layout(len(codes))
    caption_font = _font(34)
    for x, code in zip(xs, codes, strict=True):
        page.paste(_qr(code.content, size), (x, y))
        left, top, right, bottom = draw.textbbox((0, 0), code.caption, font=caption_font)
        draw.text(
            (x + (size - (right - left)) / 2, y + size + _px(16)),
            code.caption,
            font=caption_font,
            fill=(30, 30, 30),
        )
    y += size + _px(90)
    for note in notes:
        y = _centered(draw, y, note, _font(30))
    _centered(draw, HEIGHT - _px(110), footer, _font(30))
    out = io.BytesIO()
    page.save(out, format="PNG", optimize=True, dpi=(DPI, DPI))
    return out.getvalue()


class QRCodeRefused(Exception):
    """WeChat would not make a grid's QR code (posters written before it stay)."""

    def __init__(self, grid_code: str, error: WeChatAPIError) -> None:
        super().__init__(f"{grid_code}: {error}")
        self.grid_code = grid_code
        self.error = error


async def write_posters(
    grids: Sequence[GridPlace],
    out: Path,
    locale: str,
    *,
    wechat: WeChatAPI | None,
    telegram_link: str | None,
) -> int:
    """Write `out/GRID.png` for each grid, with a WeChat code if `wechat` is given and a
    Telegram code if `telegram_link` is (a deep link with `{grid}` for the grid's code).
    Returns how many were written; raises QRCodeRefused if WeChat refuses a code."""
    await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
    for grid in grids:
        codes = []
        if wechat is not None:
            try:
                _, url = await wechat.create_qr_scene(grid.code)
            except WeChatAPIError as exc:
                raise QRCodeRefused(grid.code, exc) from exc
            codes.append(Code(text("poster.wechat", locale), url))
        if telegram_link is not None:
            codes.append(
                Code(text("poster.telegram", locale), telegram_link.format(grid=grid.code))
            )
        png = await asyncio.to_thread(
            render_poster,
            text("poster.title", locale),
            [grid.name, grid.place],
            codes,
            text("poster.footer", locale, {"centre": grid.centre}),
            [text("poster.how", locale), text("poster.urgent", locale)],
        )
        await asyncio.to_thread((out / f"{grid.code}.png").write_bytes, png)
    return len(grids)
