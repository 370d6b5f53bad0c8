"""Telegram, through aiogram: updates become Inbound, Replies become Bot API calls.

Telegram's limits live here: 4096 characters a message, 64 bytes of callback data, and
location/contact requests only on reply keyboards (never inline).
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from aiogram import Bot, Router
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)

from dialogs.base import Answer
from dispatch.messages import Inbound, Location, Reply
from handlers.sender import (
    DeliveryBlocked,
    DeliveryFailed,
    DeliveryRateLimited,
    DeliveryRetry,
    Outgoing,
)
from locales import text as render

log = logging.getLogger(__name__)

CHANNEL = "telegram"
MAX_TEXT = 4096
MAX_CALLBACK = 64
# Characters kept free in each part of a notice for the "sent again" marker.
MARKER_ROOM = 200

Handle = Callable[[Inbound], Awaitable[Answer]]
Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | None


def inbound_from_message(message: Message) -> Inbound:
    user = message.from_user
    base: dict[str, Any] = {
        "channel": CHANNEL,
        "user_ref": str(user.id if user else message.chat.id),
        "chat_ref": str(message.chat.id),
        "display_name": (user.full_name if user else "")[:64],
        "language": user.language_code if user else None,
        "reply_to": str(message.reply_to_message.message_id) if message.reply_to_message else None,
    }
    if message.location is not None:
        loc = Location(message.location.latitude, message.location.longitude)
        return Inbound(kind="location", location=loc, **base)
    if message.photo:
        # Telegram sends several sizes; the last is the largest.
        return Inbound(
            kind="photo", media=(message.photo[-1].file_id,), text=message.caption or "", **base
        )
    if message.contact is not None:
        owner = message.contact.user_id
        return Inbound(
            kind="contact",
            text=message.contact.phone_number,
            contact_user_ref=str(owner) if owner is not None else None,
            **base,
        )
    if message.text is not None:
        return Inbound(kind="text", text=message.text, **base)
    return Inbound(kind="unsupported", **base)


def inbound_from_callback(query: CallbackQuery) -> Inbound:
    chat_id = query.message.chat.id if query.message is not None else query.from_user.id
    return Inbound(
        channel=CHANNEL,
        user_ref=str(query.from_user.id),
        chat_ref=str(chat_id),
        kind="choice",
        choice=(query.data or "")[:MAX_CALLBACK],
        display_name=query.from_user.full_name[:64],
        language=query.from_user.language_code,
    )


def render_markup(reply: Reply, locale: str) -> Markup:
    if not reply.buttons:
        return ReplyKeyboardRemove() if reply.remove_keyboard else None
    if reply.device_buttons:
        # A location or contact request exists only on a reply keyboard, and a message
        # carries one keyboard: every button goes on it as words, which come back as text.
        # The dialog matches a choice's words, and the router takes "⬅️ 上一步" / "✖️ 取消"
        # as back and cancel, so navigation stays on these steps too.
        rows = [
            [
                KeyboardButton(
                    text=render(b.text_key, locale, b.params),
                    request_location=b.kind == "location" or None,
                    request_contact=b.kind == "contact" or None,
                )
                for b in row
            ]
            for row in reply.buttons
        ]
        return ReplyKeyboardMarkup(
            keyboard=[r for r in rows if r], resize_keyboard=True, one_time_keyboard=True
        )
    inline = []
    for row in reply.buttons:
        buttons = []
        for b in row:
            if len(b.payload.encode()) > MAX_CALLBACK:
                log.error("callback payload over 64 bytes dropped: %r", b.payload)
                continue
            buttons.append(
                InlineKeyboardButton(
                    text=render(b.text_key, locale, b.params), callback_data=b.payload
                )
            )
        if buttons:
            inline.append(buttons)
    return InlineKeyboardMarkup(inline_keyboard=inline)


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Cut a long message at line breaks where possible (Telegram takes 4096 characters)."""
    text = text or "…"
    parts: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        cut = cut if cut > limit // 2 else limit
        parts.append(text[:cut])
        text = text[cut:].lstrip("\n")
    parts.append(text)
    return parts


