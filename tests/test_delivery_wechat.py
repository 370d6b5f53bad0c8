"""A long notice on WeChat goes in parts (images, then 2048-byte pieces of text); a retry
resumes at the part that failed, through wechatpy's stand-in server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from dialogs.base import Services
from dispatch import outbox
from dispatch.clock import FrozenClock
from dispatch.messages import Reply
from dispatch.people import person_for
from handlers.sender import OutboxSender, RateLimiter
from handlers.wechat_api import MAX_TEXT_BYTES, WeChatAPI, split_utf8
from handlers.wechat_transport import MARKER_ROOM_BYTES, WeChatTransport, numbered_choices
from storage.models import OutboxMessage
from tests.fakes.wechat_api import FakeWeChatAPI

APP_ID = "wx_test_app"
SECRET = "test-secret"
OPENID = "o_test_openid_1"
CUSTOM = "/cgi-bin/message/custom/send"


@pytest.fixture
async def fake() -> AsyncIterator[FakeWeChatAPI]:
    async with FakeWeChatAPI(app_id=APP_ID, app_secret=SECRET) as server:
        yield server


@pytest.fixture
async def api(services: Services, fake: FakeWeChatAPI) -> AsyncIterator[WeChatAPI]:
    client = WeChatAPI(services.sessions, services.clock, APP_ID, SECRET, base_url=fake.base_url)
    yield client
    await client.close()


@pytest.mark.parametrize("errcode", [-1, 45009], ids=["busy", "quota"])
async def test_a_long_notice_resumes_at_the_part_that_failed(
    services: Services, clock: FrozenClock, fake: FakeWeChatAPI, api: WeChatAPI, errcode: int
) -> None:
    async with services.sessions() as session, session.begin():
        person, _ = await person_for(session, clock, "wechat", OPENID, OPENID)
        long_unit = "第一段。" * 300 + "\n" + "第二段。" * 300  # over 2048 bytes
        reply = Reply("notice.accepted", {"number": "2026-000001", "unit": long_unit})
        notice_id = await outbox.enqueue(
            session, clock, person.id, reply, purpose="accepted", dedupe_key="k"
        )
    fake.user_wrote(OPENID)
    fake.fail_next(CUSTOM, errcode, skip=1)
    sender = OutboxSender(
        services.sessions, clock, WeChatTransport(api), limiter=RateLimiter(1000, 0)
    )
    assert await sender.drain_once() == 1
    assert len(fake.texts(OPENID)) == 1
    async with services.sessions() as session:
        row = await session.scalar(select(OutboxMessage).where(OutboxMessage.id == notice_id))
        assert row is not None and (row.status, row.parts_sent) == ("pending", 1)
    clock.advance(timedelta(minutes=1))
    assert await sender.drain_once() == 1
    # Every part once, in order: together, the whole text.
    texts = fake.texts(OPENID)
    whole, _ = numbered_choices(reply, "zh_CN")
    assert len(texts) == len(split_utf8(whole, MAX_TEXT_BYTES - MARKER_ROOM_BYTES)) > 2
    assert len(set(texts)) == len(texts)
    assert "".join(texts).replace("\n", "") == whole.replace("\n", "")
