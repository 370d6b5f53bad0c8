"""Working-time SLA arithmetic against the real 2026 calendar from `chinese-calendar`.

2026 facts used below (from chinese-calendar 1.11.0's data, i.e. the State Council notice):
- Spring Festival: off Sun 2026-02-15 .. Mon 2026-02-23; adjusted working Saturdays
  (调休上班) 2026-02-14 and 2026-02-28.
- Mid-Autumn: off Fri 2026-09-25 .. Sun 2026-09-27 (a separate holiday from National Day).
- National Day: off Thu 2026-10-01 .. Wed 2026-10-07; adjusted working days
  Sun 2026-09-20 and Sat 2026-10-10.
March 2026 has no holidays, so it serves as an ordinary month.
"""

from __future__ import annotations

import logging
import random
from datetime import UTC, date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest

from dispatch import worktime
from dispatch.worktime import (
    WorkingHours,
    add_time,
    add_working_time,
    is_working_day,
    working_time_between,
)

ZONE = ZoneInfo("Asia/Shanghai")
HOURS = WorkingHours()  # 08:30-12:00, 14:30-18:00: 7 h a day
DAY = timedelta(hours=7)


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=ZONE)


def add(start: datetime, duration: timedelta) -> datetime:
    return add_working_time(start, duration, ZONE, HOURS)


def between(start: datetime, end: datetime) -> timedelta:
    return working_time_between(start, end, ZONE, HOURS)


# --- the calendar ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "working", "name"),
    [
        (date(2026, 2, 13), True, None),  # Fri before Spring Festival
        (date(2026, 2, 14), True, "Spring Festival"),  # Sat, 调休上班
        (date(2026, 2, 15), False, "Spring Festival"),  # Sun, first day off
        (date(2026, 2, 16), False, "Spring Festival"),  # Mon
        (date(2026, 2, 23), False, "Spring Festival"),  # Mon, last day off
        (date(2026, 2, 24), True, None),  # Tue, back to work
        (date(2026, 2, 28), True, "Spring Festival"),  # Sat, 调休上班
        (date(2026, 3, 1), False, None),  # an ordinary Sunday
        (date(2026, 9, 20), True, "National Day"),  # Sun, 调休上班
        (date(2026, 9, 25), False, "Mid-autumn Festival"),  # Fri
        (date(2026, 9, 27), False, "Mid-autumn Festival"),  # Sun
        (date(2026, 10, 1), False, "National Day"),  # Thu
        (date(2026, 10, 7), False, "National Day"),  # Wed
        (date(2026, 10, 8), True, None),  # Thu, back to work
        (date(2026, 10, 10), True, "National Day"),  # Sat, 调休上班
        (date(2026, 10, 11), False, None),  # Sun
    ],
)
def test_2026_working_days(day: date, working: bool, name: str | None) -> None:
    assert is_working_day(day) is working
    assert chinese_calendar.get_holiday_detail(day) == (not working, name)


def test_year_without_data_counts_weekends_only_and_warns_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # The first year the installed package does not cover (2027 for chinese-calendar 1.11.0).
    year = max(chinese_calendar.holidays).year + 1
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(date(year, 1, 5))
    monkeypatch.setattr(worktime, "_warned_years", set())
    caplog.set_level(logging.WARNING, logger="dispatch.worktime")

    days = [date(year, 1, 1) + timedelta(days=i) for i in range(21)]
    assert [is_working_day(d) for d in days] == [d.weekday() < 5 for d in days]
    # 1 January is a holiday in reality, but without data only weekends are days off.
    assert is_working_day(date(year, 1, 1)) is (date(year, 1, 1).weekday() < 5)
    friday = next(d for d in days if d.weekday() == 4)
    monday = friday + timedelta(days=3)
    assert add(local(friday.year, friday.month, friday.day, 16), timedelta(hours=4)) == local(
        monday.year, monday.month, monday.day, 10, 30
    )

    records = [r for r in caplog.records if r.name == "dispatch.worktime"]
    assert [(r.levelno, r.getMessage()) for r in records] == [
        (logging.WARNING, f"no holiday data for {year}; counting weekends only")
    ]

    is_working_day(date(year + 1, 3, 3))  # another unknown year warns once more
    messages = [r.getMessage() for r in caplog.records if r.name == "dispatch.worktime"]
    assert messages[1:] == [f"no holiday data for {year + 1}; counting weekends only"]


