"""Incident kinds about who is involved: carers, households, neighbours, the police report."""

from __future__ import annotations

from datetime import date, timedelta

from connectors.simulate.addresses import neighbour
from connectors.simulate.model import Family, Person, in_scope, scope_interval
from connectors.simulate.names import between, pick
from connectors.simulate.police import Case, Named, Plan
from connectors.simulate.world import World

_ROLES = ("victim", "suspect")
_PREGNANCY_STORIES = (
    "ongoing", "handover", "handover_no_child", "handover_no_end", "no_end", "lost",
)  # fmt: skip


def _other(role: str) -> str:
    return "suspect" if role == "victim" else "victim"


def _opposite(person: Person) -> str:
    return "male" if person.sex == "female" else "female"


def _pair(w: World, day: date) -> tuple[Person, Person]:
    """Two strangers of one household, unknown to the register."""
    first = w.stranger(day, "female")
    return first, w.stranger(day, "male", home=first.home)


def carer_at_home(w: World) -> Case | None:
    """The carers named in an incident at the family's home."""
    family = w.family(None, w.has_span)
    if family is None:
        return None
    day = w.span_day(family)
    persons = w.couple(family, day)
    if w.rng.random() < 0.2:
        persons.append(w.sibling(family, day))
    return Case("carer_at_home", [Plan(day, family.home_on(day), persons)])


def carer_elsewhere(w: World) -> Case | None:
    """A carer named as victim or suspect somewhere other than the family's home."""
    family = w.family(None, w.has_span)
    if family is None:
        return None
    day = w.span_day(family)
    carer = family.father if family.father and w.rng.random() < 0.4 else family.mother
    other = w.stranger(day, _opposite(carer))
    role = pick(w.rng, _ROLES)
    persons = [Named(carer, role), Named(other, _other(role))]
    return Case("carer_elsewhere", [Plan(day, w.elsewhere(other), persons)])


def household_other_adults(w: World) -> Case | None:
    """An adult who lives at the family's home (not a carer) involved somewhere else."""
    family = w.family(None, lambda f: bool(f.others) and w.has_span(f))
    if family is None:
        return None
    day = w.span_day(family)
    adult, other = family.others[0], w.stranger(day)
    role = pick(w.rng, ("victim", "suspect", "other_adult_present"))
    if role == "other_adult_present":
        persons = [Named(w.stranger(day, "female"), "victim"), Named(other, "suspect")]
    else:
        persons = [Named(other, _other(role))]
    persons.insert(w.rng.randint(0, len(persons)), Named(adult, role, address="home"))
    return Case("household_other_adults", [Plan(day, w.elsewhere(other), persons)])


def neighbour_flat(w: World) -> Case | None:
    """Strangers in another flat of the building where the family has its flat."""

    def in_a_flat(family: Family) -> bool:
        return len(family.homes) == 1 and family.homes[0][1].flat is not None

    family = w.family(None, lambda f: in_a_flat(f) and w.has_span(f))
    if family is None:
        return None
    day = w.span_day(family)
    next_door = neighbour(family.home_on(day), w.rng)
    first = w.stranger(day, "female", home=next_door)
    second = w.stranger(day, "male", home=next_door)
    persons = [Named(first, "victim"), Named(second, "suspect")]
    return Case("neighbour_flat", [Plan(day, next_door, persons)])


def namesake(w: World) -> Case | None:
    """Someone with a carer's name, another date of birth and another home."""
    family = w.family(None, w.has_span)
    if family is None:
        return None
    day = w.span_day(family)
    carer = pick(w.rng, family.carers)
    years = between(w.rng, 12, 30) * pick(w.rng, (-1, 1))
    if not 18 <= (day - carer.dob).days // 365 - years <= 80:
        years = -years
    double = w.stranger(day, carer.sex)
    double.given, double.family_name = carer.given, carer.family_name
    double.dob = carer.dob + timedelta(days=365 * years + between(w.rng, 0, 300))
    other, role = w.stranger(day, _opposite(carer)), pick(w.rng, _ROLES)
    dob = pick(w.rng, ("dob", "dob", "age"))
    persons = [Named(double, role, address="home", dob=dob), Named(other, _other(role))]
    return Case("namesake", [Plan(day, w.elsewhere(double), persons)])


