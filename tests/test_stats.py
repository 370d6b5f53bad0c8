"""Work statistics (dispatch/stats.py) against a small hand-built history.

Every expected figure is a literal worked out by hand from the timeline in `seed()`. Times
are local (Asia/Shanghai, UTC+8): local 00:30 is 16:30 UTC of the day before, so the day
boundaries are tested where the UTC date and the local date differ.

The week of the history: Mon 2026-11-23 ("Mon") and Tue 2026-11-24 ("Tue", the report day),
with a few cases from Fri 20, Sat 21 and Sun 22 and a few events on Wed 25.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from dispatch import stats
from dispatch.stats import OverdueCase
from storage.database import Sessions, session_factory
from storage.models import Case, CaseEvent, Person
from tests.conftest import (
    COUNTY_CENTRE,
    COUNTY_LABOR,
    TOWNSHIP_MEDIATION,
    VILLAGE_MEDIATION,
    ZONE,
)

PREFECTURE = "/532800/"
JINGHONG = "/532800/532801/"  # 景洪市: the jurisdiction of most checks
JH_GRID = "/532800/532801/532801001/532801001001/532801001001G01/"
JH_VILLAGE = "/532800/532801/532801101/532801101201/"
MENGHAI_VILLAGE = "/532800/532822/532822001/532822001201/"  # 勐海县: another county
MENGHAI_MEDIATION = "U532822001-TJ"

MON = date(2026, 11, 23)
TUE = date(2026, 11, 24)
WED = date(2026, 11, 25)


def local(day: int, hour: int, minute: int = 0) -> datetime:
    """A local wall-clock time in November 2026 as the UTC instant that is stored."""
    return datetime(2026, 11, day, hour, minute, tzinfo=ZONE).astimezone(UTC)


class History:
    """Cases and events written straight into the tables, as the workflow would leave them."""

    def __init__(self, session: AsyncSession, reporter: Person) -> None:
        self.session = session
        self.reporter = reporter
        self.events: list[CaseEvent] = []

    async def make_case(
        self,
        number: str,
        region_path: str,
        source: str,
        category: str,
        risk: str,
        reported_at: datetime,
        status: str = "reported",  # the status after all its events (kept in step)
    ) -> Case:
        case = Case(
            number=number,
            status=status,
            source=source,
            category=category,
            risk=risk,
            description=f"case {number}",
            region_path=region_path,
            reporter_id=self.reporter.id,
            created_at=reported_at,
            updated_at=reported_at,
        )
        self.session.add(case)
        await self.session.flush()
        self.event(case, "report", reported_at, channel="console", category=category, risk=risk)
        return case

    def event(self, case: Case, kind: str, at: datetime, **data: Any) -> None:
        self.events.append(CaseEvent(case_id=case.id, kind=kind, at=at, data=data))

    def offer(
        self,
        case: Case,
        at: datetime,
        offer_id: int,
        person_id: int,
        unit: str,
        as_dispatcher: bool = False,
    ) -> None:
        """An offer to one person of `unit`: the routing's, unless a dispatcher made it."""
        self.event(
            case,
            "offer",
            at,
            offer_id=offer_id,
            person_id=person_id,
            unit=unit,
            as_dispatcher=as_dispatcher,
        )

    async def write(self) -> None:
        # Append in time order, as the workflow does (ids then follow time; ties keep the
        # order they were given in, so a report comes before its resolve_on_spot).
        for event in sorted(self.events, key=lambda e: e.at):
            self.session.add(event)
            await self.session.flush()


async def new_history(session: AsyncSession) -> History:
    reporter = Person(display_name="reporter", role="citizen", created_at=local(1, 9))
    session.add(reporter)
    await session.flush()
    return History(session, reporter)