async def send_reply(bot: Bot, chat_id: int | str, reply: Reply, locale: str) -> Message:
    """Send one Reply: its images first, then the text; buttons go on the last part."""
    for item in reply.media:
        if item.startswith("png:"):
            picture = BufferedInputFile(base64.b64decode(item[4:]), filename="daily-chart.png")
            await bot.send_photo(chat_id, picture)
    parts = split_text(render(reply.text_key, locale, reply.params))
    message: Message | None = None
    for i, part in enumerate(parts):
        markup = render_markup(reply, locale) if i == len(parts) - 1 else None
        message = await bot.send_message(chat_id, part, reply_markup=markup)
    assert message is not None
    return message


class TelegramTransport:
    """Outbox delivery over the Bot API, part by part (images, then the text's pieces), so
    that a retry resumes where the last try stopped."""

    channel = CHANNEL

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def deliver(self, out: Outgoing) -> str:
        """Outcomes: sent (the last part's message id, "" if every part was sent before);
        429: DeliveryRateLimited (a wait); blocked (403): DeliveryBlocked; a request
        Telegram refuses (400): DeliveryFailed; network trouble or 5xx: DeliveryRetry."""
        reply, locale, progress = out.reply, out.locale, out.progress
        chat_id = int(out.chat_ref)
        pictures = [item for item in reply.media if item.startswith("png:")]
        # Room is kept for the "sent again" marker, so that the parts come out the same on
        # every try, marked or not.
        texts = split_text(render(reply.text_key, locale, reply.params), MAX_TEXT - MARKER_ROOM)
        # As for a direct reply: a keyboard to remove before inline buttons needs a message.
        closing = reply.remove_keyboard and bool(reply.buttons)
        if closing:
            texts.insert(0, render("telegram.keyboard_closed", locale))
        total = len(pictures) + len(texts)
        marker = render("outbox.resent", locale) if progress.resent else None
        ref = ""
        try:
            for index in range(progress.start, total):
                if index < len(pictures):
                    data = base64.b64decode(pictures[index][4:])
                    picture = BufferedInputFile(data, filename="daily-chart.png")
                    message = await self.bot.send_photo(chat_id, picture)
                else:
                    text = texts[index - len(pictures)]
                    if marker is not None:
                        text, marker = f"{marker}\n{text}", None
                    markup: Markup = None
                    if index == total - 1:
                        markup = render_markup(reply, locale)
                    elif closing and index == len(pictures):
                        markup = ReplyKeyboardRemove()
                    message = await self.bot.send_message(chat_id, text, reply_markup=markup)
                ref = str(message.message_id)
                await progress.sent(index, ref, last=index == total - 1)
        except TelegramRetryAfter as exc:
            raise DeliveryRateLimited(
                exc.retry_after, f"429 retry after {exc.retry_after}"
            ) from exc
        except TelegramForbiddenError as exc:
            raise DeliveryBlocked(exc.message) from exc
        except TelegramBadRequest as exc:
            raise DeliveryFailed(f"400 {exc.message}") from exc
        except TelegramServerError as exc:
            raise DeliveryRetry(0, f"5xx {exc.message}") from exc
        except TelegramNetworkError as exc:
            raise DeliveryRetry(0, f"network: {exc.message}") from exc
        except TelegramAPIError as exc:
            # Anything else Telegram answers (401 a revoked token, 409, 404): the notice is
            # fine, the bot is not; keep it and try again until the horizon.
            raise DeliveryRetry(0, f"telegram {type(exc).__name__}: {exc.message}") from exc
        return ref


SendLater = Callable[[Answer, str, list[Reply], str], Awaitable[None]]


class RedeliverUpdate(Exception):
    """Raised out of a handler so that the webhook answers 500 and Telegram sends the update
    again: nothing was committed (the database was unavailable)."""


async def _no_queue(answer: Answer, chat_ref: str, replies: list[Reply], key: str) -> None:
    log.warning("%d replies to person %s not sent and not queued", len(replies), answer.person_id)