def witness_only(w: World) -> Case | None:
    """A carer who only witnessed an incident between strangers elsewhere."""
    family = w.family(None, w.has_span)
    if family is None:
        return None
    day = w.span_day(family)
    carer = pick(w.rng, family.carers)
    expecting = carer is family.mother and any(
        s.kind == "unborn" and in_scope(s, day) for s in family.subjects
    )
    pregnant = True if expecting and w.rng.random() < 0.4 else None
    first, second = _pair(w, day)
    persons = [Named(first, "victim"), Named(second, "suspect"), Named(carer, "witness", pregnant)]
    return Case("witness_only", [Plan(day, w.elsewhere(first), persons)])


def pregnant_unknown(w: World) -> Case | None:
    """A pregnant woman the register does not know, in an involved role."""
    day = w.any_day()
    woman = w.stranger(day, "female", ages=(17, 42))
    partner = w.stranger(day, "male", home=woman.home)
    role = pick(w.rng, ("victim", "victim", "victim", "suspect", "other_adult_present"))
    if role == "other_adult_present":
        persons = [Named(w.stranger(day, "female"), "victim"), Named(partner, "suspect")]
    else:
        persons = [Named(partner, _other(role))]
    persons.insert(0, Named(woman, role, pregnant=True, address="home"))
    return Case("pregnant_unknown", [Plan(day, w.elsewhere(woman), persons)])


def _pregnant_days(family: Family) -> tuple[date, date]:
    """Days on which the mother is known to be pregnant with the registered unborn child."""
    unborn = next(s for s in family.subjects if s.kind == "unborn")
    assert unborn.edd is not None
    last = unborn.edd
    if unborn.child is not None and unborn.child.dob is not None:
        last = unborn.child.dob
    elif unborn.end is not None:
        last = unborn.end
    return unborn.begin + timedelta(days=56), last - timedelta(days=1)


def pregnant_known(w: World) -> Case | None:
    """A pregnant mother whose pregnancy is on the register (her report is also fine to name)."""

    def pregnant_in_window(family: Family) -> bool:
        first, last = _pregnant_days(family)
        return max(first, w.window.start) < min(last, w.window.end)

    family = w.family(_PREGNANCY_STORIES, pregnant_in_window)
    if family is None:
        return None
    day = w.day(*_pregnant_days(family))
    partner = family.father or w.stranger(day, "male")
    persons = [Named(family.mother, "victim", pregnant=True), Named(partner, "suspect")]
    place = family.home_on(day) if w.rng.random() < 0.6 else w.gazetteer.public_place(w.rng)
    return Case("pregnant_known", [Plan(day, place, persons)])


def _registered_infant(w: World) -> Case | None:
    """A registered child named in the report at home: the register subject covers it."""

    def baby_days(family: Family) -> tuple[date, date] | None:
        child = next((s for s in family.subjects if s.kind == "child" and s.person), None)
        if child is None:
            return None
        first, stop = scope_interval(child)
        first, stop = max(first, w.window.start), min(stop, w.window.end)
        return (first, stop - timedelta(days=1)) if first < stop else None

    family = w.family(("child", "handover"), lambda f: baby_days(f) is not None)
    days = baby_days(family) if family else None
    if family is None or days is None:
        return None
    day = w.day(*days)
    child = next(s for s in family.subjects if s.kind == "child")
    assert child.person is not None
    persons = [*w.couple(family, day), Named(child.person, "child", address="none")]
    return Case("infant_in_report", [Plan(day, family.home_on(day), persons)])


def infant_in_report(w: World) -> Case | None:
    """A child in the report: under 12 months unknown to the register, or just over, or known."""
    variant = pick(w.rng, ("infant", "infant", "infant", "toddler", "registered"))
    if variant == "registered" and (case := _registered_infant(w)) is not None:
        return case
    day = w.any_day()
    mother, partner = _pair(w, day)
    if variant == "toddler":
        dob = w.born(day, 365, 365) if w.rng.random() < 0.4 else w.born(day, 366, 3 * 365)
    else:
        dob = w.born(day, 0, 364)
    baby = w.households.person(pick(w.rng, ("female", "male")), dob)
    baby.home = mother.home
    persons = [Named(mother, "victim"), Named(partner, "suspect"), Named(baby, "child")]
    return Case("infant_in_report", [Plan(day, w.elsewhere(mother), persons)])


def no_family(w: World) -> Case:
    """Strangers only: nobody the register knows, nowhere it knows."""
    day = w.any_day()
    first, second = _pair(w, day)
    role = pick(w.rng, _ROLES)
    persons = [Named(first, role), Named(second, _other(role))]
    if w.rng.random() < 0.3:
        persons.append(Named(w.stranger(day), "witness"))
    return Case("no_family", [Plan(day, w.elsewhere(first), persons)])
