"""A stand-in Telegram Bot API HTTP server for tests.

The real aiogram ``Bot`` talks to it over HTTP exactly as it would talk to
``api.telegram.org``; see ``tests/fakes/README.md`` for usage.  Everything runs on
the test's event loop and is not thread-safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tests.fakes._server import LocalServer, Waiter, due_failure, notify_waiters, wait_in

if TYPE_CHECKING:
    from aiogram import Bot
    from aiogram.client.session.aiohttp import AiohttpSession

JsonDict = dict[str, Any]

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_MEDIA_GROUP = 10

#: Methods whose successful calls count as "sent to the user" (see ``sent()``).
SENT_METHODS = frozenset(
    {"sendMessage", "sendPhoto", "sendMediaGroup", "sendLocation", "editMessageText"}
)

# Form values arrive as strings.  aiogram JSON-encodes everything that is not a str
# (ints, floats, bools, dicts, lists), so every field is JSON-decoded when it looks
# like JSON -- except these, which Telegram defines as strings and which must stay
# strings even when they look like numbers (a user may well send the text "42").
_STRING_FIELDS = frozenset(
    {
        "action",
        "address",
        "animation",
        "audio",
        "business_connection_id",
        "callback_query_id",
        "caption",
        "certificate",
        "currency",
        "custom_emoji_id",
        "description",
        "document",
        "emoji",
        "explanation",
        "file_id",
        "first_name",
        "foursquare_id",
        "foursquare_type",
        "game_short_name",
        "google_place_id",
        "google_place_type",
        "inline_message_id",
        "invite_link",
        "ip_address",
        "language_code",
        "last_name",
        "message_effect_id",
        "name",
        "parse_mode",
        "payload",
        "phone_number",
        "photo",
        "provider_token",
        "question",
        "secret_token",
        "short_description",
        "start_parameter",
        "sticker",
        "text",
        "thumbnail",
        "title",
        "url",
        "vcard",
        "video",
        "video_note",
        "voice",
    }
)
_JSON_SCALAR = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?|true|false|null")

_INLINE_BUTTON_ACTIONS = (
    "callback_data",
    "url",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
_HTML_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "tg-emoji",
        "code",
        "pre",
        "blockquote",
    }
)
_HTML_ENTITY = re.compile(r"&(lt|gt|amp|quot|#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6});")
_HTML_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_HTML_SPECIAL = re.compile(r"[<&]")
_HTML_TAG_NAME = re.compile(r"[^\s>/]*")
_BOT_COMMAND = re.compile(r"/[A-Za-z0-9_]{1,32}(@[A-Za-z0-9_]+)?")
_COMMAND_NAME = re.compile(r"[a-z0-9_]{1,32}")

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)
QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"


@dataclass(slots=True)
class ApiCall:
    """One request the bot made.  ``params`` are decoded (JSON fields parsed, ints as ints)."""

    method: str
    params: dict[str, Any]
    at: float  # time.monotonic() when the request reached the server
    failed: bool = False
    error_code: int | None = None
    description: str | None = None
    result: Any = None  # the "result" returned to the bot (None when failed)
    files: dict[str, bytes] = field(default_factory=dict)  # multipart uploads by field name

    @property
    def chat_id(self) -> int | None:
        chat_id = self.params.get("chat_id")
        return chat_id if isinstance(chat_id, int) else None

    @property
    def text(self) -> str:
        """``text``, else ``caption``, else the first caption in a media group, else ``""``."""
        for key in ("text", "caption"):
            value = self.params.get(key)
            if isinstance(value, str):
                return value
        media = self.params.get("media")
        if isinstance(media, list):
            for item in media:
                if isinstance(item, dict) and isinstance(item.get("caption"), str):
                    return str(item["caption"])
        return ""


class ApiError(Exception):
    """Raised by method handlers; becomes ``{"ok": false, ...}`` with that HTTP status."""

    def __init__(self, error_code: int, description: str, retry_after: int | None = None):
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.retry_after = retry_after

    def payload(self) -> JsonDict:
        body: JsonDict = {
            "ok": False,
            "error_code": self.error_code,
            "description": self.description,
        }
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def _bad(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


@dataclass(slots=True)
class _FailRule:
    chat_id: int | None
    error: ApiError
    remaining: int
    skip: int = 0  # matching calls let through before the failures start


_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request",
    500: "Internal Server Error",
    502: "Bad Gateway",
}


def _decode_value(key: str, raw: str) -> Any:
    if key in _STRING_FIELDS or not raw:
        return raw
    if raw[0] in "{[" or _JSON_SCALAR.fullmatch(raw):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def _html_to_text(source: str) -> str:
    """Validate Telegram-HTML like the Bot API does and return the visible text."""
    out: list[str] = []
    stack: list[str] = []
    i, n = 0, len(source)
    while i < n:
        match = _HTML_SPECIAL.search(source, i)
        if match is None:
            out.append(source[i:])
            break
        j = match.start()
        out.append(source[i:j])
        i = j
        if source[i] == "&":
            entity = _HTML_ENTITY.match(source, i)
            if entity is None:
                out.append("&")
                i += 1
                continue
            name = entity.group(1)
            if name in _HTML_NAMED:
                out.append(_HTML_NAMED[name])
            else:
                code = int(name[2:], 16) if name[1] in "xX" else int(name[1:])
                out.append(chr(code) if code <= 0x10FFFF else entity.group(0))
            i = entity.end()
            continue
        offset = len(source[:i].encode())
        end = source.find(">", i)
        closing = source.startswith("</", i)
        if end == -1:
            kind = "end" if closing else "start"
            raise _bad(f"can't parse entities: Unclosed {kind} tag at byte offset {offset}")
        if closing:
            name = source[i + 2 : end].strip().lower()
            if not stack:
                raise _bad(f"can't parse entities: Unexpected end tag at byte offset {offset}")
            if name != stack[-1]:
                raise _bad(
                    f"can't parse entities: Unmatched end tag at byte offset {offset}, "
                    f'expected "</{stack[-1]}>", found "</{name}>"'
                )
            stack.pop()
        else:
            name_match = _HTML_TAG_NAME.match(source, i + 1)
            name = name_match.group(0).lower() if name_match else ""
            if name not in _HTML_TAGS:
                raise _bad(
                    f'can\'t parse entities: Unsupported start tag "{name}" at byte offset {offset}'
                )
            stack.append(name)
        i = end + 1
    if stack:
        raise _bad(
            f"can't parse entities: Can't find end tag corresponding to start tag {stack[-1]}"
        )
    return "".join(out)


def _visible(source: str, parse_mode: Any) -> str:
    if isinstance(parse_mode, str) and parse_mode.lower() == "html":
        return _html_to_text(source)
    # Markdown / MarkdownV2 are not parsed: the raw text is treated as visible text.
    return source


def _update_type(update: JsonDict) -> str:
    return next((key for key in update if key != "update_id"), "")


class FakeTelegramAPI(LocalServer):
    """An in-process HTTP server that speaks enough of the Telegram Bot API for aiogram."""

    #: getUpdates long-polls for at most this many seconds, whatever ``timeout`` asks for.
    max_poll_timeout: float = 1.0

    def __init__(
        self,
        token: str = "123456:TEST-TOKEN",
        bot_id: int = 123456,
        bot_username: str = "pingan_test_bot",
    ) -> None:
        self.token = token
        self.bot_id = bot_id
        self.bot_username = bot_username
        self.bot_user: JsonDict = {
            "id": bot_id,
            "is_bot": True,
            "first_name": "平安测试机器人",
            "username": bot_username,
        }
        self.base_url = ""
        self.calls: list[ApiCall] = []
        self.commands: dict[str, list[JsonDict]] = {}  # key: json(scope)+"|"+language_code
        self.webhook_url = ""
        self.file_contents: dict[str, bytes] = {}  # file_id -> bytes served by /file/...

        self._sent: list[ApiCall] = []
        self._sent_by_chat: dict[int, list[ApiCall]] = {}
        self._waiters_any: list[Waiter[ApiCall]] = []
        self._waiters_by_chat: dict[int, list[Waiter[ApiCall]]] = {}
        self._fail_rules: dict[str, list[_FailRule]] = {}
        self._down: tuple[int | None] | None = None
        #: Seconds every sending call takes before it is answered (0: at once).
        self.response_delay: float = 0.0

        self._updates: deque[JsonDict] = deque()
        self._update_ids = itertools.count(1)
        self._last_update_id = 0
        self._updates_event: asyncio.Event | None = None
        self._closing = False

        self._messages: dict[tuple[int, int], JsonDict] = {}
        self._sources: dict[tuple[int, int], tuple[str, Any]] = {}  # raw text, parse_mode
        self._message_ids: dict[int, int] = {}
        self._chats: dict[int, JsonDict] = {}
        self._open_callbacks: set[str] = set()
        self._callback_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._file_paths: dict[str, str] = {}  # file_path -> file_id
        self._media_groups = itertools.count(1)

        handlers: dict[str, Callable[[ApiCall], Awaitable[Any]]] = {
            "getMe": self._get_me,
            "sendMessage": self._send_message,
            "sendPhoto": self._send_photo,
            "sendMediaGroup": self._send_media_group,
            "sendLocation": self._send_location,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "sendChatAction": self._send_chat_action,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "close": self._true,
            "logOut": self._true,
            "getFile": self._get_file,
        }
        # Telegram method names are case-insensitive.
        self._methods = {name.lower(): (name, handler) for name, handler in handlers.items()}

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        self._closing = False
        self._updates_event = asyncio.Event()
        await self._serve(app)

    async def stop(self) -> None:
        self._closing = True
        if self._updates_event is not None:
            self._updates_event.set()  # release long polls
        for waiter in itertools.chain(self._waiters_any, *self._waiters_by_chat.values()):
            waiter.future.cancel()
        self._waiters_any.clear()
        self._waiters_by_chat.clear()
        await self._close()

    def session(self, **kwargs: Any) -> AiohttpSession:
        """An aiogram ``AiohttpSession`` pointed at this server."""
        from aiogram.client.session.aiohttp import AiohttpSession
        from aiogram.client.telegram import TelegramAPIServer

        return AiohttpSession(api=TelegramAPIServer.from_base(self.base_url), **kwargs)

    def make_bot(self, **kwargs: Any) -> Bot:
        """An aiogram ``Bot`` using this server (caller closes ``bot.session``)."""
        from aiogram import Bot

        return Bot(token=self.token, session=self.session(), **kwargs)

    @contextlib.asynccontextmanager
    async def bot(self, **kwargs: Any) -> AsyncIterator[Bot]:
        """``make_bot`` for an ``async with`` block, whose end closes the bot's session."""
        bot = self.make_bot(**kwargs)
        try:
            yield bot
        finally:
            await bot.session.close()

    # ------------------------------------------------------------------ inspection

    def sent(self, chat_id: int | None = None) -> list[ApiCall]:
        """Successful sendMessage/sendPhoto/sendMediaGroup/sendLocation/editMessageText calls."""
        if chat_id is None:
            return list(self._sent)
        return list(self._sent_by_chat.get(chat_id, ()))

    def texts(self, chat_id: int | None = None) -> list[str]:
        """``ApiCall.text`` of each ``sent()`` call (``""`` for e.g. locations), aligned."""
        return [call.text for call in self.sent(chat_id)]

    def buttons(self, call: ApiCall) -> list[list[tuple[str, str]]]:
        """Keyboard rows of ``call``.

        Inline keyboards: ``(text, callback_data)`` (``url`` for URL buttons, else "").
        Reply keyboards: ``(text, "request_location" | "request_contact" | "")``.
        """
        markup = call.params.get("reply_markup")
        if not isinstance(markup, dict):
            return []
        if isinstance(markup.get("inline_keyboard"), list):
            return [
                [
                    (
                        str(button.get("text", "")),
                        str(button.get("callback_data") or button.get("url") or ""),
                    )
                    for button in row
                ]
                for row in markup["inline_keyboard"]
            ]
        if isinstance(markup.get("keyboard"), list):
            rows: list[list[tuple[str, str]]] = []
            for row in markup["keyboard"]:
                out_row: list[tuple[str, str]] = []
                for button in row:
                    if isinstance(button, str):
                        out_row.append((button, ""))
                        continue
                    kind = next(
                        (k for k in ("request_location", "request_contact") if button.get(k)),
                        "",
                    )
                    out_row.append((str(button.get("text", "")), kind))
                rows.append(out_row)
            return rows
        return []

    def message(self, chat_id: int, message_id: int) -> JsonDict | None:
        """The current state of a message (bot's or user's) the fake knows about."""
        return self._messages.get((chat_id, message_id))

    def clear(self) -> None:
        """Forget recorded calls.  Messages, chats, queued updates and fail rules are kept."""
        self.calls.clear()
        self._sent.clear()
        self._sent_by_chat.clear()

    async def wait_for(
        self,
        predicate: Callable[[ApiCall], bool],
        timeout: float = 5.0,  # noqa: ASYNC109 -- part of the fixture's documented API
        *,
        chat_id: int | None = None,
        since: int | None = None,
    ) -> ApiCall:
        """Wait for a recorded call matching ``predicate`` (failed calls included).

        Only calls recorded *after* this is awaited are considered, unless ``since`` is
        given: then ``self.calls[since:]`` is checked first (take ``since=len(fake.calls)``
        before triggering something if you await other things in between).  Registration
        happens synchronously, so ``fake.push_update(...)`` immediately followed by
        ``await fake.wait_for(...)`` cannot miss the reply.  ``chat_id`` restricts matching
        to calls with that ``chat_id`` and is O(1) per call (use it under load).  Raises
        ``TimeoutError`` listing the last few calls.
        """
        if since is not None:
            for call in self.calls[since:]:
                if (chat_id is None or call.chat_id == chat_id) and predicate(call):
                    return call
        if chat_id is None:
            bucket = self._waiters_any
        else:
            bucket = self._waiters_by_chat.setdefault(chat_id, [])

        def timeout_message() -> str:
            recent = ", ".join(
                f"{c.method}({c.chat_id}{' FAILED' if c.failed else ''}: {c.text[:40]!r})"
                for c in self.calls[-8:]
            )
            return f"no matching Bot API call within {timeout}s; last calls: [{recent}]"

        try:
            return await wait_in(bucket, predicate, timeout, timeout_message)
        finally:
            if chat_id is not None and not bucket:
                self._waiters_by_chat.pop(chat_id, None)

    async def wait_for_sent(
        self,
        chat_id: int,
        *,
        text_contains: str | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109
        since: int | None = None,
    ) -> ApiCall:
        """Wait for the next successful ``sent()``-type call to ``chat_id``."""

        def matches(call: ApiCall) -> bool:
            return (
                not call.failed
                and call.method in SENT_METHODS
                and (text_contains is None or text_contains in call.text)
            )

        return await self.wait_for(matches, timeout, chat_id=chat_id, since=since)

    # ------------------------------------------------------------------ updates

    def push_update(self, update: dict[str, Any]) -> int:
        """Queue an update for getUpdates; assigns ``update_id`` if missing and returns it.

        Push in increasing ``update_id`` order (automatic ids always are).
        """
        if "update_id" not in update:
            update["update_id"] = max(next(self._update_ids), self._last_update_id + 1)
        update_id = int(update["update_id"])
        self._last_update_id = max(self._last_update_id, update_id)
        callback = update.get("callback_query")
        if isinstance(callback, dict) and "id" in callback:
            self._open_callbacks.add(str(callback["id"]))
        for payload in update.values():
            if isinstance(payload, dict):
                self._remember_chat(payload.get("chat"))
        self._updates.append(update)
        if self._updates_event is not None:
            self._updates_event.set()
        return update_id

    @property
    def pending_updates(self) -> int:
        return len(self._updates)

    # ------------------------------------------------------------------ error injection

    def fail_next(
        self,
        method: str,
        *,
        chat_id: int | None = None,
        error_code: int = 429,
        description: str | None = None,
        retry_after: int | None = None,
        times: int = 1,
        skip: int = 0,
    ) -> None:
        """Make the next ``times`` calls of ``method`` (to ``chat_id``, if given) fail,
        after letting ``skip`` of them through (``skip=1``: the second part of a notice)."""
        if error_code == 429 and retry_after is None:
            retry_after = 1
        if description is None:
            if error_code == 429:
                description = f"Too Many Requests: retry after {retry_after}"
            else:
                description = _DEFAULT_DESCRIPTIONS.get(error_code, f"Error {error_code}")
        name = self._methods.get(method.lower(), (method, None))[0]
        rule = _FailRule(chat_id, ApiError(error_code, description, retry_after), times, skip)
        self._fail_rules.setdefault(name, []).append(rule)

    def go_down(self, error_code: int | None = 502) -> None:
        """An outage until ``come_back()``: every call answers ``error_code`` (a 5xx), or
        with ``None`` the connection is dropped without an answer (a network error)."""
        self._down = (error_code,)

    def come_back(self) -> None:
        self._down = None

    @property
    def down(self) -> bool:
        return self._down is not None

    # ------------------------------------------------------------------ update builders

    def text_update(
        self,
        user_id: int,
        text: str,
        *,
        first_name: str | None = None,
        language_code: str = "zh-hans",
        reply_to_message_id: int | None = None,
        chat_id: int | None = None,
    ) -> dict[str, Any]:
        fields: JsonDict = {"text": text}
        command = _BOT_COMMAND.match(text)
        if command:
            fields["entities"] = [{"type": "bot_command", "offset": 0, "length": command.end()}]
        return self._message_update(
            user_id,
            fields,
            first_name=first_name,
            language_code=language_code,
            reply_to_message_id=reply_to_message_id,
            chat_id=chat_id,
        )

    def callback_update(
        self,
        user_id: int,
        data: str,
        *,
        message_id: int,
        chat_id: int | None = None,
        language_code: str = "zh-hans",
        first_name: str | None = None,
    ) -> dict[str, Any]:
        """A button press on ``message_id`` (looked up among messages the bot sent)."""
        chat_id = user_id if chat_id is None else chat_id
        user = self._user(user_id, first_name, language_code)
        message = self._messages.get((chat_id, message_id))
        if message is None:
            message = {
                "message_id": message_id,
                "from": dict(self.bot_user),
                "chat": self._chat(chat_id, user),
                "date": int(time.time()),
                "text": "",
            }
        callback_id = f"{user_id}{next(self._callback_ids):08d}"
        self._open_callbacks.add(callback_id)
        return {
            "callback_query": {
                "id": callback_id,
                "from": user,
                "message": message,
                "chat_instance": str(abs(hash((self.bot_id, chat_id)))),
                "data": data,
            }
        }

    def location_update(
        self, user_id: int, latitude: float, longitude: float, **kw: Any
    ) -> dict[str, Any]:
        return self._message_update(
            user_id, {"location": {"latitude": latitude, "longitude": longitude}}, **kw
        )

    def photo_update(
        self,
        user_id: int,
        file_id: str = "AgACAgIAAxk-test",
        caption: str | None = None,
        **kw: Any,
    ) -> dict[str, Any]:
        fields: JsonDict = {"photo": self._photo_sizes(file_id)}
        if caption is not None:
            fields["caption"] = caption
        return self._message_update(user_id, fields, **kw)

    def sticker_update(self, user_id: int, emoji: str = "😀", **kw: Any) -> dict[str, Any]:
        sticker = {
            "file_id": "CAACAgIAAxk-sticker",
            "file_unique_id": "AgADsticker",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
        }
        return self._message_update(user_id, {"sticker": sticker}, **kw)

    def contact_update(
        self,
        user_id: int,
        phone_number: str,
        *,
        contact_user_id: int | None = None,
        **kw: Any,
    ) -> dict[str, Any]:
        """A shared contact; by default the user's own (as from a request_contact button)."""
        owner = user_id if contact_user_id is None else contact_user_id
        first_name = kw.get("first_name") or self._known_first_name(owner)
        contact = {"phone_number": phone_number, "first_name": first_name, "user_id": owner}
        return self._message_update(user_id, {"contact": contact}, **kw)

    # ------------------------------------------------------------------ internals: model

    def _known_first_name(self, user_id: int) -> str:
        chat = self._chats.get(user_id)
        if chat is not None and chat.get("type") == "private":
            return str(chat.get("first_name", "张三"))
        return "张三"

    def _user(self, user_id: int, first_name: str | None, language_code: str) -> JsonDict:
        return {
            "id": user_id,
            "is_bot": False,
            "first_name": first_name or self._known_first_name(user_id),
            "language_code": language_code,
        }

    def _chat(self, chat_id: int, user: JsonDict | None = None) -> JsonDict:
        """The chat object for ``chat_id``; a private chat with ``user`` if it is theirs."""
        if user is not None and chat_id == user["id"]:
            chat = {"id": chat_id, "type": "private", "first_name": user["first_name"]}
        elif chat_id in self._chats:
            return dict(self._chats[chat_id])
        elif chat_id < 0:
            kind = "supergroup" if str(chat_id).startswith("-100") else "group"
            chat = {"id": chat_id, "type": kind, "title": "测试群"}
        else:
            chat = {"id": chat_id, "type": "private", "first_name": "User"}
        self._chats[chat_id] = chat
        return dict(chat)

    def _remember_chat(self, chat: Any) -> None:
        if isinstance(chat, dict) and isinstance(chat.get("id"), int):
            self._chats[chat["id"]] = dict(chat)

    def _next_message_id(self, chat_id: int) -> int:
        message_id = self._message_ids.get(chat_id, 0) + 1
        self._message_ids[chat_id] = message_id
        return message_id

    def _message_update(
        self,
        user_id: int,
        fields: JsonDict,
        *,
        first_name: str | None = None,
        language_code: str = "zh-hans",
        reply_to_message_id: int | None = None,
        chat_id: int | None = None,
    ) -> dict[str, Any]:
        chat_id = user_id if chat_id is None else chat_id
        user = self._user(user_id, first_name, language_code)
        message: JsonDict = {
            "message_id": self._next_message_id(chat_id),
            "from": user,
            "chat": self._chat(chat_id, user),
            "date": int(time.time()),
        }
        if reply_to_message_id is not None:
            replied = self._messages.get((chat_id, reply_to_message_id))
            if replied is None:
                replied = {
                    "message_id": reply_to_message_id,
                    "from": dict(self.bot_user),
                    "chat": message["chat"],
                    "date": int(time.time()),
                }
            message["reply_to_message"] = self._without_reply(replied)
        message.update(fields)
        self._messages[(chat_id, message["message_id"])] = message
        return {"message": message}

    @staticmethod
    def _without_reply(message: JsonDict) -> JsonDict:
        return {k: v for k, v in message.items() if k != "reply_to_message"}

    def _photo_sizes(self, file_id: str) -> list[JsonDict]:
        return [
            {
                "file_id": f"{file_id}-{suffix}" if suffix else file_id,
                "file_unique_id": f"AQAD{abs(hash((file_id, size))) % 10**8}",
                "width": size,
                "height": size * 3 // 4,
                "file_size": size * 40,
            }
            for suffix, size in (("s", 90), ("m", 320), ("", 1280))
        ]

    # ------------------------------------------------------------------ internals: HTTP

    async def _read_params(self, request: web.Request) -> tuple[JsonDict, dict[str, bytes]]:
        params: JsonDict = {key: _decode_value(key, value) for key, value in request.query.items()}
        files: dict[str, bytes] = {}
        if request.body_exists:
            if request.content_type == "application/json":
                body = await request.json()
                if isinstance(body, dict):
                    params.update(body)
            else:
                form = await request.post()
                for key, value in form.items():
                    if isinstance(value, web.FileField):
                        files[key] = value.file.read()
                    else:
                        params[key] = _decode_value(key, str(value))
        return params, files

    async def _handle(self, request: web.Request) -> web.Response:
        at = time.monotonic()
        method_name = request.match_info["method"]
        entry = self._methods.get(method_name.lower())
        name = entry[0] if entry else method_name
        params, files = await self._read_params(request)
        call = ApiCall(name, params, at, files=files)
        if self.response_delay and name in SENT_METHODS:
            # A slow server: the call is in flight this long (a test stops the bot meanwhile).
            await asyncio.sleep(self.response_delay)
        if self._down is not None:
            code = self._down[0]
            if code is None:
                assert request.transport is not None
                request.transport.close()  # the client sees the connection drop
                return web.Response(status=503)
            description = _DEFAULT_DESCRIPTIONS.get(code, f"Error {code}")
            call.failed, call.error_code, call.description = True, code, description
            self._record(call)
            return web.json_response(ApiError(code, description).payload(), status=code)
        try:
            if request.match_info["token"] != self.token:
                raise ApiError(401, "Unauthorized")
            if entry is None:
                raise ApiError(404, "Not Found: method not found")
            self._check_injected_failure(call)
            result = await entry[1](call)
        except ApiError as error:
            call.failed = True
            call.error_code = error.error_code
            call.description = error.description
            self._record(call)
            return web.json_response(error.payload(), status=error.error_code)
        call.result = result
        self._record(call)
        return web.json_response({"ok": True, "result": result})

    async def _handle_file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(ApiError(401, "Unauthorized").payload(), status=401)
        file_id = self._file_paths.get(request.match_info["path"])
        if file_id is None:
            return web.json_response(ApiError(404, "Not Found").payload(), status=404)
        return web.Response(body=self._file_content(file_id))

    def _file_content(self, file_id: str) -> bytes:
        return self.file_contents.get(file_id, f"fake file {file_id}".encode())

    def _check_injected_failure(self, call: ApiCall) -> None:
        rule = due_failure(
            self._fail_rules.get(call.method),
            lambda rule: rule.chat_id is None or rule.chat_id == call.chat_id,
        )
        if rule is not None:
            raise rule.error

    def _record(self, call: ApiCall) -> None:
        self.calls.append(call)
        chat_id = call.chat_id
        if not call.failed and call.method in SENT_METHODS:
            self._sent.append(call)
            if chat_id is not None:
                self._sent_by_chat.setdefault(chat_id, []).append(call)
        if self._waiters_any:
            notify_waiters(self._waiters_any, call)
        if chat_id is not None:
            bucket = self._waiters_by_chat.get(chat_id)
            if bucket:
                notify_waiters(bucket, call)

    # ------------------------------------------------------------------ validation helpers

    @staticmethod
    def _chat_id(call: ApiCall) -> int:
        chat_id = call.params.get("chat_id")
        if chat_id is None or chat_id == "":
            raise _bad("chat_id is empty")
        if not isinstance(chat_id, int) or isinstance(chat_id, bool):
            raise _bad("chat not found")
        return chat_id

    @staticmethod
    def _check_text(source: Any, parse_mode: Any) -> str:
        if not isinstance(source, str):
            raise _bad("message text is empty")
        visible = _visible(source, parse_mode).strip()
        if not visible:
            raise _bad("message text is empty")
        if len(visible) > MAX_TEXT_LENGTH:
            raise _bad("message is too long")
        return visible

    @staticmethod
    def _check_caption(source: Any, parse_mode: Any) -> str | None:
        if not isinstance(source, str):
            return None
        visible = _visible(source, parse_mode).strip()
        if len(visible) > MAX_CAPTION_LENGTH:
            raise _bad("message caption is too long")
        return visible or None

    @staticmethod
    def _check_markup(markup: Any) -> JsonDict | None:
        """Validate reply_markup; return the inline keyboard to echo, if any."""
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise _bad("can't parse reply keyboard markup JSON object")
        rows = markup.get("inline_keyboard")
        if rows is None:
            return None
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise _bad("can't parse reply keyboard markup JSON object")
        for row in rows:
            for button in row:
                if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                    raise _bad("can't parse inline keyboard button: Text must be a String")
                if not any(key in button for key in _INLINE_BUTTON_ACTIONS):
                    raise _bad(
                        "can't parse inline keyboard button: "
                        "Text buttons are unallowed in the inline keyboard"
                    )
                data = button.get("callback_data")
                if data is not None:
                    size = len(str(data).encode())
                    if size == 0 or size > MAX_CALLBACK_DATA_BYTES:
                        raise _bad("BUTTON_DATA_INVALID")
        return {"inline_keyboard": rows}

    def _reply_target(self, call: ApiCall, chat_id: int) -> JsonDict | None:
        params = call.params
        reply = params.get("reply_parameters")
        allow = bool(params.get("allow_sending_without_reply"))
        message_id: Any = None
        if isinstance(reply, dict):
            message_id = reply.get("message_id")
            allow = allow or bool(reply.get("allow_sending_without_reply"))
            target_chat = reply.get("chat_id", chat_id)
            chat_id = target_chat if isinstance(target_chat, int) else chat_id
        elif params.get("reply_to_message_id") is not None:
            message_id = params.get("reply_to_message_id")
        if message_id is None:
            return None
        target = self._messages.get((chat_id, message_id)) if isinstance(message_id, int) else None
        if target is None:
            if allow:
                return None
            raise _bad("message to be replied not found")
        return self._without_reply(target)

    def _new_bot_message(self, call: ApiCall, chat_id: int, fields: JsonDict) -> JsonDict:
        reply_to = self._reply_target(call, chat_id)
        message: JsonDict = {
            "message_id": self._next_message_id(chat_id),
            "from": dict(self.bot_user),
            "chat": self._chat(chat_id),
            "date": int(time.time()),
        }
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        message.update(fields)
        self._messages[(chat_id, message["message_id"])] = message
        return message

    def _editable(self, call: ApiCall) -> tuple[tuple[int, int], JsonDict] | None:
        """The stored message an edit refers to; None for inline messages."""
        if call.params.get("inline_message_id"):
            return None
        chat_id = self._chat_id(call)
        message_id = call.params.get("message_id")
        key = (chat_id, message_id if isinstance(message_id, int) else -1)
        message = self._messages.get(key)
        if message is None:
            raise _bad("message to edit not found")
        if message.get("from", {}).get("id") != self.bot_id:
            raise _bad("message can't be edited")
        return key, message

    def _new_file_id(self, prefix: str) -> str:
        return f"{prefix}-sent-{next(self._file_ids)}"

    def _media_file_id(self, call: ApiCall, value: Any, prefix: str) -> str:
        if not isinstance(value, str) or not value:
            raise _bad("wrong file identifier/HTTP URL specified")
        if value.startswith("attach://"):
            name = value.removeprefix("attach://")
            if name not in call.files:
                raise _bad(f"file {name!r} not found in the request")
            file_id = self._new_file_id(prefix)
            self.file_contents[file_id] = call.files[name]
            return file_id
        if value.startswith(("http://", "https://")):
            return self._new_file_id(prefix)
        return value

    # ------------------------------------------------------------------ methods

    async def _true(self, call: ApiCall) -> bool:
        return True

    async def _get_me(self, call: ApiCall) -> JsonDict:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _send_message(self, call: ApiCall) -> JsonDict:
        chat_id = self._chat_id(call)
        params = call.params
        text = self._check_text(params.get("text"), params.get("parse_mode"))
        fields: JsonDict = {"text": text}
        inline = self._check_markup(params.get("reply_markup"))
        if inline is not None:
            fields["reply_markup"] = inline
        message = self._new_bot_message(call, chat_id, fields)
        self._sources[(chat_id, message["message_id"])] = (params["text"], params.get("parse_mode"))
        return message

    async def _send_photo(self, call: ApiCall) -> JsonDict:
        chat_id = self._chat_id(call)
        params = call.params
        if not params.get("photo"):
            raise _bad("there is no photo in the request")
        caption = self._check_caption(params.get("caption"), params.get("parse_mode"))
        inline = self._check_markup(params.get("reply_markup"))
        file_id = self._media_file_id(call, params["photo"], "AgACAgIAAxk")
        fields: JsonDict = {"photo": self._photo_sizes(file_id)}
        if caption is not None:
            fields["caption"] = caption
        if inline is not None:
            fields["reply_markup"] = inline
        return self._new_bot_message(call, chat_id, fields)

    async def _send_media_group(self, call: ApiCall) -> list[JsonDict]:
        chat_id = self._chat_id(call)
        media = call.params.get("media")
        if not isinstance(media, list) or not media:
            raise _bad('parameter "media" is required')
        if len(media) > MAX_MEDIA_GROUP:
            raise _bad("too much messages to send as an album")
        prepared: list[JsonDict] = []
        for item in media:
            if not isinstance(item, dict) or item.get("type") not in {
                "photo",
                "video",
                "document",
                "audio",
            }:
                raise _bad("can't parse InputMedia: media type not specified")
            fields: JsonDict = {}
            caption = self._check_caption(item.get("caption"), item.get("parse_mode"))
            kind = str(item["type"])
            file_id = self._media_file_id(call, item.get("media"), kind)
            if kind == "photo":
                fields["photo"] = self._photo_sizes(file_id)
            else:
                fields[kind] = {"file_id": file_id, "file_unique_id": f"AgAD{file_id[-8:]}"}
                if kind == "video":
                    fields[kind].update(width=640, height=480, duration=1)
                elif kind == "audio":
                    fields[kind]["duration"] = 1
            if caption is not None:
                fields["caption"] = caption
            prepared.append(fields)
        group_id = str(10**17 + next(self._media_groups))
        return [
            self._new_bot_message(call, chat_id, {"media_group_id": group_id, **fields})
            for fields in prepared
        ]

    async def _send_location(self, call: ApiCall) -> JsonDict:
        chat_id = self._chat_id(call)
        params = call.params
        latitude, longitude = params.get("latitude"), params.get("longitude")
        for name, value, limit in (("latitude", latitude, 90), ("longitude", longitude, 180)):
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise _bad(f'parameter "{name}" is required')
            if abs(value) > limit:
                raise _bad("wrong location specified")
        fields: JsonDict = {"location": {"latitude": latitude, "longitude": longitude}}
        inline = self._check_markup(params.get("reply_markup"))
        if inline is not None:
            fields["reply_markup"] = inline
        return self._new_bot_message(call, chat_id, fields)

    async def _edit_message_text(self, call: ApiCall) -> JsonDict | bool:
        params = call.params
        text = self._check_text(params.get("text"), params.get("parse_mode"))
        inline = self._check_markup(params.get("reply_markup"))
        target = self._editable(call)
        if target is None:
            return True
        key, message = target
        if "text" not in message:
            raise _bad("there is no text in the message to edit")
        source = (params["text"], params.get("parse_mode"))
        old_source = self._sources.get(key, (message.get("text"), None))
        if source == old_source and inline == message.get("reply_markup"):
            raise _bad(NOT_MODIFIED.removeprefix("Bad Request: "))
        message["text"] = text
        if inline is None:
            message.pop("reply_markup", None)
        else:
            message["reply_markup"] = inline
        message["edit_date"] = int(time.time())
        self._sources[key] = source
        return dict(message)

    async def _edit_message_reply_markup(self, call: ApiCall) -> JsonDict | bool:
        inline = self._check_markup(call.params.get("reply_markup"))
        target = self._editable(call)
        if target is None:
            return True
        _, message = target
        if inline == message.get("reply_markup"):
            raise _bad(NOT_MODIFIED.removeprefix("Bad Request: "))
        if inline is None:
            message.pop("reply_markup", None)
        else:
            message["reply_markup"] = inline
        message["edit_date"] = int(time.time())
        return dict(message)

    async def _delete_message(self, call: ApiCall) -> bool:
        chat_id = self._chat_id(call)
        message_id = call.params.get("message_id")
        key = (chat_id, message_id if isinstance(message_id, int) else -1)
        if self._messages.pop(key, None) is None:
            raise _bad("message to delete not found")
        self._sources.pop(key, None)
        return True

    async def _answer_callback_query(self, call: ApiCall) -> bool:
        query_id = str(call.params.get("callback_query_id", ""))
        if query_id not in self._open_callbacks:
            raise _bad(QUERY_TOO_OLD.removeprefix("Bad Request: "))
        self._open_callbacks.discard(query_id)
        return True

    async def _send_chat_action(self, call: ApiCall) -> bool:
        self._chat_id(call)
        if call.params.get("action") not in _CHAT_ACTIONS:
            raise _bad("wrong parameter action in request")
        return True

    @staticmethod
    def _commands_key(call: ApiCall) -> str:
        scope = call.params.get("scope") or {"type": "default"}
        return f"{json.dumps(scope, sort_keys=True)}|{call.params.get('language_code', '')}"

    async def _set_my_commands(self, call: ApiCall) -> bool:
        commands = call.params.get("commands")
        if not isinstance(commands, list):
            raise _bad('parameter "commands" is required')
        for command in commands:
            if not isinstance(command, dict) or not _COMMAND_NAME.fullmatch(
                str(command.get("command", ""))
            ):
                raise _bad("BOT_COMMAND_INVALID")
            description = str(command.get("description", ""))
            if not 1 <= len(description) <= 256:
                raise _bad("command description is empty or too long")
        self.commands[self._commands_key(call)] = commands
        return True

    async def _get_my_commands(self, call: ApiCall) -> list[JsonDict]:
        return self.commands.get(self._commands_key(call), [])

    async def _delete_my_commands(self, call: ApiCall) -> bool:
        self.commands.pop(self._commands_key(call), None)
        return True

    async def _set_webhook(self, call: ApiCall) -> bool:
        self.webhook_url = str(call.params.get("url", ""))
        return True

    async def _delete_webhook(self, call: ApiCall) -> bool:
        self.webhook_url = ""
        if call.params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    async def _get_webhook_info(self, call: ApiCall) -> JsonDict:
        return {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }

    async def _get_file(self, call: ApiCall) -> JsonDict:
        file_id = call.params.get("file_id")
        if not isinstance(file_id, str) or not file_id:
            raise _bad("invalid file_id")
        path = f"files/file_{abs(hash(file_id)) % 10**6}.jpg"
        self._file_paths[path] = file_id
        return {
            "file_id": file_id,
            "file_unique_id": f"AQAD{abs(hash(file_id)) % 10**8}",
            "file_size": len(self._file_content(file_id)),
            "file_path": path,
        }

    def _confirm(self, offset: Any) -> None:
        if not isinstance(offset, int) or isinstance(offset, bool) or offset == 0:
            return
        updates = self._updates
        if offset < 0:
            while len(updates) > -offset:
                updates.popleft()
            return
        while updates and updates[0]["update_id"] < offset:
            updates.popleft()

    def _collect(self, limit: int, allowed: Any) -> list[JsonDict]:
        wanted = set(allowed) if isinstance(allowed, list) and allowed else None
        batch: list[JsonDict] = []
        for update in self._updates:
            if wanted is not None and _update_type(update) not in wanted:
                continue  # Telegram silently drops updates the bot did not ask for
            batch.append(update)
            if len(batch) >= limit:
                break
        return batch

    async def _get_updates(self, call: ApiCall) -> list[JsonDict]:
        if self.webhook_url:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        params = call.params
        self._confirm(params.get("offset"))
        raw_limit = params.get("limit", 100)
        limit = min(max(raw_limit if isinstance(raw_limit, int) else 100, 1), 100)
        allowed = params.get("allowed_updates")
        batch = self._collect(limit, allowed)
        timeout = params.get("timeout", 0)
        event = self._updates_event
        if batch or event is None or not isinstance(timeout, int | float) or timeout <= 0:
            return batch
        try:
            async with asyncio.timeout(min(float(timeout), self.max_poll_timeout)):
                while not batch and not self._closing:
                    event.clear()
                    await event.wait()
                    batch = self._collect(limit, allowed)
        except TimeoutError:
            pass
        return batch
