"""The task policy as properties: a duty-team task is never due before it is raised and falls
due in office time; an out-of-hours task goes to the emergency duty team when it has a queue."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.domain.office_hours import OfficeCalendar
from streams.domain.task_policy import TaskPolicy, route

LONDON = ZoneInfo("Europe/London")
CALENDAR = OfficeCalendar(closures=frozenset({date(2026, 12, 29), date(2026, 12, 30)}))
DUTY = TaskPolicy(calendar=CALENDAR)
EDT = TaskPolicy(calendar=CALENDAR, emergency_duty_queue="edt")

moments = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2029, 12, 31), timezones=st.just(UTC)
)


@settings(max_examples=400, deadline=None)
@given(moments)
def test_an_investigation_for_the_duty_team_is_due_in_office_hours_a_day_on(
    raised: datetime,
) -> None:
    routing = route(DUTY, True, raised)
    assert routing.queue == "duty"
    assert routing.due_by >= raised + timedelta(hours=23)  # a day, less the hour lost in spring
    assert CALENDAR.in_office_hours(routing.due_by)


@settings(max_examples=400, deadline=None)
@given(moments)
def test_a_review_for_the_duty_team_is_due_in_office_time_after_it_is_raised(
    raised: datetime,
) -> None:
    routing = route(DUTY, False, raised)
    local = routing.due_by.astimezone(LONDON)
    assert routing.queue == "duty"
    assert routing.due_by >= raised + timedelta(hours=4)
    assert CALENDAR.is_working_day(local.date())
    assert time(9) < local.time() <= time(17)  # after opening, at closing at the latest


@settings(max_examples=400, deadline=None)
@given(moments, st.booleans())
def test_out_of_hours_tasks_go_to_the_emergency_duty_team(raised: datetime, trigger: bool) -> None:
    routing = route(EDT, trigger, raised)
    if CALENDAR.in_office_hours(raised):
        assert routing == route(DUTY, trigger, raised)
    else:
        assert routing.queue == "edt"
        assert routing.due_by == raised + timedelta(hours=4)
