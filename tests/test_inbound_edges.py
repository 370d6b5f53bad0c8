"""The edge of the system, attacked as the security review did: a stranger's contact card,
a description that spoofs its card with U+202E, one person flooding the desk, a citizen
filing report after report, and a captured WeChat plain-mode query replayed."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr
from sqlalchemy import func, select

from bot.settings import Settings, SettingsError
from dialogs.base import Services
from dialogs.router import handle as engine_handle
from dispatch.clock import FrozenClock
from dispatch.limits import MessageLimiter
from handlers.wechat import WeChatCallback
from storage.models import Case, CaseEvent, CaseOffer, InboundSeen, Person
from tests.conftest import VILLAGE_CENTRE, VILLAGE_MEDIATION, ZONE
from tests.fakes.wechat_messages import signed_query, text_xml
from tests.telegram_harness import TelegramHarness, running_bot
from tests.test_telegram_e2e import bind_on_telegram
from tests.test_wechat_callback import AES_KEY, APP_ID, OPENID, TOKEN, Recorder

CITIZEN = 5101
STRANGER = 5199
OTHER = 5102
MEDIATOR = 6101
DISPATCHER = 6102
SPOOF = "老板欠我工资\u202e元0005\u202c，全家👨‍👩‍👧都等着用钱"


async def test_only_the_senders_own_card_is_their_number_and_spoofing_is_stripped(
    services: Services,
) -> None:
    async with running_bot(services) as tg:
        await tg.says(CITIZEN, "/start", first_name="张\u202e三")
        await tg.reports_up_to_contact(CITIZEN, SPOOF)
        # A card of somebody else (Telegram's contact.user_id is theirs, not the sender's).
        card = tg.fake.contact_update(CITIZEN, "+8613700001111", contact_user_id=STRANGER)
        sent = await tg.sends(CITIZEN, card)
        assert any("不是您本人的号码" in c.text for c in sent)
        assert "13700001111" not in " ".join(c.text for c in sent)
        # A card of someone not on Telegram carries no user_id: not theirs either.
        card = tg.fake.contact_update(CITIZEN, "+8613700002222")
        del card["message"]["contact"]["user_id"]
        sent = await tg.sends(CITIZEN, card)
        assert any("不是您本人的号码" in c.text for c in sent)
        # Their own card is taken.
        sent = await tg.sends(CITIZEN, tg.fake.contact_update(CITIZEN, "+8613987654321"))
        assert "请核对" in sent[-1].text
        # The summary shows the description as it will be stored: no override in it.
        assert "\u202e" not in sent[-1].text and "👨‍👩‍👧" in sent[-1].text
        sent = await tg.taps(CITIZEN, "提交", sent)
        assert "提交成功" in sent[0].text
        # The mediator's card (a notice) carries no override either.
    async with services.sessions() as session:
        case = await session.scalar(select(Case))
        assert case is not None
        assert case.phone == "13987654321"
        assert case.description == "老板欠我工资元0005，全家👨‍👩‍👧都等着用钱"
        person = await session.get_one(Person, case.reporter_id)
        assert person.display_name == "张三"


async def test_a_typed_number_is_still_accepted(services: Services) -> None:
    """Refusing a stranger's card must not stop someone giving a number by typing it."""
    async with running_bot(services) as tg:
        await tg.reports_up_to_contact(CITIZEN, "隔壁装修噪音太大，每天晚上十二点还在敲")
        card = tg.fake.contact_update(CITIZEN, "+8613700001111", contact_user_id=STRANGER)
        sent = await tg.sends(CITIZEN, card)
        assert any("不是您本人的号码" in c.text for c in sent)
        sent = await tg.says(CITIZEN, "139 8765 4322")
        assert "请核对" in sent[-1].text


# -- floods -----------------------------------------------------------------------------


async def test_a_flood_is_answered_once_and_holds_nobody_else_up(services: Services) -> None:
    limited = replace(services, limiter=MessageLimiter(20))
    flood = 300
    async with running_bot(limited) as tg:
        for _ in range(flood):
            tg.fake.push_update(tg.fake.text_update(CITIZEN, "你好"))
        started = time.monotonic()
        tg.fake.push_update(tg.fake.text_update(OTHER, "/help"))
        await tg.fake.wait_for_sent(OTHER, text_contains="/report", since=0, timeout=10)
        waited = time.monotonic() - started
        async with asyncio.timeout(30):
            while True:  # every update, dropped ones too
                tg._handled_event.clear()
                if tg.handled >= flood + 1:
                    break
                await tg._handled_event.wait()
        await tg.replies_sent()
        to_flooder = [c.text for c in tg.fake.sent(CITIZEN)]
    # 20 handled (the bucket's size; a few more if the flood took seconds), each answered
    # with the menu (a greeting and the menu: two messages), and one "too fast".
    warnings = [t for t in to_flooder if "太快" in t]
    assert len(warnings) == 1
    assert 20 * 2 <= len(to_flooder) - 1 <= 25 * 2
    # The other person was not held up behind the flood.
    assert waited < 3.0, waited


