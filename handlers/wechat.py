"""WeChat official account (公众号) callback: signed XML in, a passive reply out.

WeChat's rules live here:

* It waits 5 seconds for the answer to a message, then retries the same message (same
  MsgId) up to three times. So every message is recorded in `inbound_seen` before it is
  handled, and a retry gets "success" (WeChat's "no reply"); and `handle` gets a budget
  (3 s by default): an answer ready in time goes back as the passive reply, a later one
  goes out as customer-service messages through `send_later`.
* A passive reply is one text message of at most 2048 bytes. Further replies, images and
  the rest of a long text go through `send_later`.
* There are no buttons: texts are the catalogue's words for typing (`typed.`), choices are
  numbered lines (`numbered_choices`, shared with the outbox transport) and the person types
  the number. A question answered in words numbers nothing (a typed "1" is its answer) and
  names back/cancel in words; why a question comes again goes in one message with it. A
  number always reaches the dialogs as text, which is how a dialog step reads it ("1"
  picks its first choice). If the last
  numbered list we sent this person meant, at that number, one of the buttons that work
  outside dialogs (menu, offer and case actions, follow-up ratings, back/cancel), it is
  sent as that button's payload instead, because the dialogs cannot tell what a bare "1"
  meant there. The lists are remembered in this process only (bounded, for 30 minutes);
  on another worker, or later, the number simply goes as text.
* Plain mode (no EncodingAESKey) is refused unless `allow_plain`: its signature covers only
  the timestamp and nonce, never the body, so one captured query string would let anyone
  post anything as anyone (a mediator's 接单 included) for the five minutes it stays
  fresh. Where plain mode is allowed, each (timestamp, nonce, signature) is accepted once:
  it is recorded in `inbound_seen` (shared by every worker) and a second post with it is
  answered 403.
* Signatures, AES "safe mode", parsing and reply XML are wechatpy's. What reaches the
  parser is checked first: at most 64 KB, UTF-8, and no DOCTYPE or ENTITY declaration
  (entity expansion, XXE).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.replies import TextReply
from wechatpy.utils import check_signature

from dialogs.base import Answer
from dispatch.clock import Clock
from dispatch.inbound import first_sight
from dispatch.messages import Inbound, Location, Reply
from dispatch.payloads import parse
from handlers.wechat_api import split_utf8
from handlers.wechat_transport import numbered_choices
from locales import text as render
from storage.database import Sessions

log = logging.getLogger(__name__)

CHANNEL = "wechat"
# WeChat tells us nothing of the person's language; the account speaks Chinese.
LANGUAGE = "zh-hans"
LOCALE = "zh_CN"  # for the few answers given without asking the dialogs
SUCCESS = "success"  # WeChat's "received, no reply": it will not retry

MAX_BODY = 64 * 1024  # WeChat's messages are under 2 KB; a tenth of a megabyte is plenty
MAX_PASSIVE_BYTES = 2048  # a passive text reply's Content, in UTF-8
MAX_SKEW = timedelta(minutes=5)  # a signed request older (or newer) than this is a replay
MAX_PAYLOAD = 64  # the same bound as Telegram's callback data
MAX_MEDIA_ID = 128
MAX_KEY = 128  # inbound_seen.key
MAX_REMEMBERED = 10_000
REMEMBER_FOR = timedelta(minutes=30)
# Events that are not someone talking to us: answered "success", nothing handled.
SILENT_EVENTS = frozenset(
    {
        "unsubscribe",
        "location",  # periodic position reports, if the account turned them on
        "view",  # a menu link was opened
        "view_miniprogram",
        "templatesendjobfinish",  # delivery reports of our own messages
        "masssendjobfinish",
    }
)
_DECLARATION = re.compile(rb"<!\s*(doctype|entity)", re.IGNORECASE)
# Characters XML 1.0 does not allow, and the one sequence that would end a CDATA section
# early (wechatpy writes Content inside CDATA without escaping).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

Handle = Callable[[Inbound], Awaitable[Answer]]
SendLater = Callable[[str, list[Reply], str], Awaitable[None]]


class Refused(Exception):
    """A request we do not handle, answered with `status` and nothing stored."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Passive:
    """Answer at once without handling anything: a message key, or None for "success"."""

    key: str | None = None


