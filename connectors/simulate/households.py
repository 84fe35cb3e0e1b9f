"""Families and the register events that tell their story, fast enough for a million subjects."""

from __future__ import annotations

import calendar
import zlib
from bisect import bisect_right
from collections.abc import Callable
from datetime import date, timedelta
from itertools import accumulate
from random import Random

from connectors.simulate import events
from connectors.simulate.addresses import Gazetteer
from connectors.simulate.clock import days_between, first_birthday, office_stamp
from connectors.simulate.events import Event
from connectors.simulate.model import Family, Person, Subject, Window
from connectors.simulate.names import between, family_name, given_name, nhs_number, pick

#: Each story of a family on the register, with its weight in a generated population.
STORIES: dict[str, int] = {
    "child": 30,
    "twins": 2,
    "leap": 1,
    "handover": 22,
    "handover_no_child": 2,
    "handover_no_end": 2,
    "ongoing": 12,
    "no_end": 4,
    "lost": 5,
    "moved": 5,
    "withdrawn": 5,
}
_STORY_NAMES = tuple(STORIES)
_STORY_CUMULATIVE = tuple(accumulate(STORIES.values()))
_STORY_TOTAL = _STORY_CUMULATIVE[-1]


_SPANS = tuple(timedelta(days=n) for n in range(-400, 400))


def _day(n: int) -> timedelta:
    """`timedelta(days=n)`, cached for the small spans a story uses."""
    return _SPANS[n + 400] if -400 <= n < 400 else timedelta(days=n)


def _not_leap_day(day: date) -> date:
    """An expected date of delivery never set on 29 February (its anniversary is moot)."""
    return day + _day(1) if (day.month, day.day) == (2, 29) else day


