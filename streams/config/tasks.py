"""Settings of when tasks fall due and which queue takes them: office hours and closures."""

from __future__ import annotations

from datetime import date, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from streams.domain.office_hours import OfficeCalendar
from streams.domain.task_policy import TaskPolicy


class TaskSettings(BaseModel):
    """The duty team's office calendar, the due times counted in it, and out-of-hours routing.

    Nested in `Settings.tasks`; from the environment as `DVTRIGGER_TASKS__<FIELD>`, sets
    as JSON. Due times count from when dvtrigger raises a task; the rules are
    `streams/domain/tasks.py` (`TaskPolicy`) and `streams/domain/office_hours.py`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    trigger_due_working_days: int = Field(
        1,
        ge=1,
        le=20,
        description="An investigation task is due this many working days after it is raised, at"
        " the same time of day (raised out of office hours: from the next opening).",
    )
    review_due_working_hours: float = Field(
        4.0,
        gt=0,
        le=200,
        description="A match review task is due after this many hours of office time (raised"
        " out of office hours: from the next opening).",
    )
    office_opens: time = Field(time(9), description="When the duty team's office opens (local).")
    office_closes: time = Field(
        time(17), description="When it closes, the same day (local); later than `office_opens`."
    )
    office_weekdays: frozenset[int] = Field(
        frozenset(range(5)),
        description="The office's weekdays, 0 (Monday) to 6 (Sunday), as JSON: [0,1,2,3,4]."
        " England and Wales bank holidays are never working days.",
    )
    office_timezone: str = Field(
        "Europe/London", description="The time zone of the office's hours and of due times."
    )
    closure_days: frozenset[date] = Field(
        frozenset(),
        description="The council's own closure days, not working days, as JSON:"
        ' ["2026-12-29", "2026-12-30"] (e.g. between Christmas and New Year).',
    )
    emergency_duty_queue: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="The emergency duty team's queue in the case system. Set: a task raised out"
        " of office hours goes there, due `emergency_due_hours` later. Unset: to the duty team,"
        " due in working time from the next opening.",
    )
    emergency_due_hours: float = Field(
        4.0,
        gt=0,
        le=72,
        description="A task for the emergency duty team is due this many hours (by the clock)"
        " after it is raised.",
    )

    @field_validator("office_weekdays")
    @classmethod
    def _weekdays(cls, weekdays: frozenset[int]) -> frozenset[int]:
        """Some of the days 0 (Monday) to 6 (Sunday), at least one."""
        if not weekdays or not weekdays <= frozenset(range(7)):
            raise ValueError("office weekdays are one or more of 0 (Monday) to 6 (Sunday)")
        return weekdays

    @field_validator("office_timezone")
    @classmethod
    def _zone(cls, name: str) -> str:
        """A time zone the zoneinfo database knows."""
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("not a known time zone") from None
        return name

    @model_validator(mode="after")
    def _opens_before_it_closes(self) -> TaskSettings:
        """Office hours within one day."""
        if not self.office_opens < self.office_closes:
            raise ValueError("tasks.office_opens is not before tasks.office_closes")
        return self

    def calendar(self) -> OfficeCalendar:
        """The office calendar of these settings."""
        return OfficeCalendar(
            opens=self.office_opens,
            closes=self.office_closes,
            weekdays=self.office_weekdays,
            closures=self.closure_days,
            timezone=self.office_timezone,
        )

    def policy(self) -> TaskPolicy:
        """The task policy of these settings."""
        return TaskPolicy(
            calendar=self.calendar(),
            trigger_working_days=self.trigger_due_working_days,
            review_working_hours=timedelta(hours=self.review_due_working_hours),
            emergency_duty_queue=self.emergency_duty_queue,
            emergency_due=timedelta(hours=self.emergency_due_hours),
        )
