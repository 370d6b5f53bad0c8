"""The WeChat callback over HTTP, as WeChat's servers call it: signed (and in safe mode
encrypted) XML in, passive replies out, the real dialogs behind it. What would go out as
customer-service messages is recorded by a stand-in `send_later`."""

from __future__ import annotations

import asyncio
import io
import itertools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select
from wechatpy.crypto import WeChatCrypto

from dialogs.base import Answer, Services
from dialogs.router import handle as engine_handle
from dispatch.clock import FrozenClock
from dispatch.messages import Inbound, Reply
from handlers.wechat import MAX_PASSIVE_BYTES, WeChatCallback, clean_text
from handlers.wechat_transport import numbered_choices
from locales import text as render
from storage.models import Case, InboundSeen
from tests.conftest import GRID
from tests.fakes.wechat_messages import (
    click_xml,
    decrypt_reply,
    encrypted_request,
    event_xml,
    image_xml,
    location_event_xml,
    location_xml,
    other_xml,
    parse_xml,
    scan_xml,
    signed_query,
    subscribe_xml,
    text_xml,
    unsubscribe_xml,
    voice_xml,
)

TOKEN = "pingan-callback-token"
APP_ID = "wx_test_app"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
OPENID = "o_villager_0001"
SAMPLE = Path(__file__).parent / "fakes" / "fixtures" / "wechat_safe_mode_sample.json"


class Recorder:
    """A stand-in for the caller's send_later: records what would go out later."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[Reply], str]] = []
        self.called = asyncio.Event()

    async def __call__(self, openid: str, replies: list[Reply], locale: str) -> None:
        self.calls.append((openid, list(replies), locale))
        self.called.set()

    def texts(self, since: int = 0) -> list[str]:
        return [numbered_choices(r, locale)[0] for _, rs, locale in self.calls[since:] for r in rs]


@dataclass
class Spy:
    """`handle` as the callback sees it, recording what came in and what went back."""

    inner: Any
    inbounds: list[Inbound] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)

    async def __call__(self, inbound: Inbound) -> Answer:
        self.inbounds.append(inbound)
        answer: Answer = await self.inner(inbound)
        self.answers.append(answer)
        return answer

    def keys(self) -> list[str]:
        return [r.text_key for r in self.answers[-1].replies]

    def number_of(self, label: str) -> int:
        """The number the person types for the choice `label` in the last list shown."""
        answer = self.answers[-1]
        for reply in reversed(answer.replies):
            _, payloads = numbered_choices(reply, answer.locale)
            for row in reply.buttons:
                for button in row:
                    shown = render(button.text_key, answer.locale, button.params)
                    if button.payload in payloads and label in shown:
                        return payloads.index(button.payload) + 1
        raise AssertionError(f"no choice {label!r} in {self.keys()}")


@dataclass
class Phone:
    """WeChat's servers posting one person's messages to our callback."""

    client: TestClient[Any, Any]
    callback: WeChatCallback
    spy: Spy
    later: Recorder
    clock: FrozenClock
    safe: bool
    msg_ids: Any = field(default_factory=lambda: itertools.count(10_000_000_001))
    nonces: Any = field(default_factory=lambda: itertools.count(1))
    handled: int = 0
    progress: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def now(self) -> int:
        return int(self.clock.now().timestamp())

    def request(self, xml: str, timestamp: int | None = None) -> tuple[dict[str, str], str]:
        timestamp = self.now if timestamp is None else timestamp
        nonce = f"n{next(self.nonces)}"
        if self.safe:
            return encrypted_request(TOKEN, AES_KEY, APP_ID, xml, timestamp, nonce)
        return signed_query(TOKEN, timestamp, nonce, openid=OPENID), xml

    async def post(self, body: Any, query: dict[str, str] | None = None) -> tuple[int, str]:
        response = await self.client.post("/wechat", params=query or {}, data=body)
        return response.status, await response.text()

    async def push(self, xml: str, openid: str = OPENID) -> str:
        """Post one message; its passive reply's Content, or "success"."""
        query, body = self.request(xml)
        status, text = await self.post(body, query)
        assert status == 200, (status, text)
        if text == "success":
            return text
        if self.safe:
            text = decrypt_reply(TOKEN, AES_KEY, APP_ID, text, query)
        reply = parse_xml(text)
        assert reply["MsgType"] == "text" and reply["ToUserName"] == openid, reply
        return str(reply["Content"])

    async def says(self, words: str, openid: str = OPENID) -> str:
        return await self.push(text_xml(openid, words, next(self.msg_ids), self.now), openid)