async def seed(sessions: Sessions) -> None:
    """The timeline; the expectations in the tests below are worked out from it."""
    async with sessions() as session, session.begin():
        h = await new_history(session)
        v, t, cz, rs = VILLAGE_MEDIATION, TOWNSHIP_MEDIATION, COUNTY_CENTRE, COUNTY_LABOR

        # A: reported Mon 10:00, handled by the village, resolved Tue 09:00 (23 h).
        a = await h.make_case(
            "A", JH_GRID, "citizen", "neighbor", "general", local(23, 10), "resolved"
        )
        h.offer(a, local(23, 10, 1), offer_id=1, person_id=1, unit=v)
        h.event(a, "accept", local(23, 11), offer_id=1, unit=v)
        h.event(a, "resolve", local(24, 9), outcome="success", summary="", agreement="oral")
        h.event(a, "followup", local(24, 12), rating="satisfied", comment="")

        # B: reported Mon 23:30 (still Monday), escalated, accepted Tue 00:30 (Tuesday),
        # failed Tue 10:00 (10.5 h).
        b = await h.make_case(
            "B", JH_GRID, "grid_worker", "family", "general", local(23, 23, 30), "unresolved"
        )
        h.offer(b, local(23, 23, 31), offer_id=2, person_id=1, unit=v)
        h.event(b, "escalate", local(24, 0, 10), reason="", from_level="village")
        h.offer(b, local(24, 0, 15), offer_id=3, person_id=2, unit=t)
        h.event(b, "accept", local(24, 0, 30), offer_id=3, unit=t)
        h.event(b, "fail", local(24, 10), outcome="failed", summary="", agreement="none")
        h.event(b, "followup_unanswered", local(24, 19))

        # C: reported Sat 09:00, failed Mon 12:00 (51 h), reopened Tue 08:00,
        # resolved Tue 15:00 (78 h after the report).
        c = await h.make_case(
            "C", JH_GRID, "citizen", "contract", "general", local(21, 9), "resolved"
        )
        h.offer(c, local(21, 9, 5), offer_id=4, person_id=1, unit=v)
        h.event(c, "accept", local(21, 9, 30), offer_id=4, unit=v)
        h.event(c, "fail", local(23, 12), outcome="failed", summary="", agreement="none")
        h.event(c, "reopen", local(24, 8), comment="they fell out again")
        h.event(c, "resolve", local(24, 15), outcome="success", summary="", agreement="written")
        h.event(c, "followup", local(24, 22), rating="dissatisfied", comment="")

        # E: a grid worker resolves it on the spot, Tue 00:30 (Tuesday; 0 h).
        e = await h.make_case(
            "E", JH_GRID, "grid_worker", "land", "general", local(24, 0, 30), "resolved"
        )
        h.event(e, "resolve_on_spot", local(24, 0, 30), summary="")
        h.event(e, "followup", local(24, 13), rating="basic", comment="")

        # F: major; reported Mon 08:00, declined and re-offered, paused 6 h,
        # resolved Tue 20:00: 36 h - 6 h = 30 h.
        f = await h.make_case(
            "F", JH_VILLAGE, "dept_staff", "labor", "major", local(23, 8), "resolved"
        )
        h.offer(f, local(23, 8, 5), offer_id=5, person_id=3, unit=rs)
        h.event(f, "decline", local(23, 9), offer_id=5, reason="not ours")
        h.event(f, "reoffer", local(23, 9, 1), offer_id=6, person_id=4, unit=cz, as_dispatcher=True)
        h.event(f, "accept", local(23, 10), offer_id=6, unit=cz)
        h.event(f, "pause", local(23, 12), reason="waiting for the employer")
        h.event(f, "resume", local(23, 18), paused_seconds=6 * 3600)
        h.event(f, "resolve", local(24, 20), outcome="success", summary="", agreement="written")

        # G: in 勐海县 — outside 景洪市, inside the prefecture.
        g = await h.make_case(
            "G", MENGHAI_VILLAGE, "citizen", "neighbor", "significant", local(24, 10), "resolved"
        )
        h.offer(g, local(24, 10, 5), offer_id=7, person_id=5, unit=MENGHAI_MEDIATION)
        h.event(g, "accept", local(24, 11), offer_id=7, unit=MENGHAI_MEDIATION)
        h.event(g, "resolve", local(24, 12), outcome="success", summary="", agreement="oral")
        h.event(g, "followup", local(24, 13), rating="satisfied", comment="")

        # H: reported Tue 23:30 (Tuesday), accepted Wed 00:30 (Wednesday).
        hh = await h.make_case(
            "H", JH_GRID, "citizen", "neighbor", "general", local(24, 23, 30), "in_progress"
        )
        h.offer(hh, local(24, 23, 31), offer_id=8, person_id=1, unit=v)
        h.event(hh, "accept", local(25, 0, 30), offer_id=8, unit=v)

        # I: reported Wed 00:30 — Wednesday, not Tuesday.
        i = await h.make_case(
            "I", JH_GRID, "citizen", "property", "general", local(25, 0, 30), "assigned"
        )
        h.offer(i, local(25, 0, 31), offer_id=9, person_id=1, unit=v)

        # J: major, reported Tue 14:00, still waiting to be accepted.
        j = await h.make_case(
            "J", JH_VILLAGE, "citizen", "labor", "major", local(24, 14), "assigned"
        )
        h.offer(j, local(24, 14, 1), offer_id=10, person_id=3, unit=rs)

        # K: reported Mon 09:00 and withdrawn at 09:30 (closing, but not an outcome).
        k = await h.make_case(
            "K", JH_GRID, "citizen", "family", "general", local(23, 9), "cancelled"
        )
        h.offer(k, local(23, 9, 5), offer_id=11, person_id=1, unit=v)
        h.event(k, "cancel", local(23, 9, 30))

        # O1: overdue since Mon 11:00 and still overdue.
        o1 = await h.make_case(
            "O1", JH_GRID, "citizen", "neighbor", "general", local(21, 10), "in_progress"
        )
        h.offer(o1, local(21, 10, 1), offer_id=12, person_id=1, unit=v)
        h.event(o1, "accept", local(21, 11), offer_id=12, unit=v)
        h.event(o1, "remind", local(22, 11), stage="resolve", step=0)
        h.event(o1, "overdue", local(23, 11), stage="resolve")
        h.event(o1, "supervise", local(24, 9), by=9)
        h.event(o1, "progress", local(24, 10), note="talking", photos=0)

        # O2: overdue Sun 09:00, escalated Mon 14:00 and offered to the county: a new clock.
        o2 = await h.make_case(
            "O2", JH_GRID, "citizen", "business", "general", local(20, 9), "assigned"
        )
        h.offer(o2, local(20, 9, 1), offer_id=13, person_id=1, unit=v)
        h.event(o2, "accept", local(20, 10), offer_id=13, unit=v)
        h.event(o2, "overdue", local(22, 9), stage="resolve")
        h.event(o2, "escalate", local(23, 14), reason="overdue", from_level="village")
        h.offer(o2, local(23, 14, 5), offer_id=14, person_id=4, unit=cz, as_dispatcher=True)

        # O3: overdue since Sat 09:00, resolved Tue 11:00 (98 h). Its accept names no unit:
        # the unit is the accepted offer's.
        o3 = await h.make_case(
            "O3", JH_GRID, "citizen", "damages", "general", local(20, 9), "resolved"
        )
        h.offer(o3, local(20, 9, 1), offer_id=15, person_id=1, unit=v)
        h.event(o3, "accept", local(20, 10), offer_id=15)
        h.event(o3, "overdue", local(21, 9), stage="resolve")
        h.event(o3, "resolve", local(24, 11), outcome="success", summary="", agreement="oral")

        # O4: not accepted in time (overdue Mon 13:00), then accepted Mon 15:00.
        o4 = await h.make_case(
            "O4", JH_GRID, "citizen", "neighbor", "general", local(23, 9), "in_progress"
        )
        h.offer(o4, local(23, 9, 5), offer_id=16, person_id=1, unit=v)
        h.event(o4, "overdue", local(23, 13), stage="accept")
        h.event(o4, "accept", local(23, 15), offer_id=16, unit=v)

        # O5: overdue in 勐海县 since Mon 08:00.
        o5 = await h.make_case(
            "O5", MENGHAI_VILLAGE, "citizen", "family", "general", local(21, 10), "in_progress"
        )
        h.offer(o5, local(21, 10, 1), offer_id=17, person_id=5, unit=MENGHAI_MEDIATION)
        h.event(o5, "accept", local(21, 11), offer_id=17, unit=MENGHAI_MEDIATION)
        h.event(o5, "overdue", local(23, 8), stage="resolve")

        # O6: reported Mon 16:00, overdue only on Wed 01:00.
        o6 = await h.make_case(
            "O6", JH_GRID, "citizen", "property", "general", local(23, 16), "in_progress"
        )
        h.offer(o6, local(23, 16, 1), offer_id=18, person_id=2, unit=t)
        h.event(o6, "accept", local(23, 17), offer_id=18, unit=t)
        h.event(o6, "overdue", local(25, 1), stage="resolve")

        # R: resolved on the spot Sat 10:00 (0 h), reopened Wed 09:00.
        r = await h.make_case(
            "R", JH_GRID, "grid_worker", "housing", "general", local(21, 10), "in_progress"
        )
        h.event(r, "resolve_on_spot", local(21, 10), summary="")
        h.event(r, "reopen", local(25, 9), comment="the wall is back")
        h.offer(r, local(25, 9, 1), offer_id=19, person_id=1, unit=v)
        h.event(r, "accept", local(25, 10), offer_id=19, unit=v)

        await h.write()


