"""Dates and timestamps as the feeds write them, judged in Europe/London."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from random import Random
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")


def first_birthday(born: date) -> date:
    """The first anniversary of `born`; a child born on 29 February has it on 1 March."""
    if born.month == 2 and born.day == 29:
        return date(born.year + 1, 3, 1)
    return born.replace(year=born.year + 1)


def age_on(born: date, day: date) -> int:
    """Completed years on `day`, with the same 29 February rule as `first_birthday`."""
    years = day.year - born.year
    if (day.month, day.day) < (born.month, born.day):
        years -= 1
    return years


def local_day(stamp: str) -> date:
    """The Europe/London date of an ISO 8601 timestamp with an offset (the incident day)."""
    return datetime.fromisoformat(stamp).astimezone(LONDON).date()


@lru_cache(maxsize=8192)
def _noon_offset(day: date) -> str:
    """The UTC offset London keeps at noon on `day`, as `+01:00` or `+00:00`."""
    offset = datetime.combine(day, time(12), LONDON).utcoffset() or timedelta(0)
    return "+01:00" if offset else "+00:00"


def is_summer_time(day: date) -> bool:
    """Whether London keeps British Summer Time at noon on `day`."""
    return _noon_offset(day) == "+01:00"


_OFFICE_MINUTES = tuple(f"T{m // 60:02d}:{m % 60:02d}:" for m in range(8 * 60, 18 * 60))
_SECONDS = tuple(f"{s:02d}" for s in range(60))


@lru_cache(maxsize=8192)
def _day_text(day: date) -> tuple[str, str]:
    """`day` in ISO 8601 and London's offset at noon on it."""
    return day.isoformat(), _noon_offset(day)


def office_stamp(rng: Random, day: date) -> str:
    """A working-hours local time on `day` with its London offset (register `recorded_at`)."""
    text, offset = _day_text(day)
    minute = _OFFICE_MINUTES[int(rng.random() * len(_OFFICE_MINUTES))]
    return text + minute + _SECONDS[int(rng.random() * 60)] + offset


def utc_stamp(moment: datetime) -> str:
    """`moment` in UTC, written with `+00:00` (the police `reported_at`)."""
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _local_minute(rng: Random, night: bool) -> int:
    """A minute of the local day; `night` keeps it within an hour either side of midnight."""
    if night:
        return rng.choice((rng.randrange(5, 60), rng.randrange(23 * 60, 24 * 60 - 1)))
    return rng.randrange(7 * 60, 24 * 60 - 1)


def incident_moment(rng: Random, day: date, *, trap: bool = False) -> tuple[datetime, str]:
    """When an incident happened on local `day`, and `occurred_at` as a police system writes it.

    With `trap` on a summer-time day the time is just after local midnight and written in
    UTC, so the UTC date is the day before the incident day: only the London date is right.
    """
    summer = is_summer_time(day)
    if trap and summer:
        minute, utc = rng.randrange(5, 60), True
    else:
        minute, utc = _local_minute(rng, rng.random() < 0.25), rng.random() < 0.5
    naive = datetime.combine(day, time(minute // 60, minute % 60, rng.randrange(60)))
    moment = naive.replace(tzinfo=LONDON).astimezone(UTC)
    if utc:
        text = moment.isoformat(timespec="seconds")
        return moment, text.replace("+00:00", "Z") if rng.random() < 0.1 else text
    return moment, moment.astimezone(LONDON).isoformat(timespec="seconds")


def days_between(rng: Random, lo: date, hi: date) -> date:
    """A day in [lo, hi] (`lo` when the range is empty)."""
    span = (hi - lo).days
    return date.fromordinal(lo.toordinal() + int(rng.random() * (span + 1))) if span > 0 else lo