async def _send_part_by_part(bot: Bot, chat_id: int, reply: Reply, locale: str) -> Reply | None:
    """Send one reply directly, as send_reply does; on an error worth retrying, return what
    is left of it to queue (None when it all went out).

    What is left: the images not sent yet, or the text from the part that failed on, with
    the buttons, so that a retry never repeats a part that arrived.

    A reply that must remove the reply keyboard but carries inline buttons (a message holds
    one markup) is preceded by a short message that removes it.
    """
    if reply.remove_keyboard and reply.buttons:
        try:
            await bot.send_message(
                chat_id,
                render("telegram.keyboard_closed", locale),
                reply_markup=ReplyKeyboardRemove(),
            )
        except (TelegramForbiddenError, TelegramBadRequest):
            raise
        except Exception as exc:
            log.warning("direct reply to %s not sent (%r); queued", chat_id, exc)
            return reply
        reply = replace(reply, remove_keyboard=False)
    for i, item in enumerate(reply.media):
        if item.startswith("png:"):
            picture = BufferedInputFile(base64.b64decode(item[4:]), filename="daily-chart.png")
            try:
                await bot.send_photo(chat_id, picture)
            except (TelegramForbiddenError, TelegramBadRequest):
                raise
            except Exception as exc:
                log.warning("direct reply to %s not sent (%r); queued", chat_id, exc)
                return replace(reply, media=reply.media[i:])
    parts = split_text(render(reply.text_key, locale, reply.params))
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        try:
            await bot.send_message(
                chat_id, part, reply_markup=render_markup(reply, locale) if last else None
            )
        except (TelegramForbiddenError, TelegramBadRequest):
            raise
        except Exception as exc:  # 429, 5xx, network: the sender retries with the notice rules
            log.warning("direct reply to %s not sent (%r); queued", chat_id, exc)
            if i == 0:
                return replace(reply, media=())
            rest = "\n".join(parts[i:])
            return replace(reply, text_key="label.raw", params={"text": rest}, media=())
    return None


def setup(
    handle: Handle,
    on_handled: Callable[[], None] = lambda: None,
    *,
    send_later: SendLater = _no_queue,
    redelivers: bool = False,
) -> Router:
    """The one router: every message and button tap goes to the channel-neutral dialogs.

    Each update is handled once: its key (bot and update_id) is recorded in the message's
    unit of work (dialogs.router.handle), so a copy Telegram sends again gets no answer.

    Replies go out directly. When one fails with a 429, a 5xx or a network error, it (what
    is left of it) and every reply after it are handed to `send_later`, in order, which
    queues them in the outbox as purpose "reply": the sender retries them with the notice
    rules, honouring retry_after, and never holds them for quiet hours. We do not wait out
    a retry_after here, however short: in webhook mode Telegram is waiting for our 200, and
    the sender already paces by chat.

    `redelivers` (webhook mode): when the database was unavailable, raise RedeliverUpdate,
    so the webhook answers 500 and Telegram sends the update again, instead of apologising.
    """
    router = Router(name="pingan")

    async def answer(bot: Bot, chat_id: int, result: Answer, key: str) -> None:
        if result.retry_later and redelivers:
            raise RedeliverUpdate(key)
        replies = list(result.replies)
        for i, reply in enumerate(replies):
            try:
                rest = await _send_part_by_part(bot, chat_id, reply, result.locale)
            except TelegramForbiddenError:
                break  # blocked: the sender marks it when a notice meets the same
            except TelegramBadRequest as exc:
                log.error("Telegram refused a reply (%s): %s", reply.text_key, exc.message)
                continue
            if rest is not None:
                await send_later(result, str(chat_id), [rest, *replies[i + 1 :]], key)
                break
        on_handled()

    def key_of(bot: Bot, update: Update) -> str:
        # update_ids are the bot's own sequence: another bot (a new token) starts its own.
        return f"tg:{bot.id}:{update.update_id}"

    @router.message()
    async def on_message(message: Message, bot: Bot, event_update: Update) -> None:
        if message.chat.type != "private":
            return  # the bot works in private chats only: reports name people
        key = key_of(bot, event_update)
        inbound = replace(inbound_from_message(message), update_key=key)
        result = await handle(inbound)
        await answer(bot, message.chat.id, result, key)

    @router.callback_query()
    async def on_callback(query: CallbackQuery, bot: Bot, event_update: Update) -> None:
        # Stop the button's spinner first; the answer itself comes as messages. A copy of the
        # update (Telegram resending it) finds the query answered: that must not stop us.
        try:
            await query.answer()
        except Exception as exc:
            log.info("callback query not answered: %r", exc)
        if query.message is None:
            return
        key = key_of(bot, event_update)
        result = await handle(replace(inbound_from_callback(query), update_key=key))
        await answer(bot, query.message.chat.id, result, key)

    return router
