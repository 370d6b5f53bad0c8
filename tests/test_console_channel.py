"""The console channel over the real dialogs, sender and sweep, as `pingan chat` runs them: a
reminder that comes due while someone is at the prompt appears with its buttons and the
prompt is drawn again; a question answered in words takes a typed number as the answer."""

from __future__ import annotations

import io
import re
from datetime import datetime, time, timedelta

from dialogs.base import Services
from dialogs.router import handle
from dispatch.clock import FrozenClock
from dispatch.jobs import JobContext, run_job
from handlers.console import ConsoleChannel
from handlers.sender import OutboxSender, RateLimiter
from tests.conftest import AT_ANY_HOUR, VILLAGE_MEDIATION, ZONE, Person, file_report, make_staff

MEDIATOR = "岩温"
PROMPT = "> "


def console(services: Services, user: str) -> tuple[ConsoleChannel, io.StringIO]:
    out = io.StringIO()
    channel = ConsoleChannel(user, lambda inbound: handle(services, inbound), out=out)
    return channel, out


def sender_for(services: Services, channel: ConsoleChannel, person_id: int) -> OutboxSender:
    """The console's sender as `pingan chat` builds it, quiet hours included."""
    hours = services.policy.quiet
    assert hours is not None
    return OutboxSender(
        services.sessions,
        services.clock,
        channel,
        limiter=RateLimiter(per_second=1000, per_chat_interval=0),
        person_id=person_id,
        poll_seconds=0.05,
        quiet=lambda at: hours.holds(at, services.zone),
    )


@AT_ANY_HOUR
async def test_a_reminder_appears_at_the_prompt_and_the_prompt_is_drawn_again(
    services: Services, person, clock: FrozenClock, local_time: time
) -> None:
    clock.set(datetime.combine(datetime(2026, 11, 24).date(), local_time, tzinfo=ZONE))
    mediator = await make_staff(services, MEDIATOR, "mediator", VILLAGE_MEDIATION)
    channel, out = console(services, MEDIATOR)
    sender = sender_for(services, channel, mediator.id)
    number = await file_report(person("c1"), "隔壁装修天天吵，晚上十点还在砸墙")

    # The person sits at the prompt; time passes and the sweep runs, as the scheduler does.
    channel.prompt = PROMPT
    jobs = JobContext(services.sessions, services.domain)
    for _ in range(48):
        await sender.drain_once()
        if "⏰" in out.getvalue():
            break
        clock.advance(timedelta(minutes=30))
        await run_job("sweep", jobs)
    shown = out.getvalue()
    assert services.policy.quiet is not None
    assert not services.policy.quiet.holds(clock.now(), ZONE), "shown in quiet hours"

    offer, _, reminder = shown.partition("⏰")
    assert f"📌 新交办案件 {number}" in offer
    # The notice, its buttons, then the prompt again, where the person was typing.
    assert reminder.startswith(f" 提醒：案件 {number}"), shown
    assert reminder.endswith("\n  [1] ✅ 接单  [2] ↩️ 退回\n" + PROMPT), shown
    assert re.search(rf"\n🔔 \[#n\d+\] ⏰ 提醒：案件 {number}", shown), shown

    # Typing its number answers the reminder's buttons.
    channel.prompt = ""
    await channel.say("1")
    assert f"您已接单：{number}" in out.getvalue()


async def test_a_number_at_a_question_answered_in_words_is_text_in_the_console(
    services: Services, person
) -> None:
    await make_staff(services, MEDIATOR, "mediator", VILLAGE_MEDIATION)
    number = await file_report(person("c1"), "隔壁装修天天吵，晚上十点还在砸墙")
    channel, out = console(services, MEDIATOR)
    await channel.say("接单")
    assert f"您已接单：{number}" in out.getvalue()
    await channel.say("/tasks")
    await channel.say("2")  # 🏁 结案 on the case card
    await channel.say("1")  # 调解成功
    asked = out.getvalue().rsplit("请简要写下", 1)[-1]
    # Back and cancel in words, nothing numbered under the question.
    assert "回复“返回”回到上一步，回复“取消”退出。" in asked and "[1]" not in asked
    out.truncate(0)
    out.seek(0)
    await channel.say("1")  # a summary, not the back button
    assert out.getvalue().startswith("内容太短了，请至少写2个字。"), out.getvalue()
    await channel.say("返回")
    assert "调解结果" in out.getvalue()


async def test_the_console_speaks_of_typing(services: Services, person: type[Person]) -> None:
    channel, out = console(services, "c2")
    await channel.say("/report")
    await channel.say("隔壁装修天天吵，晚上十点还在砸墙")
    await channel.say("随便")
    said = out.getvalue()
    assert "请回复下面选项前面的数字，或直接输入选项的文字。" in said
    assert "点击" not in said and "按钮" not in said