@asynccontextmanager
async def wechat(
    services: Services,
    *,
    safe: bool = False,
    handle: Any = None,
    reply_budget: float = 3.0,
) -> AsyncIterator[Phone]:
    """The callback on an aiohttp test server, with its run() in a TaskGroup."""
    spy = Spy(handle or partial(engine_handle, services))
    later = Recorder()
    assert isinstance(services.clock, FrozenClock)
    callback = WeChatCallback(
        token=TOKEN,
        app_id=APP_ID,
        aes_key=AES_KEY if safe else None,
        sessions=services.sessions,
        clock=services.clock,
        handle=spy,
        send_later=later,
        reply_budget=reply_budget,
        allow_plain=not safe,  # PINGAN_WECHAT_ALLOW_PLAIN=true for the plain-mode tests
    )
    phone: Phone | None = None

    def handled() -> None:
        assert phone is not None
        phone.handled += 1
        phone.progress.set()

    callback.on_handled = handled
    app = web.Application(client_max_size=1024 * 1024)
    callback.register(app)
    failure: Exception | None = None
    async with asyncio.TaskGroup() as group:
        runner = group.create_task(callback.run())
        async with TestClient(TestServer(app)) as client:
            phone = Phone(client, callback, spy, later, services.clock, safe)
            try:
                yield phone
            except Exception as exc:  # re-raised below, not wrapped in an ExceptionGroup
                failure = exc
        runner.cancel()
    if failure is not None:
        raise failure


async def messages_seen(services: Services) -> int:
    """Messages recorded as handled (in plain mode each signed query is recorded as well,
    under "wxsig:", so that a replay is refused: tests/test_inbound_edges.py)."""
    async with services.sessions() as session:
        stmt = select(func.count()).where(InboundSeen.key.not_like("wxsig:%"))
        return int(await session.scalar(stmt) or 0)


async def count(services: Services, model: Any) -> int:
    async with services.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def settled(phone: Phone, handled: int) -> None:
    """Wait until `handled` messages have been handled in all (send_later included)."""
    async with asyncio.timeout(10):
        while phone.handled < handled:
            phone.progress.clear()
            await phone.progress.wait()


# -- the URL check ---------------------------------------------------------------------


async def test_url_check_echoes_only_when_signed_by_us_and_fresh(services: Services) -> None:
    async with wechat(services) as phone:
        now = phone.now
        ok = await phone.client.get(
            "/wechat", params=signed_query(TOKEN, now, "abc", echostr="4820183590321")
        )
        assert ok.status == 200 and await ok.text() == "4820183590321"
        assert ok.content_type == "text/plain"

        forged = signed_query("not-our-token", now, "abc", echostr="1")
        assert (await phone.client.get("/wechat", params=forged)).status == 403
        assert (await phone.client.get("/wechat", params={"echostr": "1"})).status == 403
        stale = signed_query(TOKEN, now - 301, "abc", echostr="1")
        assert (await phone.client.get("/wechat", params=stale)).status == 403
        ahead = signed_query(TOKEN, now + 301, "abc", echostr="1")
        assert (await phone.client.get("/wechat", params=ahead)).status == 403


# -- a whole report ------------------------------------------------------------------