@pytest.fixture
async def sessions(engine: AsyncEngine) -> Sessions:
    return session_factory(engine)


@pytest.fixture
async def seeded(sessions: Sessions) -> AsyncIterator[AsyncSession]:
    await seed(sessions)
    async with sessions() as session:
        yield session


# ---------------------------------------------------------------- periods


def test_periods_are_local_days_iso_weeks_and_calendar_months() -> None:
    def utc(month: int, day: int, hour: int) -> datetime:
        return datetime(2026, month, day, hour, tzinfo=UTC)

    # Tuesday 24 Nov local = 23 Nov 16:00 UTC .. 24 Nov 16:00 UTC (UTC+8).
    assert stats.period(TUE, "day", ZONE) == (utc(11, 23, 16), utc(11, 24, 16))
    # The ISO week of Tue 24: Mon 23 .. Sun 29 inclusive.
    assert stats.period(TUE, "week", ZONE) == (utc(11, 22, 16), utc(11, 29, 16))
    assert stats.period(date(2026, 11, 29), "week", ZONE) == stats.period(MON, "week", ZONE)
    assert stats.period(TUE, "month", ZONE) == (utc(10, 31, 16), utc(11, 30, 16))
    assert stats.period(date(2026, 12, 31), "month", ZONE) == (
        utc(11, 30, 16),
        utc(12, 31, 16),
    )
    assert stats.previous(TUE, "day") == MON
    assert stats.previous(TUE, "week") == date(2026, 11, 17)  # in the week Mon 16 .. Sun 22
    assert stats.previous(date(2026, 3, 31), "month") == date(2026, 2, 28)
    assert stats.previous(date(2026, 1, 15), "month") == date(2025, 12, 31)


