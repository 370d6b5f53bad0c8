"""一码通 posters and the WeChat menu, through the CLI against the stand-in APIs."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from bot.cli import main
from dialogs.base import Services
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.fakes.wechat_api import FakeWeChatAPI

GRID = "532801001001G01"


def environment(services: Services, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    url = services.sessions.engine.url.render_as_string(hide_password=False)
    monkeypatch.setenv("PINGAN_DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)


async def test_a_poster_per_grid_with_both_codes(
    services: Services, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    environment(services, monkeypatch, tmp_path)
    async with (
        FakeWeChatAPI(app_id="wx_test_app") as wechat,
        FakeTelegramAPI(token="123456:TEST-TOKEN-abcdefghijklmnopqrstu") as telegram,
    ):
        monkeypatch.setenv("PINGAN_WECHAT_TOKEN", "t")
        monkeypatch.setenv("PINGAN_WECHAT_APP_ID", "wx_test_app")
        monkeypatch.setenv("PINGAN_WECHAT_APP_SECRET", "test-secret")
        monkeypatch.setenv("PINGAN_WECHAT_API_BASE", wechat.base_url)
        monkeypatch.setenv("PINGAN_TELEGRAM_TOKEN", telegram.token)
        monkeypatch.setenv("PINGAN_TELEGRAM_API_BASE", telegram.base_url)
        runner = CliRunner()
        one = await asyncio.to_thread(runner.invoke, main, ["qr", "--grid", GRID, "--out", "one"])
        assert one.exit_code == 0, one.output
        with Image.open(tmp_path / "one" / f"{GRID}.png") as poster:
            width, height = poster.size
        assert abs(height / width - 210 / 148) < 0.01  # A5 proportions
        scenes = [
            c.body["action_info"]["scene"]["scene_str"]
            for c in wechat.calls_to("/cgi-bin/qrcode/create")
        ]
        assert scenes == [GRID]
        every = await asyncio.to_thread(runner.invoke, main, ["qr", "--all", "--out", "all"])
        assert every.exit_code == 0, every.output
        assert len(list((tmp_path / "all").glob("*.png"))) == 40  # every demo grid
        missing = await asyncio.to_thread(runner.invoke, main, ["qr", "--grid", "nowhere"])
        assert missing.exit_code != 0 and "no grid nowhere" in missing.output
        neither = await asyncio.to_thread(runner.invoke, main, ["qr"])
        assert neither.exit_code == 2 and "--grid CODE or --all" in neither.output


async def test_qr_needs_a_channel(
    services: Services, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    environment(services, monkeypatch, tmp_path)
    for name in ("PINGAN_WECHAT_TOKEN", "PINGAN_TELEGRAM_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    result = await asyncio.to_thread(CliRunner().invoke, main, ["qr", "--grid", GRID])
    assert result.exit_code == 2 and "configure WeChat" in result.output


async def test_the_custom_menu_is_installed(
    services: Services, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    environment(services, monkeypatch, tmp_path)
    async with FakeWeChatAPI(app_id="wx_test_app") as wechat:
        monkeypatch.setenv("PINGAN_WECHAT_TOKEN", "t")
        monkeypatch.setenv("PINGAN_WECHAT_APP_ID", "wx_test_app")
        monkeypatch.setenv("PINGAN_WECHAT_APP_SECRET", "test-secret")
        monkeypatch.setenv("PINGAN_WECHAT_API_BASE", wechat.base_url)
        result = await asyncio.to_thread(CliRunner().invoke, main, ["wechat", "menu"])
        assert result.exit_code == 0, result.output
        menu = wechat.calls_to("/cgi-bin/menu/create")[-1].body
        names = [b["name"] for b in menu["button"]]
        assert names == ["我要反映", "查询", "工作台"]
        keys = [s["key"] for b in menu["button"] for s in b.get("sub_button", [b])]
        assert keys == ["m:report", "m:status", "m:mycases", "m:tasks", "m:help"]
