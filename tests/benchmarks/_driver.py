"""Drive whole report dialogs through the stand-in Bot API, many users at once.

Shared by ``bench_conversations`` (bot in this process) and ``bench_run`` (the real
``pingan run`` in a child process); ``bench_faults`` and ``bench_run`` share the helpers that
start ``pingan`` commands.  Unlike ``tests/telegram_harness.py``, which waits on a
global "handled" counter (fine for one user at a time, wrong under concurrency), every
exchange here waits for *its own* chat's final reply: the first ``sendMessage`` to that chat,
after the push, that carries keyboard buttons or the expected text (or is an error).

Expected texts and button labels are taken from the message catalog, so a copy edit does
not break the benchmark, while a wrong reply still fails it loudly.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from locales import catalog
from tests.fakes.telegram_api import ApiCall, FakeTelegramAPI

GRID = "532801001001G01"  # a village grid in 曼听社区 (demo org)
VILLAGE_MEDIATION = "U532801001001-TJ"  # its mediation committee

# Realistic reports of different kinds, so that the classifier does real work (jieba
# segmentation, phrase and risk cues) and routing varies with the category and risk.
REPORTS = (
    "隔壁装修天天吵，晚上十点还在砸墙",
    "老板拖欠我们三个月工资一直不给，工地上十几个人都没拿到钱",
    "邻居把围墙往我家地里砌了半米，说了几次都不听",
    "我和老公闹离婚，孩子抚养费谈不拢，婆家天天上门吵",
    "楼上漏水把我家天花板泡坏了，物业和楼上互相推",
    "村里分征地补偿款，我们组有几户没分到，去村委会问了也没人管",
    "在网上买的电动车骑了一周就坏了，商家不给退也不给修",
    "兄弟两个为老人的宅基地分家吵起来了，差点动手",
    "橡胶地的边界和隔壁寨子的人说不清，两边都说是自己的",
    "租的房子到期了房东不退押金，还说我弄坏了墙",
    "他欠我两万块钱借了一年不还，打电话也不接",
    "出了车祸对方不肯赔医药费，交警说让我们自己协商",
)

#: Messages one citizen sends to complete a report begun from a grid's QR code.
MESSAGES_PER_DIALOG = 8

_NUMBER = re.compile(r"\d{4}-\d{6}")


def _zh(key: str) -> str:
    """A message of the zh_CN catalog up to its first parameter: enough to recognise it."""
    template = catalog("zh_CN").get(key)
    if template is None:
        raise KeyError(f"zh_CN catalog has no {key!r}")
    head = template.split("{", 1)[0].strip()
    return head or template


ERROR_TEXT = _zh("error.internal")
EXPECT_DESCRIBE = _zh("report.ask_describe")
EXPECT_CONFIRM = _zh("report.ask_confirm_category")
EXPECT_PICK = _zh("report.ask_pick_category")
EXPECT_LIKELY = _zh("report.ask_likely_category")
EXPECT_PEOPLE = _zh("report.ask_people")
EXPECT_DANGER = _zh("report.ask_danger")
EXPECT_PHOTOS = _zh("report.ask_photos")
EXPECT_CONTACT = _zh("report.ask_contact")
EXPECT_SUMMARY = _zh("report.summary")
EXPECT_MENU = _zh("menu.title")
EXPECT_RECEIPT = _zh("report.receipt")
EXPECT_BOUND = _zh("bind.done")
LABEL_YES = _zh("button.yes_right")
LABEL_TWO = _zh("people.2")
LABEL_NO_DANGER = _zh("danger.none")
LABEL_PHOTOS_DONE = _zh("button.photos_done")
LABEL_ANONYMOUS = _zh("button.anonymous")
LABEL_SUBMIT = _zh("button.submit")


class DialogFailed(Exception):
    """The bot answered wrongly, failed a Bot API call, or did not answer in time."""


@dataclass(slots=True)
class Exchange:
    step: str
    latency: float  # push → the final reply reached the stand-in API, seconds
    calls: list[ApiCall]  # what the bot sent to this chat for this message


@dataclass
class Conversation:
    """One Telegram user talking to the bot; records every exchange.

    Updates are queued for the bot's getUpdates, or, with `post`, handed to it (a webhook
    POST to one of several web processes, say)."""

    fake: FakeTelegramAPI
    user_id: int
    timeout: float = 30.0
    exchanges: list[Exchange] = field(default_factory=list)
    post: Callable[[dict[str, Any]], Awaitable[object]] | None = None

    async def _push(self, step: str, update: dict, expect: Sequence[str]) -> list[ApiCall]:
        fake, user = self.fake, self.user_id

        def is_final(call: ApiCall) -> bool:
            if call.failed:
                return True
            if call.method != "sendMessage":
                return False
            text = call.text
            return (
                bool(fake.buttons(call))
                or ERROR_TEXT in text
                or any(fragment in text for fragment in expect)
            )

        start = len(fake.sent(user))
        pushed = time.monotonic()
        since: int | None = None
        if self.post is None:
            fake.push_update(update)
        else:
            since = len(fake.calls)
            await self.post(update)
        try:
            final = await fake.wait_for(is_final, self.timeout, chat_id=user, since=since)
        except TimeoutError as exc:
            raise DialogFailed(f"user {user} step {step}: no reply: {exc}") from None
        if final.failed:
            raise DialogFailed(
                f"user {user} step {step}: {final.method} failed: {final.description}"
            )
        calls = fake.sent(user)[start:]
        if not any(fragment in final.text for fragment in expect):
            raise DialogFailed(
                f"user {user} step {step}: expected one of {list(expect)!r}, "
                f"got {[c.text[:80] for c in calls]!r}"
            )
        self.exchanges.append(Exchange(step, final.at - pushed, calls))
        return calls

    async def says(self, step: str, text: str, expect: str | Sequence[str]) -> list[ApiCall]:
        expected = (expect,) if isinstance(expect, str) else tuple(expect)
        return await self._push(step, self.fake.text_update(self.user_id, text), expected)

    async def taps(
        self, step: str, in_calls: list[ApiCall], label: str | None, expect: str | Sequence[str]
    ) -> list[ApiCall]:
        """Tap the inline button labelled `label` (None: the first one) the bot sent."""
        expected = (expect,) if isinstance(expect, str) else tuple(expect)
        return await self._push(step, self.button_update(step, in_calls, label), expected)

    def button_update(
        self, step: str, in_calls: list[ApiCall], label: str | None
    ) -> dict[str, Any]:
        """The update of a tap on the inline button labelled `label` (None: the first)."""
        for exact in (True, False):
            for call in reversed(in_calls):
                for row in self.fake.buttons(call):
                    for text, data in row:
                        if data in ("", "request_location", "request_contact"):
                            continue  # not an inline button
                        if label is None or (text == label if exact else label in text):
                            return self.fake.callback_update(
                                self.user_id, data, message_id=call.result["message_id"]
                            )
        raise DialogFailed(
            f"user {self.user_id} step {step}: no button {label!r} in "
            f"{[c.text[:60] for c in in_calls]!r}"
        )


async def report_dialog(talk: Conversation, description: str, grid: str = GRID) -> str:
    """A citizen's whole report from a QR code; returns the case number from the receipt."""
    sent = await report_up_to_summary(talk, description, grid)
    sent = await talk.taps("submit", sent, LABEL_SUBMIT, EXPECT_MENU)
    receipt = next((c for c in sent if EXPECT_RECEIPT in c.text), None)
    number = _NUMBER.search(receipt.text) if receipt is not None else None
    if number is None:
        raise DialogFailed(
            f"user {talk.user_id}: no receipt with a case number in {[c.text[:80] for c in sent]!r}"
        )
    return number.group(0)