@pytest.mark.parametrize("safe", [False, True], ids=["plain", "safe-mode"])
async def test_citizen_reports_from_a_grid_qr_code(services: Services, safe: bool) -> None:
    async with wechat(services, safe=safe) as phone:
        spy, later = phone.spy, phone.later
        # An existing follower scans the grid's parametric QR code.
        shown = await phone.push(scan_xml(OPENID, GRID, phone.now))
        assert spy.inbounds[-1].text == f"/start g_{GRID}"
        assert spy.inbounds[-1].channel == "wechat" and spy.inbounds[-1].language == "zh-hans"
        assert "曼听社区" in shown
        await settled(phone, 1)
        # The dialog's question came second: it goes out as a customer-service message.
        assert later.calls[-1][0] == OPENID
        assert later.calls[-1][1][-1].text_key == "report.ask_describe"

        await phone.says("隔壁邻居装修天天从早上七点吵到晚上十点，说了好几次也不听")
        assert spy.keys()[-1] == "report.ask_confirm_category"
        await settled(phone, 2)

        for label in ("对，是这类", "2人", "没有", "完成"):
            number = spy.number_of(label)
            await phone.says(str(number))
            # A dialog's own choice: the number reaches the dialog as typed.
            assert spy.inbounds[-1].kind == "text" and spy.inbounds[-1].text == str(number)
        assert spy.keys()[-1] == "report.ask_contact"
        await phone.says("13912345678")
        assert spy.keys()[-1] == "report.summary"

        receipt = await phone.says(str(spy.number_of("提交")))
        assert spy.keys()[0] == "report.receipt"
        number = spy.answers[-1].replies[0].params["number"]
        assert number.startswith("2026-") and number in receipt
        assert len(receipt.encode()) <= MAX_PASSIVE_BYTES
    assert await count(services, Case) == 1
    assert await messages_seen(services) == 8


async def test_tencents_published_safe_mode_sample_is_understood(services: Services) -> None:
    """Interoperability: the encrypted request from Tencent's own WXBizMsgCrypt sample."""
    sample = json.loads(SAMPLE.read_text(encoding="utf-8"))["message"]
    assert isinstance(services.clock, FrozenClock)
    services.clock.set(datetime.fromtimestamp(int(sample["timestamp"]), UTC))
    spy = Spy(partial(engine_handle, services))
    callback = WeChatCallback(
        token=sample["token"],
        app_id=sample["app_id"],
        aes_key=sample["encoding_aes_key"],
        sessions=services.sessions,
        clock=services.clock,
        handle=spy,
        send_later=Recorder(),
    )
    app = web.Application()
    callback.register(app)
    query = {
        "msg_signature": sample["msg_signature"],
        "timestamp": sample["timestamp"],
        "nonce": sample["nonce"],
        "encrypt_type": "aes",
    }
    failure: Exception | None = None
    async with asyncio.TaskGroup() as group:
        runner = group.create_task(callback.run())
        async with TestClient(TestServer(app)) as client:
            try:
                response = await client.post("/wechat", params=query, data=sample["request_body"])
                assert response.status == 200
                body = await response.text()
                reply = parse_xml(
                    decrypt_reply(
                        sample["token"], sample["encoding_aes_key"], sample["app_id"], body, query
                    )
                )
                assert reply["ToUserName"] == "mycreate"
                assert spy.inbounds[0].text == "hello" and spy.inbounds[0].user_ref == "mycreate"
            except Exception as exc:
                failure = exc
        runner.cancel()
    if failure is not None:
        raise failure


# -- numbers -------------------------------------------------------------------------


async def test_numbers_tap_menu_buttons_and_otherwise_go_as_typed(services: Services) -> None:
    async with wechat(services) as phone:
        spy = phone.spy
        welcome = await phone.push(subscribe_xml(OPENID, phone.now))
        assert spy.inbounds[-1].text == "/start"
        assert "平安" in welcome
        await settled(phone, 1)
        # The menu came as the second message; its numbers mean the menu's buttons.
        menu = phone.later.texts()[-1]
        assert "1. " in menu or "wechat.reply_with_number" in menu
        status = spy.number_of("查询进度")

        asked = await phone.says(str(status))
        assert spy.inbounds[-1].kind == "choice" and spy.inbounds[-1].choice == "m:status"
        assert spy.keys()[-1] == "status.ask_number"
        # A question answered in words numbers nothing (a number typed there is the answer):
        # back and cancel are said in words, and the words work.
        assert "1. " not in asked and "回复“返回”回到上一步，回复“取消”退出" in asked
        await phone.says("取消")
        assert spy.inbounds[-1].kind == "text"
        assert spy.keys() == ["nav.cancelled", "menu.title"]
        await phone.says("99")  # no such choice: as typed
        assert spy.inbounds[-1].kind == "text"
        await phone.says(f"{spy.number_of('我要反映')}。")
        assert spy.inbounds[-1].choice == "m:report"

        # Someone else's numbers are not ours.
        await phone.says("1", openid="o_someone_else")
        assert spy.inbounds[-1].kind == "text"


