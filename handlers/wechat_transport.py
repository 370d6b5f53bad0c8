"""Outbox delivery to WeChat as customer-service messages, with WeChat's rules.

WeChat has no buttons in customer-service messages: choices become numbered lines and the
person answers with the number (`numbered_choices`, shared with the callback). A customer-
service message may only go to someone who wrote to us in the last 48 hours, and only a few
per message of theirs; outside that window a notice goes as a template message when one is
configured for its purpose, and otherwise waits (DeliveryWaiting) until the person writes.
"""

from __future__ import annotations

import base64
import logging

import aiohttp

from dispatch import outbox
from dispatch.messages import Reply
from dispatch.payloads import Nav, parse
from handlers.sender import (
    DeliveryBlocked,
    DeliveryFailed,
    DeliveryRetry,
    DeliveryWaiting,
    Outgoing,
)
from handlers.wechat_api import (
    MAX_TEXT_BYTES,
    TOKEN_REJECTED,
    WeChatAPI,
    WeChatAPIError,
    split_utf8,
)
from locales import text as render

log = logging.getLogger(__name__)

CHANNEL = "wechat"
# 45015: the person has not written to us in 48 hours; 45047: too many customer-service
# messages since they last wrote. Both clear when they write again.
OUTSIDE_WINDOW = frozenset({45015, 45047})
# 43004: not (or no longer) following the account; 43019: we are on their blacklist.
BLOCKED = frozenset({43004, 43019})
# -1: WeChat busy; 45009: API call quota reached; a token still refused after renewal.
TRANSIENT = frozenset({-1, 45009} | TOKEN_REJECTED)
# How long the current OutboxSender, which does not know DeliveryWaiting, holds a notice
# before trying again (see DeliveryWaiting).
WAITING_RETRY_SECONDS = 1800
TEMPLATE_TITLE_CHARS = 64
# Bytes kept free in each text part of a notice for the "sent again" marker.
MARKER_ROOM_BYTES = 300
TEMPLATE_REMARK_CHARS = 100