# ---------------------------------------------------------------- the daily report


async def test_daily_figures_of_a_county(seeded: AsyncSession) -> None:
    start, end = stats.period(TUE, "day", ZONE)
    fig = await stats.figures(seeded, JINGHONG, start, end)

    # Reported on Tue: E (00:30), J (14:00), H (23:30). Not B (Mon 23:30), not I (Wed 00:30),
    # not G (勐海县).
    assert fig.new_total == 3
    assert fig.new_by_source == {"citizen": 2, "grid_worker": 1}  # H, J / E
    assert fig.new_by_category == {"labor": 1, "land": 1, "neighbor": 1}
    assert fig.major == ("J",)
    # Accepted on Tue: B at 00:30 only (H's accept is Wed 00:30; G is in 勐海县).
    assert fig.accepted == 1
    # Resolved on Tue: A, C, F, O3 (resolve) + E (on the spot) = 5; failed: B.
    assert fig.resolved == 5
    assert fig.failed == 1

    # 6 outcomes on Tue:        first success?                 handled once?
    #   A resolve               yes                            yes
    #   B fail                  no (a failure)                 no (escalated)
    #   C resolve               no (failed before, reopened)   no (reopened)
    #   E resolve_on_spot       yes                            yes
    #   F resolve               yes                            no (declined, re-offered)
    #   O3 resolve              yes (overdue is no failure)    yes
    assert fig.first_mediation_success == pytest.approx(4 / 6)
    assert fig.one_time_closure == pytest.approx(3 / 6)
    # Hours from report to outcome, less paused time:
    # A 23 + B 10.5 + C 78 + E 0 + F (36 - 6 paused) 30 + O3 98 = 239.5, over 6.
    assert fig.avg_handling_hours == pytest.approx(239.5 / 6)

    # Followups on Tue: A satisfied, E basic, C dissatisfied (B's went unanswered; G is
    # in 勐海县) → 2/3.
    assert fig.followups_answered == 3
    assert fig.satisfaction == pytest.approx(2 / 3)

    # Overdue at the end of Tue: O1 only. O2 was escalated and re-offered (a new clock),
    # O3 was resolved, O4 was accepted, O6 is overdue only on Wed, O5 is in 勐海县.
    assert fig.overdue_count == 1
    assert fig.overdue_oldest == (OverdueCase("O1", VILLAGE_MEDIATION, local(23, 11)),)


