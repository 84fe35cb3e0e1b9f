"""How two dates of birth agree: exactly, swapped, a year or a day off, a digit, a part."""

from __future__ import annotations

from datetime import date
from functools import lru_cache

from streams.domain.matching.levels import Level

#: How many years a reported age may be from the age a date of birth gives, and still agree.
AGE_TOLERANCE_YEARS = 2


#: Date levels from best to worst, with their evidence words.
_DATE_LEVELS = (
    Level("dob_exact", "date of birth agrees exactly"),
    Level("dob_swapped", "date of birth agrees with day and month swapped"),
    Level("dob_near", "date of birth is a year or a day off"),
    Level("dob_typo", "date of birth differs in one digit"),
    Level("dob_partial", "date of birth differs in one of day, month or year"),
    Level("dob_differ", "date of birth differs"),
)


@lru_cache(maxsize=1 << 16)
def dates_level(police: tuple[date, ...], register: tuple[date, ...]) -> Level:
    """The best agreement between any two dates of birth."""
    if len(police) == 1 and len(register) == 1:  # most often: no best to choose
        return _date_pair(police[0], register[0])
    return min((_date_pair(a, b) for a in police for b in register), key=_DATE_LEVELS.index)


def _date_pair(a: date, b: date) -> Level:
    """How two dates of birth agree (see `_DATE_LEVELS`)."""
    differing = (a.year != b.year) + (a.month != b.month) + (a.day != b.day)
    if differing == 0:
        return _DATE_LEVELS[0]
    if differing > 1:
        return _DATE_LEVELS[1] if _swapped_date(a, b) else _DATE_LEVELS[5]
    if _near_date(a, b):
        return _DATE_LEVELS[2]
    return _DATE_LEVELS[3] if _one_digit(a, b) else _DATE_LEVELS[4]


def age_on(born: date, day: date) -> int:
    """Age in whole years on `day` of someone born on `born`."""
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def _swapped_date(a: date, b: date) -> bool:
    """Day and month swapped (and different)."""
    return a != b and (a.year, a.month, a.day) == (b.year, b.day, b.month)


def _near_date(a: date, b: date) -> bool:
    """The same day and month a year apart, or dates a day apart."""
    if (a.month, a.day) == (b.month, b.day) and abs(a.year - b.year) == 1:
        return True
    return abs((a - b).days) == 1


def _one_digit(a: date, b: date) -> bool:
    """The dates written YYYYMMDD differ in exactly one digit."""
    return sum(x != y for x, y in zip(f"{a:%Y%m%d}", f"{b:%Y%m%d}", strict=True)) == 1