# -- retries ---------------------------------------------------------------------------


async def test_a_message_retried_three_times_is_handled_once(services: Services) -> None:
    async with wechat(services) as phone:
        spy = phone.spy
        await phone.push(scan_xml(OPENID, GRID, phone.now))
        await phone.says("隔壁邻居装修天天从早上七点吵到晚上十点，说了好几次也不听")
        for label in ("对，是这类", "2人", "没有", "完成"):
            await phone.says(str(spy.number_of(label)))
        await phone.says("13912345678")
        submit = text_xml(OPENID, str(spy.number_of("提交")), 777, phone.now)
        handled = len(spy.inbounds)

        first = await phone.push(submit)
        assert spy.keys()[0] == "report.receipt"
        # WeChat heard nothing in 5 s (say) and sends the same MsgId again, twice.
        phone.clock.advance(timedelta(seconds=5))
        assert await phone.push(submit) == "success"
        phone.clock.advance(timedelta(seconds=5))
        assert await phone.push(submit) == "success"
        assert len(spy.inbounds) == handled + 1
        receipts = [
            a for a in spy.answers if a.replies and a.replies[0].text_key == "report.receipt"
        ]
        assert len(receipts) == 1 and receipts[0].replies[0].params["number"] in first

        # Events have no MsgId: sender, time and event make the key.
        scan = scan_xml(OPENID, GRID, phone.now)
        await phone.push(scan)
        handled = len(spy.inbounds)
        assert await phone.push(scan) == "success"
        assert len(spy.inbounds) == handled
    assert await count(services, Case) == 1


async def test_concurrent_copies_of_one_message_are_handled_once(services: Services) -> None:
    async with wechat(services) as phone:
        xml = text_xml(OPENID, "帮助", 4242, phone.now)
        requests = [phone.request(xml) for _ in range(3)]
        results = await asyncio.gather(*(phone.post(body, query) for query, body in requests))
        assert sorted(status for status, _ in results) == [200, 200, 200]
        assert sum(text != "success" for _, text in results) == 1
        assert len(phone.spy.inbounds) == 1