async def test_the_previous_day_and_the_change(seeded: AsyncSession) -> None:
    rep = await stats.report(seeded, JINGHONG, ZONE, TUE)
    assert (rep.span, rep.day) == ("day", TUE)
    assert (rep.start, rep.end) == stats.period(TUE, "day", ZONE)
    before = rep.before
    # Reported on Mon: F 08:00, K 09:00, O4 09:00, A 10:00, O6 16:00, B 23:30.
    assert before.new_total == 6
    assert before.new_by_source == {"citizen": 4, "dept_staff": 1, "grid_worker": 1}
    assert before.new_by_category == {"family": 2, "neighbor": 2, "labor": 1, "property": 1}
    assert before.major == ("F",)
    # Accepted on Mon: F 10:00, A 11:00, O4 15:00, O6 17:00.
    assert before.accepted == 4
    # One outcome on Mon: C failed (K's cancel is no outcome).
    assert (before.resolved, before.failed) == (0, 1)
    assert before.first_mediation_success == 0.0  # 0/1
    assert before.one_time_closure == 1.0  # 1/1: C was never declined, escalated or reopened
    assert before.avg_handling_hours == pytest.approx(51.0)  # Sat 09:00 → Mon 12:00
    assert before.followups_answered == 0
    assert before.satisfaction is None
    # Overdue at the end of Mon: O3 (since Sat 09:00; resolved only on Tue) and O1 (Mon 11:00).
    # The unit of O3 comes from the offer its accept took (the accept names none).
    assert before.overdue_count == 2
    assert before.overdue_oldest == (
        OverdueCase("O3", VILLAGE_MEDIATION, local(21, 9)),
        OverdueCase("O1", VILLAGE_MEDIATION, local(23, 11)),
    )

    assert rep.change("new_total") == -3  # 3 - 6
    assert rep.change("accepted") == -3  # 1 - 4
    assert rep.change("resolved") == 5  # 5 - 0
    assert rep.change("failed") == 0  # 1 - 1
    assert rep.change("overdue_count") == -1  # 1 - 2
    assert rep.change("major") == 0  # one major case each day
    assert rep.change("first_mediation_success") == pytest.approx(4 / 6)  # 4/6 - 0/1
    assert rep.change("one_time_closure") == pytest.approx(-0.5)  # 3/6 - 1/1
    assert rep.change("avg_handling_hours") == pytest.approx(239.5 / 6 - 51)
    assert rep.change("satisfaction") is None  # no followups on Mon
    with pytest.raises(TypeError):
        rep.change("new_by_source")


async def test_jurisdiction_is_a_prefix_of_the_region_path(seeded: AsyncSession) -> None:
    start, end = stats.period(TUE, "day", ZONE)
    prefecture = await stats.figures(seeded, PREFECTURE, start, end)
    # 景洪市's figures plus G (reported, accepted, resolved, followed up on Tue) and O5.
    assert prefecture.new_total == 4
    assert prefecture.accepted == 2
    assert prefecture.resolved == 6
    assert prefecture.followups_answered == 4
    assert prefecture.satisfaction == pytest.approx(3 / 4)
    assert prefecture.overdue_count == 2
    assert [c.number for c in prefecture.overdue_oldest] == ["O5", "O1"]  # Mon 08:00, 11:00
    # 7 outcomes with G: first success 5/7, handled once 4/7, G took 2 h.
    assert prefecture.first_mediation_success == pytest.approx(5 / 7)
    assert prefecture.one_time_closure == pytest.approx(4 / 7)
    assert prefecture.avg_handling_hours == pytest.approx((239.5 + 2) / 7)

    village = await stats.figures(seeded, JH_VILLAGE, start, end)
    assert (village.new_total, village.major, village.resolved) == (1, ("J",), 1)  # J / F
    # F: 30 h, first success, bounced once.
    assert (village.first_mediation_success, village.one_time_closure) == (1.0, 0.0)
    assert village.avg_handling_hours == pytest.approx(30.0)

    elsewhere = await stats.figures(seeded, "/532800/532823/", start, end)
    assert (elsewhere.new_total, elsewhere.resolved, elsewhere.overdue_count) == (0, 0, 0)


