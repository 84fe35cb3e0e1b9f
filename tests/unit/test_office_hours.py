"""The duty team's working calendar: office hours, bank holidays, closures, clock changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.domain.office_hours import OfficeCalendar, add_clock_hours, bank_holidays

LONDON = ZoneInfo("Europe/London")
OFFICE = OfficeCalendar()
#: The council's own Christmas closure: the working days between Boxing Day and New Year.
CLOSED = OfficeCalendar(closures=frozenset({date(2026, 12, 29), date(2026, 12, 30)}))


def london(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    """A moment on London's wall clock."""
    return datetime(year, month, day, hour, minute, tzinfo=LONDON)


def elapsed(start: datetime, end: datetime) -> timedelta:
    """The time that passes from `start` to `end` (one zone's datetimes subtract by wall clock)."""
    return end.astimezone(UTC) - start.astimezone(UTC)


def test_bank_holidays_are_england_and_wales_with_substitute_days() -> None:
    days = bank_holidays(2027)
    assert {date(2027, 3, 26), date(2027, 3, 29)} <= days  # Good Friday, Easter Monday
    assert {date(2027, 12, 27), date(2027, 12, 28)} <= days  # Christmas on a weekend: substitutes
    assert date(2027, 1, 2) not in days  # Scotland's 2 January
    assert date(2027, 7, 12) not in days  # Northern Ireland's Twelfth


@pytest.mark.parametrize(
    ("moment", "open_"),
    [
        (london(2026, 12, 2, 8, 59), False),
        (london(2026, 12, 2, 9, 0), True),
        (london(2026, 12, 2, 16, 59), True),
        (london(2026, 12, 2, 17, 0), False),
        (london(2026, 12, 5, 11, 0), False),  # a Saturday
        (london(2026, 4, 3, 11, 0), False),  # Good Friday
        (london(2026, 12, 29, 11, 0), True),  # a working day for a council without a closure
        (datetime(2026, 7, 1, 8, 30, tzinfo=UTC), True),  # 09:30 BST
        (datetime(2026, 7, 1, 16, 30, tzinfo=UTC), False),  # 17:30 BST
    ],
)
def test_office_hours(moment: datetime, open_: bool) -> None:
    assert OFFICE.in_office_hours(moment) is open_


def test_a_closure_day_is_not_a_working_day() -> None:
    assert not CLOSED.in_office_hours(london(2026, 12, 29, 11, 0))
    assert CLOSED.is_working_day(date(2026, 12, 31))


@pytest.mark.parametrize(
    ("arrival", "due"),
    [
        (london(2026, 12, 2, 10, 15), london(2026, 12, 3, 10, 15)),  # Wednesday to Thursday
        (london(2026, 12, 4, 10, 15), london(2026, 12, 7, 10, 15)),  # Friday to Monday
        (london(2026, 12, 5, 10, 15), london(2026, 12, 8, 9, 0)),  # Saturday: opens Monday
        (london(2026, 12, 2, 8, 59), london(2026, 12, 3, 9, 0)),  # before opening: from 09:00
        (london(2026, 12, 2, 9, 0), london(2026, 12, 3, 9, 0)),
        (london(2026, 12, 2, 16, 59), london(2026, 12, 3, 16, 59)),
        (london(2026, 12, 2, 17, 0), london(2026, 12, 4, 9, 0)),  # closed: from Thursday 09:00
        (london(2026, 12, 2, 23, 59), london(2026, 12, 4, 9, 0)),
        (london(2026, 4, 2, 14, 0), london(2026, 4, 7, 14, 0)),  # Good Friday to Easter Monday
        (london(2026, 4, 3, 14, 0), london(2026, 4, 8, 9, 0)),  # on Good Friday itself
        (london(2026, 12, 24, 12, 0), london(2026, 12, 29, 12, 0)),  # Christmas, Boxing Day (Mon)
        (london(2027, 12, 24, 12, 0), london(2027, 12, 29, 12, 0)),  # both substitute days
        (london(2026, 3, 27, 10, 0), london(2026, 3, 30, 10, 0)),  # clocks go forward
        (london(2026, 10, 23, 10, 0), london(2026, 10, 26, 10, 0)),  # clocks go back
        (london(2026, 3, 29, 1, 30), london(2026, 3, 31, 9, 0)),  # in the skipped hour
    ],
)
def test_one_working_day(arrival: datetime, due: datetime) -> None:
    assert OFFICE.add_working_days(arrival, 1) == due


def test_working_days_keep_the_wall_clock_across_the_clock_changes() -> None:
    spring = OFFICE.add_working_days(london(2026, 3, 27, 10, 0), 1)
    assert spring.utcoffset() == timedelta(hours=1)
    assert elapsed(london(2026, 3, 27, 10, 0), spring) == timedelta(hours=71)
    autumn = OFFICE.add_working_days(london(2026, 10, 23, 10, 0), 1)
    assert (autumn.utcoffset(), autumn.hour) == (timedelta(0), 10)
    assert elapsed(london(2026, 10, 23, 10, 0), autumn) == timedelta(hours=73)


