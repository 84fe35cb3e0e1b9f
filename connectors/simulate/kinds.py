"""Every incident kind, its weight in a scenario, and the planning of a scenario's incidents."""

from __future__ import annotations

from collections.abc import Callable

from connectors.simulate import kinds_dates as dates
from connectors.simulate import kinds_people as people
from connectors.simulate.names import pick
from connectors.simulate.police import Case, Named, Plan
from connectors.simulate.world import World

Builder = Callable[[World], Case | None]


def revised_incident(w: World) -> Case | None:
    """A revision 2 with the same incident_id that changes the facts; the truth follows it."""
    family = w.family(None, w.has_span)
    if family is None:
        return None
    day = w.span_day(family)
    first = w.stranger(day, "female")
    second = w.stranger(day, "male", home=first.home)
    before = [Named(first, "victim"), Named(second, "suspect")]
    place = w.elsewhere(first)
    variant = pick(w.rng, ("found_home", "named_carer", "cleared", "disclosed"))
    if variant == "found_home":  # the place first written was wrong: it was the family's home
        after = Plan(day, family.home_on(day), before)
        return Case("revised_incident", [Plan(day, place, before), after])
    if variant == "named_carer":  # the suspect turns out to be a carer
        carer = family.father or family.mother
        after = Plan(day, place, [Named(first, "victim"), Named(carer, "suspect")])
        return Case("revised_incident", [Plan(day, place, before), after])
    if variant == "cleared":  # the family was named by mistake
        assert first.home is not None
        mistaken = Plan(day, family.home_on(day), w.couple(family, day))
        return Case("revised_incident", [mistaken, Plan(day, first.home, before)])
    disclosed = [Named(first, "victim", pregnant=True), before[1]]
    return Case("revised_incident", [Plan(day, place, before), Plan(day, place, disclosed)])


#: Each kind of incident, what builds it, and its weight after the first of each.
KINDS: dict[str, tuple[Builder, int]] = {
    "carer_at_home": (people.carer_at_home, 16),
    "carer_elsewhere": (people.carer_elsewhere, 10),
    "household_other_adults": (people.household_other_adults, 5),
    "neighbour_flat": (people.neighbour_flat, 6),
    "namesake": (people.namesake, 6),
    "witness_only": (people.witness_only, 4),
    "birthday_boundary": (dates.birthday_boundary, 5),
    "pregnancy_lost": (dates.pregnancy_lost, 3),
    "pregnancy_live_birth_handover": (dates.pregnancy_live_birth_handover, 4),
    "no_end_recorded": (dates.no_end_recorded, 3),
    "pregnancy_not_yet_begun": (dates.pregnancy_not_yet_begun, 3),
    "moved_away": (dates.moved_away, 3),
    "withdrawn": (dates.withdrawn, 3),
    "pregnant_unknown": (people.pregnant_unknown, 3),
    "pregnant_known": (people.pregnant_known, 5),
    "infant_in_report": (people.infant_in_report, 3),
    "no_family": (people.no_family, 14),
    "revised_incident": (revised_incident, 4),
}


def plan_cases(world: World, count: int) -> list[Case]:
    """`count` incidents: one of each kind first (in a seeded order), then by weight.

    A kind that finds no family to fit (a very small register) becomes `no_family`.
    """
    order = list(KINDS)
    world.rng.shuffle(order)
    names, weights = list(KINDS), [weight for _, weight in KINDS.values()]
    cases = []
    for index in range(count):
        name = order[index] if index < len(order) else world.rng.choices(names, weights)[0]
        cases.append(KINDS[name][0](world) or people.no_family(world))
    return cases