# ---------------------------------------------------------------- weeks and months


async def test_week_and_the_week_before(seeded: AsyncSession) -> None:
    rep = await stats.report(seeded, JINGHONG, ZONE, TUE, "week")
    now, before = rep.now, rep.before
    # Mon 23 .. Sun 29: Mon's 6 + Tue's 3 + I on Wed = 10 reported.
    assert now.new_total == 10
    assert now.new_by_category == {
        "neighbor": 3,  # A, O4, H
        "family": 2,  # B, K
        "labor": 2,  # F, J
        "property": 2,  # O6, I
        "land": 1,  # E
    }
    assert now.major == ("F", "J")
    assert now.accepted == 7  # Mon 4 + Tue 1 + H and R on Wed
    assert (now.resolved, now.failed) == (5, 2)  # Tue's 5 / C on Mon, B on Tue
    # 7 outcomes: Tue's 6 and C's failure on Mon (not a first success, but handled once).
    assert now.first_mediation_success == pytest.approx(4 / 7)
    assert now.one_time_closure == pytest.approx(4 / 7)
    assert now.avg_handling_hours == pytest.approx((239.5 + 51) / 7)
    # At the end of Sun 29: O1 (Mon 11:00) and O6 (Wed 01:00).
    assert [(c.number, c.unit) for c in now.overdue_oldest] == [
        ("O1", VILLAGE_MEDIATION),
        ("O6", TOWNSHIP_MEDIATION),
    ]

    # Mon 16 .. Sun 22: O2, O3 on Fri; C, O1, R on Sat (O5 is in 勐海县).
    assert before.new_total == 5
    assert before.accepted == 4  # O2, O3 on Fri; C, O1 on Sat
    assert (before.resolved, before.failed) == (1, 0)  # R on the spot
    assert (before.first_mediation_success, before.one_time_closure) == (1.0, 1.0)
    assert before.avg_handling_hours == 0.0
    # At the end of Sun 22: O3 (Sat 09:00), O2 (Sun 09:00; escalated only on Mon).
    assert [c.number for c in before.overdue_oldest] == ["O3", "O2"]
    assert rep.change("new_total") == 5


async def test_month_and_an_empty_month_before(seeded: AsyncSession) -> None:
    rep = await stats.report(seeded, JINGHONG, ZONE, TUE, "month")
    now = rep.now
    # Every case of 景洪市: A B C E F H I J K O1 O2 O3 O4 O6 R.
    assert now.new_total == 15
    assert now.new_by_source == {"citizen": 11, "grid_worker": 3, "dept_staff": 1}
    # 8 outcomes: R (Sat), C fail (Mon) and Tue's 6.
    # First success: R, A, E, F, O3 = 5; handled once: R, C's failure, A, E, O3 = 5.
    assert now.first_mediation_success == pytest.approx(5 / 8)
    assert now.one_time_closure == pytest.approx(5 / 8)
    assert now.avg_handling_hours == pytest.approx((0 + 51 + 239.5) / 8)
    assert now.resolved == 6  # R, A, C, E, F, O3

    # October: nothing happened — zeros and no rates.
    empty = rep.before
    assert (empty.new_total, empty.accepted, empty.resolved, empty.failed) == (0, 0, 0, 0)
    assert (empty.new_by_source, empty.new_by_category, empty.major) == ({}, {}, ())
    assert (empty.overdue_count, empty.overdue_oldest) == (0, ())
    assert empty.first_mediation_success is None
    assert empty.one_time_closure is None
    assert empty.avg_handling_hours is None
    assert empty.satisfaction is None
    assert empty.followups_answered == 0
    assert rep.change("new_total") == 15
    assert rep.change("first_mediation_success") is None


async def test_an_empty_database_gives_zeros(sessions: Sessions) -> None:
    async with sessions() as session:
        rep = await stats.report(session, JINGHONG, ZONE, TUE)
        assert rep.now == rep.before
        assert rep.now.new_total == 0 and rep.now.satisfaction is None
        assert await stats.open_by_category(session, JINGHONG, local(24, 12)) == []
        series = await stats.daily_series(session, JINGHONG, ZONE, TUE)
        assert series == [(TUE - timedelta(days=13 - i), 0, 0) for i in range(14)]


# ---------------------------------------------------------------- open cases


