"""The WeChat API client and outbox transport against a stand-in WeChat API server:
one shared access token for every worker, renewal when WeChat rejects it, WeChat's
message-size limit, and its 48-hour window (template fallback, or the notice waits)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from dialogs.base import Services
from dispatch import outbox
from dispatch.clock import FrozenClock, as_utc
from dispatch.messages import Button, Reply
from dispatch.people import person_for
from handlers.sender import (
    DeliveryBlocked,
    DeliveryFailed,
    DeliveryRetry,
    OutboxSender,
    Outgoing,
    RateLimiter,
)
from handlers.wechat_api import WeChatAPI, WeChatAPIError, split_utf8
from handlers.wechat_transport import DeliveryWaiting, WeChatTransport, numbered_choices
from locales import catalog
from locales import text as render
from storage.models import AccessToken, OutboxMessage
from tests.conftest import assigned_case, queued_notice
from tests.fakes.wechat_api import FakeWeChatAPI

APP_ID = "wx_test_app"
SECRET = "test-secret"
OPENID = "o_test_openid_1"
CUSTOM = "/cgi-bin/message/custom/send"
TEMPLATE = "/cgi-bin/message/template/send"
STABLE_TOKEN = "/cgi-bin/stable_token"
# The wording the locale files are to carry (see the report of this change).
REPLY_WITH_NUMBER = {
    "zh_CN": "请回复数字选择：\n{choices}",
    "en": "Reply with a number:\n{choices}",
}
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


@pytest.fixture
async def fake() -> AsyncIterator[FakeWeChatAPI]:
    async with FakeWeChatAPI(app_id=APP_ID, app_secret=SECRET) as server:
        yield server


async def _client(services: Services, fake: FakeWeChatAPI) -> AsyncIterator[WeChatAPI]:
    client = WeChatAPI(services.sessions, services.clock, APP_ID, SECRET, base_url=fake.base_url)
    yield client
    await client.close()


api = pytest.fixture(_client, name="api")
# A second process's client: it shares the token with `api` only through the database.
other_worker = pytest.fixture(_client, name="other_worker")


@pytest.fixture(autouse=True)
def reply_with_number(monkeypatch: pytest.MonkeyPatch) -> None:
    # Until locales/*.yaml carry wechat.reply_with_number, render the agreed wording.
    for locale, wording in REPLY_WITH_NUMBER.items():
        if "wechat.reply_with_number" not in catalog(locale):
            monkeypatch.setitem(catalog(locale), "wechat.reply_with_number", wording)


def token_fetches(fake: FakeWeChatAPI) -> list[dict[str, object]]:
    return [call.body for call in fake.calls_to(STABLE_TOKEN)]


async def stored_token(services: Services) -> AccessToken | None:
    async with services.sessions() as session:
        return await session.get(AccessToken, APP_ID)


async def a_person_on_wechat(services: Services) -> int:
    async with services.sessions() as session, session.begin():
        person, _ = await person_for(session, services.clock, "wechat", OPENID, OPENID)
        return person.id


async def queue(
    services: Services, person_id: int, reply: Reply, *, purpose: str, case_id: int | None = None
) -> int:
    key = f"{purpose}:{person_id}:{case_id}"
    return await queued_notice(
        services, person_id, reply, purpose=purpose, dedupe_key=key, case_id=case_id
    )


def sender(services: Services, transport: WeChatTransport) -> OutboxSender:
    return OutboxSender(services.sessions, services.clock, transport, limiter=RateLimiter(1000, 0))


async def notice_row(services: Services, notice_id: int) -> OutboxMessage:
    async with services.sessions() as session:
        row = await session.scalar(select(OutboxMessage).where(OutboxMessage.id == notice_id))
        assert row is not None
        return row


ACCEPTED = Reply("notice.accepted", {"number": "2026-000042", "unit": "曼听社区人民调解委员会"})


# -- access token ----------------------------------------------------------------------


async def test_one_token_is_fetched_and_shared_by_every_worker(
    services: Services, fake: FakeWeChatAPI, api: WeChatAPI, other_worker: WeChatAPI
) -> None:
    await api.send_text(OPENID, "一")
    await other_worker.send_text(OPENID, "二")
    await api.send_text(OPENID, "三")
    assert fake.texts(OPENID) == ["一", "二", "三"]
    assert len(token_fetches(fake)) == 1
    assert token_fetches(fake)[0] == {
        "grant_type": "client_credential",
        "appid": APP_ID,
        "secret": SECRET,
        "force_refresh": False,
    }
    row = await stored_token(services)
    assert row is not None
    assert as_utc(row.expires_at) == services.clock.now() + timedelta(seconds=7200)


async def test_concurrent_calls_in_one_process_fetch_one_token(
    fake: FakeWeChatAPI, api: WeChatAPI
) -> None:
    await asyncio.gather(*(api.send_text(f"o_{i}", "hi") for i in range(8)))
    assert len(token_fetches(fake)) == 1
    assert len(fake.sent()) == 8


async def test_a_token_close_to_expiry_is_refreshed_first(
    services: Services, clock: FrozenClock, fake: FakeWeChatAPI, api: WeChatAPI
) -> None:
    await api.send_text(OPENID, "早")
    four_minutes_left = 7200 - 4 * 60  # inside the five-minute margin
    clock.advance(timedelta(seconds=four_minutes_left))
    fake.advance(four_minutes_left)
    await api.send_text(OPENID, "晚")
    # Fetched before the call, not after WeChat refused the old token.
    assert [f["force_refresh"] for f in token_fetches(fake)] == [False, False]
    assert fake.tokens_issued == 2
    assert not [c for c in fake.calls if c.failed]
    assert fake.texts(OPENID) == ["早", "晚"]
    row = await stored_token(services)
    assert row is not None
    assert as_utc(row.expires_at) == clock.now() + timedelta(seconds=7200)
    # Calls outside the five-minute margin use the stored token without asking again.
    six_minutes_left = 7200 - 6 * 60
    clock.advance(timedelta(seconds=six_minutes_left))
    fake.advance(six_minutes_left)
    await api.send_text(OPENID, "再")
    assert fake.texts(OPENID) == ["早", "晚", "再"]
    assert len(token_fetches(fake)) == 2


async def test_a_rejected_token_is_renewed_once_and_the_call_repeated(
    fake: FakeWeChatAPI, api: WeChatAPI
) -> None:
    await api.access_token()
    fake.fail_next(CUSTOM, 40001, "invalid credential")
    await api.send_text(OPENID, "您好")
    assert fake.texts(OPENID) == ["您好"]
    assert [f["force_refresh"] for f in token_fetches(fake)] == [False, True]

    fake.fail_next(CUSTOM, 42001, times=2)  # rejected again after renewal: give up
    with pytest.raises(WeChatAPIError) as raised:
        await api.send_text(OPENID, "再见")
    assert raised.value.errcode == 42001
    assert len(token_fetches(fake)) == 3


async def test_a_worker_uses_the_token_another_worker_already_renewed(
    services: Services, fake: FakeWeChatAPI, api: WeChatAPI, other_worker: WeChatAPI
) -> None:
    await api.send_text(OPENID, "1")
    await other_worker.send_text(OPENID, "2")
    fake.expire_tokens()  # both workers now hold a token WeChat refuses
    await api.send_text(OPENID, "3")  # renews (forced)
    await other_worker.send_text(OPENID, "4")  # finds the renewed token in the table
    assert fake.texts(OPENID) == ["1", "2", "3", "4"]
    assert [f["force_refresh"] for f in token_fetches(fake)] == [False, True]


async def test_other_errors_are_raised_with_their_code(fake: FakeWeChatAPI, api: WeChatAPI) -> None:
    fake.rid_in_errmsg = True  # today's WeChat appends " rid: ..." to errmsg
    with pytest.raises(WeChatAPIError) as raised:
        await api.send_text("", "x")
    assert raised.value.errcode == 40003
    assert raised.value.errmsg.startswith("invalid openid rid: ")


# -- messages --------------------------------------------------------------------------


def test_split_utf8_cuts_at_line_breaks_within_2048_bytes() -> None:
    lines = [f"第{i:03d}行：" + "调解" * 30 for i in range(40)]
    text = "\n".join(lines)
    parts = split_utf8(text)
    assert len(parts) > 1
    assert all(len(p.encode()) <= 2048 for p in parts)
    assert "\n".join(parts) == text  # cut only at line breaks, nothing lost
    # One line longer than the limit is cut between characters, never inside one.
    long_line = "纠" * 1000  # 3000 bytes
    parts = split_utf8(long_line)
    assert [len(p.encode()) for p in parts] == [2046, 954]
    assert "".join(parts) == long_line
    assert split_utf8("short") == ["short"]


async def test_long_text_goes_as_several_messages(fake: FakeWeChatAPI, api: WeChatAPI) -> None:
    text = "\n".join(f"第{i:03d}条进展：" + "已联系双方当事人" * 5 for i in range(40))
    assert len(text.encode()) > 2048
    await api.send_text(OPENID, text)
    texts = fake.texts(OPENID)
    assert len(texts) == len(split_utf8(text)) > 1
    assert all(len(t.encode()) <= 2048 for t in texts)
    assert "\n".join(texts) == text


async def test_png_media_is_uploaded_and_sent_before_the_text(
    fake: FakeWeChatAPI, api: WeChatAPI
) -> None:
    reply = Reply(
        "notice.accepted",
        {"number": "2026-000001"},
        media=("png:" + base64.b64encode(PNG).decode(),),
    )
    ref = await WeChatTransport(api).deliver(Outgoing(OPENID, reply, "zh_CN", 7))
    assert ref == "cs:7"
    [upload] = fake.calls_to("/cgi-bin/media/upload")
    assert upload.query["type"] == "image"
    assert upload.body["media"] == PNG
    assert upload.filenames["media"].endswith(".png")
    image, text = fake.sent(OPENID)
    assert (image.msgtype, text.msgtype) == ("image", "text")
    assert image.body["image"]["media_id"] == upload.response["media_id"]
    assert text.text == render("notice.accepted", "zh_CN", reply.params)


async def test_a_permanent_qr_code_for_a_grid_and_the_menu(
    fake: FakeWeChatAPI, api: WeChatAPI
) -> None:
    ticket, url = await api.create_qr_scene("g_532801001001G01")
    assert fake.scene_of(ticket) == "g_532801001001G01"
    assert fake.qr_codes[ticket]["action_name"] == "QR_LIMIT_STR_SCENE"
    assert url.startswith("http")
    menu = {"button": [{"type": "click", "name": "反映问题", "key": "report"}]}
    await api.create_menu(menu)
    assert fake.menu == menu["button"]


# -- numbered choices ----------------------------------------------------------------------


def test_numbered_choices_number_the_choice_buttons_only() -> None:
    reply = Reply(
        "report.ask_location",
        buttons=(
            (Button("button.share_location", "share", kind="location"),),
            (Button("button.pick_region", "region:pick"),),
            (Button("button.back", "nav:back"), Button("button.cancel", "nav:cancel")),
            (Button("button.share_contact", "contact", kind="contact"),),
        ),
    )
    for locale in ("zh_CN", "en"):
        text, payloads = numbered_choices(reply, locale)
        assert payloads == ["region:pick", "nav:back", "nav:cancel"]
        pick, back, cancel = (
            render(f"button.{k}", locale) for k in ("pick_region", "back", "cancel")
        )
        choices = f"1. {pick}\n2. {back}\n3. {cancel}"
        hint = render("wechat.reply_with_number", locale, {"choices": choices})
        assert choices in hint
        assert text == f"{render('report.ask_location', locale)}\n\n{hint}"
    assert numbered_choices(Reply("nav.cancelled"), "zh_CN") == (
        render("nav.cancelled", "zh_CN"),
        [],
    )


# -- the outbox transport ----------------------------------------------------------------------


async def test_outside_the_window_a_configured_template_is_sent(
    services: Services, fake: FakeWeChatAPI, api: WeChatAPI
) -> None:
    person_id = await a_person_on_wechat(services)
    case_id = await assigned_case(
        services, person_id, number="2026-000042", risk="general", description="邻里噪音"
    )
    notice_id = await queue(services, person_id, ACCEPTED, purpose="accepted", case_id=case_id)
    fake.enforce_window = True  # and the person has not written for 48 hours
    fake.add_template("TPL_ACCEPTED")
    transport = WeChatTransport(api, templates={"accepted": "TPL_ACCEPTED", "offer": "TPL_OFFER"})

    assert await sender(services, transport).drain_once() == 1

    row = await notice_row(services, notice_id)
    assert row.status == "sent"
    assert row.sent_ref is not None and row.sent_ref.startswith("tpl:")
    assert [c.errcode for c in fake.calls_to(CUSTOM)] == [45015]
    [template] = fake.sent(OPENID)
    assert row.sent_ref == f"tpl:{template.response['msgid']}"
    assert template.body["template_id"] == "TPL_ACCEPTED"
    data = template.body["data"]
    assert data["keyword1"] == {"value": "2026-000042"}
    assert data["first"]["value"] == render("notice.accepted", "zh_CN", ACCEPTED.params)
    assert set(data) == {"first", "keyword1", "remark"}


async def test_outside_the_window_without_a_template_the_notice_waits(
    services: Services, clock: FrozenClock, fake: FakeWeChatAPI, api: WeChatAPI
) -> None:
    person_id = await a_person_on_wechat(services)
    notice_id = await queue(services, person_id, ACCEPTED, purpose="accepted")
    transport = WeChatTransport(api, templates={"offer": "TPL_OFFER"})  # none for "accepted"

    fake.enforce_window = True  # and the person has not written for 48 hours
    with pytest.raises(DeliveryWaiting) as raised:
        await transport.deliver(Outgoing(OPENID, ACCEPTED, "zh_CN", notice_id))
    assert isinstance(raised.value, DeliveryRetry)  # a sender that predates it still retries
    fake.fail_next(CUSTOM, 45047)  # too many messages since the person last wrote
    with pytest.raises(DeliveryWaiting):
        await transport.deliver(Outgoing(OPENID, ACCEPTED, "zh_CN", notice_id))
    assert [c.errcode for c in fake.calls_to(CUSTOM)] == [45015, 45047]
    assert not fake.calls_to(TEMPLATE)

    # What the sender does with it: park the notice; claim() leaves it alone.
    async with services.sessions() as session, session.begin():
        [claimed] = await outbox.claim(session, clock, "wechat")
        await outbox.park(session, claimed.id, str(raised.value))
    async with services.sessions() as session, session.begin():
        assert await outbox.waiting_count(session, person_id) == 1
        assert await outbox.claim(session, clock, "wechat") == []
    assert (await notice_row(services, notice_id)).status == "waiting"

    # The person writes: the callback releases it, and it goes out.
    clock.advance(timedelta(hours=3))
    fake.user_wrote(OPENID)
    async with services.sessions() as session, session.begin():
        assert await outbox.release_waiting(session, clock, person_id) == 1
        assert await outbox.release_waiting(session, clock, person_id) == 0
        assert await outbox.waiting_count(session, person_id) == 0
    assert await sender(services, transport).drain_once() == 1
    row = await notice_row(services, notice_id)
    assert (row.status, row.sent_ref) == ("sent", f"cs:{notice_id}")
    assert fake.texts(OPENID) == [render("notice.accepted", "zh_CN", ACCEPTED.params)]


async def test_a_refused_template_leaves_the_notice_waiting(
    services: Services, fake: FakeWeChatAPI, api: WeChatAPI
) -> None:
    person_id = await a_person_on_wechat(services)
    notice_id = await queue(services, person_id, ACCEPTED, purpose="accepted")
    fake.enforce_window = True
    transport = WeChatTransport(api, templates={"accepted": "TPL_GONE"})  # not on the account
    with pytest.raises(DeliveryWaiting):
        await transport.deliver(Outgoing(OPENID, ACCEPTED, "zh_CN", notice_id))
    assert [c.errcode for c in fake.calls_to(TEMPLATE)] == [40037]


async def test_unfollowed_is_blocked_and_the_notice_fails_without_another_channel(
    services: Services, fake: FakeWeChatAPI, api: WeChatAPI
) -> None:
    person_id = await a_person_on_wechat(services)
    transport = WeChatTransport(api)
    fake.fail_next(CUSTOM, 43019)  # we are on the person's blacklist
    with pytest.raises(DeliveryBlocked):
        await transport.deliver(Outgoing(OPENID, ACCEPTED, "zh_CN"))

    notice_id = await queue(services, person_id, ACCEPTED, purpose="accepted")
    fake.unsubscribe(OPENID)  # 43004
    await sender(services, transport).drain_once()
    row = await notice_row(services, notice_id)
    assert row.status == "failed"
    assert row.last_error == "wechat: blocked by the user"


async def test_errors_map_to_retry_or_failure(
    services: Services, fake: FakeWeChatAPI, api: WeChatAPI
) -> None:
    transport = WeChatTransport(api)
    fake.fail_next(CUSTOM, -1, "system error")
    with pytest.raises(DeliveryRetry):
        await transport.deliver(Outgoing(OPENID, ACCEPTED, "zh_CN"))
    with pytest.raises(DeliveryFailed):  # 40003 invalid openid
        await transport.deliver(Outgoing("", ACCEPTED, "zh_CN"))

    unreachable = WeChatAPI(
        services.sessions, services.clock, APP_ID, SECRET, base_url="http://127.0.0.1:9"
    )
    try:
        with pytest.raises(DeliveryRetry):
            await WeChatTransport(unreachable).deliver(Outgoing(OPENID, ACCEPTED, "zh_CN"))
    finally:
        await unreachable.close()
