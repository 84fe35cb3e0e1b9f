"""The duty team's working calendar: office hours, working days and time counted in them; pure.

A working day is an office weekday that is neither an England and Wales bank
holiday (the maintained `holidays` calendar, substitute days included) nor one of
the council's own closure days. Every sum is done on the local wall clock of the
office's time zone, so a due time keeps its hour across a change of the clocks:
an arrival at 10:00 on the Friday before the clocks go forward is due at 10:00
(summer time) on the Monday, 71 hours later rather than 72.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

#: A working day is searched for at most this far ahead (a calendar with none is refused).
_HORIZON = timedelta(days=2 * 366)


@lru_cache(maxsize=64)
def bank_holidays(year: int) -> frozenset[date]:
    """England and Wales bank holidays of `year`, substitute days included."""
    return frozenset(holidays.country_holidays("GB", subdiv="ENG", years=year))


def wall_clock(moment: datetime) -> time:
    """The time of day `moment` shows on its own wall clock (never a reading of the clock)."""
    return time(moment.hour, moment.minute, moment.second, moment.microsecond)


@dataclass(frozen=True, slots=True)
class OfficeCalendar:
    """When the duty team is at work: weekdays and hours in `timezone`, less holidays, closures."""

    opens: time = time(9)
    closes: time = time(17)
    #: Monday is 0, as `date.weekday()`.
    weekdays: frozenset[int] = frozenset(range(5))
    closures: frozenset[date] = frozenset()
    timezone: str = "Europe/London"

    def __post_init__(self) -> None:
        """Refuse a calendar with no office day or whose office closes before it opens."""
        if not self.opens < self.closes:
            raise ValueError("the office must open before it closes, on the same day")
        if not self.weekdays or not self.weekdays <= frozenset(range(7)):
            raise ValueError("office weekdays are some of 0 (Monday) to 6 (Sunday)")

    @property
    def zone(self) -> ZoneInfo:
        """The office's time zone."""
        return ZoneInfo(self.timezone)

    def local(self, moment: datetime) -> datetime:
        """`moment` (aware) on the office's wall clock."""
        return moment.astimezone(self.zone)

    def at(self, day: date, clock: time) -> datetime:
        """The moment the office's wall clock shows `clock` on `day` (a skipped time moves on)."""
        naive = datetime.combine(day, clock)
        return naive.replace(tzinfo=self.zone).astimezone(UTC).astimezone(self.zone)

    def is_working_day(self, day: date) -> bool:
        """Whether `day` is an office weekday, not a bank holiday and not a closure day."""
        return (
            day.weekday() in self.weekdays
            and day not in self.closures
            and day not in bank_holidays(day.year)
        )

    def in_office_hours(self, moment: datetime) -> bool:
        """Whether the office is open at `moment`: a working day, from opening to before closing."""
        local = self.local(moment)
        return self.is_working_day(local.date()) and self.opens <= wall_clock(local) < self.closes

    def next_working_day(self, day: date) -> date:
        """The first working day after `day`."""
        candidate = day + timedelta(days=1)
        while not self.is_working_day(candidate):
            candidate += timedelta(days=1)
            if candidate - day > _HORIZON:
                raise ValueError("no working day within two years")
        return candidate

    def clock_starts(self, moment: datetime) -> datetime:
        """When the office first sees something arriving at `moment`: at once in office hours,
        else at the next opening."""
        local = self.local(moment)
        if self.in_office_hours(local):
            return local
        day = local.date()
        if self.is_working_day(day) and wall_clock(local) < self.opens:
            return self.at(day, self.opens)
        return self.at(self.next_working_day(day), self.opens)

    def add_working_days(self, moment: datetime, days: int) -> datetime:
        """The same office wall-clock time `days` working days after the clock starts."""
        if days < 0:
            raise ValueError("a number of working days is not negative")
        start = self.clock_starts(moment)
        day = start.date()
        for _ in range(days):
            day = self.next_working_day(day)
        return self.at(day, wall_clock(start))

    def add_working_hours(self, moment: datetime, hours: timedelta) -> datetime:
        """`hours` of office time after the clock starts; a sum ending at a closing is due then."""
        if hours < timedelta(0):
            raise ValueError("a number of working hours is not negative")
        start, left = self.clock_starts(moment), hours
        while True:
            closing = self.at(start.date(), self.closes)
            open_for = closing.astimezone(UTC) - start.astimezone(UTC)
            if left <= open_for:
                return self.local(start.astimezone(UTC) + left)
            left -= open_for
            start = self.at(self.next_working_day(start.date()), self.opens)


def add_clock_hours(moment: datetime, hours: timedelta, timezone: str) -> datetime:
    """`hours` of elapsed time after `moment`, shown on the wall clock of `timezone`."""
    return (moment.astimezone(UTC) + hours).astimezone(ZoneInfo(timezone))