async def report_up_to_summary(
    talk: Conversation, description: str, grid: str = GRID
) -> list[ApiCall]:
    """A citizen's report from a QR code up to its summary; returns what the last step sent
    (the summary with its submit button)."""
    sent = await talk.says("start", f"/start g_{grid}", EXPECT_DESCRIBE)
    sent = await talk.says("describe", description, (EXPECT_CONFIRM, EXPECT_LIKELY, EXPECT_PICK))
    if EXPECT_CONFIRM in sent[-1].text:
        sent = await talk.taps("category", sent, LABEL_YES, EXPECT_PEOPLE)
    else:  # not confident: pick the best-ranked type (first button)
        sent = await talk.taps("category", sent, None, EXPECT_PEOPLE)
    sent = await talk.taps("people", sent, LABEL_TWO, EXPECT_DANGER)
    sent = await talk.taps("danger", sent, LABEL_NO_DANGER, EXPECT_PHOTOS)
    sent = await talk.taps("photos", sent, LABEL_PHOTOS_DONE, EXPECT_CONTACT)
    # The contact step uses a reply keyboard (request_contact): typing the label answers it.
    return await talk.says("contact", LABEL_ANONYMOUS, EXPECT_SUMMARY)


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (same definition as echo_baseline)."""
    if not sorted_values:
        return 0.0
    index = max(0, min(len(sorted_values) - 1, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = [
        "| " + " | ".join(header) + " |",
        "| " + " | ".join("---" for _ in header) + " |",
    ]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


# ---------------------------------------------------------------------- `pingan` processes


def pingan_command() -> str:
    """The `pingan` executable of this venv (else the one on PATH)."""
    beside = Path(sys.executable).with_name("pingan")
    if beside.exists():
        return str(beside)
    found = shutil.which("pingan")
    if found is None:
        raise SystemExit("cannot find the `pingan` command (is the project installed?)")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def run_pingan(env: dict[str, str], cwd: str, *args: str) -> str:
    """`pingan <args>` to the end, its output (stdout and stderr) returned; RuntimeError when
    it fails."""
    proc = await asyncio.create_subprocess_exec(
        pingan_command(),
        *args,
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await proc.communicate()
    out = output.decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"pingan {' '.join(args)} failed ({proc.returncode}):\n{out}")
    return out
