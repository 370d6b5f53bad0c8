"""Graded grids on the real channels: on Telegram a grid worker records a patrol and the
county's dispatcher confirms the half-year grading from its notice; on WeChat a patrol with
numbered answers."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from dialogs.base import Services
from dispatch.grids import set_key_places
from dispatch.jobs import JobContext, run_job
from dispatch.people import create_invite
from storage.models import GridPatrol, GridState
from tests.conftest import GRID, VILLAGE_CENTRE
from tests.telegram_harness import running_bot
from tests.test_keypersons_channels import bind_on_telegram
from tests.test_wechat_e2e import Phone
from tests.wechat_harness import official_account

WORKER, COUNTY_DESK = 7201, 7202


async def test_patrol_and_grading_on_telegram(services: Services) -> None:
    async with running_bot(services) as tg:
        await bind_on_telegram(services, tg, WORKER, "grid_worker", VILLAGE_CENTRE, GRID)
        await bind_on_telegram(services, tg, COUNTY_DESK, "dispatcher", "U532801-ZZ")
        sent = await tg.says(WORKER, "/patrol")
        sent = await tg.taps(WORKER, "巡查", sent)
        sent = await tg.says(WORKER, "夜间巡逻三条巷子")
        sent = await tg.says(WORKER, "一处路灯不亮")
        sent = await tg.taps(WORKER, "完成", sent)
        assert "已记录巡查" in sent[0].text

        async with services.sessions() as session, session.begin():
            await set_key_places(session, GRID, 5)  # 5 × 2 = 10: a grid of concern
        await run_job("grading", JobContext(services.sessions, services.domain))
        proposals = await tg.notices(COUNTY_DESK, "网格分级调整建议")
        assert "曼听社区第1网格：常态网格 → 关注网格" in proposals.text
        sent = await tg.taps(COUNTY_DESK, "✅ 曼听社区第1网格", [proposals])
        assert "定为关注网格" in sent[0].text
    async with services.sessions() as session:
        state = await session.get_one(GridState, GRID)
        patrol = await session.scalar(select(GridPatrol))
    assert state.grade == "concern"
    assert patrol is not None and patrol.found == "一处路灯不亮"


async def test_a_patrol_with_numbered_answers_on_wechat(
    engine: AsyncEngine, services: Services
) -> None:
    async with official_account(engine, services) as (client, _fake):
        worker = Phone(client, services, "o_grid_worker")
        async with services.sessions() as session, session.begin():
            invite = await create_invite(
                session, services.clock, "grid_worker", VILLAGE_CENTRE, "gw", GRID
            )
        assert "绑定成功" in await worker.says(f"绑定 {invite.code}")
        assert "巡查还是整治" in await worker.says("巡查")
        assert "做了什么" in await worker.says("2")  # 整治
        assert "发现了什么" in await worker.says("清理占道摊点")
        assert "照片" in await worker.says("无异常")  # a free-text question: words, not numbers
        assert "已记录整治" in await worker.says("1")  # 完成
    async with services.sessions() as session:
        patrol = await session.scalar(select(GridPatrol))
    assert patrol is not None and (patrol.kind, patrol.found) == ("rectify", "无异常")
