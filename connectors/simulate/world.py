"""What the incident kinds draw on: the families, strangers, places and days of a scenario."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, timedelta
from random import Random

from connectors.simulate.addresses import Dwelling, PublicPlace
from connectors.simulate.clock import days_between
from connectors.simulate.households import Households
from connectors.simulate.model import Family, Person, Window, family_span
from connectors.simulate.names import between, pick
from connectors.simulate.police import Named

FamilyTest = Callable[[Family], bool]


class World:
    """A scenario's families and the means to add strangers, places and incident days."""

    def __init__(self, rng: Random, households: Households, families: list[Family]) -> None:
        self.rng = rng
        self.households = households
        self.gazetteer = households.gazetteer
        self.window: Window = households.window
        self.families = families
        self.by_story: dict[str, list[Family]] = {}
        for family in families:
            self.by_story.setdefault(family.story, []).append(family)
        self._used = {f.fid: 0 for f in families}
        adults = [p for f in families for p in (*f.carers, *f.others)]
        self._names = {(p.given, p.family_name) for p in adults}
        self._births = {(p.family_name, p.dob) for p in adults}

    def family(self, stories: Sequence[str] | None, ok: FamilyTest) -> Family | None:
        """A family of one of `stories` (any when None) passing `ok`, the least used first."""
        pool = (
            self.families
            if stories is None
            else [f for s in stories for f in self.by_story.get(s, ())]
        )
        best: Family | None = None
        for _ in range(40 if pool else 0):
            family = pick(self.rng, pool)
            if ok(family) and (best is None or self._used[family.fid] < self._used[best.fid]):
                best = family
                if self._used[family.fid] == 0:
                    break
        if best is None:
            fits = [f for f in pool if ok(f)]
            best = min(fits, key=lambda f: self._used[f.fid]) if fits else None
        if best is not None:
            self._used[best.fid] += 1
        return best

    def has_span(self, family: Family) -> bool:
        """Whether some subject of `family` is in scope on a day of the window."""
        return family_span(family, self.window) is not None

    def span_day(self, family: Family) -> date:
        """A window day on which some subject of `family` is in scope."""
        span = family_span(family, self.window)
        assert span is not None
        return days_between(self.rng, span[0], span[1] - timedelta(days=1))

    def day(self, lo: date, hi: date) -> date:
        """A day in [lo, hi], inside the window when the two overlap."""
        first, last = max(lo, self.window.start), min(hi, self.window.end - timedelta(days=1))
        if first > last:
            first, last = lo, hi
        return days_between(self.rng, first, last)

    def any_day(self) -> date:
        """Any day of the window."""
        return self.day(self.window.start, self.window.end - timedelta(days=1))

    def born(self, day: date, lo_days: int, hi_days: int) -> date:
        """A date of birth `lo_days` to `hi_days` before `day`."""
        return day - timedelta(days=between(self.rng, lo_days, hi_days))

    def stranger(
        self,
        day: date,
        sex: str | None = None,
        *,
        ages: tuple[int, int] = (18, 60),
        home: Dwelling | None = None,
    ) -> Person:
        """Somebody unknown to the register, never named like one of its adults, with a home."""
        sex = sex or pick(self.rng, ("female", "male"))
        dob = self.born(day, ages[0] * 365 + 1, ages[1] * 365)
        person = self.households.person(sex, dob)
        for _ in range(20):
            if not self._like_an_adult_of_the_register(person):
                break
            person = self.households.person(sex, dob)
        person.home = home if home is not None else self.gazetteer.dwelling(self.rng)
        return person

    def _like_an_adult_of_the_register(self, person: Person) -> bool:
        """Whether `person` shares a name, or a family name and birthday, with a carer or lodger."""
        return (person.given, person.family_name) in self._names or (
            person.family_name,
            person.dob,
        ) in self._births

    def elsewhere(self, host: Person | None = None) -> Dwelling | PublicPlace:
        """Somewhere that is not a register home: `host`'s home, or a public place."""
        if host is not None and host.home is not None and self.rng.random() < 0.65:
            return host.home
        return self.gazetteer.public_place(self.rng)

    def couple(self, family: Family, day: date) -> list[Named]:
        """The carers as victim and suspect (a stranger partner when no father is known)."""
        rng = self.rng
        partner = family.father or self.stranger(day, "male", ages=(18, 50))
        roles = ("suspect", "victim") if rng.random() < 0.15 else ("victim", "suspect")
        persons = [Named(family.mother, roles[0]), Named(partner, roles[1])]
        if family.others and rng.random() < 0.25:
            persons.append(Named(family.others[0], "other_adult_present"))
        return persons

    def sibling(self, family: Family, day: date) -> Named:
        """An older child of the household (not a register subject) named as a child."""
        sex = pick(self.rng, ("female", "male"))
        child = self.households.person(sex, self.born(day, 2 * 365 + 1, 9 * 365), household=family)
        return Named(child, "child", address="none")