def test_the_bucket_refills_and_warns_at_most_once_a_minute() -> None:
    now = [0.0]
    limiter = MessageLimiter(20, now=lambda: now[0])
    verdicts = [limiter.admit("tg:1").value for _ in range(25)]
    assert verdicts == ["handle"] * 20 + ["warn"] + ["drop"] * 4
    assert limiter.admit("tg:2").value == "handle"  # someone else is not affected
    now[0] = 3.0  # one message's worth refilled
    assert [limiter.admit("tg:1").value for _ in range(2)] == ["handle", "drop"]
    now[0] = 61.0  # a minute after the warning: told again, once
    assert limiter.admit("tg:1").value == "handle"
    now[0] = 200.0
    assert [limiter.admit("tg:1").value for _ in range(20)] == ["handle"] * 20
    # Staff get three times as many.
    limiter.learn("tg:9", staff=False)
    limiter.admit("tg:9")
    limiter.learn("tg:9", staff=True)
    now[0] = 400.0
    assert [limiter.admit("tg:9").value for _ in range(61)] == ["handle"] * 60 + ["warn"]


async def _file(tg: TelegramHarness, user: int, text: str) -> str:
    sent = await tg.reports_up_to_contact(user, text)
    sent = await tg.says(user, "匿名反映")
    sent = await tg.taps(user, "提交", sent)
    assert "提交成功" in sent[0].text, sent[0].text
    return sent[0].text


DESCRIPTIONS = [
    "隔壁装修噪音太大，每天晚上十二点还在敲",
    "邻居家的狗天天半夜叫，说了也不管",
    "楼上漏水把我家天花板泡坏了不肯赔",
    "邻居在楼道堆放杂物堵住消防通道",
    "对门把垃圾放在我家门口好几天了",
]


@pytest.mark.parametrize("local_hour", [15, 3], ids=["15:00", "03:00"])
async def test_the_fourth_report_in_a_day_is_filed_but_held_for_the_centre(
    services: Services, local_hour: int
) -> None:
    assert isinstance(services.clock, FrozenClock)
    services.clock.set(datetime(2026, 11, 25, local_hour, 0, tzinfo=ZONE))
    limited = replace(services, reports_per_day=3)
    async with running_bot(limited) as tg:
        await bind_on_telegram(limited, tg, MEDIATOR, "mediator", VILLAGE_MEDIATION)
        await bind_on_telegram(limited, tg, DISPATCHER, "dispatcher", VILLAGE_CENTRE)
        receipts = [await _file(tg, CITIZEN, d) for d in DESCRIPTIONS[:4]]
        assert all("调解员" in r for r in receipts[:3])
        assert "先交给" in receipts[3] and "核实" in receipts[3]
        if local_hour == 3:
            # Quiet hours hold the (not urgent) notice; it goes out when they end.
            services.clock.set(datetime(2026, 11, 25, 9, 0, tzinfo=ZONE))
        notice = await tg.notices(DISPATCHER, "待核实")
        assert "超过上限" in notice.text
        # Another citizen is not affected by this one's count.
        assert "调解员" in await _file(tg, OTHER, DESCRIPTIONS[4])
        # A day later the count has room again.
        services.clock.advance(timedelta(hours=24, minutes=1))
        assert "调解员" in await _file(tg, CITIZEN, DESCRIPTIONS[4])
    async with services.sessions() as session:
        cases = (await session.scalars(select(Case).order_by(Case.id))).all()
        assert len(cases) == 6  # nothing lost
        held = cases[3]
        offers = (
            await session.scalars(select(CaseOffer).where(CaseOffer.case_id == held.id))
        ).all()
        dispatcher = await session.get_one(Person, offers[0].person_id)
        assert [o.unit_code for o in offers] == [VILLAGE_CENTRE]
        assert dispatcher.role == "dispatcher"
        flags = (
            await session.scalars(
                select(CaseEvent.data).where(CaseEvent.kind == "report").order_by(CaseEvent.id)
            )
        ).all()
        assert [bool(d.get("over_daily_limit")) for d in flags] == [
            False, False, False, True, False, False,
        ]  # fmt: skip


# -- WeChat plain mode ----------------------------------------------------------------------