@dataclass(slots=True)
class _Pending:
    """One message being handled: the request waits for `passive` until its budget runs
    out; after that (`late`) the handling task sends every reply through send_later."""

    passive: asyncio.Future[str | None]
    late: bool = False


@dataclass(slots=True)
class _Numbers:
    payloads: list[str] = field(default_factory=list)
    at: datetime | None = None


def clean_text(text: str) -> str:
    """Content that survives wechatpy's CDATA: no control characters, no "]]>"."""
    return _NOT_XML.sub("", text).replace("]]>", "]] >")


def _str(value: Any) -> str | None:
    # wechatpy hands back whatever xmltodict made of an element: nested elements become
    # dicts and repeated ones lists. Only plain text is a value we read.
    return value if isinstance(value, str) else None


def scene_of(key: str | None) -> str | None:
    """The grid code a parametric QR code carries, if it looks like one."""
    scene = (key or "").strip()
    if scene.startswith("qrscene_"):
        scene = scene[len("qrscene_") :]
    if scene and len(scene) <= 64 and re.fullmatch(r"[A-Za-z0-9_\-]+", scene):
        return scene
    return None


def inbound_of(message: Any, openid: str) -> Inbound | Passive:
    """A parsed WeChat message as the dialogs' Inbound, or an answer given without them.

    Outcomes: text, image (photo with its MediaId), location, voice with WeChat's
    recognition (as text), a QR-code subscribe/SCAN (`/start g_<grid>`), a plain subscribe
    (`/start`), a menu CLICK (its key as a button payload); voice without recognition:
    ask to type; events nobody typed: "success"; anything else: "not supported".
    """
    base: dict[str, Any] = {
        "channel": CHANNEL,
        "user_ref": openid,
        "chat_ref": openid,
        "language": LANGUAGE,
    }
    kind = message.type
    if kind == "text":
        content = _str(message.content)
        if content is None:
            return Passive("wechat.unsupported")
        return Inbound(kind="text", text=content, **base)
    if kind == "image":
        media_id = _str(message.media_id)
        if not media_id or len(media_id) > MAX_MEDIA_ID:
            return Passive("wechat.unsupported")
        return Inbound(kind="photo", media=(media_id,), **base)
    if kind == "location":
        try:
            latitude = float(message.location_x)
            longitude = float(message.location_y)
        except (TypeError, ValueError):
            return Passive("wechat.unsupported")
        if not (math.isfinite(latitude) and math.isfinite(longitude)):
            return Passive("wechat.unsupported")
        return Inbound(kind="location", location=Location(latitude, longitude), **base)
    if kind == "voice":
        # Recognition is there only when the account turned speech recognition on.
        recognition = (_str(message.recognition) or "").strip()
        if not recognition:
            return Passive("wechat.voice_unrecognised")
        return Inbound(kind="text", text=recognition, **base)
    if kind != "event":
        return Passive("wechat.unsupported")  # video, shortvideo, link, file, …
    event = message.event
    if event in ("subscribe_scan", "scan"):
        # wechatpy has already taken "qrscene_" off a subscribe's EventKey.
        scene = scene_of(_str(message.scene_id))
        return Inbound(kind="text", text=f"/start g_{scene}" if scene else "/start", **base)
    if event == "subscribe":
        return Inbound(kind="text", text="/start", **base)
    if event == "click":
        key = _str(message.key)
        if not key or len(key) > MAX_PAYLOAD:
            return Passive("wechat.unsupported")
        return Inbound(kind="choice", choice=key, **base)
    if event in SILENT_EVENTS:
        return Passive()
    return Passive("wechat.unsupported")


