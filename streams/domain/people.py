"""Who each person in an incident is to the child a task is about, in a duty worker's words; pure.

A task must say how the people in the report are linked to the baby without
opening five systems: "the victim is the baby's mother: same name and date of
birth". The decision log keeps the match weights a serious case review reads;
this module says the same comparison in plain words. Each person is compared
with the family's carers (the child in the report with the subject itself)
exactly as the rule compares them (`compare_identities`, `field_levels`), and
the best comparison at or above the review score is worded; a person no carer
reaches is "not matched to the family".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from schemas.police import PoliceIncident, PolicePerson
from schemas.task import RaiseTask, TaskPerson
from streams.domain.config import RulesConfig
from streams.domain.matching.compare import (
    Identity,
    carer_identity,
    compare_identities,
    field_levels,
    person_identity,
    subject_identity,
)
from streams.domain.matching.dwellings import home_level
from streams.domain.matching.levels import Level
from streams.domain.register.index import RegisterView, family_carers, home_on
from streams.domain.register.records import CarerRecord, Place, SubjectRecord
from streams.domain.rules import incident_day

#: What agrees exactly, as the noun after "same".
_SAME = {
    "nhs_agree": "NHS number",
    "given_exact": "given name",
    "family_exact": "family name",
    "dob_exact": "date of birth",
}
#: What agrees only nearly, or is missing, or differs: a phrase of its own.
_PHRASES = {
    "given_first_forename": "same first forename",
    "given_variant": "given name a short form or variant",
    "given_typo": "given name spelt differently (one typing error)",
    "given_phonetic": "given name sounds the same",
    "given_similar": "given name similar",
    "given_part": "one part of the given name",
    "given_initial": "given name's initial only",
    "given_differ": "the given name differs",
    "family_part": "one part of the family name",
    "family_typo": "family name spelt differently (one typing error)",
    "family_phonetic": "family name sounds the same",
    "family_household": "family name is the household's",
    "family_similar": "family name similar",
    "family_differ": "the family name differs",
    "dob_swapped": "date of birth with day and month swapped",
    "dob_near": "date of birth a day or a year off",
    "dob_typo": "date of birth one digit off",
    "dob_partial": "date of birth partly agrees",
    "dob_differ": "the date of birth differs",
    "age_exact": "reported age fits the date of birth",
    "age_near": "reported age a year off",
    "age_far": "reported age two years off",
    "age_conflict": "the reported age does not fit",
    "nhs_conflict": "the NHS numbers differ",
    "sex_conflict": "the reported gender does not fit the relationship",
    "home_dwelling": "lives at the baby's home",
    "home_near": "lives nearly at the baby's home",
    "home_weak": "lives at about the baby's home",
    "home_postcode": "lives in the home's postcode",
}
#: A carer's relationship, after "the baby's" (or "the unborn baby's").
_RELATION = {
    "mother": "{baby}'s mother",
    "father": "{baby}'s father",
    "parent": "{baby}'s parent",
    "carer": "a carer of {baby}",
    "partner_of_carer": "the partner of {baby}'s carer",
}
NOT_MATCHED = "not matched to the family"


@dataclass(frozen=True, slots=True)
class PersonLink:
    """One person in the incident, and who they are to the task's child."""

    person_ref: str
    role: str
    #: "the baby's mother", "the baby", or None when no one in the family matched.
    known_as: str | None
    #: How they match, in words, or NOT_MATCHED.
    how: str
    score: float | None = None


def with_people(
    commands: list[RaiseTask],
    incident: PoliceIncident,
    register: RegisterView,
    config: RulesConfig,
) -> list[RaiseTask]:
    """The commands, each saying who every person in the incident is to its child (`people`)."""
    day = incident_day(incident, config)
    return [
        command.model_copy(update={"people": people_of(command, incident, register, day, config)})
        for command in commands
    ]


def people_of(
    command: RaiseTask,
    incident: PoliceIncident,
    register: RegisterView,
    day: date,
    config: RulesConfig,
) -> list[TaskPerson]:
    """Every person in the incident as a command's child's family knows them."""
    subject = command.subject
    record = register.get(subject.subject_ref) if subject.subject_ref else None
    if subject.basis == "register" and record is not None:
        links = register_links(incident, record, register, day, config)
    else:
        links = report_links(incident, subject.person_ref, subject.kind)
    return [
        TaskPerson.model_validate(
            {
                "person_ref": link.person_ref,
                "role": link.role,
                "known_as": link.known_as,
                "how": link.how,
                "score": None if link.score is None else round(link.score, 4),
            }
        )
        for link in links
    ]