class _Callback:
    def __init__(self, services: Services, **kw: Any) -> None:
        self.services = services
        self.callback = WeChatCallback(
            token=TOKEN,
            app_id=APP_ID,
            sessions=services.sessions,
            clock=services.clock,
            handle=self.handle,
            send_later=Recorder(),
            **kw,
        )
        self.inbounds: list[Any] = []

    async def handle(self, inbound: Any) -> Any:
        self.inbounds.append(inbound)
        return await engine_handle(self.services, inbound)


async def _serving(cb: _Callback, work: Any) -> None:
    app = web.Application()
    cb.callback.register(app)
    async with asyncio.TaskGroup() as group:
        runner = group.create_task(cb.callback.run())
        try:
            async with TestClient(TestServer(app)) as client:
                await work(client)
        finally:
            runner.cancel()


async def _seen(services: Services) -> int:
    async with services.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(InboundSeen)) or 0)


async def test_plain_mode_is_refused_unless_enabled(services: Services) -> None:
    cb = _Callback(services, aes_key=None)
    now = int(services.clock.now().timestamp())

    async def work(client: TestClient[Any, Any]) -> None:
        query = signed_query(TOKEN, now, "n1", openid=OPENID)
        response = await client.post("/wechat", params=query, data=text_xml(OPENID, "帮助", 1, now))
        assert response.status == 403
        assert await response.text() == "plain mode not enabled"
        # The URL check (GET, echostr) still works, so the account can be configured.
        check = signed_query(TOKEN, now, "n2", echostr="42")
        assert await (await client.get("/wechat", params=check)).text() == "42"

    await _serving(cb, work)
    assert cb.inbounds == [] and await _seen(services) == 0


async def test_a_replayed_plain_mode_query_is_refused_on_every_worker(
    services: Services,
) -> None:
    """A captured query string (signature, timestamp, nonce) replayed with a body of the
    attacker's choosing, to the same worker and to another sharing the database."""
    first = _Callback(services, aes_key=None, allow_plain=True)
    second = _Callback(services, aes_key=None, allow_plain=True)
    now = int(services.clock.now().timestamp())
    query = signed_query(TOKEN, now, "captured", openid=OPENID)

    async def genuine(client: TestClient[Any, Any]) -> None:
        body = text_xml(OPENID, "楼上漏水\u202e把我家泡了👨‍👩‍👧", 11, now)
        response = await client.post("/wechat", params=query, data=body)
        assert response.status == 200
        forged = text_xml("o_mediator", "接单", 12, now)
        replay = await client.post("/wechat", params=query, data=forged)
        assert replay.status == 403 and await replay.text() == "replayed"
        # A fresh nonce is a new request.
        fresh = signed_query(TOKEN, now, "fresh", openid=OPENID)
        ok = await client.post("/wechat", params=fresh, data=text_xml(OPENID, "帮助", 13, now))
        assert ok.status == 200

    async def elsewhere(client: TestClient[Any, Any]) -> None:
        forged = text_xml("o_mediator", "接单", 14, now)
        replay = await client.post("/wechat", params=query, data=forged)
        assert replay.status == 403

    await _serving(first, genuine)
    await _serving(second, elsewhere)
    assert [i.user_ref for i in first.inbounds] == [OPENID, OPENID]
    # WeChat's text reached the dialogs without the override, emoji whole.
    assert first.inbounds[0].text == "楼上漏水把我家泡了👨‍👩‍👧"
    assert second.inbounds == []


async def test_safe_mode_is_unaffected_by_the_plain_mode_switch(services: Services) -> None:
    from tests.fakes.wechat_messages import encrypted_request

    cb = _Callback(services, aes_key=AES_KEY)
    now = int(services.clock.now().timestamp())

    async def work(client: TestClient[Any, Any]) -> None:
        query, body = encrypted_request(
            TOKEN, AES_KEY, APP_ID, text_xml(OPENID, "帮助", 21, now), now, "s1"
        )
        assert (await client.post("/wechat", params=query, data=body)).status == 200

    await _serving(cb, work)
    assert len(cb.inbounds) == 1


def test_pingan_run_refuses_wechat_plain_mode_without_the_switch() -> None:
    base: dict[str, Any] = {
        "wechat_token": "t",
        "wechat_app_id": "wx1",
        "wechat_app_secret": "s",
        "telegram_token": None,
    }
    with pytest.raises(SettingsError) as refused:
        Settings(**base).require_channel()
    assert "PINGAN_WECHAT_ALLOW_PLAIN=true" in str(refused.value)
    assert "\n" not in str(refused.value)
    Settings(**base, wechat_allow_plain=True).require_channel()
    Settings(**base, wechat_aes_key=SecretStr(AES_KEY)).require_channel()
