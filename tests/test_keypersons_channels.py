"""Key persons on the real channels: on Telegram a grid worker registers a person, the chain
hears of it, the worker records a visit from the notice's button and the leader gets the
risk alert, then the lead answers the quarterly re-assessment from its notice; on WeChat a
worker records a visit with numbered answers and the township's leader is alerted."""

from __future__ import annotations

from datetime import date, datetime, time

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from dialogs.base import Services
from dispatch.clock import FrozenClock
from dispatch.jobs import JobContext, run_job
from dispatch.keypersons import Enrolment, enrol
from dispatch.people import create_invite
from storage.models import Identity, KeyPerson, KeyPersonVisit
from storage.models import Person as PersonRow
from tests.conftest import GRID, TOWNSHIP_CENTRE, VILLAGE_CENTRE, VILLAGE_MEDIATION, ZONE
from tests.telegram_harness import TelegramHarness, running_bot
from tests.test_wechat_e2e import Phone
from tests.wechat_harness import official_account

BOSS, LEAD, WORKER = 7101, 7102, 7103


async def bind_on_telegram(
    services: Services,
    tg: TelegramHarness,
    user_id: int,
    role: str,
    unit: str,
    region: str | None = None,
) -> None:
    async with services.sessions() as session, session.begin():
        invite = await create_invite(session, services.clock, role, unit, f"tg{user_id}", region)
    sent = await tg.says(user_id, f"/bind {invite.code}")
    assert "绑定成功" in sent[0].text


async def test_register_visit_alert_and_reassess_on_telegram(
    services: Services, clock: FrozenClock
) -> None:
    async with running_bot(services) as tg:
        await bind_on_telegram(services, tg, BOSS, "leader", TOWNSHIP_CENTRE)
        await bind_on_telegram(services, tg, LEAD, "mediator", VILLAGE_MEDIATION)
        await bind_on_telegram(services, tg, WORKER, "grid_worker", VILLAGE_CENTRE, GRID)

        sent = await tg.says(WORKER, "/keyperson")
        assert "姓名" in sent[-1].text
        sent = await tg.says(WORKER, "李四")
        sent = await tg.taps(WORKER, "跳过", sent)
        sent = await tg.says(WORKER, "139 1234 5678")
        sent = await tg.taps(WORKER, "二类", sent)
        sent = await tg.says(WORKER, "讨薪未果，多次说要找老板算账")
        sent = await tg.taps(WORKER, "允景洪街道综治中心", sent)  # the only leader
        sent = await tg.taps(WORKER, "曼听社区人民调解委员会", sent)  # the lead
        assert "☑️" in str(tg.fake.buttons(sent[-1]))  # who registers is a worker already
        sent = await tg.taps(WORKER, "选好了", sent)
        assert "139****5678" in sent[-1].text
        sent = await tg.taps(WORKER, "确认登记", sent)
        assert "已登记重点人员 K1（李*，帮扶二类）" in sent[0].text

        told = await tg.notices(BOSS, "包保帮扶")
        assert "K1（李*" in told.text and "李四" not in told.text and "包保领导" in told.text
        mine = await tg.notices(WORKER, "包保帮扶")
        sent = await tg.taps(WORKER, "记录走访", [mine])
        assert "走访日期" in sent[-1].text
        sent = await tg.taps(WORKER, "今天", sent)
        sent = await tg.says(WORKER, "上门了解欠薪进展，联系劳动监察")
        sent = await tg.says(WORKER, "情绪很激动，说再不给钱就要同归于尽")
        sent = await tg.sends(WORKER, tg.fake.photo_update(WORKER))
        assert "照片已收到" in sent[0].text
        sent = await tg.taps(WORKER, "完成", sent)
        assert "定位" in sent[-1].text
        sent = await tg.sends(WORKER, tg.fake.location_update(WORKER, 22.01, 100.80))
        assert "已记录对 K1（李*）的走访" in sent[0].text
        assert "扬言报复" in sent[1].text
        alert = await tg.notices(BOSS, "重点人员风险预警")
        assert "同归于尽" in alert.text and "李*" in alert.text and "李四" not in alert.text

        clock.set(datetime.combine(date(2027, 2, 25), time(9, 20), ZONE))
        await run_job("reassess", JobContext(services.sessions, services.domain))
        question = await tg.notices(LEAD, "季度评估")
        sent = await tg.taps(LEAD, "提级", [question])
        assert "已评估 K1（李*）：现为帮扶一类" in sent[0].text

    async with services.sessions() as session:
        kp = await session.get_one(KeyPerson, 1)
        visit = await session.scalar(select(KeyPersonVisit))
    assert (kp.name, kp.phone, kp.tier) == ("李四", "13912345678", 1)
    assert visit is not None and visit.risk_flags == ["threat"]
    assert visit.photos and visit.latitude == 22.01


