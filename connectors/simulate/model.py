"""The simulator's ground truth: people, subjects and families, and when a subject is in scope."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from connectors.simulate.addresses import Dwelling
from connectors.simulate.clock import first_birthday

#: Days from the start of a pregnancy to its expected date of delivery (the contract's rule).
PREGNANCY_DAYS = 280


@dataclass(frozen=True, slots=True)
class Window:
    """The days incidents fall on: `start` and the `days` after it."""

    start: date
    days: int

    @property
    def end(self) -> date:
        """The first day after the window."""
        return self.start + timedelta(days=self.days)


@dataclass(slots=True, eq=False)
class Person:
    """One human being, however the feeds write them."""

    pid: int
    given: str
    family_name: str
    dob: date
    sex: str
    nhs: str | None = None
    household: Family | None = None
    home: Dwelling | None = None
    subject: Subject | None = None
    ref: str | None = None

    def home_on(self, day: date) -> Dwelling | None:
        """Where this person lives on `day` (a household member lives where the family does)."""
        return self.household.home_on(day) if self.household is not None else self.home


@dataclass(slots=True, eq=False)
class Subject:
    """A register subject: a child, or an unborn child followed (or not) by its child."""

    ref: str
    kind: str
    dob: date | None = None
    edd: date | None = None
    end: date | None = None
    outcome: str | None = None
    child: Subject | None = None
    withdrawn: date | None = None
    person: Person | None = None

    @property
    def begin(self) -> date:
        """When an unborn child's pregnancy began: the expected date of delivery less 280 days."""
        assert self.edd is not None
        return self.edd - timedelta(days=PREGNANCY_DAYS)


@dataclass(slots=True, eq=False)
class Family:
    """A household with its register subjects, carers and other adults, and where it lived when."""

    fid: int
    story: str
    homes: list[tuple[date, Dwelling]]
    carers: list[Person] = field(default_factory=list)
    others: list[Person] = field(default_factory=list)
    subjects: list[Subject] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    carer_dicts: list[dict[str, Any]] = field(default_factory=list)

    def home_on(self, day: date) -> Dwelling:
        """The family's dwelling on `day` (a move counts from its effective date)."""
        current = self.homes[0][1]
        if len(self.homes) == 1:
            return current
        for since, home in self.homes:
            if since <= day:
                current = home
        return current

    @property
    def mother(self) -> Person:
        """The first carer, who is always the mother."""
        return self.carers[0]

    @property
    def father(self) -> Person | None:
        """The second carer, when the register knows one."""
        return self.carers[1] if len(self.carers) > 1 else None


def scope_interval(subject: Subject) -> tuple[date, date]:
    """The days `subject` is in scope, as a half-open range [first, stop), under the contract."""
    if subject.kind == "child":
        assert subject.dob is not None
        first, stop = subject.dob, first_birthday(subject.dob)
    else:
        assert subject.edd is not None
        first = subject.begin
        if subject.child is not None and subject.child.dob is not None:
            stop = subject.child.dob  # followed by its child from the date of birth
        elif subject.outcome == "live_birth" and subject.end is not None:
            stop = first_birthday(subject.end)  # judged as a child born on the end
        elif subject.end is not None:
            stop = subject.end + timedelta(days=1)  # loss or termination: in scope on that day
        else:
            stop = first_birthday(subject.edd)  # no end recorded
    if subject.withdrawn is not None:
        stop = min(stop, subject.withdrawn)
    return first, max(first, stop)


def in_scope(subject: Subject, day: date) -> bool:
    """Whether `subject` is in scope on the incident day `day`."""
    first, stop = scope_interval(subject)
    return first <= day < stop


def family_span(family: Family, window: Window) -> tuple[date, date] | None:
    """The window's days on which some subject of `family` is in scope, as [first, stop)."""
    ranges = [scope_interval(s) for s in family.subjects]
    first = max(min(r[0] for r in ranges), window.start)
    stop = min(max(r[1] for r in ranges), window.end)
    return (first, stop) if first < stop else None