# --- add_working_time -----------------------------------------------------------------------


def test_friday_afternoon_plus_four_hours_lands_on_monday_morning() -> None:
    # Fri 2026-03-13 16:00 -> 18:00 uses 2 h; Sat/Sun off; Mon 2026-03-16 08:30 + 2 h = 10:30.
    result = add(local(2026, 3, 13, 16), timedelta(hours=4))
    assert result == local(2026, 3, 16, 10, 30)
    assert result.tzinfo is UTC
    assert between(local(2026, 3, 13, 16), result) == timedelta(hours=4)


def test_ending_at_close_of_business_stays_on_that_day() -> None:
    # Fri 16:00 + 2 h = Fri 18:00 exactly, not Monday 08:30.
    assert add(local(2026, 3, 13, 16), timedelta(hours=2)) == local(2026, 3, 13, 18)


def test_start_during_lunch_begins_at_half_past_two() -> None:
    # Tue 2026-03-17 12:30 is lunch: the clock starts at 14:30, + 1 h = 15:30.
    assert add(local(2026, 3, 17, 12, 30), timedelta(hours=1)) == local(2026, 3, 17, 15, 30)
    # Morning leftover is not counted: 11:00 + 2 h = 12:00 (1 h) then 14:30 + 1 h = 15:30.
    assert add(local(2026, 3, 17, 11), timedelta(hours=2)) == local(2026, 3, 17, 15, 30)


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        (local(2026, 3, 17, 10), local(2026, 3, 17, 10)),  # inside working time: itself
        (local(2026, 3, 17, 8, 30), local(2026, 3, 17, 8, 30)),  # opening is working time
        (local(2026, 3, 17, 7), local(2026, 3, 17, 8, 30)),  # before opening
        (local(2026, 3, 17, 12), local(2026, 3, 17, 14, 30)),  # 12:00 is lunch
        (local(2026, 3, 17, 18), local(2026, 3, 18, 8, 30)),  # 18:00 is closed
        (local(2026, 3, 13, 18, 30), local(2026, 3, 16, 8, 30)),  # Fri evening -> Mon
        (local(2026, 3, 14, 10), local(2026, 3, 16, 8, 30)),  # Saturday -> Mon
    ],
)
def test_zero_duration_is_the_next_working_instant(start: datetime, expected: datetime) -> None:
    assert add(start, timedelta(0)) == expected


def test_start_on_statutory_holiday_begins_on_first_working_day_after() -> None:
    # National Day, Thu 2026-10-01: off until Wed 10-07, back Thu 10-08 08:30; + 1 h = 09:30.
    assert add(local(2026, 10, 1, 10), timedelta(hours=1)) == local(2026, 10, 8, 9, 30)
    # Spring Festival, Mon 2026-02-16: off until Mon 02-23, back Tue 02-24 08:30.
    assert add(local(2026, 2, 16, 9), timedelta(0)) == local(2026, 2, 24, 8, 30)
    # Mid-Autumn, Fri 2026-09-25 .. Sun 09-27: back Mon 09-28; 7 h = the whole day.
    assert add(local(2026, 9, 25, 9), DAY) == local(2026, 9, 28, 18)


def test_adjusted_working_weekend_days_count() -> None:
    # Sat 2026-02-14 is 调休上班: 09:00 + 1 h = 10:00 the same Saturday.
    assert add(local(2026, 2, 14, 9), timedelta(hours=1)) == local(2026, 2, 14, 10)
    # Fri 2026-02-13 16:00 + 4 h: Fri 2 h, Sat 02-14 08:30 + 2 h = 10:30 (not after the festival).
    assert add(local(2026, 2, 13, 16), timedelta(hours=4)) == local(2026, 2, 14, 10, 30)
    # Sun 2026-09-20 is 调休上班: Sat 09-19 evening + 1 h = Sun 09:30.
    assert add(local(2026, 9, 19, 20), timedelta(hours=1)) == local(2026, 9, 20, 9, 30)
    # Fri 2026-10-09 16:00 + 4 h: Fri 2 h, Sat 10-10 (调休上班) 08:30 + 2 h = 10:30.
    assert add(local(2026, 10, 9, 16), timedelta(hours=4)) == local(2026, 10, 10, 10, 30)
    # Sat 2026-02-28 is 调休上班 too: a whole Saturday of working time.
    assert between(local(2026, 2, 28), local(2026, 3, 1)) == DAY


