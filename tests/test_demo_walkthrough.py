"""The README's walk-through, run through the console with the README's own commands:
`pingan init --demo`, a resident's report in `pingan chat`, the mediator's offer in
`pingan chat --as mediator` accepted by reply and closed, the resident told, the follow-up
asked by `pingan jobs run followup --at …`, and the leader's `/digest` drawn.

The wall clock is set (the CLI reads it through bot.wallclock.SystemClock): the same
walk-through at 15:00 and at 03:00 Shanghai time, where quiet hours hold the offer until
07:30 and the console says so.
"""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.settings import Settings
from bot.wallclock import SystemClock
from dialogs.base import Answer
from dispatch.messages import Button, Inbound, Reply
from handlers.console import ConsoleChannel

VARIABLES = tuple(f"PINGAN_{name.upper()}" for name in Settings.model_fields)
REPORT = [
    "/start g_532801001001G01",
    "隔壁邻居装修天天从早上七点吵到晚上十点，说了好几次也不听",
    "1",  # 对，是这类
    "1",  # 2人
    "1",  # 没有
    "1",  # 完成（没有照片就点这里）
    "13912345678",
    "1",  # ✅ 提交
]
NOTICE = re.compile(r"🔔 \[#(n\d+)\] (.*)")


class Wall:
    """The wall clock as the CLI reads it, moved by the test."""

    def __init__(self, at: datetime) -> None:
        self.at = at


@pytest.fixture
def wall(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Wall]:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    # No PINGAN_DATABASE_URL: the per-user default, here under a fresh data home; every
    # command runs from another directory, as a newcomer's terminals would.
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    clock = Wall(datetime(2026, 11, 24, 7, 0, tzinfo=UTC))  # 15:00 in Shanghai
    monkeypatch.setattr(SystemClock, "now", lambda self: clock.at)
    yield clock


def pingan(*args: str, lines: list[str] | None = None) -> str:
    text = "".join(line + "\n" for line in lines or [])
    result = CliRunner().invoke(main, list(args), input=text)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code == 0, result.output
    return result.output


def notices(output: str) -> list[tuple[str, str]]:
    return NOTICE.findall(output)


def report(wall: Wall) -> str:
    said = pingan("chat", lines=REPORT)
    found = re.search(r"案件编号是 (\d{4}-\d{6})", said)
    assert found is not None, said
    return found.group(1)


def test_the_readme_walk_through_reaches_a_mediator_and_back(wall: Wall, tmp_path: Path) -> None:
    out = pingan("init", "--demo")
    database = tmp_path / "data" / "pingan" / "pingan.db"
    assert str(database) in out and database.exists()
    assert "--as mediator" in out and "岩温" in out

    number = report(wall)

    # The mediator's terminal: the offer is there, and a reply accepts it.
    seen = pingan("chat", "--as", "mediator")
    offers = [(ref, line) for ref, line in notices(seen) if number in line]
    assert offers and "新交办案件" in offers[0][1], seen
    ref = offers[0][0]
    wall.at += timedelta(minutes=5)
    accepted = pingan("chat", "--as", "mediator", lines=[f">{ref} 接单"])
    assert f"您已接单：{number}" in accepted, accepted
    assert "13912345678" in accepted  # whoever accepted sees the phone whole

    # The resident is told, by name of the unit.
    told = pingan("chat")
    assert any(number in line and "受理" in line for _, line in notices(told)), told

    # The mediator closes it: /tasks lists it, the case card's 🏁 结案 button, an outcome.
    wall.at += timedelta(hours=2)
    closing = pingan(
        "chat",
        "--user",
        "岩温",
        lines=["/tasks", "2", "1", "双方约定装修只在早九点到晚六点", "1", "1"],
    )
    assert f"案件 {number} 已结案" in closing, closing

    # The resident hears it was closed; three days on, the follow-up asks them.
    told = pingan("chat")
    assert any(number in line and "已办结" in line for _, line in notices(told)), told
    later = (wall.at + timedelta(days=3, hours=1)).isoformat(timespec="minutes")
    assert "asked 1" in pingan("jobs", "run", "followup", "--at", later)
    asked = pingan("chat", lines=["1", "1"])  # 😊 满意 (the notice's first button), 不用了
    assert any(number in line and "回访" in line for _, line in notices(asked)), asked
    assert f"感谢您的评价！案件 {number} 已归档。" in asked, asked

    # The leader's digest, with its chart saved beside the database.
    digest = pingan("chat", "--as", "leader", lines=["/digest"])
    chart = re.search(r"\[chart: (.+\.png)\]", digest)
    assert chart is not None, digest
    assert Path(chart.group(1)).parent == database.parent / "charts"
    assert Path(chart.group(1)).read_bytes().startswith(b"\x89PNG")
    assert "每日工作情况" in digest and "邻里纠纷 1" in digest


def test_at_night_the_offer_waits_for_morning_and_the_console_says_so(wall: Wall) -> None:
    wall.at = datetime(2026, 11, 24, 19, 0, tzinfo=UTC)  # 03:00 in Shanghai
    pingan("init", "--demo")
    number = report(wall)
    night = pingan("chat", "--as", "mediator")
    assert not notices(night), night
    assert "免打扰时段：有 1 条通知将于 07:30 送达" in night
    wall.at = datetime(2026, 11, 24, 23, 31, tzinfo=UTC)  # 07:31
    morning = pingan("chat", "--as", "mediator")
    assert any(number in line and "新交办案件" in line for _, line in notices(morning)), morning


def test_init_demo_twice_makes_the_staff_once(wall: Wall) -> None:
    pingan("init")
    before = CliRunner().invoke(main, ["chat", "--as", "mediator"], input="")
    assert before.exit_code == 1 and "pingan init --demo" in before.output
    first = pingan("init", "--demo")
    assert "3 (3 new)" in first
    second = pingan("init", "--demo")
    assert "3 (0 new)" in second
    for part, name in (("mediator", "岩温"), ("dispatcher", "玉香"), ("leader", "李明")):
        said = pingan("chat", "--as", part, lines=["/whoami"])
        assert name in said, said
    assert "我的任务" in pingan("chat", "--user", "岩温")


async def _menu_with_location(inbound: Inbound) -> Answer:
    buttons = (
        (Button("button.share_location", "x:1", "location"), Button("button.cancel", "x:2")),
    )
    return Answer(replies=[Reply("report.ask_location", {}, buttons)], locale="zh_CN")


def test_the_location_button_in_a_terminal_says_to_type_it() -> None:
    out = io.StringIO()
    seen: list[Inbound] = []

    async def handle(inbound: Inbound) -> Answer:
        seen.append(inbound)
        return await _menu_with_location(inbound)

    channel = ConsoleChannel("me", handle, out=out)

    async def go() -> None:
        await channel.say("/report")
        await channel.say("1")  # the 📍 button's number
        await channel.say("/loc 22.01,100.80")

    asyncio.run(go())
    text = out.getvalue()
    assert "[1] 📍 位置：输入 /loc 纬度,经度，或直接输入地名" in text
    assert "发送我的位置" not in text  # a phone's words, not a terminal's
    assert "终端里没有定位按钮。请输入 /loc 纬度,经度" in text
    # The number went nowhere; the typed location did.
    assert [i.kind for i in seen] == ["text", "location"]
    assert seen[1].location is not None and seen[1].location.latitude == 22.01
