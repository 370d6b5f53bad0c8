"""The console channel: the same dialogs in a terminal, with no token at all.

Buttons are printed numbered; typing the number taps it (except under a question answered
in words, where a number is the answer and back/cancel are said in words). Texts are the
catalogue's words for channels where people type (`typed.`). Notices for the user are printed
as they arrive, each with an id such as #n7, and `>n7 接单` replies to one. `/loc LAT,LON`,
`/photo NAME` and `/contact PHONE` stand in for what a phone would send; `/loc PLACE` is the
place typed, matched like any typed place.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TextIO

from dialogs.base import Answer
from dispatch.messages import Inbound, Location, Reply
from dispatch.payloads import Nav
from dispatch.payloads import parse as parse_payload
from handlers.sender import Outgoing
from locales import text as render

CHANNEL = "console"
Handle = Callable[[Inbound], Awaitable[Answer]]
# A phone's location and contact buttons: in a terminal, their label and what typing their
# number answers say how to send the same by typing.
TYPED_INSTEAD = {
    "location": ("console.location_button", "console.location_hint"),
    "contact": ("console.contact_button", "console.contact_hint"),
}


class ConsoleChannel:
    def __init__(
        self,
        user: str,
        handle: Handle,
        out: TextIO | None = None,
        chart_dir: Path = Path("charts"),
    ) -> None:
        self.user = user
        self.handle = handle
        self.out = out if out is not None else sys.stdout  # read now: tests swap it
        self.chart_dir = chart_dir
        self.buttons: list[str] = []  # payloads of the last numbered buttons
        # Their kinds: a terminal cannot share a location or a phone number the way a
        # phone's button does, so typing such a button's number explains /loc or /contact.
        self.kinds: list[str] = []
        self.locale = "zh_CN"
        # Shown again after a notice printed while the user was typing ("" while a line
        # is being handled: the answer follows, then the prompt).
        self.prompt = ""

    # rendering -----------------------------------------------------------------------------

    def show(self, reply: Reply, locale: str, prefix: str = "") -> None:
        for item in reply.media:
            if item.startswith("png:"):
                # A terminal shows no pictures: the chart goes to a file beside the database.
                data = base64.b64decode(item[4:])
                path = self.chart_dir / f"chart-{hashlib.sha1(data).hexdigest()[:10]}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
                self.out.write(f"{prefix}[chart: {path}]\n")
        # A terminal has no buttons to tap: the words of a channel where people type.
        self.out.write(prefix + render(reply.text_key, locale, reply.params, typed=True) + "\n")
        if reply.free_text:
            # A question answered in words numbers nothing: "1" typed there is the answer,
            # not its back button; back and cancel are said in words.
            self.buttons, self.kinds = [], []
            if any(isinstance(parse_payload(b.payload), Nav) for row in reply.buttons for b in row):
                self.out.write("  " + render("nav.in_words", locale) + "\n")
            self.out.flush()
            return
        labels = []
        payloads = []
        kinds: list[str] = []
        for row in reply.buttons:
            for button in row:
                if button.kind in TYPED_INSTEAD:
                    label = render(TYPED_INSTEAD[button.kind][0], locale)
                else:
                    label = render(button.text_key, locale, button.params, typed=True)
                payloads.append(button.payload)
                kinds.append(button.kind)
                labels.append(f"[{len(payloads)}] {label}")
        if labels:
            self.buttons = payloads
            self.kinds = kinds
            self.out.write("  " + "  ".join(labels) + "\n")
        self.out.flush()

    # console as an outbox transport --------------------------------------------------------

    channel = CHANNEL

    async def deliver(self, out: Outgoing) -> str:
        # The notice's own id: unique across chat sessions, so ">n7 接单" is never ambiguous.
        ref = f"n{out.notice_id}"
        if out.progress.start > 0:
            return ref  # shown already (the console prints a notice as one part)
        self.show(out.reply, out.locale, prefix=f"\n🔔 [#{ref}] ")
        if self.prompt:
            self.out.write(self.prompt)
            self.out.flush()
        return ref

    # input ----------------------------------------------------------------------------------

    def parse(self, line: str) -> Inbound:
        line = line.rstrip("\n")
        base = {
            "channel": CHANNEL,
            "user_ref": self.user,
            "chat_ref": self.user,
            "display_name": self.user,
            "language": "zh-hans" if self.locale == "zh_CN" else "en",
        }
        stripped = line.strip()
        if stripped.isdigit() and 1 <= int(stripped) <= len(self.buttons):
            return Inbound(kind="choice", choice=self.buttons[int(stripped) - 1], **base)  # type: ignore[arg-type]
        if stripped.startswith(">"):
            ref, _, rest = stripped[1:].partition(" ")
            return Inbound(kind="text", text=rest, reply_to=ref.lstrip("#"), **base)  # type: ignore[arg-type]
        if stripped.startswith("/loc "):
            try:
                lat, lon = (float(x) for x in stripped[5:].replace("，", ",").split(",", 1))
            except ValueError:
                # `/loc 嘎洒镇曼景保村`: a place name is what a person would type, and goes
                # through the same matching against the organisation's names.
                return Inbound(kind="text", text=stripped[5:].strip(), **base)  # type: ignore[arg-type]
            return Inbound(kind="location", location=Location(lat, lon), **base)  # type: ignore[arg-type]
        if stripped.startswith("/photo"):
            name = stripped[6:].strip() or "photo"
            return Inbound(kind="photo", media=(f"console:{name}",), **base)  # type: ignore[arg-type]
        if stripped.startswith("/contact "):
            # Stands in for the phone's "share my number" button: the sender's own.
            return Inbound(
                kind="contact",
                text=stripped[9:].strip(),
                contact_user_ref=self.user,
                **base,  # type: ignore[arg-type]
            )
        return Inbound(kind="text", text=line, **base)  # type: ignore[arg-type]

    def console_only(self, line: str) -> str | None:
        """The key of what the console itself answers to `line`, or None: the number of a
        location or phone button, which a terminal cannot tap (the same buttons stay)."""
        stripped = line.strip()
        if stripped.isdigit() and 1 <= int(stripped) <= len(self.buttons):
            kind = self.kinds[int(stripped) - 1] if int(stripped) <= len(self.kinds) else ""
            if kind in TYPED_INSTEAD:
                return TYPED_INSTEAD[kind][1]
        return None

    async def say(self, line: str) -> Answer:
        hint = self.console_only(line)
        if hint is not None:
            self.out.write(render(hint, self.locale, {}) + "\n")
            self.out.flush()
            return Answer(replies=[], locale=self.locale)
        answer = await self.handle(self.parse(line))
        self.locale = answer.locale
        for reply in answer.replies:
            self.show(reply, answer.locale)
        return answer


async def read_lines(prompt: str) -> Callable[[], Awaitable[str | None]]:
    loop = asyncio.get_running_loop()

    async def next_line() -> str | None:
        def read() -> str | None:
            try:
                return input(prompt)
            except EOFError:
                return None

        return await loop.run_in_executor(None, read)

    return next_line