async def _person_id(services: Services, channel: str, user_ref: str) -> int:
    async with services.sessions() as session:
        identity = await session.scalar(
            select(Identity).where(Identity.channel == channel, Identity.user_ref == user_ref)
        )
        assert identity is not None
        return identity.person_id


async def test_a_visit_with_numbered_answers_on_wechat_alerts_the_leader(
    engine: AsyncEngine, services: Services
) -> None:
    async with official_account(engine, services) as (client, fake):
        phones = {}
        for openid, role, unit, region in (
            ("o_boss", "leader", TOWNSHIP_CENTRE, None),
            ("o_lead", "mediator", VILLAGE_MEDIATION, None),
            ("o_worker", "grid_worker", VILLAGE_CENTRE, GRID),
        ):
            async with services.sessions() as session, session.begin():
                invite = await create_invite(session, services.clock, role, unit, openid, region)
            phones[openid] = Phone(client, services, openid)
            assert "绑定成功" in await phones[openid].says(f"绑定 {invite.code}")
        ids = {o: await _person_id(services, "wechat", o) for o in phones}
        async with services.sessions() as session, session.begin():
            boss = await session.get_one(PersonRow, ids["o_boss"])
            await enrol(
                services.domain.within(session),
                boss,
                Enrolment(
                    name="王五",
                    region_code=GRID,
                    tier=1,
                    reason="土地纠纷久调不决",
                    leader_id=ids["o_boss"],
                    lead_id=ids["o_lead"],
                    worker_ids=[ids["o_worker"]],
                ),
            )
        worker = phones["o_worker"]
        # The enrolment notice first: a numbered list arriving mid-dialog would give "1"
        # its meaning (handlers/wechat.py remembers the last list a person was sent).
        await fake.wait_for(
            lambda c: c.openid == "o_worker" and "包保帮扶" in (c.text or ""), since=0
        )
        asked = await worker.says("走访")
        assert "1. K1 王*（帮扶一类）" in asked, asked
        asked = await worker.says("1")
        # A question answered in words: its shortcuts are named, not numbered, on WeChat.
        assert "走访日期？回复“今天”“昨天”" in asked and "1." not in asked, asked
        assert "做了什么" in await worker.says("今天")
        assert "现在的情况" in await worker.says("送米送油，讲解政策")
        assert "照片" in await worker.says("他说不想活了，要去北京上访")
        assert "定位" in await worker.says("1")  # 完成
        saved = await worker.says("1")  # 跳过
        assert "已记录对 K1（王*）的走访" in saved
        # The rest of the answer follows as a customer-service message.
        await fake.wait_for(
            lambda c: c.openid == "o_worker" and "风险信号" in (c.text or ""), since=0
        )
        alert = await fake.wait_for(
            lambda c: c.openid == "o_boss" and "风险预警" in (c.text or ""), since=0
        )
        assert "流露轻生" in alert.text and "准备上访" in alert.text and "王五" not in alert.text