async def test_open_by_category_at_an_instant(seeded: AsyncSession) -> None:
    # End of Tue: H (reported 23:30), O1, O4 neighbor; J labor; O2 business; O6 property.
    # Closed: A, B, C, E, F, O3 (outcomes), K (withdrawn), R (resolved; reopened only on Wed).
    # Not yet reported: I.
    assert await stats.open_by_category(seeded, JINGHONG, stats.period(TUE, "day", ZONE)[1]) == [
        ("neighbor", 3),
        ("business", 1),
        ("labor", 1),
        ("property", 1),
    ]
    # Tue 12:00: C is open again (failed Mon, reopened Tue 08:00, resolved only at 15:00),
    # F is open (resolved at 20:00); A, B, O3 are already closed; H and J not yet reported.
    assert await stats.open_by_category(seeded, JINGHONG, local(24, 12)) == [
        ("neighbor", 2),  # O1, O4
        ("business", 1),  # O2
        ("contract", 1),  # C, reopened
        ("labor", 1),  # F
        ("property", 1),  # O6
    ]
    # Mon 20:00: C is closed (failed at 12:00), K withdrawn; A, F, O3 open until Tue.
    assert await stats.open_by_category(seeded, JINGHONG, local(23, 20)) == [
        ("neighbor", 3),  # A, O1, O4
        ("business", 1),  # O2
        ("damages", 1),  # O3
        ("labor", 1),  # F
        ("property", 1),  # O6
    ]
    # Wed 12:00: R is open again after its reopen; I reported; nothing closed since Tue.
    assert await stats.open_by_category(seeded, JINGHONG, local(25, 12)) == [
        ("neighbor", 3),  # H, O1, O4
        ("property", 2),  # O6, I
        ("business", 1),  # O2
        ("housing", 1),  # R
        ("labor", 1),  # J
    ]
    # In 勐海县 at the end of Tue: O5 (G was resolved).
    assert await stats.open_by_category(
        seeded, "/532800/532822/", stats.period(TUE, "day", ZONE)[1]
    ) == [("family", 1)]


async def test_a_reopened_case_is_neither_a_first_success_nor_handled_once(
    sessions: Sessions,
) -> None:
    async with sessions() as session, session.begin():
        h = await new_history(session)
        p = await h.make_case(
            "P", JH_GRID, "citizen", "neighbor", "general", local(23, 9), "resolved"
        )
        h.offer(p, local(23, 9, 1), offer_id=1, person_id=1, unit=VILLAGE_MEDIATION)
        h.event(p, "accept", local(23, 10), offer_id=1, unit=VILLAGE_MEDIATION)
        h.event(p, "resolve", local(23, 12), outcome="success", summary="", agreement="oral")
        h.event(p, "reopen", local(23, 14), comment="not settled")
        h.event(p, "resolve", local(24, 10), outcome="success", summary="", agreement="written")
        await h.write()

    async with sessions() as session:
        rep = await stats.report(session, JINGHONG, ZONE, TUE)
        # Mon: resolved at 12:00, 3 h after the report, first time, by the first unit.
        assert (rep.before.first_mediation_success, rep.before.one_time_closure) == (1.0, 1.0)
        assert rep.before.avg_handling_hours == pytest.approx(3.0)
        # Tue: resolved again after the reopen (no failure in between): 0/1 and 0/1;
        # 25 h from the report (Mon 09:00 → Tue 10:00).
        assert (rep.now.first_mediation_success, rep.now.one_time_closure) == (0.0, 0.0)
        assert rep.now.avg_handling_hours == pytest.approx(25.0)
        assert rep.now.resolved == 1 and rep.now.new_total == 0
        # Closed at 13:00, open again at 15:00, closed at the end of Tue.
        assert await stats.open_by_category(session, JINGHONG, local(23, 13)) == []
        assert await stats.open_by_category(session, JINGHONG, local(23, 15)) == [("neighbor", 1)]
        assert await stats.open_by_category(session, JINGHONG, local(25, 0)) == []


# ---------------------------------------------------------------- overdue


