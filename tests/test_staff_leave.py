"""Who may read what (need-to-know, throttled misses) and staff leave (`pingan staff`,
`pingan invite list/revoke`), played through the router and the real CLI."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import timedelta

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select

from bot.cli import main
from dialogs.base import Services
from dispatch.clock import FrozenClock
from dispatch.people import create_invite
from storage.models import Case, CaseRead, Invite, OutboxMessage
from tests.conftest import (
    COUNTY_LABOR,
    TOWNSHIP_CENTRE,
    VILLAGE_CENTRE,
    VILLAGE_MEDIATION,
    event_kinds,
    make_staff,
)
from tests.test_workflow import offers_of, report

LABOUR = "老板拖欠我们三个月工资一直不给，打电话也不接"
OTHER_VILLAGE_MEDIATION = "U532801001002-TJ"
# The CLI reads the wall clock, the chat the test's frozen one: codes valid at both.
LONG = timedelta(days=3650)
PHONE = re.compile(r"1[3-9]\d{9}")


def pingan(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert "Traceback" not in result.output
    return result


async def cli(*args: str) -> Result:
    return await asyncio.to_thread(pingan, *args)


@pytest.fixture
def cli_database(services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    url = services.sessions.engine.url.render_as_string(hide_password=False)
    monkeypatch.setenv("PINGAN_DATABASE_URL", url)


async def reads_of(services: Services, person_id: int) -> int:
    async with services.sessions() as session:
        return (
            await session.scalar(
                select(func.count()).select_from(CaseRead).where(CaseRead.person_id == person_id)
            )
            or 0
        )


# -- need-to-know ---------------------------------------------------------------------------


async def test_staff_read_only_what_they_need_to_know(services: Services, person) -> None:
    mediator = await make_staff(services, "med", "mediator", VILLAGE_MEDIATION)
    reporter = person("reporter")
    neighbours = await report(reporter)
    labour = await report(person("worker"), LABOUR)
    bureau = await make_staff(services, "bureau", "dept_staff", COUNTY_LABOR)
    township = await make_staff(services, "township", "dispatcher", TOWNSHIP_CENTRE)
    other = await make_staff(services, "other", "mediator", OTHER_VILLAGE_MEDIATION)

    # The county labour bureau: not a neighbour quarrel in its county, but a labour dispute.
    await bureau.says(f"/status {neighbours}")
    refused = bureau.text()
    assert bureau.said() == ["status.not_found"]
    await bureau.says("/status 2026-999999")  # a number that does not exist reads the same
    assert bureau.text() == refused.replace(neighbours, "2026-999999")
    await bureau.says(f"/status {labour}")
    assert bureau.said()[0] == "status.card"
    assert "工资" in bureau.text()
    # The township centre's dispatcher, over the village: yes; another village's mediator: no.
    await township.says(f"/status {neighbours}")
    assert township.said()[0] == "status.card"
    await other.says(f"/status {neighbours}")
    assert other.said() == ["status.not_found"]
    # The mediator it was offered to, and its reporter.
    await mediator.says(f"/status {neighbours}")
    assert mediator.said()[0] == "status.card"
    await reporter.says(f"/status {neighbours}")
    assert reporter.said()[0] == "status.card"
    # Every staff read leaves an audit row; misses and the reporter's own reads do not.
    assert await reads_of(services, bureau.id) == 1
    assert await reads_of(services, township.id) == 1
    assert await reads_of(services, other.id) == 0
    assert await reads_of(services, reporter.id) == 0


async def test_a_leader_cannot_supervise_what_they_may_not_read(services: Services, person) -> None:
    number = await report(person("c"))
    bureau_head = await make_staff(services, "head", "leader", COUNTY_LABOR)
    await bureau_head.says(f"/supervise {number}")
    assert bureau_head.said() == ["status.not_found"]
    township_head = await make_staff(services, "thead", "leader", TOWNSHIP_CENTRE)
    await township_head.says(f"/supervise {number}")
    assert township_head.said() == ["supervise.done"]


# -- throttled misses ----------------------------------------------------------------------


@pytest.mark.parametrize("who", ["citizen", "staff"])
async def test_look_ups_that_miss_are_throttled(
    services: Services, person, clock: FrozenClock, who: str
) -> None:
    reporter = person("reporter")
    own = await report(reporter)
    walker = (
        reporter
        if who == "citizen"
        else await make_staff(services, "w", "dept_staff", COUNTY_LABOR)
    )
    if who == "staff":  # a case the bureau may read, for its hits
        own = await report(person("worker"), LABOUR)
    for n in range(4):
        await walker.says(f"/status 2026-90000{n}")
        assert walker.said() == ["status.not_found"]
    for _ in range(3):  # hits do not count
        await walker.says(f"/status {own}")
        assert walker.said()[0] == "status.card"
    await walker.says("/status 2026-900005")
    assert walker.said() == ["status.not_found"]  # the fifth miss is still answered
    await walker.says("/status 2026-900006")
    assert walker.said() == ["status.too_many"]
    assert "2026-900006" not in walker.text()
    # Throttled is throttled for the window: even a case they may read is not looked up.
    await walker.says(f"/status {own}")
    assert walker.said() == ["status.too_many"]
    clock.advance(timedelta(minutes=9))
    await walker.says(f"/status {own}")
    assert walker.said() == ["status.too_many"]
    # The window slides: ten minutes after the first misses, look-ups work again.
    clock.advance(timedelta(minutes=1, seconds=1))
    await walker.says(f"/status {own}")
    assert walker.said()[0] == "status.card"
    # Throttled look-ups did not extend it: one more miss is answered as a miss.
    await walker.says("/status 2026-900007")
    assert walker.said() == ["status.not_found"]


# -- staff leave ---------------------------------------------------------------------------


async def test_disabling_a_mediator_hands_their_work_on(
    services: Services, person, cli_database: None
) -> None:
    leaving = await make_staff(services, "leaving", "mediator", VILLAGE_MEDIATION)
    staying = await make_staff(services, "staying", "mediator", VILLAGE_MEDIATION)
    dispatcher = await make_staff(services, "desk", "dispatcher", VILLAGE_CENTRE)
    held = await report(person("c1"))
    held_offer = (await offers_of(services, held))[0]
    assert held_offer.person_id == leaving.id
    await leaving.presses(f"a:{held_offer.id}")
    assert leaving.said()[0] == "handling.accepted"
    other = await report(person("c2"))
    assert (await offers_of(services, other))[0].person_id == staying.id
    offered = await report(person("c3"))
    offered_offer = (await offers_of(services, offered))[0]
    assert offered_offer.person_id == leaving.id  # equal load, the first bound

    leaving_id = leaving.id  # the same chat account is someone new after this
    result = await cli("staff", "disable", "console:leaving")
    assert result.exit_code == 0, result.output
    assert "told on their chat" in result.output

    # The offer went to the next mediator, the case in progress to the centre's dispatcher.
    offers = await offers_of(services, offered)
    assert [(o.person_id, o.state) for o in offers] == [
        (leaving_id, "withdrawn"),
        (staying.id, "open"),
    ]
    offers = await offers_of(services, held)
    assert [(o.person_id, o.state) for o in offers] == [
        (leaving_id, "accepted"),
        (dispatcher.id, "open"),
    ]
    async with services.sessions() as session:
        for number in (held, offered):
            case = await session.scalar(select(Case).where(Case.number == number))
            assert case is not None and case.status == "assigned" and case.assignee_id is None
            kinds = await event_kinds(session, case.id)
            assert "hand_back" in kinds, kinds
        told = (
            await session.scalars(
                select(OutboxMessage).where(
                    OutboxMessage.person_id == leaving_id, OutboxMessage.purpose == "staff_left"
                )
            )
        ).one()
        assert told.status == "pending" and told.chat_ref == "leaving"

    # Their chat account is nobody's staff any more: commands and buttons are refused.
    await leaving.says("/tasks")
    assert leaving.said() == ["tasks.staff_only"]
    await leaving.presses(f"a:{offered_offer.id}")
    assert leaving.said() == ["offer.not_yours"]
    await leaving.says(f"/status {held}")
    assert leaving.said() == ["status.not_found"]
    # New reports never go to them.
    for n in range(3):
        number = await report(person(f"later{n}"))
        assert leaving_id not in {o.person_id for o in await offers_of(services, number)}

    listing = await cli("staff", "list", "--unit", VILLAGE_MEDIATION, "--json")
    assert listing.exit_code == 0, listing.output
    rows = {row["id"]: row for row in json.loads(listing.output)}
    assert rows[leaving_id]["disabled"] is True and rows[leaving_id]["channels"] == []
    assert rows[leaving_id]["role"] == "mediator"  # kept for the history
    assert rows[staying.id]["disabled"] is False and rows[staying.id]["channels"] == ["console"]
    table = await cli("staff", "list")
    assert table.exit_code == 0 and "disabled" in table.output
    assert not PHONE.search(listing.output + table.output)

    again = await cli("staff", "disable", str(leaving_id))
    assert again.exit_code == 1 and "already disabled" in again.output
    unknown = await cli("staff", "disable", "424242")
    assert unknown.exit_code == 1 and "nobody is known as 424242" in unknown.output
    citizen = await cli("staff", "disable", "console:c1")
    assert citizen.exit_code == 1 and "not a staff member" in citizen.output


async def test_a_revoked_invite_cannot_be_redeemed(
    services: Services, person, cli_database: None
) -> None:
    async with services.sessions() as session, session.begin():
        kept = await create_invite(
            session, services.clock, "mediator", VILLAGE_MEDIATION, "甲", ttl=LONG
        )
        revoked = await create_invite(
            session, services.clock, "mediator", VILLAGE_MEDIATION, "乙", ttl=LONG
        )
        ids = (await session.scalars(select(Invite.id).order_by(Invite.id))).all()
    listing = await cli("invite", "list", "--json")
    assert listing.exit_code == 0, listing.output
    rows = json.loads(listing.output)
    assert [r["id"] for r in rows] == list(ids) and {r["state"] for r in rows} == {"open"}
    assert kept.code not in listing.output and revoked.code not in listing.output

    done = await cli("invite", "revoke", str(ids[1]))
    assert done.exit_code == 0, done.output
    newcomer = person("newcomer")
    await newcomer.says(f"/bind {revoked.code}")
    assert newcomer.said()[0] == "bind.revoked"
    await newcomer.says("/tasks")
    assert newcomer.said() == ["tasks.staff_only"]
    await newcomer.says(f"/bind {kept.code}")
    assert newcomer.said()[0] == "bind.done"

    assert json.loads((await cli("invite", "list", "--json")).output) == []
    everything = await cli("invite", "list", "--all")
    assert (
        everything.exit_code == 0 and "revoked" in everything.output and "used" in everything.output
    )
    assert kept.code not in everything.output and revoked.code not in everything.output
    for args, said in (
        (("invite", "revoke", "999"), "no invite with id 999"),
        (("invite", "revoke", str(ids[1])), "already revoked"),
        (("invite", "revoke", str(ids[0])), "already used"),
    ):
        result = await cli(*args)
        assert result.exit_code == 1 and said in result.output, result.output