def test_closure_days_are_skipped() -> None:
    assert CLOSED.add_working_days(london(2026, 12, 24, 12, 0), 1) == london(2026, 12, 31, 12, 0)
    assert OFFICE.add_working_days(london(2026, 12, 24, 12, 0), 2) == london(2026, 12, 30, 12, 0)


def test_zero_working_days_is_when_the_clock_starts() -> None:
    assert OFFICE.add_working_days(london(2026, 12, 5, 3, 0), 0) == london(2026, 12, 7, 9, 0)


@pytest.mark.parametrize(
    ("arrival", "hours", "due"),
    [
        (london(2026, 12, 2, 10, 0), 4, london(2026, 12, 2, 14, 0)),
        (london(2026, 12, 2, 13, 0), 4, london(2026, 12, 2, 17, 0)),  # due at closing
        (london(2026, 12, 2, 15, 0), 4, london(2026, 12, 3, 11, 0)),  # two left for Thursday
        (london(2026, 12, 4, 15, 0), 4, london(2026, 12, 7, 11, 0)),  # Friday to Monday
        (london(2026, 12, 2, 17, 0), 4, london(2026, 12, 3, 13, 0)),
        (london(2026, 12, 2, 23, 59), 4, london(2026, 12, 3, 13, 0)),
        (london(2026, 12, 2, 8, 59), 4, london(2026, 12, 2, 13, 0)),
        (london(2026, 12, 2, 16, 59), 4, london(2026, 12, 3, 12, 59)),
        (london(2026, 4, 2, 16, 0), 4, london(2026, 4, 7, 12, 0)),  # over Easter
        (london(2026, 12, 24, 16, 0), 4, london(2026, 12, 29, 12, 0)),
        (london(2026, 3, 27, 15, 0), 4, london(2026, 3, 30, 11, 0)),  # clocks go forward
        (london(2026, 10, 23, 15, 0), 4, london(2026, 10, 26, 11, 0)),  # clocks go back
        (london(2026, 12, 2, 10, 0), 20, london(2026, 12, 4, 14, 0)),  # over two closings
    ],
)
def test_working_hours(arrival: datetime, hours: float, due: datetime) -> None:
    assert OFFICE.add_working_hours(arrival, timedelta(hours=hours)) == due


def test_working_hours_skip_closure_days() -> None:
    due = CLOSED.add_working_hours(london(2026, 12, 24, 16, 0), timedelta(hours=4))
    assert due == london(2026, 12, 31, 12, 0)


def test_clock_hours_count_the_hour_the_clocks_skip() -> None:
    due = add_clock_hours(london(2026, 3, 28, 23, 0), timedelta(hours=4), "Europe/London")
    assert (due.hour, due.utcoffset()) == (4, timedelta(hours=1))
    due = add_clock_hours(london(2026, 10, 24, 23, 0), timedelta(hours=4), "Europe/London")
    assert (due.hour, due.utcoffset()) == (2, timedelta(0))


def test_other_office_hours() -> None:
    weekend_team = OfficeCalendar(opens=time(8), closes=time(20), weekdays=frozenset({5, 6}))
    assert weekend_team.add_working_days(london(2026, 12, 4, 12, 0), 1) == london(2026, 12, 6, 8, 0)
    assert weekend_team.in_office_hours(london(2026, 12, 5, 19, 59))


@pytest.mark.parametrize(
    "fields",
    [{"opens": time(17), "closes": time(9)}, {"weekdays": frozenset()}, {"weekdays": {7}}],
)
def test_a_calendar_that_cannot_be_is_refused(fields: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        OfficeCalendar(**fields)  # type: ignore[arg-type]


def test_negative_sums_are_refused() -> None:
    with pytest.raises(ValueError):
        OFFICE.add_working_days(london(2026, 12, 2, 10, 0), -1)
    with pytest.raises(ValueError):
        OFFICE.add_working_hours(london(2026, 12, 2, 10, 0), timedelta(hours=-1))


moments = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2029, 12, 31), timezones=st.just(UTC)
)


@settings(max_examples=300, deadline=None)
@given(moments, st.integers(min_value=1, max_value=10))
def test_working_days_land_in_office_hours_never_before_the_arrival(
    arrival: datetime, days: int
) -> None:
    due = CLOSED.add_working_days(arrival, days)
    assert due > arrival
    assert CLOSED.in_office_hours(due)
    assert due - arrival >= timedelta(days=days) - timedelta(hours=1)  # an hour lost in spring
    assert due.tzinfo is not None and due.astimezone(LONDON).time() >= time(9)


@settings(max_examples=60, deadline=None)
@given(moments, st.integers(min_value=1, max_value=60 * 12))
def test_working_hours_land_in_office_hours_never_before_the_arrival(
    arrival: datetime, minutes: int
) -> None:
    due = CLOSED.add_working_hours(arrival, timedelta(minutes=minutes))
    local = due.astimezone(LONDON)
    assert due - arrival >= timedelta(minutes=minutes)
    assert CLOSED.is_working_day(local.date())
    assert time(9) < local.time() <= time(17)
    # the office time from the start of the clock to the due time, counted a minute at a time
    start, counted = CLOSED.clock_starts(arrival).astimezone(UTC), 0
    while start < due:
        counted += CLOSED.in_office_hours(start)
        start += timedelta(minutes=1)
    assert counted == minutes
