"""A stand-in for ``api.weixin.qq.com`` (WeChat official-account JSON API) for tests.

An aiohttp server on ``127.0.0.1`` (a free port) that answers the way WeChat does: every
answer is JSON with HTTP 200, errors included (``{"errcode": N, "errmsg": "..."}``).  Point
the adapter's base URL at ``fake.base_url``.  Everything runs on the test's event loop and
is not thread-safe.

Endpoints (``access_token`` is required by all but the two token endpoints):

- ``GET /cgi-bin/token`` and ``POST /cgi-bin/stable_token`` -- access tokens (see below);
- ``POST /cgi-bin/message/custom/send`` and ``/custom/typing`` -- customer-service messages;
- ``POST /cgi-bin/message/template/send`` -- template messages (ids from ``add_template``);
- ``POST /cgi-bin/qrcode/create`` -- parametric QR codes;
- ``POST /cgi-bin/media/upload?type=`` (multipart file field ``media``) and
  ``GET /cgi-bin/media/get?media_id=`` -- temporary media;
- ``POST /cgi-bin/menu/create``, ``GET /cgi-bin/menu/get``, ``GET /cgi-bin/menu/delete``;
- ``GET /cgi-bin/user/info?openid=``.

Tokens: ``/cgi-bin/token`` issues a new token on every call and leaves the previous ones
valid for 5 more minutes.  ``/cgi-bin/stable_token`` hands back the same token until it has
less than 5 minutes left (then a new one), or until ``force_refresh: true``, which issues a
new one and invalidates the previous stable token at once.  Tokens run out after
``token_ttl`` seconds of the fake's clock, which ``advance(seconds)`` moves forward (then the
call answers 42001).  ``expire_tokens()`` invalidates every token issued so far (40001, or
42001 with ``errcode=42001``).

Rules enforced (codes as WeChat's): custom text over 2048 UTF-8 bytes (45002); unknown
media_id (40007); unknown template_id (40037); scene_str not 1-64 characters (40097, see
``_qrcode_create``); image not PNG/JPEG/GIF (40005) or over 10 MB (40009); menu over 3
buttons (40016) or 5 sub-buttons (40023), and the name/key/url sizes; wrong HTTP method
(43001/43002); unparsable JSON (47001).  Opt-in: ``enforce_window=True`` answers 45015 to
custom messages for people who have not written (``user_wrote(openid)``) in 48 hours, and
``unsubscribe(openid)`` makes sends to that person answer 43004.
"""

from __future__ import annotations

import itertools
import json
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes._server import LocalServer, Waiter, due_failure, notify_waiters, wait_in

JsonDict = dict[str, Any]

MAX_CUSTOM_TEXT_BYTES = 2048
MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_SCENE_STR = 64
MAX_BUTTONS = 3
MAX_SUB_BUTTONS = 5
MAX_BUTTON_NAME_BYTES = 16
MAX_SUB_BUTTON_NAME_BYTES = 60
MAX_BUTTON_KEY_BYTES = 128
MAX_BUTTON_URL_BYTES = 1024
TOKEN_GRACE_SECONDS = 300  # old tokens stay valid this long after a refresh
WINDOW_SECONDS = 48 * 3600  # customer-service messages: 48 hours after the person wrote

#: Paths whose successful calls count as "sent to the person" (see ``sent()``).
SEND_PATHS = frozenset({"/cgi-bin/message/custom/send", "/cgi-bin/message/template/send"})

#: WeChat's errmsg for the codes the fake produces (and defaults for ``fail_next``).
ERRMSG: dict[int, str] = {
    -1: "system error",
    0: "ok",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40003: "invalid openid",
    40004: "invalid media type",
    40005: "invalid file type",
    40006: "invalid meida size",  # sic: WeChat's spelling
    40007: "invalid media_id",
    40008: "invalid message type",
    40009: "invalid image size",
    40010: "invalid voice size",
    40011: "invalid video size",
    40012: "invalid thumb size",
    40013: "invalid appid",
    40014: "invalid access_token",
    40016: "invalid button size",
    40017: "invalid button type",
    40018: "invalid button name size",
    40019: "invalid button key size",
    40020: "invalid button url size",
    40023: "invalid sub button size",
    40024: "invalid sub button type",
    40025: "invalid sub button name size",
    40026: "invalid sub button key size",
    40027: "invalid sub button url size",
    40037: "invalid template_id",
    40052: "invalid action name",
    40097: "invalid args",
    40125: "invalid appsecret",
    41001: "access_token missing",
    41002: "appid missing",
    41004: "appsecret missing",
    41005: "media data missing",
    41006: "media_id missing",
    42001: "access_token expired",
    43001: "require GET method",
    43002: "require POST method",
    43004: "require subscribe",
    43019: "require remove blacklist",
    44002: "empty post data",
    44004: "empty content",
    45002: "content size out of limit",
    45009: "reach max api daily quota limit",
    45015: "response out of time limit or subscription is canceled",
    45047: "out of response count limit",
    46003: "menu no exist",
    47001: "data format error",
    47003: "argument invalid!",
}