async def test_overdue_is_the_latest_clock_event_and_lists_the_oldest_five(
    sessions: Sessions,
) -> None:
    async with sessions() as session, session.begin():
        h = await new_history(session)
        # Nine cases go overdue on Tue, N9 at 01:00 … N1 at 09:00. Then N5 is re-offered and
        # accepted (a new clock), N6 is resolved, and N7 is escalated, accepted by the county
        # centre and overdue again at 13:00.
        for n in range(1, 10):
            case = await h.make_case(
                f"N{n}", JH_GRID, "citizen", "neighbor", "general", local(20, 9), "in_progress"
            )
            unit = VILLAGE_MEDIATION if n % 2 else TOWNSHIP_MEDIATION
            h.offer(case, local(20, 9, 1), offer_id=n, person_id=1, unit=unit)
            h.event(case, "accept", local(20, 10), offer_id=n, unit=unit)
            h.event(case, "overdue", local(24, 10 - n), stage="resolve")
            if n == 5:
                h.event(
                    case,
                    "reoffer",
                    local(24, 11),
                    offer_id=50,
                    person_id=4,
                    unit=COUNTY_CENTRE,
                    as_dispatcher=True,
                )
                h.event(case, "accept", local(24, 12), offer_id=50, unit=COUNTY_CENTRE)
            if n == 6:
                h.event(
                    case, "resolve", local(24, 12), outcome="success", summary="", agreement="oral"
                )
                case.status = "resolved"
            if n == 7:
                h.event(case, "escalate", local(24, 12), reason="overdue", from_level="village")
                h.offer(
                    case,
                    local(24, 12, 1),
                    offer_id=70,
                    person_id=4,
                    unit=COUNTY_CENTRE,
                    as_dispatcher=True,
                )
                h.event(case, "accept", local(24, 12, 30), offer_id=70, unit=COUNTY_CENTRE)
                h.event(case, "overdue", local(24, 13), stage="resolve")
        await h.write()

    async with sessions() as session:
        count, at_end = await stats.overdue_at(session, JINGHONG, stats.period(TUE, "day", ZONE)[1])
        assert count == len(at_end) == 7
        # Overdue at the end of Tue: N9 (01:00), N8 (02:00), N4 (06:00), N3 (07:00),
        # N2 (08:00), N1 (09:00), N7 (13:00, its second overdue). Not N5, not N6.
        assert [c.number for c in at_end] == ["N9", "N8", "N4", "N3", "N2", "N1", "N7"]
        fig = await stats.figures(session, JINGHONG, *stats.period(TUE, "day", ZONE))
        assert fig.overdue_count == 7
        assert fig.overdue_oldest == (
            OverdueCase("N9", VILLAGE_MEDIATION, local(24, 1)),
            OverdueCase("N8", TOWNSHIP_MEDIATION, local(24, 2)),
            OverdueCase("N4", TOWNSHIP_MEDIATION, local(24, 6)),
            OverdueCase("N3", VILLAGE_MEDIATION, local(24, 7)),
            OverdueCase("N2", TOWNSHIP_MEDIATION, local(24, 8)),
        )
        # At Tue 11:30 N5 was re-offered (a new clock), N6 and N7 still overdue.
        _, at_noon = await stats.overdue_at(session, JINGHONG, local(24, 11, 30))
        assert [c.number for c in at_noon] == ["N9", "N8", "N7", "N6", "N4", "N3", "N2", "N1"]
        # N7's unit is the one of its latest offer or acceptance at that instant.
        assert at_end[-1] == OverdueCase("N7", COUNTY_CENTRE, local(24, 13))
        assert at_noon[2] == OverdueCase("N7", VILLAGE_MEDIATION, local(24, 3))


# ---------------------------------------------------------------- the series


async def test_daily_series_has_every_day_with_zeros(seeded: AsyncSession) -> None:
    series = await stats.daily_series(seeded, JINGHONG, ZONE, TUE)
    assert len(series) == 14
    assert series[0][0] == date(2026, 11, 11) and series[-1][0] == TUE
    nonzero = {day: (new, resolved) for day, new, resolved in series if new or resolved}
    assert nonzero == {
        date(2026, 11, 20): (2, 0),  # O2, O3 reported
        date(2026, 11, 21): (3, 1),  # C, O1, R reported; R on the spot (O5 is in 勐海县)
        date(2026, 11, 23): (6, 0),  # C failed: not resolved
        date(2026, 11, 24): (3, 5),  # E 00:30, J, H 23:30 / A, C, E, F, O3
    }
    # Wed: I reported 00:30, nothing resolved.
    assert (await stats.daily_series(seeded, JINGHONG, ZONE, WED, days=3)) == [
        (MON, 6, 0),
        (TUE, 3, 5),
        (WED, 1, 0),
    ]
