"""The few WeChat official-account API calls we make, over aiohttp.

wechatpy's client is synchronous (requests), which would block the event loop; signatures,
AES and XML stay with wechatpy in the callback, and this module only speaks JSON.

Access token: WeChat allows few token fetches a day, and a forced refresh invalidates the
token every other worker holds, so the token lives in the `access_tokens` table, shared by
all workers, and is fetched from the stable-token endpoint, which hands every caller the
same token while it is valid. Within a process one lock makes one refresher.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import aiohttp

from dispatch.clock import Clock, as_utc
from storage.database import Sessions
from storage.models import AccessToken
from storage.upserts import _insert

log = logging.getLogger(__name__)

DEFAULT_BASE = "https://api.weixin.qq.com"
# A customer-service text message takes at most 2048 bytes of UTF-8.
MAX_TEXT_BYTES = 2048
# Refresh this long before the token expires, so a call never carries a dying token.
REFRESH_MARGIN = timedelta(minutes=5)
# Near expiry the stable-token endpoint may hand back the same dying token; fetch at most
# this often then, rather than on every call.
MIN_FETCH_INTERVAL = timedelta(seconds=60)
TIMEOUT = aiohttp.ClientTimeout(total=10)
# invalid credential, access token expired, invalid access token
TOKEN_REJECTED = frozenset({40001, 42001, 40014})

Json = dict[str, Any]


class WeChatAPIError(Exception):
    """WeChat answered with a non-zero errcode."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"{errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


def split_utf8(text: str, limit: int = MAX_TEXT_BYTES) -> list[str]:
    """Cut text into parts of at most `limit` UTF-8 bytes, at line breaks where possible."""
    parts: list[str] = []
    while len(text.encode()) > limit:
        # The longest prefix that fits, in characters (Chinese takes 3 bytes each).
        fits = len(text.encode()[:limit].decode(errors="ignore"))
        cut = text.rfind("\n", 0, fits + 1)
        cut = cut if cut > fits // 2 else fits
        parts.append(text[:cut])
        text = text[cut:].lstrip("\n")
    if text.strip():
        parts.append(text)
    return parts


class WeChatAPI:
    """One per process: it holds the process's token lock and HTTP connection pool."""

    def __init__(
        self,
        sessions: Sessions,
        clock: Clock,
        app_id: str,
        app_secret: str,
        base_url: str = DEFAULT_BASE,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.app_id = app_id
        self._secret = app_secret
        self.base_url = base_url.rstrip("/")
        self._http: aiohttp.ClientSession | None = None
        self._lock = asyncio.Lock()
        # This process's copy of the shared row, so that most calls need no query.
        self._token: str | None = None
        self._expires_at: datetime | None = None
        self._fetched_at: datetime | None = None

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(timeout=TIMEOUT)
        return self._http

    # -- access token -------------------------------------------------------------------

    def _usable(self, token: str | None, expires_at: datetime | None) -> bool:
        if token is None or expires_at is None:
            return False
        now = self.clock.now()
        if expires_at - now > REFRESH_MARGIN:
            return True
        # Inside the margin: keep a token we fetched a moment ago (WeChat gave us the
        # same one back) until it really runs out.
        recent = self._fetched_at is not None and now - self._fetched_at < MIN_FETCH_INTERVAL
        return recent and expires_at > now

    async def access_token(self, *, force_refresh: bool = False) -> str:
        """A valid token: this process's copy, else the shared row, else a fresh fetch.

        `force_refresh` asks WeChat for a new token even if ours looks valid, which
        invalidates the old one for every worker; use it only when WeChat rejected it.
        """
        if not force_refresh and self._usable(self._token, self._expires_at):
            assert self._token is not None
            return self._token
        async with self._lock:
            if not force_refresh:
                await self._load()
                if self._usable(self._token, self._expires_at):
                    assert self._token is not None
                    return self._token
            return await self._fetch(force_refresh=force_refresh)

    async def _renew_rejected(self, rejected: str) -> str:
        """WeChat refused `rejected`. Another worker (or coroutine) may already have
        replaced it; only when the shared row still holds it do we force a refresh."""
        async with self._lock:
            await self._load()
            if self._token is not None and self._token != rejected:
                return self._token
            return await self._fetch(force_refresh=True)

    async def _load(self) -> None:
        async with self.sessions() as session, session.begin():
            row = await session.get(AccessToken, self.app_id)
            if row is not None:
                self._token, self._expires_at = row.token, as_utc(row.expires_at)

    async def _fetch(self, *, force_refresh: bool) -> str:
        body = {
            "grant_type": "client_credential",
            "appid": self.app_id,
            "secret": self._secret,
            "force_refresh": force_refresh,
        }
        async with self._session().post(
            f"{self.base_url}/cgi-bin/stable_token", data=_json(body), headers=_JSON_HEADERS
        ) as response:
            response.raise_for_status()
            data = await response.json(content_type=None)
        _check(data)
        now = self.clock.now()
        token = str(data["access_token"])
        expires_at = now + timedelta(seconds=int(data["expires_in"]))
        values = {"token": token, "expires_at": expires_at}
        async with self.sessions() as session, session.begin():
            stmt = _insert(session, AccessToken.__table__).values(  # type: ignore[arg-type]
                app_id=self.app_id, **values
            )
            await session.execute(
                stmt.on_conflict_do_update(index_elements=["app_id"], set_=values)
            )
        self._token, self._expires_at, self._fetched_at = token, expires_at, now
        log.info("wechat access token fetched (force_refresh=%s)", force_refresh)
        return token

    # -- calls ----------------------------------------------------------------------------

    async def _call(
        self,
        path: str,
        *,
        json_body: Json | None = None,
        form: Callable[[], aiohttp.FormData] | None = None,
        params: dict[str, str] | None = None,
    ) -> Json:
        """POST to `path` with the token; a rejected token is renewed once and the call
        repeated once. A non-zero errcode raises WeChatAPIError."""
        token = await self.access_token()
        data = await self._post(path, token, json_body, form, params)
        if data.get("errcode") in TOKEN_REJECTED:
            log.warning("wechat rejected the access token (%s); renewing", data.get("errcode"))
            token = await self._renew_rejected(token)
            data = await self._post(path, token, json_body, form, params)
        _check(data)
        return data

    async def _post(
        self,
        path: str,
        token: str,
        json_body: Json | None,
        form: Callable[[], aiohttp.FormData] | None,
        params: dict[str, str] | None,
    ) -> Json:
        query = {"access_token": token, **(params or {})}
        url = f"{self.base_url}{path}"
        if form is not None:
            # A FormData can be sent only once, so a retry builds a new one.
            request = self._session().post(url, params=query, data=form())
        else:
            body = _json(json_body or {})
            request = self._session().post(url, params=query, data=body, headers=_JSON_HEADERS)
        async with request as response:
            response.raise_for_status()
            result = await response.json(content_type=None)
        if not isinstance(result, dict):
            raise WeChatAPIError(-2, f"unexpected answer from {path}: {result!r:.200}")
        return result

    async def send_text(self, openid: str, text: str) -> None:
        """A customer-service text message; over 2048 bytes it goes as several messages."""
        for part in split_utf8(text):
            await self._call(
                "/cgi-bin/message/custom/send",
                json_body={"touser": openid, "msgtype": "text", "text": {"content": part}},
            )

    async def upload_image(self, png: bytes) -> str:
        """Upload a temporary image (kept 3 days by WeChat); returns its media_id."""

        def form() -> aiohttp.FormData:
            data = aiohttp.FormData()
            data.add_field("media", png, filename="image.png", content_type="image/png")
            return data

        data = await self._call("/cgi-bin/media/upload", form=form, params={"type": "image"})
        return str(data["media_id"])

    async def send_image(self, openid: str, media_id: str) -> None:
        await self._call(
            "/cgi-bin/message/custom/send",
            json_body={"touser": openid, "msgtype": "image", "image": {"media_id": media_id}},
        )

    async def send_template(self, openid: str, template_id: str, data: dict[str, str]) -> int:
        """A template message (allowed outside the 48-hour window); returns its msgid."""
        answer = await self._call(
            "/cgi-bin/message/template/send",
            json_body={
                "touser": openid,
                "template_id": template_id,
                "data": {name: {"value": value} for name, value in data.items()},
            },
        )
        return int(answer.get("msgid") or 0)

    async def create_qr_scene(self, scene: str) -> tuple[str, str]:
        """A permanent parametric QR code for `scene` (1-64 characters); (ticket, url).

        `url` is what the code encodes; the image is at
        https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket=<ticket, URL-encoded>.
        """
        answer = await self._call(
            "/cgi-bin/qrcode/create",
            json_body={
                "action_name": "QR_LIMIT_STR_SCENE",
                "action_info": {"scene": {"scene_str": scene}},
            },
        )
        return str(answer["ticket"]), str(answer["url"])

    async def create_menu(self, menu: Json) -> None:
        await self._call("/cgi-bin/menu/create", json_body=menu)


_JSON_HEADERS = {"Content-Type": "application/json; charset=utf-8"}


def _json(body: Json) -> bytes:
    # UTF-8 as is, as wechatpy sends it: some WeChat endpoints (menus) mishandled \u escapes.
    return json.dumps(body, ensure_ascii=False).encode()


def _check(data: Json) -> None:
    errcode = int(data.get("errcode") or 0)
    if errcode != 0:
        raise WeChatAPIError(errcode, str(data.get("errmsg") or ""))