def test_three_working_days_across_a_weekend() -> None:
    # 3 working days = 21 h. Fri 2026-03-13 10:00: Fri 10:00-12:00 + 14:30-18:00 = 5.5 h;
    # Sat/Sun off; Mon 7 h (12.5 h); Tue 7 h (19.5 h); Wed 08:30 + 1.5 h = 10:00.
    assert add(local(2026, 3, 13, 10), 3 * DAY) == local(2026, 3, 18, 10)
    # From Mon 08:30: Mon, Tue, Wed in full -> Wed 18:00.
    assert add(local(2026, 3, 16, 8, 30), 3 * DAY) == local(2026, 3, 18, 18)


def test_fifteen_working_days_across_mid_autumn_and_national_day() -> None:
    # Counting Mon 2026-09-14 as working day 1: 14-18 Sep (1-5), Sun 20 (6, 调休), 21-24 (7-10),
    # 25-27 off, 28-30 (11-13), 1-7 Oct off, Thu 8 (14), Fri 9 (15), Sat 10 (16, 调休).
    # 15 working days after Mon 09:00 is therefore Sat 2026-10-10 09:00.
    start = local(2026, 9, 14, 9)
    end = add(start, 15 * DAY)
    assert end == local(2026, 10, 10, 9)
    assert between(start, end) == 15 * DAY


def test_fifteen_working_days_across_spring_festival() -> None:
    # Day 1 Fri 2026-02-13, 2 Sat 02-14 (调休), 15-23 off, 3-6 Tue 24 .. Fri 27,
    # 7 Sat 02-28 (调休), Sun 03-01 off, 8-12 Mon 2 .. Fri 6 Mar, 13-15 Mon 9 .. Wed 11,
    # 16 Thu 03-12: 15 working days after Fri 02-13 09:00 is Thu 2026-03-12 09:00.
    assert add(local(2026, 2, 13, 9), 15 * DAY) == local(2026, 3, 12, 9)


def test_fifteen_calendar_days_of_working_time() -> None:
    # timedelta(days=15) of working time = 360 h = 51 full 7-hour days + 3 h, so from the
    # opening of Mon 2026-09-14 it ends 3 h into the 52nd working day: 08:30 + 3 h = 11:30.
    start = local(2026, 9, 14, 8, 30)
    working_days = chinese_calendar.get_workdays(date(2026, 9, 14), date(2026, 12, 31))
    day52 = working_days[51]
    end = add(start, timedelta(days=15))
    assert end == local(day52.year, day52.month, day52.day, 11, 30)
    assert between(start, end) == timedelta(days=15)


def test_utc_and_local_offset_inputs_agree() -> None:
    in_utc = datetime(2026, 3, 13, 8, 0, tzinfo=UTC)  # = Fri 16:00 in Shanghai
    in_plus8 = datetime(2026, 3, 13, 16, 0, tzinfo=timezone(timedelta(hours=8)))
    in_other = in_utc.astimezone(ZoneInfo("America/New_York"))
    results = {add(s, timedelta(hours=4)) for s in (in_utc, in_plus8, in_other)}
    assert results == {datetime(2026, 3, 16, 2, 30, tzinfo=UTC)}  # Mon 10:30 in Shanghai
    (result,) = results
    assert result.tzinfo is UTC
    assert between(in_utc, result) == between(in_plus8, result) == timedelta(hours=4)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        add(datetime(2026, 3, 13, 16), timedelta(hours=1))
    with pytest.raises(ValueError, match="timezone-aware"):
        between(local(2026, 3, 13, 16), datetime(2026, 3, 16))
    with pytest.raises(ValueError, match="negative"):
        add(local(2026, 3, 13, 16), timedelta(hours=-1))


# --- working_time_between -------------------------------------------------------------------


