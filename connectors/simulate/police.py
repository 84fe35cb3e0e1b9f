"""police-incident/1 dicts: a planned incident written down the way a police system writes it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from random import Random
from typing import Any

from connectors.simulate.addresses import Dwelling, PublicPlace, police_address
from connectors.simulate.clock import age_on, incident_moment, utc_stamp
from connectors.simulate.model import Person
from connectors.simulate.names import between, pick, uuid4

Message = dict[str, Any]

#: Roles that bring a family into an incident; a witness alone never does.
INVOLVED = ("victim", "suspect", "other_adult_present")

_DASH = ("standard", "standard", "medium", "medium", "high", "not_assessed")
_SUMMARIES = (
    "Verbal argument escalated to pushing; suspect left before officers arrived.",
    "Neighbour called police after hearing shouting and banging.",
    "Victim reports threats made by text and in person over several weeks.",
    "Damage to property; suspect arrested at the scene.",
    "Third party call; both parties gave conflicting accounts.",
    "Victim attended the front counter to report an assault the previous evening.",
)


@dataclass(frozen=True, slots=True)
class Named:
    """A person as one incident names them: in a role, perhaps pregnant, address shown or not.

    `address` and `dob` are `auto` (noise decides), `home`/`none`, and `dob`/`age`.
    """

    person: Person
    role: str
    pregnant: bool | None = None
    address: str = "auto"
    dob: str = "auto"


@dataclass(slots=True)
class Plan:
    """One revision of an incident as it really happened: the day, the place, the people."""

    day: date
    place: Dwelling | PublicPlace
    persons: list[Named]
    trap: bool = False


@dataclass(slots=True)
class Case:
    """An incident with its revisions (the last is the truth) and the kind that produced it."""

    kind: str
    revisions: list[Plan] = field(default_factory=list)


def person_ref(index: int) -> str:
    """The `person_ref` of the person at `index` (from 0) of a plan."""
    return f"P{index + 1}"


def render_person(named: Named, index: int, day: date, rng: Random) -> Message:
    """`#/$defs/person` with modest noise: shouted names, an age instead of a date of birth."""
    person = named.person
    given, family = person.given, person.family_name
    if rng.random() < 0.25:
        given, family = given.upper(), family.upper()
    mode = named.dob if named.dob != "auto" else ("age" if rng.random() < 0.2 else "dob")
    shown = named.address if named.address != "auto" else pick(rng, ("home", "home", "none"))
    home = person.home_on(day)
    return {
        "person_ref": person_ref(index),
        "role": named.role,
        "given_name": given,
        "family_name": family,
        "date_of_birth": person.dob.isoformat() if mode == "dob" else None,
        "age_years": age_on(person.dob, day) if mode == "age" else None,
        "gender": person.sex,
        "address": police_address(home, rng) if shown == "home" and home else None,
        "pregnant": named.pregnant,
        "nhs_number": person.nhs if person.nhs and rng.random() < 0.05 else None,
    }


def _message(plan: Plan, rng: Random, occurred: str, reported: datetime) -> Message:
    """One police-incident/1 message for `plan`; ids and revision are filled in by the caller."""
    persons = [render_person(n, i, plan.day, rng) for i, n in enumerate(plan.persons)]
    children = any(n.role == "child" for n in plan.persons)
    return {
        "schema": "police-incident/1",
        "notification_id": uuid4(rng),
        "incident_id": "",
        "force": "",
        "revision": 0,
        "occurred_at": occurred,
        "reported_at": utc_stamp(reported),
        "location": police_address(plan.place, rng),
        "dash_risk": pick(rng, _DASH),
        "children_present": True if children else pick(rng, (False, False, None)),
        "persons": persons,
        "summary": pick(rng, _SUMMARIES),
    }


def render_case(case: Case, rng: Random, incident_id: str, force: str) -> list[Message]:
    """Every revision of `case` as the messages a force publishes, later revisions later."""
    messages: list[Message] = []
    moment: datetime | None = None
    occurred = ""
    reported: datetime | None = None
    previous: date | None = None
    for revision, plan in enumerate(case.revisions, start=1):
        if moment is None or plan.day != previous:
            moment, occurred = incident_moment(rng, plan.day, trap=plan.trap)
        if reported is None:
            reported = moment + timedelta(minutes=between(rng, 20, 36 * 60))
        else:
            reported += timedelta(hours=between(rng, 2, 96))
        message = _message(plan, rng, occurred, reported)
        message.update(incident_id=incident_id, force=force, revision=revision)
        messages.append(message)
        previous = plan.day
    return messages