def leap_birthday(window: Window) -> date:
    """The 29 February whose first birthday (1 March) falls in or nearest the window."""
    middle = window.start + _day(window.days // 2)
    years = range(middle.year - 8, middle.year + 2)
    leap_days = [date(y, 2, 29) for y in years if calendar.isleap(y)]

    def distance(born: date) -> tuple[bool, int]:
        birthday = first_birthday(born)
        return not window.start <= birthday < window.end, abs((birthday - middle).days)

    return min(leap_days, key=distance)


class Households:
    """Makes families of a given story and the register events that record them."""

    def __init__(
        self, rng: Random, gazetteer: Gazetteer, window: Window, tag: str, *, first_id: int = 0
    ) -> None:
        self.rng, self.gazetteer, self.window, self.tag = rng, gazetteer, window, tag
        self._people = self._subjects = self._families = first_id
        self._nhs_offset = zlib.crc32(tag.encode())
        self._last: date = date.min
        self._stories: dict[str, Callable[[Family], None]] = {
            "child": self._child,
            "twins": lambda f: self._child(f, twins=True),
            "leap": lambda f: self._child(f, born=leap_birthday(self.window)),
            "handover": self._handover,
            "handover_no_child": lambda f: self._handover(f, child=False),
            "handover_no_end": lambda f: self._handover(f, ended=False),
            "ongoing": self._ongoing,
            "no_end": self._no_end,
            "lost": self._lost,
            "moved": self._moved,
            "withdrawn": self._withdrawn,
        }

    def any_story(self) -> str:
        """A story drawn with the weights of `STORIES`."""
        return _STORY_NAMES[bisect_right(_STORY_CUMULATIVE, self.rng.random() * _STORY_TOTAL)]

    def family(self, story: str, *, flat: bool | None = None, lodger: bool = False) -> Family:
        """A new family living out `story`, its register events in `events`.

        `flat` forces a flat (True) or a house (False); `lodger` adds an adult of the household
        who is not a carer (the register never hears of them, so they can come after).
        """
        self._families += 1
        self._last = date.min
        share = 0.3 if flat is None else float(flat)
        home = self.gazetteer.dwelling(self.rng, flat_share=share)
        family = Family(self._families, story, [(date.min, home)])
        self._stories[story](family)
        if lodger and not family.others:
            adult = self.person("female", self._age(family.mother.dob, 0, 25), household=family)
            family.others.append(adult)
        return family

    def person(
        self, sex: str, dob: date, *, household: Family | None = None, known: float = 0.85
    ) -> Person:
        """A new person (invented name) born on `dob`, living with `household` if given.

        `known` is the chance that records hold the person's NHS number.
        """
        self._people += 1
        rng = self.rng
        nhs = nhs_number(self._people, self._nhs_offset) if rng.random() < known else None
        surname = family_name(rng)
        if household is not None and household.carers and rng.random() < 0.4:
            surname = household.mother.family_name
        name = given_name(rng, sex)
        return Person(self._people, name, surname, dob, sex, nhs, household=household)

    def _age(self, anchor: date, lo: int, hi: int) -> date:
        """A date of birth `lo` to `hi` years before `anchor`."""
        days = between(self.rng, lo * 365, hi * 365 + 364)
        return date.fromordinal(anchor.toordinal() - days)

    def _carers(self, family: Family, anchor: date) -> None:
        """A mother, usually a father, sometimes another adult of the household."""
        rng = self.rng
        family.carers.append(self.person("female", self._age(anchor, 17, 43), household=family))
        if rng.random() < 0.75:
            family.carers.append(self.person("male", self._age(anchor, 18, 50), household=family))
        for carer in family.carers:
            carer.ref = f"PR-{self.tag}-{carer.pid:09d}"
        if rng.random() < 0.2:
            sex = pick(rng, ("female", "male"))
            family.others.append(self.person(sex, self._age(anchor, 18, 70), household=family))

    def _ref(self, prefix: str) -> str:
        self._subjects += 1
        return f"{prefix}-{self.tag}-{self._subjects:09d}"

    def _child_subject(self, family: Family, born: date) -> Subject:
        """A registered child born on `born`, with the person it is."""
        rng = self.rng
        sex = pick(rng, ("female", "male"))
        subject = Subject(self._ref("CH"), "child", dob=born)
        baby = self.person(sex, born, household=family, known=0.95)
        baby.family_name = (family.father or family.mother).family_name
        baby.subject, subject.person = subject, baby
        family.subjects.append(subject)
        return subject

    def _unborn_subject(self, family: Family, edd: date) -> Subject:
        subject = Subject(self._ref("UB"), "unborn", edd=_not_leap_day(edd))
        family.subjects.append(subject)
        return subject

    # -- stories -------------------------------------------------------------------------------

    def _child(self, family: Family, *, born: date | None = None, twins: bool = False) -> None:
        w, rng = self.window, self.rng
        born = born or days_between(rng, w.start - _day(300), w.end - _day(60))
        self._carers(family, born)
        for _ in range(2 if twins else 1):
            child = self._child_subject(family, born)
            event = events.birth_registered(rng, family, child, None)
            self._emit(family, event, born + _day(between(self.rng, 2, 21)))

    def _handover(self, family: Family, *, ended: bool = True, child: bool = True) -> None:
        w, rng = self.window, self.rng
        edd = days_between(rng, w.start - _day(150), w.end - _day(60))
        born = edd + _day(between(self.rng, -21, 10))
        self._carers(family, born)
        unborn = self._unborn_subject(family, edd)
        event = events.pregnancy_registered(rng, family, unborn)
        self._emit(family, event, unborn.begin + _day(between(self.rng, 56, 98)))
        if ended:
            unborn.end, unborn.outcome = born, "live_birth"
            event = events.pregnancy_ended(rng, unborn)
            self._emit(family, event, born + _day(between(self.rng, 0, 3)))
        if child:
            baby = self._child_subject(family, born)
            unborn.child = baby
            event = events.birth_registered(rng, family, baby, unborn.ref)
            self._emit(family, event, born + _day(between(self.rng, 4, 21)))

    def _pregnant(self, family: Family, edd: date, registered_by: int = 98) -> Subject:
        """A registered pregnancy with expected date of delivery `edd`."""
        self._carers(family, edd)
        unborn = self._unborn_subject(family, edd)
        delay = between(self.rng, min(35, registered_by), registered_by)
        event = events.pregnancy_registered(self.rng, family, unborn)
        self._emit(family, event, unborn.begin + _day(delay))
        return unborn

    def _ongoing(self, family: Family) -> None:
        end = self.window.end
        self._pregnant(family, days_between(self.rng, end, end + _day(260)))

    def _no_end(self, family: Family) -> None:
        w = self.window
        self._pregnant(family, days_between(self.rng, w.start - _day(300), w.end - _day(150)))

    def _lost(self, family: Family) -> None:
        w, rng = self.window, self.rng
        end = days_between(rng, w.start + _day(10), w.end - _day(20))
        length = between(self.rng, 50, 150)
        unborn = self._pregnant(family, end + _day(280 - length), registered_by=min(98, length - 5))
        unborn.end = end
        unborn.outcome = "loss" if rng.random() < 0.75 else "termination"
        event = events.pregnancy_ended(rng, unborn)
        self._emit(family, event, end + _day(between(rng, 0, 7)))

    def _settled_child(self, family: Family) -> tuple[Subject, date]:
        """A child in scope for a while in the window, and a later day in that while for a change.

        The change comes after the birth was recorded, so no record states an old address
        after the move (a birth record without `effective_date` counts from its recording).
        """
        w, rng = self.window, self.rng
        self._child(family, born=days_between(rng, w.start - _day(200), w.end - _day(200)))
        child = family.subjects[0]
        assert child.dob is not None
        lo = max(child.dob + _day(14), w.start + _day(10), self._last + _day(1))
        hi = min(first_birthday(child.dob) - _day(30), w.end - _day(20))
        return child, days_between(rng, lo, max(lo, hi))

    def _moved(self, family: Family) -> None:
        child, moved = self._settled_child(family)
        home = self.gazetteer.dwelling(self.rng)
        family.homes.append((moved, home))
        event = events.subject_changed(self.rng, child, "subject_moved", moved, home)
        self._emit(family, event, moved + _day(between(self.rng, 1, 30)))

    def _withdrawn(self, family: Family) -> None:
        child, withdrawn = self._settled_child(family)
        child.withdrawn = withdrawn
        event = events.subject_changed(self.rng, child, "subject_withdrawn", withdrawn)
        self._emit(family, event, withdrawn + _day(between(self.rng, 0, 14)))

    # -- events ---------------------------------------------------------------------------------

    def _emit(self, family: Family, event: Event, recorded: date) -> None:
        """Stamp `event` as recorded on `recorded` (after the family's last event) and keep it."""
        if self._last != date.min:
            recorded = max(recorded, self._last + _day(1))
        self._last = recorded
        event["local_authority"] = family.home_on(recorded).town.local_authority
        event["recorded_at"] = office_stamp(self.rng, recorded)
        family.events.append(event)