# -- hostile input -------------------------------------------------------------------

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<xml><ToUserName>gh_test</ToUserName><FromUserName>o_x</FromUserName>
<CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&lol9;</Content><MsgId>1</MsgId></xml>"""
XXE = """<!doctype xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<xml><ToUserName>gh_test</ToUserName><FromUserName>o_x</FromUserName>
<CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&xxe;</Content><MsgId>2</MsgId></xml>"""


def _hostile(name: str, phone: Phone) -> tuple[dict[str, str], Any]:
    now = phone.now
    good = text_xml(OPENID, "帮助", 99, now)
    plain = signed_query(TOKEN, now, "nonce", openid=OPENID)
    if name == "not xml":
        return plain, "帮助 please, this is not XML"
    if name == "not a message":
        return plain, "<xml><Hello>world</Hello></xml>"
    if name == "nested fields":
        return plain, good.replace("<MsgId>99</MsgId>", "<MsgId><a>1</a></MsgId>")
    if name == "billion laughs":
        return plain, BILLION_LAUGHS
    if name == "xxe":
        return plain, XXE
    if name == "utf-16":
        return plain, BILLION_LAUGHS.encode("utf-16")
    if name == "10 MB":
        return plain, io.BytesIO(b"<xml>" + b"a" * (10 * 1024 * 1024) + b"</xml>")
    if name == "10 MB chunked":

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(160):
                yield b"<a>" + b"x" * 65536 + b"</a>"

        return plain, chunks()
    if name == "bad signature":
        return signed_query("guessed-token", now, "nonce", openid=OPENID), good
    if name == "unsigned":
        return {"timestamp": str(now), "nonce": "nonce"}, good
    if name == "stale":
        return signed_query(TOKEN, now - 6 * 60, "nonce", openid=OPENID), good
    raise AssertionError(name)


HOSTILE = {
    "not xml": 400,
    "not a message": 400,
    "nested fields": 400,
    "billion laughs": 400,
    "xxe": 400,
    "utf-16": 400,
    "10 MB": 413,
    "10 MB chunked": 413,
    "bad signature": 403,
    "unsigned": 403,
    "stale": 403,
}


@pytest.mark.parametrize("name", list(HOSTILE))
async def test_hostile_requests_are_refused_and_store_nothing(
    services: Services, name: str
) -> None:
    async with wechat(services) as phone:
        query, body = _hostile(name, phone)
        status, reason = await phone.post(body, query)
        assert status == HOSTILE[name]
        if name in ("billion laughs", "xxe"):
            assert reason == "DTDs are not accepted"  # refused before any parser saw it
        assert phone.spy.inbounds == []
        # The server still answers afterwards.
        assert await phone.says("帮助") != "success"
    assert await messages_seen(services) == 1
    assert await count(services, Case) == 0


async def test_hostile_requests_in_safe_mode(services: Services) -> None:
    async with wechat(services, safe=True) as phone:
        now = phone.now
        good = text_xml(OPENID, "帮助", 99, now)
        query, body = phone.request(good)

        forged = dict(query, msg_signature="0" * 40)
        assert (await phone.post(body, forged))[0] == 403
        # Signed by us, sent as plain text: the plain signature covers no body.
        plain = signed_query(TOKEN, now, "nonce", openid=OPENID)
        assert (await phone.post(good, plain))[0] == 403
        assert (await phone.post("not xml at all", query))[0] == 400
        # A DTD inside the ciphertext (the builder will not parse one, so wechatpy's own
        # envelope is the body).
        envelope = WeChatCrypto(TOKEN, AES_KEY, APP_ID).encrypt_message(XXE, "n9", str(now))
        signed = signed_query(TOKEN, now, "n9", openid=OPENID)
        signed.update(encrypt_type="aes", msg_signature=parse_xml(envelope)["MsgSignature"])
        assert await phone.post(envelope, signed) == (400, "DTDs are not accepted")
        stale = encrypted_request(TOKEN, AES_KEY, APP_ID, good, now - 600, "nonce")
        assert (await phone.post(stale[1], stale[0]))[0] == 403
        other_app = encrypted_request(TOKEN, AES_KEY, "wx_other_app", good, now, "nonce")
        assert (await phone.post(other_app[1], other_app[0]))[0] == 403
        assert phone.spy.inbounds == []

        # Compatible mode (兼容模式) carries the plaintext too; only the ciphertext counts.
        query, body = encrypted_request(TOKEN, AES_KEY, APP_ID, good, now, "n10", compatible=True)
        status, text = await phone.post(body.replace("帮助", "我要反映", 1), query)
        assert status == 200
        assert parse_xml(decrypt_reply(TOKEN, AES_KEY, APP_ID, text, query))["Content"]
        assert [i.text for i in phone.spy.inbounds] == ["帮助"]
    assert await messages_seen(services) == 1


@pytest.mark.parametrize("kind", ["video", "shortvideo", "link", "file", "event"])
async def test_what_we_cannot_handle_gets_a_polite_answer(services: Services, kind: str) -> None:
    async with wechat(services) as phone:
        if kind == "event":
            xml = event_xml(OPENID, "pic_weixin", "photo", phone.now)
        else:
            xml = other_xml(OPENID, kind, 31, phone.now)
        assert await phone.push(xml) == render("wechat.unsupported", "zh_CN")
        assert phone.spy.inbounds == []
    assert await messages_seen(services) == 0


async def test_events_that_are_nobody_talking_are_acknowledged(services: Services) -> None:
    async with wechat(services) as phone:
        assert await phone.push(location_event_xml(OPENID, 22.0, 100.8, phone.now)) == "success"
        assert await phone.push(unsubscribe_xml(OPENID, phone.now)) == "success"
        assert await phone.push(event_xml(OPENID, "VIEW", "https://x", phone.now)) == "success"
        assert phone.spy.inbounds == []


# -- kinds of message ------------------------------------------------------------------


async def test_voice_photo_location_and_menu_clicks(services: Services) -> None:
    async with wechat(services) as phone:
        spy = phone.spy
        heard = await phone.push(voice_xml(OPENID, "voice-1", 51, phone.now, recognition="帮助"))
        assert spy.inbounds[-1].kind == "text" and spy.inbounds[-1].text == "帮助"
        assert spy.keys()[0].startswith("help.") and heard != "success"

        unheard = await phone.push(voice_xml(OPENID, "voice-2", 52, phone.now))
        assert unheard == render("wechat.voice_unrecognised", "zh_CN")
        assert len(spy.inbounds) == 1

        await phone.push(image_xml(OPENID, "media-123", 53, phone.now))
        assert spy.inbounds[-1].kind == "photo" and spy.inbounds[-1].media == ("media-123",)

        await phone.push(location_xml(OPENID, 22.0123, 100.7987, 54, phone.now, label="景洪"))
        location = spy.inbounds[-1].location
        assert location is not None and (location.latitude, location.longitude) == (
            22.0123,
            100.7987,
        )

        await phone.push(click_xml(OPENID, "m:help", phone.now))
        assert spy.inbounds[-1].kind == "choice" and spy.inbounds[-1].choice == "m:help"

        await phone.push(subscribe_xml(OPENID, phone.now + 1, scene=GRID))
        assert spy.inbounds[-1].text == f"/start g_{GRID}"
    assert await messages_seen(services) == 5


# -- slow answers ----------------------------------------------------------------------


async def test_a_slow_answer_is_acknowledged_at_once_and_sent_later(services: Services) -> None:
    async def slow(inbound: Inbound) -> Answer:
        await asyncio.sleep(4)
        return Answer([Reply("welcome", {"name": ""}), Reply("menu.title")], "zh_CN", None)

    async with wechat(services, handle=slow, reply_budget=0.2) as phone:
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await phone.says("帮助") == "success"
        assert loop.time() - started < 1.5
        assert phone.later.calls == []

        async with asyncio.timeout(8):
            await phone.later.called.wait()
        openid, replies, locale = phone.later.calls[0]
        assert openid == OPENID and locale == "zh_CN"
        assert [r.text_key for r in replies] == ["welcome", "menu.title"]
        await settled(phone, 1)


# -- rendering -------------------------------------------------------------------------


def test_a_long_first_reply_is_cut_and_images_never_go_passive() -> None:
    long = Reply(
        "label.raw", {"text": "\n".join(f"第{i}行：很长的一段话。" * 8 for i in range(60))}
    )
    passive, later = WeChatCallback.split(Answer([long, Reply("menu.title")], "zh_CN"))
    assert passive is not None and len(passive.encode()) <= MAX_PASSIVE_BYTES
    rest = "".join(render(r.text_key, "zh_CN", r.params) for r in later[:-1])
    assert passive.replace("\n", "") + rest.replace("\n", "") == render(
        long.text_key, "zh_CN", long.params
    ).replace("\n", "")
    assert later[-1].text_key == "menu.title"

    chart = Reply("digest.title", media=("png:AAAA",))
    passive, later = WeChatCallback.split(Answer([chart, Reply("menu.title")], "zh_CN"))
    assert passive is None and [r.text_key for r in later] == ["digest.title", "menu.title"]


def test_reply_text_cannot_break_out_of_cdata() -> None:
    assert "]]>" not in clean_text("描述]]><xml>\x00\x07")
    assert clean_text("正常的文字\n第二行") == "正常的文字\n第二行"