def register_links(
    incident: PoliceIncident,
    record: SubjectRecord,
    register: RegisterView,
    day: date,
    config: RulesConfig,
) -> list[PersonLink]:
    """Each person in `incident`, compared with the family of a register subject, in words."""
    carers = family_carers(register, record)
    home = home_on(register, record, day)
    household = tuple(dict.fromkeys([n for c in carers for n in c.family_names]))
    baby = "the unborn baby" if record.kind == "unborn" else "the baby"
    links = []
    for person in incident.persons:
        identity = person_identity(person, day)
        if person.role == "child":
            links.append(_as_subject(person, identity, record, baby, config))
        else:
            links.append(_as_carer(person, identity, carers, household, home, baby, config))
    return links


def report_links(incident: PoliceIncident, person_ref: str | None, kind: str) -> list[PersonLink]:
    """Each person in `incident` for a task known from the police report alone."""
    known = "the pregnant person" if kind == "unborn" else "the baby"
    return [
        PersonLink(
            p.person_ref,
            p.role,
            known if p.person_ref == person_ref else None,
            "named in the police report" if p.person_ref == person_ref else "not on the register",
        )
        for p in incident.persons
    ]


def sentence(link: PersonLink) -> str:
    """One line: 'the victim P1 is the baby's mother: same name and date of birth'."""
    who = f"the {link.role.replace('_', ' ')} {link.person_ref}"
    if link.known_as is None:
        return f"{who}: {link.how}"
    return f"{who} is {link.known_as}: {link.how}"


def _as_carer(
    person: PolicePerson,
    identity: Identity,
    carers: tuple[CarerRecord, ...],
    household: tuple[str, ...],
    home: Place | None,
    baby: str,
    config: RulesConfig,
) -> PersonLink:
    """The carer a person is most surely, worded; not matched below the review score."""
    lives = home_level(person.address, home)
    best: tuple[float, CarerRecord, Identity] | None = None
    for carer in carers:
        other = carer_identity(carer, household)
        score = compare_identities(identity, other, config.weights, lives).score
        if best is None or score > best[0]:
            best = (score, carer, other)
    if best is None or best[0] < config.review_score:
        return _not_a_carer(person, lives, baby)
    score, carer, other = best
    relation = _RELATION.get(carer.relationship, "a carer of {baby}").format(baby=baby)
    how = words(field_levels(identity, other, config.weights, lives))
    return PersonLink(person.person_ref, person.role, relation, how, score)


def _not_a_carer(person: PolicePerson, lives: Level | None, baby: str) -> PersonLink:
    """A person no carer matches: still someone who lives at the home (clause 3), or no one."""
    if lives is None or lives.level not in _LIVES_THERE:
        return PersonLink(person.person_ref, person.role, None, NOT_MATCHED)
    how = f"not matched to a carer; {_PHRASES[lives.level]}"
    return PersonLink(person.person_ref, person.role, f"living at {baby}'s home", how)


#: Home levels that put a person at the dwelling itself (not only in its postcode).
_LIVES_THERE = frozenset({"home_dwelling", "home_near", "home_weak"})


def _as_subject(
    person: PolicePerson,
    identity: Identity,
    record: SubjectRecord,
    baby: str,
    config: RulesConfig,
) -> PersonLink:
    """A child in the report compared with the subject itself."""
    other = subject_identity(record)
    score = compare_identities(identity, other, config.weights).score
    if score < config.review_score:
        return PersonLink(person.person_ref, person.role, None, NOT_MATCHED)
    how = words(field_levels(identity, other, config.weights))
    return PersonLink(person.person_ref, person.role, baby, how, score)


def words(levels: tuple[Level, ...]) -> str:
    """A comparison's levels as 'same name and date of birth; lives at the baby's home'."""
    codes = [level.level for level in levels if level.level]
    same = [_SAME[c] for c in codes if c in _SAME]
    if "given name" in same and "family name" in same:
        same = ["name" if s == "given name" else s for s in same if s != "family name"]
    phrases = [f"same {_and(same)}"] if same else []
    phrases += [_PHRASES[c] for c in codes if c in _PHRASES]
    swapped = any("other way round" in level.words for level in levels)
    if swapped:
        phrases.append("names written the other way round")
    if not any(c.startswith(("dob_", "age_")) for c in codes):
        phrases.append("no date of birth to compare")
    return "; ".join(phrases) or "nothing agrees"


def _and(items: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"
