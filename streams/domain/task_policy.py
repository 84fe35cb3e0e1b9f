"""When a task falls due, which queue takes it, and its priority; pure.

Due times count from when dvtrigger raises the task, in the duty team's office
calendar (`streams.domain.office_hours`); the priority is the incident's DASH risk.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from schemas.police import PoliceIncident
from schemas.task import DUTY_QUEUE, Priority
from streams.domain.office_hours import OfficeCalendar, add_clock_hours

#: A task's priority by its incident's DASH risk, whether it is an investigation or a review:
#: a review is the question whether an investigation is needed, as pressing as its answer.
PRIORITIES: dict[str, Priority] = {
    "high": "urgent",
    "medium": "high",
    "standard": "normal",
    "not_assessed": "normal",
}


@dataclass(frozen=True, slots=True)
class TaskPolicy:
    """When a task falls due and which queue takes it, counted from when dvtrigger raises it.

    The duty team takes a task raised in office hours: an investigation is due
    `trigger_working_days` working days on, at the same time of day; a review
    after `review_working_hours` of office time. Out of office hours (evenings,
    weekends, bank holidays, closure days) the emergency duty team takes it when
    it has a queue (`emergency_duty_queue`), due `emergency_due` later by the
    clock; without one, the duty team does, its clock starting at the next opening.
    """

    calendar: OfficeCalendar = field(default_factory=OfficeCalendar)
    trigger_working_days: int = 1
    review_working_hours: timedelta = timedelta(hours=4)
    emergency_duty_queue: str | None = None
    emergency_due: timedelta = timedelta(hours=4)


#: The defaults: Monday to Friday 09:00-17:00 in London, no emergency duty team queue.
DEFAULT_POLICY = TaskPolicy()


@dataclass(frozen=True, slots=True)
class Routing:
    """Which queue takes a task, and when it is due."""

    queue: str
    due_by: datetime


def route(policy: TaskPolicy, trigger: bool, raised_at: datetime) -> Routing:
    """The queue and due time of an investigation (`trigger`) or review raised at `raised_at`."""
    calendar = policy.calendar
    if policy.emergency_duty_queue and not calendar.in_office_hours(raised_at):
        due = add_clock_hours(raised_at, policy.emergency_due, calendar.timezone)
        return Routing(policy.emergency_duty_queue, due)
    if trigger:
        return Routing(
            DUTY_QUEUE, calendar.add_working_days(raised_at, policy.trigger_working_days)
        )
    return Routing(DUTY_QUEUE, calendar.add_working_hours(raised_at, policy.review_working_hours))


def priority(incident: PoliceIncident) -> Priority:
    """A task's priority: its incident's DASH risk (`PRIORITIES`)."""
    return PRIORITIES[incident.dash_risk]
