"""一码通 posters and the WeChat menu, through the CLI against the stand-in APIs."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image
from sqlalchemy import delete

from bot.cli import main
from dialogs.base import Services
from dispatch.queries import grid_places
from storage.models import Unit
from tests.fakes.wechat_api import FakeWeChatAPI

GRID = "532801001001G01"


def environment(services: Services, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    url = services.sessions.engine.url.render_as_string(hide_password=False)
    monkeypatch.setenv("PINGAN_DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)


@contextlib.asynccontextmanager
async def with_official_account(
    services: Services, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> AsyncIterator[FakeWeChatAPI]:
    """The CLI's `environment`, with an official account on the stand-in WeChat API."""
    environment(services, monkeypatch, tmp_path)
    async with FakeWeChatAPI(app_id="wx_test_app") as wechat:
        monkeypatch.setenv("PINGAN_WECHAT_TOKEN", "t")
        monkeypatch.setenv("PINGAN_WECHAT_APP_ID", "wx_test_app")
        monkeypatch.setenv("PINGAN_WECHAT_APP_SECRET", "test-secret")
        monkeypatch.setenv("PINGAN_WECHAT_API_BASE", wechat.base_url)
        yield wechat


async def test_a_poster_per_grid_with_both_codes(
    services: Services, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    async with with_official_account(services, monkeypatch, tmp_path) as wechat:
        monkeypatch.setenv("PINGAN_TELEGRAM_BOT_USERNAME", "pingan_test_bot")
        runner = CliRunner()
        one = await asyncio.to_thread(runner.invoke, main, ["qr", "--grid", GRID, "--out", "one"])
        assert one.exit_code == 0, one.output
        with Image.open(tmp_path / "one" / f"{GRID}.png") as poster:
            assert poster.size == (1748, 2480)  # A5 at 300 dpi, for print
            assert [round(d) for d in poster.info["dpi"]] == [300, 300]
            codes = _dark_runs(poster)
        assert len(codes) == 2, codes  # WeChat and Telegram side by side
        scenes = [
            c.body["action_info"]["scene"]["scene_str"]
            for c in wechat.calls_to("/cgi-bin/qrcode/create")
        ]
        assert scenes == [GRID]
        every = await asyncio.to_thread(runner.invoke, main, ["qr", "--all", "--out", "all"])
        assert every.exit_code == 0, every.output
        assert len(list((tmp_path / "all").glob("*.png"))) == 42  # every demo grid
        missing = await asyncio.to_thread(runner.invoke, main, ["qr", "--grid", "nowhere"])
        assert missing.exit_code != 0 and "no grid nowhere" in missing.output
        neither = await asyncio.to_thread(runner.invoke, main, ["qr"])
        assert neither.exit_code == 2 and "--grid CODE or --all" in neither.output


def _dark_runs(poster: Image.Image) -> list[tuple[int, int]]:
    """The horizontal extents (x0, x1) of the QR codes: runs of columns with dark pixels in
    the band where the codes are drawn (below the place lines)."""
    band = poster.convert("L").crop((0, 800, poster.width, 1500))
    pixels = band.tobytes()  # one byte (grey level) a pixel, row by row
    dark = [
        any(pixels[y * band.width + x] < 100 for y in range(0, band.height, 4))
        for x in range(band.width)
    ]
    runs: list[tuple[int, int]] = []
    for x, is_dark in enumerate(dark):
        if is_dark and (not runs or runs[-1][1] < x - 60):  # a gap wider than a module
            runs.append((x, x))
        elif is_dark:
            runs[-1] = (runs[-1][0], x)
    return runs


async def test_a_telegram_only_poster_needs_no_network_and_fills_the_page(
    services: Services, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    environment(services, monkeypatch, tmp_path)
    monkeypatch.delenv("PINGAN_WECHAT_TOKEN", raising=False)
    # A token and an API nobody answers on: the poster must not need either.
    monkeypatch.setenv("PINGAN_TELEGRAM_TOKEN", "123456:TEST-TOKEN-abcdefghijklmnopqrstu")
    monkeypatch.setenv("PINGAN_TELEGRAM_API_BASE", "http://127.0.0.1:9")
    monkeypatch.setenv("PINGAN_TELEGRAM_BOT_USERNAME", "@pingan_test_bot")
    result = await asyncio.to_thread(CliRunner().invoke, main, ["qr", "--grid", GRID])
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "posters" / f"{GRID}.png") as poster:
        codes = _dark_runs(poster)
        width = poster.width
    assert len(codes) == 1, codes
    ((x0, x1),) = codes
    assert x1 - x0 > width * 0.55  # one code drawn large, not a small one in an empty page
    assert abs(x0 - (width - 1 - x1)) < 20  # and centred


async def test_qr_needs_a_channel(
    services: Services, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    environment(services, monkeypatch, tmp_path)
    for name in ("PINGAN_WECHAT_TOKEN", "PINGAN_TELEGRAM_BOT_USERNAME"):
        monkeypatch.delenv(name, raising=False)
    for token in ("", "123456:TEST-TOKEN-abcdefghijklmnopqrstu"):  # a token is not enough
        monkeypatch.setenv("PINGAN_TELEGRAM_TOKEN", token)
        result = await asyncio.to_thread(CliRunner().invoke, main, ["qr", "--grid", GRID])
        assert result.exit_code == 2
        assert result.output.count("\n") == 1 and result.output.startswith("error: ")
        assert "PINGAN_TELEGRAM_BOT_USERNAME" in result.output


async def test_the_poster_names_the_nearest_centre_above_the_grid(services: Services) -> None:
    async with services.sessions() as session:
        (place,) = await grid_places(session, GRID)
        assert place.centre == "曼听社区综治中心"  # the village's own
    async with services.sessions() as session, session.begin():  # a village without one
        await session.execute(delete(Unit).where(Unit.code == "U532801001001-ZZ"))
    async with services.sessions() as session:
        (place,) = await grid_places(session, GRID)
        assert place.centre == "允景洪街道综治中心"  # its township's


async def test_the_custom_menu_is_installed(
    services: Services, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    async with with_official_account(services, monkeypatch, tmp_path) as wechat:
        result = await asyncio.to_thread(CliRunner().invoke, main, ["wechat", "menu"])
        assert result.exit_code == 0, result.output
        menu = wechat.calls_to("/cgi-bin/menu/create")[-1].body
        names = [b["name"] for b in menu["button"]]
        assert names == ["我要反映", "查询", "工作台"]
        keys = [s["key"] for b in menu["button"] for s in b.get("sub_button", [b])]
        assert keys == ["m:report", "m:status", "m:mycases", "m:tasks", "m:help"]