_MEDIA_LIMITS = {  # type -> (max bytes, errcode when over)
    "image": (MAX_IMAGE_BYTES, 40009),
    "voice": (2 * 1024 * 1024, 40010),
    "video": (10 * 1024 * 1024, 40011),
    "thumb": (64 * 1024, 40012),
}
_CUSTOM_MSGTYPES = frozenset(
    {
        "text",
        "image",
        "voice",
        "video",
        "music",
        "news",
        "mpnews",
        "mpnewsarticle",
        "msgmenu",
        "wxcard",
        "miniprogrampage",
    }
)
_KEY_BUTTONS = frozenset(
    {
        "click",
        "scancode_push",
        "scancode_waitmsg",
        "pic_sysphoto",
        "pic_photo_or_album",
        "pic_weixin",
        "location_select",
    }
)
_BUTTON_TYPES = _KEY_BUTTONS | {
    "view",
    "miniprogram",
    "media_id",
    "view_limited",
    "article_id",
    "article_view_limited",
}
_QR_ACTIONS = frozenset({"QR_SCENE", "QR_STR_SCENE", "QR_LIMIT_SCENE", "QR_LIMIT_STR_SCENE"})


class WeChatError(Exception):
    """Raised by endpoint handlers; becomes ``{"errcode": ..., "errmsg": ...}``."""

    def __init__(self, errcode: int, errmsg: str | None = None, status: int = 200) -> None:
        self.errcode = errcode
        self.errmsg = errmsg if errmsg is not None else ERRMSG.get(errcode, f"error {errcode}")
        self.status = status
        super().__init__(f"{errcode}: {self.errmsg}")


@dataclass(slots=True)
class WeChatCall:
    """One request the adapter made (recorded whether it succeeded or not)."""

    method: str  # HTTP method
    path: str
    query: dict[str, str]
    body: Any  # parsed JSON; multipart: field -> bytes; unparsable: the raw text; none: None
    at: float  # time.monotonic() when the request reached the server
    failed: bool = False
    errcode: int = 0
    errmsg: str = "ok"
    response: Any = None  # the JSON answered (None for binary answers)
    filenames: dict[str, str] = field(default_factory=dict)  # multipart field -> filename

    @property
    def openid(self) -> str | None:
        """``touser`` of a send, else the ``openid`` query parameter."""
        if isinstance(self.body, dict) and isinstance(self.body.get("touser"), str):
            return str(self.body["touser"])
        return self.query.get("openid")

    @property
    def msgtype(self) -> str | None:
        if isinstance(self.body, dict) and isinstance(self.body.get("msgtype"), str):
            return str(self.body["msgtype"])
        return None

    @property
    def text(self) -> str:
        """The content of a custom text message, else ``""``."""
        if self.msgtype == "text":
            text = self.body.get("text")
            if isinstance(text, dict) and isinstance(text.get("content"), str):
                return str(text["content"])
        return ""


@dataclass(slots=True)
class _Token:
    value: str
    kind: str  # "token" or "stable"
    expires_at: float  # on the fake's clock
    revoked: int | None = None  # errcode answered once invalidated


@dataclass(slots=True)
class _FailRule:
    errcode: int
    errmsg: str | None
    openid: str | None
    status: int
    remaining: int
    skip: int = 0  # matching calls let through before the failures start


@dataclass(slots=True)
class Media:
    type: str
    data: bytes
    filename: str
    created_at: int