def test_working_time_between() -> None:
    monday = local(2026, 3, 16, 8, 30)
    assert between(monday, monday) == timedelta(0)
    assert between(monday + timedelta(hours=1), monday) == timedelta(0)  # end before start
    assert between(local(2026, 3, 16, 12), local(2026, 3, 16, 14, 30)) == timedelta(0)  # lunch
    assert between(local(2026, 3, 16, 11), local(2026, 3, 16, 15)) == timedelta(hours=1.5)
    assert between(local(2026, 3, 13), local(2026, 3, 21)) == 6 * DAY  # Fri + Mon..Fri
    # Whole Golden Week plus Mid-Autumn: Mon 09-21 .. Sun 10-11 has 21 calendar days and
    # 10 working days (4: 21-24 Sep, 3: 28-30 Sep, 3: Thu 8, Fri 9 and Sat 10 Oct).
    assert between(local(2026, 9, 21), local(2026, 10, 12)) == 10 * DAY


def test_round_trip_on_random_starts() -> None:
    rng = random.Random(20260101)
    first = datetime(2026, 1, 1, tzinfo=ZONE)
    span_seconds = int((datetime(2026, 11, 1, tzinfo=ZONE) - first).total_seconds())
    for _ in range(300):
        start = first + timedelta(seconds=rng.randrange(span_seconds))
        duration = timedelta(seconds=rng.randrange(int((20 * DAY).total_seconds())))
        end = add(start, duration)
        assert end >= start
        assert between(start, end) == duration, (start, duration)
        # and the other way: an end strictly inside a working period is reached exactly (an
        # end at a period's opening is reached earlier, at the previous period's close)
        other = start + timedelta(seconds=rng.randrange(30 * 86400))
        target = add(other, timedelta(seconds=1))
        if target > start:
            assert add(start, between(start, target)) == target, (start, target)


# --- add_time -------------------------------------------------------------------------------


def test_add_time_wall_clock_or_working() -> None:
    start = local(2026, 3, 13, 16)
    assert add_time(start, timedelta(hours=4), ZONE, None) == local(2026, 3, 13, 20)
    assert add_time(start, timedelta(hours=4), ZONE, None).tzinfo is UTC
    assert add_time(start, timedelta(hours=4), ZONE, HOURS) == local(2026, 3, 16, 10, 30)
    # Wall-clock mode crosses holidays as if they were not there.
    assert add_time(local(2026, 10, 1, 9), timedelta(days=3), ZONE, None) == local(2026, 10, 4, 9)


def test_custom_hours() -> None:
    hours = WorkingHours.parse("09:00-17:00")
    # Fri 2026-03-13 15:00 + 4 h: Fri 2 h, Mon 09:00 + 2 h = 11:00.
    result = add_working_time(local(2026, 3, 13, 15), timedelta(hours=4), ZONE, hours)
    assert result == local(2026, 3, 16, 11)


# --- WorkingHours.parse ---------------------------------------------------------------------


def test_parse_default_spec() -> None:
    assert WorkingHours.parse("08:30-12:00,14:30-18:00") == WorkingHours()
    assert WorkingHours.parse(" 8:30 - 12:00 , 14:30-18:00 ") == WorkingHours()
    assert WorkingHours.parse("09:00-17:00").periods == ((time(9), time(17)),)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("08:30", "expected HH:MM-HH:MM"),
        ("08:30-12:00;14:30-18:00", "expected HH:MM-HH:MM"),
        ("08:30-12:00,", "expected HH:MM-HH:MM"),
        ("8h30-12h00", "expected HH:MM-HH:MM"),
        ("25:00-26:00", "not a time of day"),
        ("08:60-09:00", "not a time of day"),
        ("12:00-08:30", "end must be after start"),
        ("08:30-08:30", "end must be after start"),
        ("08:30-12:00,11:00-13:00", "overlaps"),
        ("14:30-18:00,08:30-12:00", "in order"),
    ],
)
def test_parse_errors(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WorkingHours.parse(spec)


def test_constructor_validates_too() -> None:
    with pytest.raises(ValueError, match="at least one period"):
        WorkingHours(())
    with pytest.raises(ValueError, match="end must be after start"):
        WorkingHours(((time(18), time(8)),))