def dedupe_key(message: Any, openid: str) -> str:
    """What makes a retry the same message: its MsgId, or for events (which have none)
    who sent it, when and which event."""
    msg_id = message.id
    if message.type != "event" and msg_id:
        key = f"wx:{msg_id}"
    else:
        key = f"wx:{openid}:{message.time}:{getattr(message, 'event', '') or message.type}"
    return key[:MAX_KEY]


class WeChatCallback:
    """The callback URL WeChat posts to. `run()` must be running while it serves: it owns
    the tasks that finish answers which miss the passive-reply budget."""

    def __init__(
        self,
        *,
        token: str,
        app_id: str,
        aes_key: str | None,
        sessions: Sessions,
        clock: Clock,
        handle: Handle,
        send_later: SendLater,
        on_handled: Callable[[], None] = lambda: None,
        reply_budget: float = 3.0,
        allow_plain: bool = False,
    ) -> None:
        self.token = token
        self.allow_plain = allow_plain
        self.app_id = app_id
        self.crypto = WeChatCrypto(token, aes_key, app_id) if aes_key else None
        self.sessions = sessions
        self.clock = clock
        self.handle = handle
        self.send_later = send_later
        self.on_handled = on_handled
        self.reply_budget = reply_budget
        self._group: asyncio.TaskGroup | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._numbers: OrderedDict[str, _Numbers] = OrderedDict()

    def register(self, app: web.Application, path: str = "/wechat") -> None:
        app.router.add_get(path, self.verify_url)
        app.router.add_post(path, self.receive)

    async def run(self, grace: float = 10.0) -> None:
        """Serve answers until cancelled; then give those in flight `grace` seconds."""
        async with asyncio.TaskGroup() as group:
            self._group = group
            try:
                await asyncio.Event().wait()
            finally:
                self._group = None
                pending = [task for task in self._tasks if not task.done()]
                if pending:
                    await asyncio.wait(pending, timeout=grace)

    # -- HTTP ---------------------------------------------------------------------------

    async def verify_url(self, request: web.Request) -> web.Response:
        """WeChat's check when the URL is configured: echo `echostr` if signed by us."""
        try:
            self._check_signature(request.query)
        except Refused as refused:
            return web.Response(status=refused.status, text=refused.reason)
        return web.Response(text=request.query.get("echostr", ""), content_type="text/plain")

    async def receive(self, request: web.Request) -> web.Response:
        started = asyncio.get_running_loop().time()
        query = request.query
        try:
            safe = query.get("encrypt_type") == "aes"
            if self.crypto is None and not self.allow_plain:
                raise Refused(403, "plain mode not enabled")
            if safe != (self.crypto is not None):
                # With an AES key configured, only the body's own signature (msg_signature)
                # proves WeChat wrote it: the plain `signature` covers no body, so a captured
                # query could carry any body posted as plain text.
                raise Refused(403, "safe mode expected" if self.crypto else "plain mode expected")
            if not safe or "signature" in query:
                self._check_signature(query)
            else:
                self._check_fresh(query.get("timestamp", ""))
            body = await self._read_body(request)
            xml = self._xml_text(body)
            if safe:
                xml = self._decrypt(xml, query)
            message = self._parse(xml)
            openid = _str(message.source)
            if not openid or len(openid) > 64:
                raise Refused(400, "no sender")
            if not safe and not await self._first_sight(f"wxsig:{query.get('signature', '')}"):
                # The same signed query again: WeChat signs each push with a fresh nonce,
                # so this is someone replaying a captured one with a body of their own.
                raise Refused(403, "replayed")
            answer = await self._answer(message, openid, started)
        except Refused as refused:
            return web.Response(status=refused.status, text=refused.reason)
        if answer is None:
            return web.Response(text=SUCCESS, content_type="text/plain")
        reply = TextReply(
            message=message,
            content=clean_text(answer),
            time=int(self.clock.now().timestamp()),
        ).render()
        if safe:
            assert self.crypto is not None
            timestamp = str(int(self.clock.now().timestamp()))
            reply = self.crypto.encrypt_message(reply, query.get("nonce", ""), timestamp)
        return web.Response(text=reply, content_type="application/xml")

    def _check_signature(self, query: Any) -> None:
        signature = query.get("signature", "")
        timestamp = query.get("timestamp", "")
        nonce = query.get("nonce", "")
        if not (signature and timestamp and nonce):
            raise Refused(403, "unsigned")
        try:
            check_signature(self.token, signature, timestamp, nonce)
        except InvalidSignatureException:
            raise Refused(403, "bad signature") from None
        self._check_fresh(timestamp)

    def _check_fresh(self, timestamp: str) -> None:
        # A captured request stays validly signed for ever; only its age tells a replay.
        if not timestamp.isdigit() or len(timestamp) > 12:
            raise Refused(403, "bad timestamp")
        if abs(self.clock.now().timestamp() - int(timestamp)) > MAX_SKEW.total_seconds():
            raise Refused(403, "stale timestamp")

    async def _read_body(self, request: web.Request) -> bytes:
        if request.content_length is not None and request.content_length > MAX_BODY:
            raise Refused(413, "too large")
        body = bytearray()
        while chunk := await request.content.read(MAX_BODY + 1 - len(body)):
            body += chunk
            if len(body) > MAX_BODY:
                raise Refused(413, "too large")
        return bytes(body)

    @staticmethod
    def _xml_text(body: bytes | str) -> str:
        raw = body.encode() if isinstance(body, str) else body
        # Before any parser: a DTD is how entity bombs and external entities get in, and
        # WeChat never sends one.
        if _DECLARATION.search(raw):
            raise Refused(400, "DTDs are not accepted")
        if b"\x00" in raw:
            # UTF-16 would hide a declaration from the check above.
            raise Refused(400, "not UTF-8")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise Refused(400, "not UTF-8") from None
        if not text.strip():
            raise Refused(400, "empty")
        return text

    def _decrypt(self, xml: str, query: Any) -> str:
        assert self.crypto is not None
        signature = query.get("msg_signature", "")
        if not signature:
            raise Refused(403, "unsigned")
        try:
            inner = self.crypto.decrypt_message(
                xml, signature, query.get("timestamp", ""), query.get("nonce", "")
            )
        except (InvalidSignatureException, InvalidAppIdException):
            raise Refused(403, "bad signature") from None
        except Exception:  # not XML, no Encrypt element, not our ciphertext
            raise Refused(400, "cannot decrypt") from None
        return self._xml_text(inner)

    @staticmethod
    def _parse(xml: str) -> Any:
        try:
            message = parse_message(xml)
            if message is None:
                raise ValueError("empty")
            # The fields every path reads must be numbers, not nested elements.
            if not (isinstance(message.id, int) and isinstance(message.time, int)):
                raise ValueError("malformed MsgId or CreateTime")
        except Exception:
            raise Refused(400, "not a WeChat message") from None
        return message

    # -- handling -----------------------------------------------------------------------

    async def _answer(self, message: Any, openid: str, started: float) -> str | None:
        """The passive reply's text, or None for "success"."""
        mapped = inbound_of(message, openid)
        if isinstance(mapped, Passive):
            return render(mapped.key, LOCALE) if mapped.key else None
        if self._group is None:
            # Not recorded as seen: WeChat's retry may reach a worker that is running.
            log.error("wechat callback used while not running")
            raise Refused(503, "not running")
        if not await self._first_sight(dedupe_key(message, openid)):
            return None  # a retry of a message that is (being) answered
        inbound = self._with_numbers(mapped)
        pending = _Pending(asyncio.get_running_loop().create_future())
        task = self._group.create_task(self._work(inbound, pending))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        loop = asyncio.get_running_loop()
        budget = max(0.0, started + self.reply_budget - loop.time())
        try:
            await asyncio.wait([pending.passive], timeout=budget)
        except asyncio.CancelledError:
            pending.late = True  # the connection went away: the answer must still arrive
            raise
        if pending.passive.done():
            return pending.passive.result()
        pending.late = True  # the task sends everything once it is done
        return None

    async def _first_sight(self, key: str) -> bool:
        """Record the message as seen, in its own unit of work, before handling it; False
        if some worker already did. The database is shared, so this holds across workers."""
        async with self.sessions() as session, session.begin():
            return await first_sight(session, self.clock, key)

    async def _work(self, inbound: Inbound, pending: _Pending) -> None:
        """Handle one message; hand the passive reply to the request if it still waits,
        send the rest (or everything, if it gave up waiting) through send_later.

        Never raises: a failure here would cancel every other answer in the TaskGroup.
        """
        openid = inbound.user_ref
        try:
            answer = await self.handle(inbound)
            self._remember(openid, answer)
            if pending.late:
                later = list(answer.replies)
            else:
                passive, later = self.split(answer)
                pending.passive.set_result(passive)
            if later:
                await self.send_later(openid, later, answer.locale)
            # Notices parked outside the 48-hour window are released by the dialogs router
            # in the same unit of work as this message (dialogs.router.handle).
        except Exception:
            log.exception("failed to answer a wechat message")
        finally:
            if not pending.passive.done():
                pending.passive.set_result(None)
            with contextlib.suppress(Exception):
                self.on_handled()

    @staticmethod
    def split(answer: Answer) -> tuple[str | None, list[Reply]]:
        """The passive reply's text and what goes later, in the order written.

        Only the first reply can be passive, and only as text: if it carries an image,
        everything goes later. A reply that explains the next (why a question comes again)
        goes with it, so that the passive reply holds the question and its numbers (an
        account without customer-service messages sends nothing else). A first reply over
        2048 bytes is cut; the rest follows.
        """
        replies = list(answer.replies)
        if not replies or replies[0].media:
            return None, replies
        text, _ = numbered_choices(replies[0], answer.locale)
        used = 1
        if replies[0].lead_in and len(replies) > 1 and not replies[1].media:
            question, _ = numbered_choices(replies[1], answer.locale)
            text, used = f"{text}\n{question}", 2
        parts = split_utf8(clean_text(text), MAX_PASSIVE_BYTES)
        if not parts:
            return None, replies[used:]
        rest = [Reply("label.raw", {"text": part}) for part in parts[1:]]
        return parts[0], rest + replies[used:]

    # -- numbered choices ---------------------------------------------------------------

    def _remember(self, openid: str, answer: Answer) -> None:
        """The numbers of the last list the person will see (none if no reply has one)."""
        payloads: list[str] = []
        for reply in answer.replies:
            numbered = numbered_choices(reply, answer.locale)[1]
            if numbered or reply.free_text:
                # A question answered in words after a list: a number typed now is its answer.
                payloads = numbered
        self.remember(openid, payloads)

    def remember(self, openid: str, payloads: list[str]) -> None:
        """Record what the numbers in the last list sent to `openid` mean."""
        self._numbers[openid] = _Numbers(payloads, self.clock.now())
        self._numbers.move_to_end(openid)
        while len(self._numbers) > MAX_REMEMBERED:
            self._numbers.popitem(last=False)

    def _with_numbers(self, inbound: Inbound) -> Inbound:
        if inbound.kind != "text":
            return inbound
        typed = inbound.text.strip().strip("。.")
        numbers = self._numbers.get(inbound.user_ref)
        if not (typed.isdecimal() and len(typed) <= 3) or numbers is None or numbers.at is None:
            return inbound
        if self.clock.now() - numbers.at > REMEMBER_FOR:
            return inbound
        index = int(typed) - 1
        if not 0 <= index < len(numbers.payloads):
            return inbound
        payload = numbers.payloads[index]
        # A number meaning an action that works anywhere (payloads.global_action: menu,
        # case buttons, and a step's back/cancel, which numbered_choices numbers after the
        # step's own choices) is sent as the button itself; a step's own choice is not, as
        # the dialog reads the numbers of its choices.
        action = parse(payload)
        if action is None or not action.global_action:
            return inbound
        return Inbound(
            channel=inbound.channel,
            user_ref=inbound.user_ref,
            chat_ref=inbound.chat_ref,
            kind="choice",
            choice=payload,
            language=inbound.language,
        )