class FakeWeChatAPI(LocalServer):
    """An in-process HTTP server speaking enough of WeChat's official-account API."""

    def __init__(
        self,
        app_id: str = "wx_test_app",
        app_secret: str = "test-secret",
        token_ttl: int = 7200,
        *,
        templates: Iterable[str] = (),
        enforce_window: bool = False,
        rid_in_errmsg: bool = False,
    ) -> None:
        self.app_id = app_id
        self.app_secret = app_secret
        self.token_ttl = token_ttl
        self.enforce_window = enforce_window
        #: Append " rid: ..." to error messages as today's WeChat does (to prove the adapter
        #: keys on errcode, never on errmsg).
        self.rid_in_errmsg = rid_in_errmsg
        self.base_url = ""
        self.calls: list[WeChatCall] = []
        self.tokens_issued = 0
        self.templates: set[str] = set(templates)
        self.media: dict[str, Media] = {}  # media_id -> uploaded (or add_media'd) file
        self.qr_codes: dict[str, JsonDict] = {}  # ticket -> the qrcode/create request body
        self.menu: list[JsonDict] | None = None  # the "button" list last created
        self.unsubscribed: set[str] = set()
        self.typing: dict[str, str] = {}  # openid -> last typing command

        self._skew = 0.0
        self._tokens: dict[str, _Token] = {}
        self._stable: _Token | None = None
        self._last_wrote: dict[str, float] = {}
        self._sent: list[WeChatCall] = []
        self._fail_rules: dict[str, list[_FailRule]] = {}
        self._waiters: list[Waiter[WeChatCall]] = []
        self._msgids = itertools.count(2_000_000_001)
        self._media_ids = itertools.count(1)

        Handler = Callable[[WeChatCall], Any]
        self._routes: dict[str, tuple[str, Handler, bool]] = {
            # path -> (HTTP method, handler, needs access_token)
            "/cgi-bin/token": ("GET", self._token, False),
            "/cgi-bin/stable_token": ("POST", self._stable_token, False),
            "/cgi-bin/message/custom/send": ("POST", self._custom_send, True),
            "/cgi-bin/message/custom/typing": ("POST", self._custom_typing, True),
            "/cgi-bin/message/template/send": ("POST", self._template_send, True),
            "/cgi-bin/qrcode/create": ("POST", self._qrcode_create, True),
            "/cgi-bin/media/upload": ("POST", self._media_upload, True),
            "/cgi-bin/media/get": ("GET", self._media_get, True),
            "/cgi-bin/menu/create": ("POST", self._menu_create, True),
            "/cgi-bin/menu/get": ("GET", self._menu_get, True),
            "/cgi-bin/menu/delete": ("GET", self._menu_delete, True),
            "/cgi-bin/user/info": ("GET", self._user_info, True),
        }

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        app = web.Application(client_max_size=4 * MAX_IMAGE_BYTES)
        app.router.add_route("*", "/{path:.*}", self._handle)
        await self._serve(app)

    async def stop(self) -> None:
        for waiter in self._waiters:
            waiter.future.cancel()
        self._waiters.clear()
        await self._close()

    # ------------------------------------------------------------------ clock and tokens

    def now(self) -> float:
        """The fake's clock (Unix seconds), moved on by ``advance``."""
        return time.time() + self._skew

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass for tokens and the 48-hour window (no real waiting)."""
        self._skew += seconds

    def expire_tokens(self, errcode: int = 40001) -> None:
        """Invalidate every token issued so far: the next call with one answers ``errcode``
        (40001 "invalid credential ..." by default, or 42001 "access_token expired")."""
        if errcode not in (40001, 40014, 42001):
            raise ValueError("expire_tokens takes 40001, 40014 or 42001")
        for token in self._tokens.values():
            token.revoked = errcode

    @property
    def valid_tokens(self) -> list[str]:
        now = self.now()
        return [t.value for t in self._tokens.values() if t.revoked is None and t.expires_at > now]

    def _issue(self, kind: str) -> _Token:
        self.tokens_issued += 1
        value = f"{self.tokens_issued:03d}_{secrets.token_urlsafe(96)}"
        token = _Token(value, kind, self.now() + self.token_ttl)
        self._tokens[value] = token
        return token

    def _check_token(self, call: WeChatCall) -> None:
        value = call.query.get("access_token", "")
        if not value:
            raise WeChatError(41001)
        token = self._tokens.get(value)
        if token is None:
            raise WeChatError(40001)
        if token.revoked is not None:
            raise WeChatError(token.revoked)
        if token.expires_at <= self.now():
            raise WeChatError(42001)

    def _check_app(self, grant_type: Any, appid: Any, secret: Any) -> None:
        if not appid:
            raise WeChatError(41002)
        if not secret:
            raise WeChatError(41004)
        if grant_type != "client_credential":
            raise WeChatError(40002)
        if appid != self.app_id:
            raise WeChatError(40013)
        if secret != self.app_secret:
            raise WeChatError(40125)

    # ------------------------------------------------------------------ test controls

    def add_template(self, template_id: str) -> None:
        """Make ``template_id`` one of the account's templates."""
        self.templates.add(template_id)

    def add_media(self, media_id: str, data: bytes, media_type: str = "image") -> None:
        """Store media as if a person had sent it (served by ``/cgi-bin/media/get``)."""
        self.media[media_id] = Media(media_type, data, f"{media_id}.bin", int(self.now()))

    def user_wrote(self, openid: str) -> None:
        """The person wrote to the account now: opens their 48-hour window."""
        self._last_wrote[openid] = self.now()
        self.unsubscribed.discard(openid)

    def unsubscribe(self, openid: str) -> None:
        """The person unfollowed: sends to them answer 43004 "require subscribe"."""
        self.unsubscribed.add(openid)

    def fail_next(
        self,
        path: str,
        errcode: int,
        errmsg: str | None = None,
        times: int = 1,
        *,
        openid: str | None = None,
        status: int = 200,
        skip: int = 0,
    ) -> None:
        """Make the next ``times`` calls to ``path`` (to ``openid``, if given) answer
        ``{"errcode": errcode, "errmsg": errmsg}`` (WeChat's own errmsg by default).

        Injected failures come before the token check.  ``status`` other than 200 answers
        with that HTTP status instead (a gateway error; WeChat itself always says 200).
        ``skip`` lets that many matching calls through first (the second part fails).
        """
        rule = _FailRule(errcode, errmsg, openid, status, times, skip)
        self._fail_rules.setdefault(path, []).append(rule)

    def clear(self) -> None:
        """Forget recorded calls (tokens, media, menu and fail rules are kept)."""
        self.calls.clear()
        self._sent.clear()

    # ------------------------------------------------------------------ inspection

    def sent(self, openid: str | None = None) -> list[WeChatCall]:
        """Successful custom and template sends (to ``openid``, if given), in order."""
        return [c for c in self._sent if openid is None or c.openid == openid]

    def texts(self, openid: str | None = None) -> list[str]:
        """The content of each successful custom text message (to ``openid``), in order."""
        return [c.text for c in self.sent(openid) if c.msgtype == "text"]

    def calls_to(self, path: str) -> list[WeChatCall]:
        return [c for c in self.calls if c.path == path]

    async def wait_for(
        self,
        predicate: Callable[[WeChatCall], bool],
        timeout: float = 5.0,  # noqa: ASYNC109 -- part of the fixture's documented API
        *,
        since: int | None = None,
    ) -> WeChatCall:
        """Wait for a recorded call matching ``predicate`` (failed calls included).

        Only calls recorded after this is awaited count, unless ``since`` is given: then
        ``self.calls[since:]`` is checked first.  Raises ``TimeoutError`` listing the last
        few calls.
        """
        if since is not None:
            for call in self.calls[since:]:
                if predicate(call):
                    return call

        def timeout_message() -> str:
            recent = ", ".join(
                f"{c.method} {c.path}({c.openid or ''} {c.errcode})" for c in self.calls[-8:]
            )
            return f"no matching WeChat API call within {timeout}s; last calls: [{recent}]"

        return await wait_in(self._waiters, predicate, timeout, timeout_message)

    # ------------------------------------------------------------------ HTTP

    async def _read(self, request: web.Request) -> WeChatCall:
        call = WeChatCall(request.method, request.path, dict(request.query), None, time.monotonic())
        if not request.body_exists:
            return call
        if request.content_type.startswith("multipart/"):
            fields: dict[str, bytes] = {}
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    fields[key] = value.file.read()
                    call.filenames[key] = value.filename
                else:
                    fields[key] = str(value).encode()
            call.body = fields
            return call
        raw = await request.read()
        if not raw:
            return call
        text = raw.decode("utf-8", errors="replace")
        try:
            call.body = json.loads(text)
        except ValueError:
            call.body = text
        return call

    def _errmsg(self, errmsg: str) -> str:
        if not self.rid_in_errmsg:
            return errmsg
        rid = f"{secrets.token_hex(4)}-{secrets.token_hex(4)}-{secrets.token_hex(4)}"
        return f"{errmsg} rid: {rid}"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        try:
            call = await self._read(request)
        except web.HTTPRequestEntityTooLarge:
            at = time.monotonic()
            call = WeChatCall(request.method, request.path, dict(request.query), None, at)
            return self._answer(call, error=WeChatError(40009 if "media" in call.path else 47001))
        route = self._routes.get(call.path)
        if route is None:
            # WeChat serves an HTML 404 page for unknown paths.
            call.failed, call.errcode, call.errmsg = True, -1, "not found"
            self._record(call)
            return web.Response(status=404, text="404 Not Found")
        http_method, handler, needs_token = route
        try:
            self._check_injected(call)
            if call.method != http_method:
                raise WeChatError(43001 if http_method == "GET" else 43002)
            if needs_token:
                self._check_token(call)
            result = handler(call)
        except WeChatError as error:
            return self._answer(call, error=error)
        if isinstance(result, web.Response):  # binary media
            self._record(call)
            return result
        return self._answer(call, result=result)

    def _answer(
        self, call: WeChatCall, *, result: JsonDict | None = None, error: WeChatError | None = None
    ) -> web.Response:
        status = 200
        if error is not None:
            call.failed, call.errcode = True, error.errcode
            call.errmsg = self._errmsg(error.errmsg)
            payload: JsonDict = {"errcode": error.errcode, "errmsg": call.errmsg}
            status = error.status
        else:
            payload = result or {}
            call.errcode = int(payload.get("errcode", 0))
            call.errmsg = str(payload.get("errmsg", "ok"))
        call.response = payload
        self._record(call)
        return web.Response(
            status=status,
            body=json.dumps(payload, ensure_ascii=False).encode(),
            headers={"Content-Type": "application/json; encoding=utf-8"},
        )

    def _check_injected(self, call: WeChatCall) -> None:
        rule = due_failure(
            self._fail_rules.get(call.path),
            lambda rule: rule.openid is None or rule.openid == call.openid,
        )
        if rule is not None:
            raise WeChatError(rule.errcode, rule.errmsg, rule.status)

    def _record(self, call: WeChatCall) -> None:
        self.calls.append(call)
        if not call.failed and call.path in SEND_PATHS:
            self._sent.append(call)
        notify_waiters(self._waiters, call)

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _json_body(call: WeChatCall) -> JsonDict:
        if call.body is None or call.body == "":
            raise WeChatError(44002)
        if not isinstance(call.body, dict):
            raise WeChatError(47001)
        return call.body

    def _check_recipient(self, openid: Any) -> str:
        if not isinstance(openid, str) or not openid:
            raise WeChatError(40003)
        if openid in self.unsubscribed:
            raise WeChatError(43004)
        return openid

    def _check_media(self, value: Any, media_type: str) -> None:
        media_id = value.get("media_id") if isinstance(value, dict) else None
        if not media_id:
            raise WeChatError(41006)
        media = self.media.get(str(media_id))
        if media is None or media.type != media_type:
            raise WeChatError(40007)

    # ------------------------------------------------------------------ endpoints

    def _token(self, call: WeChatCall) -> JsonDict:
        q = call.query
        self._check_app(q.get("grant_type"), q.get("appid"), q.get("secret"))
        grace_end = self.now() + TOKEN_GRACE_SECONDS
        for token in self._tokens.values():
            if token.kind == "token":
                token.expires_at = min(token.expires_at, grace_end)
        token = self._issue("token")
        return {"access_token": token.value, "expires_in": self.token_ttl}

    def _stable_token(self, call: WeChatCall) -> JsonDict:
        body = self._json_body(call)
        self._check_app(body.get("grant_type"), body.get("appid"), body.get("secret"))
        force = body.get("force_refresh", False)
        if not isinstance(force, bool):
            raise WeChatError(47001)
        current = self._stable
        now = self.now()
        if force and current is not None:
            current.revoked = 40001
        usable = (
            current is not None
            and not force
            and current.revoked is None
            and current.expires_at - now > TOKEN_GRACE_SECONDS
        )
        if not usable:
            current = self._stable = self._issue("stable")
        assert current is not None
        return {"access_token": current.value, "expires_in": int(current.expires_at - now)}

    def _custom_send(self, call: WeChatCall) -> JsonDict:
        body = self._json_body(call)
        openid = self._check_recipient(body.get("touser"))
        msgtype = body.get("msgtype")
        if msgtype not in _CUSTOM_MSGTYPES:
            raise WeChatError(40008)
        payload = body.get(str(msgtype))
        if not isinstance(payload, dict):
            raise WeChatError(47001)
        if msgtype == "text":
            content = payload.get("content")
            if not isinstance(content, str) or not content:
                raise WeChatError(44004)
            if len(content.encode()) > MAX_CUSTOM_TEXT_BYTES:
                raise WeChatError(45002)
        elif msgtype in ("image", "voice", "video"):
            self._check_media(payload, str(msgtype))
        if self.enforce_window:
            wrote = self._last_wrote.get(openid)
            if wrote is None or self.now() - wrote > WINDOW_SECONDS:
                raise WeChatError(45015)
        return {"errcode": 0, "errmsg": "ok"}

    def _custom_typing(self, call: WeChatCall) -> JsonDict:
        body = self._json_body(call)
        openid = self._check_recipient(body.get("touser"))
        command = body.get("command")
        if command not in ("Typing", "CancelTyping"):
            raise WeChatError(47003)
        self.typing[openid] = str(command)
        return {"errcode": 0, "errmsg": "ok"}

    def _template_send(self, call: WeChatCall) -> JsonDict:
        body = self._json_body(call)
        self._check_recipient(body.get("touser"))
        if body.get("template_id") not in self.templates:
            raise WeChatError(40037)
        data = body.get("data", {})
        if not isinstance(data, dict) or not all(
            isinstance(v, dict) and isinstance(v.get("value"), str) for v in data.values()
        ):
            raise WeChatError(47003)
        return {"errcode": 0, "errmsg": "ok", "msgid": next(self._msgids)}

    def _qrcode_create(self, call: WeChatCall) -> JsonDict:
        """Scene errors answer 40097 "invalid args": WeChat documents the 1-64 character
        limit of scene_str (and 1-100000 for a permanent scene_id) but not the code it
        answers; 40097 is its generic "invalid args"."""
        body = self._json_body(call)
        action = body.get("action_name")
        if action not in _QR_ACTIONS:
            raise WeChatError(40052)
        info = body.get("action_info")
        scene = info.get("scene") if isinstance(info, dict) else None
        if not isinstance(scene, dict):
            raise WeChatError(40097)
        if action.endswith("STR_SCENE"):
            value = scene.get("scene_str")
            if not isinstance(value, str) or not 1 <= len(value) <= MAX_SCENE_STR:
                raise WeChatError(40097)
        else:
            value = scene.get("scene_id")
            top = 100_000 if action == "QR_LIMIT_SCENE" else 2**32 - 1
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= top:
                raise WeChatError(40097)
        ticket = f"gQ{secrets.token_urlsafe(72)}"
        self.qr_codes[ticket] = body
        answer: JsonDict = {
            "ticket": ticket,
            "url": f"http://weixin.qq.com/q/{secrets.token_urlsafe(16)}",
        }
        if not action.startswith("QR_LIMIT"):
            expire = body.get("expire_seconds", 60)
            if not isinstance(expire, int) or isinstance(expire, bool) or expire < 0:
                raise WeChatError(40097)
            answer["expire_seconds"] = min(expire, 2_592_000) if expire else 60
        return answer

    def scene_of(self, ticket: str) -> str | None:
        """The scene (scene_str, or scene_id as text) of a QR code the adapter created."""
        body = self.qr_codes.get(ticket)
        if body is None:
            return None
        scene = body["action_info"]["scene"]
        return str(scene.get("scene_str", scene.get("scene_id")))

    def _media_upload(self, call: WeChatCall) -> JsonDict:
        media_type = call.query.get("type", "")
        if media_type not in _MEDIA_LIMITS:
            raise WeChatError(40004)
        if not isinstance(call.body, dict) or "media" not in call.filenames:
            # The file must come as a multipart *file* part named "media".
            raise WeChatError(41005)
        data = call.body["media"]
        if not data:
            raise WeChatError(41005)
        if media_type in ("image", "thumb") and not _is_image(data, media_type):
            raise WeChatError(40005)
        limit, errcode = _MEDIA_LIMITS[media_type]
        if len(data) > limit:
            raise WeChatError(errcode)
        media_id = f"MEDIA_{next(self._media_ids)}_{secrets.token_urlsafe(32)}"
        created_at = int(self.now())
        self.media[media_id] = Media(media_type, data, call.filenames["media"], created_at)
        key = "thumb_media_id" if media_type == "thumb" else "media_id"
        return {"type": media_type, key: media_id, "created_at": created_at}

    def _media_get(self, call: WeChatCall) -> web.Response:
        media_id = call.query.get("media_id", "")
        if not media_id:
            raise WeChatError(41006)
        media = self.media.get(media_id)
        if media is None:
            raise WeChatError(40007)
        kind = _sniff(media.data) or "application/octet-stream"
        return web.Response(
            body=media.data,
            headers={
                "Content-Type": kind,
                "Content-Disposition": f'attachment; filename="{media.filename}"',
            },
        )

    def _menu_create(self, call: WeChatCall) -> JsonDict:
        body = self._json_body(call)
        buttons = body.get("button")
        if not isinstance(buttons, list) or not 1 <= len(buttons) <= MAX_BUTTONS:
            raise WeChatError(40016)
        for button in buttons:
            if not isinstance(button, dict):
                raise WeChatError(47001)
            _check_name(button, MAX_BUTTON_NAME_BYTES, 40018)
            subs = button.get("sub_button")
            if subs:
                if not isinstance(subs, list) or len(subs) > MAX_SUB_BUTTONS:
                    raise WeChatError(40023)
                for sub in subs:
                    if not isinstance(sub, dict):
                        raise WeChatError(47001)
                    _check_name(sub, MAX_SUB_BUTTON_NAME_BYTES, 40025)
                    _check_action(sub, (40024, 40026, 40027))
            else:
                _check_action(button, (40017, 40019, 40020))
        self.menu = buttons
        return {"errcode": 0, "errmsg": "ok"}

    def _menu_get(self, call: WeChatCall) -> JsonDict:
        if self.menu is None:
            raise WeChatError(46003)
        buttons = [{**b, "sub_button": b.get("sub_button") or []} for b in self.menu]
        return {"menu": {"button": buttons}}

    def _menu_delete(self, call: WeChatCall) -> JsonDict:
        self.menu = None
        return {"errcode": 0, "errmsg": "ok"}

    def _user_info(self, call: WeChatCall) -> JsonDict:
        openid = call.query.get("openid", "")
        if not openid:
            raise WeChatError(40003)
        if openid in self.unsubscribed:
            return {"subscribe": 0, "openid": openid}
        return {
            "subscribe": 1,
            "openid": openid,
            "language": call.query.get("lang", "zh_CN"),
            "subscribe_time": int(self._last_wrote.get(openid, self.now())),
            "remark": "",
            "groupid": 0,
            "tagid_list": [],
            "subscribe_scene": "ADD_SCENE_QR_CODE",
            "qr_scene": 0,
            "qr_scene_str": "",
        }