def numbered_choices(reply: Reply, locale: str) -> tuple[str, list[str]]:
    """The reply's text, in the words of a channel without buttons, with its choice buttons
    as numbered lines, and the payloads in that order (payloads[0] is what "1" means).

    Location and contact buttons are left out: on WeChat the person sends a location from
    the chat's "+" panel, or types the phone number. A question answered in words numbers
    nothing, so that a typed "1" is an answer: its back and cancel are named in words (its
    shortcuts are named in its own text).
    """
    text = render(reply.text_key, locale, reply.params, typed=True)
    if reply.free_text:
        if any(isinstance(parse(b.payload), Nav) for row in reply.buttons for b in row):
            text = f"{text}\n\n{render('nav.in_words', locale)}"
        return text, []
    payloads: list[str] = []
    lines: list[str] = []
    for row in reply.buttons:
        for button in row:
            if button.kind != "choice":
                continue
            payloads.append(button.payload)
            label = render(button.text_key, locale, button.params, typed=True)
            lines.append(f"{len(payloads)}. {label}")
    if lines:
        hint = render("wechat.reply_with_number", locale, {"choices": "\n".join(lines)})
        text = f"{text}\n\n{hint}"
    return text, payloads


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class WeChatTransport:
    """Outbox delivery over the WeChat customer-service and template message APIs."""

    channel = CHANNEL

    def __init__(self, api: WeChatAPI, templates: dict[str, str] | None = None) -> None:
        self.api = api
        # notice purpose → template id, for notices that must reach people outside the
        # 48-hour window (e.g. {"offer": "...", "accepted": "..."}).
        self.templates = templates or {}

    async def deliver(self, out: Outgoing) -> str:
        """Send the images, then the text's pieces (WeChat takes 2048 bytes a message),
        each a part: a retry resumes at `out.progress.start`. Returns a reference to what was
        sent.

        Outcomes: sent as customer-service messages ("cs:<notice id>"); outside the
        window, sent as a template message ("tpl:<msgid>") or DeliveryWaiting; the person
        unfollowed or blacklisted us: DeliveryBlocked; network trouble, WeChat busy or
        quota reached: DeliveryRetry; anything else WeChat refuses: DeliveryFailed.
        """
        chat_ref, reply, locale, notice_id = out.chat_ref, out.reply, out.locale, out.notice_id
        progress = out.progress
        text, _ = numbered_choices(reply, locale)
        images = [item for item in reply.media if item.startswith("png:")]
        for item in reply.media:
            if not item.startswith("png:"):
                log.warning("notice %s: media %r not supported", notice_id, item[:16])
        # Room is kept for the "sent again" marker, so that the parts come out the same on
        # every try, marked or not.
        texts = split_utf8(text, MAX_TEXT_BYTES - MARKER_ROOM_BYTES) or ["…"]
        total = len(images) + len(texts)
        marker = render("outbox.resent", locale) if progress.resent else None
        try:
            try:
                for index in range(progress.start, total):
                    if index < len(images):
                        media_id = await self.api.upload_image(base64.b64decode(images[index][4:]))
                        await self.api.send_image(chat_ref, media_id)
                    else:
                        part = texts[index - len(images)]
                        if marker is not None:
                            part, marker = f"{marker}\n{part}", None
                        await self.api.send_text(chat_ref, part)
                    await progress.sent(index, f"cs:{notice_id}", last=index == total - 1)
            except WeChatAPIError as exc:
                if exc.errcode not in OUTSIDE_WINDOW:
                    raise
                if progress.done > 0:
                    # Part of it got through before the window closed: the rest waits
                    # for the person (a template would repeat what they already have).
                    raise DeliveryWaiting(WAITING_RETRY_SECONDS, f"wechat {exc}") from exc
                return await self._outside_window(chat_ref, text, notice_id, exc)
        except WeChatAPIError as exc:
            raise _translate(exc) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryRetry(0, f"wechat unreachable: {type(exc).__name__}") from exc
        return f"cs:{notice_id}"

    async def _outside_window(
        self, chat_ref: str, text: str, notice_id: int, cause: WeChatAPIError
    ) -> str:
        """A template message if this notice's purpose has one, else DeliveryWaiting."""
        info = None
        if notice_id and self.templates:
            async with self.api.sessions() as session, session.begin():
                info = await outbox.notice_info(session, notice_id)
        template_id = self.templates.get(info.purpose) if info is not None else None
        if info is None or template_id is None:
            raise DeliveryWaiting(WAITING_RETRY_SECONDS, f"wechat {cause}")
        title, _, rest = text.partition("\n")
        data = {
            "first": _shorten(title, TEMPLATE_TITLE_CHARS),
            "keyword1": info.case_number or "-",
            "remark": _shorten(" ".join(rest.split()), TEMPLATE_REMARK_CHARS),
        }
        try:
            msgid = await self.api.send_template(chat_ref, template_id, data)
        except WeChatAPIError as exc:
            if exc.errcode in BLOCKED or exc.errcode in TRANSIENT:
                raise
            # A template the account lacks (or one WeChat refuses) must not lose the
            # notice: it waits for the person to write instead.
            log.warning("notice %s: template %s refused: %s", notice_id, template_id, exc)
            reason = f"wechat {cause}; template refused: {exc}"
            raise DeliveryWaiting(WAITING_RETRY_SECONDS, reason) from exc
        return f"tpl:{msgid}"


def _translate(exc: WeChatAPIError) -> Exception:
    if exc.errcode in BLOCKED:
        return DeliveryBlocked(str(exc))
    if exc.errcode in TRANSIENT:
        return DeliveryRetry(0, f"wechat {exc}")
    return DeliveryFailed(f"wechat {exc}")
