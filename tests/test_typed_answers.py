"""Answers typed in the words people use, on any channel: a follow-up rated by typing 满意 or
不满意 (as its buttons would), and a whole report answered with synonyms."""

from __future__ import annotations

from datetime import timedelta

from dialogs.base import Services
from dispatch.clock import FrozenClock
from dispatch.jobs import JobContext, run_job
from tests.conftest import (
    GRID,
    VILLAGE_MEDIATION,
    Person,
    case_of,
    close_as_mediated,
    file_report,
    make_staff,
)


async def asked_followup(
    services: Services, person, clock: FrozenClock, who: str
) -> tuple[Person, str]:
    """A citizen's report, accepted, closed as mediated and, three days on, its follow-up
    asked; the citizen and the case number."""
    mediator = await make_staff(services, f"m-{who}", "mediator", VILLAGE_MEDIATION)
    citizen = person(who)
    number = await file_report(citizen, "隔壁装修天天吵，晚上十点还在砸墙")
    case = await case_of(services, number)
    await mediator.says("接单")  # the latest offer
    assert mediator.said()[0] == "handling.accepted", mediator.texts()
    await close_as_mediated(mediator, case.id)
    clock.advance(timedelta(days=3, minutes=1))
    await run_job("followup", JobContext(services.sessions, services.domain))
    return citizen, number


async def test_a_follow_up_rated_in_words(services: Services, person, clock: FrozenClock) -> None:
    citizen, number = await asked_followup(services, person, clock, "happy")
    await citizen.says("满意")
    assert citizen.said() == ["followup.ask_comment"]
    await citizen.says("1")  # a comment, not the shortcut's number
    assert citizen.said()[0] == "followup.thanks"
    case = await case_of(services, number)
    assert case.status == "closed" and case.followup_state != "asked"
    # Nothing asked any more: the word is no rating now, and gets the menu.
    await citizen.says("满意")
    assert citizen.said()[0] == "fallback.menu"


async def test_not_satisfied_in_words_reopens(
    services: Services, person, clock: FrozenClock
) -> None:
    citizen, number = await asked_followup(services, person, clock, "unhappy")
    await citizen.says("不满意。")
    await citizen.says("没有")  # no comment (a synonym of 不用了)
    assert citizen.said()[0] == "followup.reopened"
    assert (await case_of(services, number)).status == "reported"  # open again, to be offered


async def test_a_report_answered_with_synonyms(services: Services, person) -> None:
    citizen = person("words")
    await citizen.says(f"/start g_{GRID}")
    await citizen.says("隔壁装修天天吵，晚上十点还在砸墙")
    for words, next_key in (
        ("没错", "report.ask_people"),
        ("俩人", "report.ask_danger"),
        ("无", "report.ask_photos"),
        ("跳过", "report.ask_contact"),
        ("不留电话", "report.summary"),
        ("改一下", "report.ask_edit_which"),
    ):
        await citizen.says(words)
        assert citizen.said()[-1] == next_key, (words, citizen.texts())
    await citizen.says("涉及人数")
    await citizen.says("3至9人")
    assert citizen.said()[-1] == "report.summary"
    await citizen.says("确定")
    assert citizen.said()[0] == "report.receipt"