def _sniff(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    return None


def _is_image(data: bytes, media_type: str) -> bool:
    """WeChat takes PNG, JPEG and GIF images; thumbnails must be JPEG."""
    kind = _sniff(data)
    return kind == "image/jpeg" if media_type == "thumb" else kind is not None


def _check_name(button: JsonDict, limit: int, errcode: int) -> None:
    name = button.get("name")
    if not isinstance(name, str) or not name or len(name.encode()) > limit:
        raise WeChatError(errcode)


def _check_action(button: JsonDict, codes: tuple[int, int, int]) -> None:
    """A leaf button: its type, and the key or url that type needs."""
    bad_type, bad_key, bad_url = codes
    kind = button.get("type")
    if kind not in _BUTTON_TYPES:
        raise WeChatError(bad_type)
    if kind in _KEY_BUTTONS:
        key = button.get("key")
        if not isinstance(key, str) or not key or len(key.encode()) > MAX_BUTTON_KEY_BYTES:
            raise WeChatError(bad_key)
    elif kind in ("view", "miniprogram"):
        url = button.get("url")
        if not isinstance(url, str) or not url or len(url.encode()) > MAX_BUTTON_URL_BYTES:
            raise WeChatError(bad_url)
    elif kind in ("media_id", "view_limited"):
        if not button.get("media_id"):
            raise WeChatError(40007)
    elif not button.get("article_id"):
        raise WeChatError(47003)
