"""The protocol's trigger rule: one incident against the register gives one decision; pure.

Where there is domestic violence in a family with a child under 12 months old
(including an unborn child), a single incident triggers a child protection
investigation. The clauses below follow `contracts/README.md` "Trigger semantics".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from schemas.decision import Decision, DecisionSubject, DecisionValue, Outcome
from schemas.police import INVOLVED_ROLES, PoliceIncident, PolicePerson
from streams.domain.config import DEFAULT_CONFIG, RULES_VERSION, MatchWeights, RulesConfig
from streams.domain.matching.compare import (
    Identity,
    carer_identity,
    compare_identities,
    may_reach,
    person_identity,
    subject_identity,
)
from streams.domain.matching.dwellings import compare_addresses, level_of_home, postcode_level
from streams.domain.matching.frequencies import TermFrequencies
from streams.domain.matching.levels import NO_MATCH, Level, Match
from streams.domain.matching.normalise import PostalAddress
from streams.domain.register.index import DecisionView, RegisterView, family_carers, home_on
from streams.domain.register.records import (
    CarerRecord,
    SubjectRecord,
    first_anniversary,
)


@dataclass(frozen=True, slots=True)
class Finding:
    """One piece of evidence, under one clause, that a subject's family is involved."""

    clause: int
    score: float
    reason: str
    person_ref: str | None = None


def incident_day(incident: PoliceIncident, config: RulesConfig = DEFAULT_CONFIG) -> date:
    """The local date (Europe/London by default) on which the incident happened."""
    return incident.occurred_at.astimezone(ZoneInfo(config.timezone)).date()


_CHILD = "in scope: a child, born on or before the incident day and before its first birthday"
_NO_BIRTH_DATE = "in scope: a child whose date of birth the register does not know"
_UNBORN = "in scope: an unborn child, pregnancy begun (EDD - 280 days) and not ended before the day"
_NOT_BORN_YET = "in scope: an unborn child, pregnancy begun and its child record not yet born"
_LIVE_BIRTH = (
    "in scope: pregnancy ended (live birth or outcome unknown) with no child record,"
    " judged as a child born on the end date"
)
_NO_END = "in scope: an unborn child with no recorded end, before the EDD's first anniversary"


def scope(
    record: SubjectRecord, register: RegisterView, day: date, config: RulesConfig
) -> str | None:
    """Why a subject is in scope on `day` (the reason), or None when it is not."""
    if record.withdrawn_on is not None and day >= record.withdrawn_on:
        return None
    if record.kind == "unborn":
        return _unborn_scope(record, register, day, config)
    born = record.date_of_birth or record.registered_on
    if born is None:
        return _NO_BIRTH_DATE
    if born <= day:
        return _CHILD if day < first_anniversary(born) else None
    return _UNBORN if _pregnancy_begun(record, day, config) else None


def _pregnancy_begun(record: SubjectRecord, day: date, config: RulesConfig) -> bool:
    """Whether the subject's pregnancy had begun by `day` (EDD minus 280 days); unknown EDD: no."""
    edd = record.expected_delivery_date
    return edd is not None and day >= edd - timedelta(days=config.gestation_days)


def _unborn_scope(
    record: SubjectRecord, register: RegisterView, day: date, config: RulesConfig
) -> str | None:
    """Scope of an unborn subject: from EDD-280 days until its end, its child or EDD+1 year."""
    if record.expected_delivery_date is not None and not _pregnancy_begun(record, day, config):
        return None
    end = record.pregnancy_end
    if end is not None and end.outcome in ("loss", "termination"):
        return _UNBORN if day <= end.on else None
    child = register.child_of_pregnancy(record.subject_ref)
    if child is not None:
        handover = child.date_of_birth or (end.on if end else None)
        return _NOT_BORN_YET if handover is None or day < handover else None
    if end is not None:
        return _LIVE_BIRTH if day < first_anniversary(end.on) else None
    limit = record.expected_delivery_date or record.registered_on
    return _NO_END if limit is None or day < first_anniversary(limit) else None


def _role(person: PolicePerson) -> str:
    """A person's role in words."""
    return person.role.replace("_", " ")


@dataclass(frozen=True, slots=True)
class Seen:
    """An incident on its day, with each involved person's identity worked out once."""

    incident: PoliceIncident
    day: date
    involved: tuple[tuple[PolicePerson, Identity], ...]


def seen_on(incident: PoliceIncident, day: date, register: RegisterView | None = None) -> Seen:
    """The incident as judged on `day`: its involved persons and their identities.

    With `register`, each identity knows how many families have a carer of its name.
    """
    involved = []
    for person in incident.persons:
        if person.role in INVOLVED_ROLES:
            namesakes = register.namesakes(person.given_name, person.family_name) if register else 1
            involved.append((person, person_identity(person, day, namesakes)))
    return Seen(incident, day, tuple(involved))


def involvement(
    seen: Seen,
    carers: tuple[CarerRecord, ...],
    address: PostalAddress | None,
    floor: float = 0.0,
    weights: MatchWeights | None = None,
    household: tuple[str, ...] = (),
    frequencies: TermFrequencies | None = None,
    placed: bool = True,
) -> list[Finding]:
    """Every piece of evidence (clauses 1, 2 and 3), scoring at least `floor`, of involvement.

    `household` holds the family's surnames (carers' and the subject's): a
    person may be known by a partner's. A person's own address that agrees
    with the home adds weight to their being one of the carers. Without
    `placed` (no key of the incident's places found the subject:
    `DecisionView.shares_place`) no dwelling of the incident can be the home:
    none is compared, clauses 2 and 3 cannot hold, and a person's address
    weighs only by its postcode.
    """
    findings: list[Finding] = []
    weights = weights or MatchWeights()
    homes = [_at_home(person, address, placed) for person, _ in seen.involved]
    for (person, identity), (_, home) in zip(seen.involved, homes, strict=True):
        for carer in carers:
            other = carer_identity(carer, household)
            if not may_reach(identity, other, floor, weights, home):
                continue  # its names cannot lift it to the floor: not compared
            match = compare_identities(identity, other, weights, home, frequencies)
            if match.score >= floor:  # below it, the words are never read: not built
                what = f"carer {carer.person_ref} ({carer.relationship}) is the {_role(person)}"
                findings.append(_finding(1, f"{what} {person.person_ref}", match, person))
    if address is None or not placed:
        return findings
    at_home = compare_addresses(seen.incident.location, address)
    if at_home.score >= floor:
        findings.append(_finding(2, "the incident happened at the subject's home", at_home))
    for (person, _), (lives, _) in zip(seen.involved, homes, strict=True):
        if person.address is not None and lives.score >= floor:
            what = f"the {_role(person)} {person.person_ref} lives at the subject's home"
            findings.append(_finding(3, what, lives, person))
    return findings


def _at_home(
    person: PolicePerson, home: PostalAddress | None, placed: bool = True
) -> tuple[Match, Level | None]:
    """How a person's own address agrees with the home: as a dwelling (clause 3) and as an
    identity field (see `home_level`), compared once (without `placed`: see `involvement`)."""
    if person.address is None or home is None:
        return NO_MATCH, None
    if not placed:
        return NO_MATCH, postcode_level(person.address, home)
    lives = compare_addresses(person.address, home)
    return lives, level_of_home(lives, person.address, home)


def _finding(clause: int, what: str, match: Match, person: PolicePerson | None = None) -> Finding:
    """A finding for one clause from one comparison."""
    how = "; ".join(match.evidence) or "nothing agrees"
    ref = person.person_ref if person else None
    return Finding(clause, match.score, f"clause {clause}: {what}: {how}", ref)


def outcome_of(score: float, config: RulesConfig) -> Outcome | None:
    """The outcome a score earns: trigger, review, or None."""
    if score >= config.trigger_score:
        return "trigger"
    return "review" if score >= config.review_score else None


@dataclass(frozen=True, slots=True)
class Judged:
    """A register subject's part of a decision, with the persons matched exactly to its carers."""

    subject: DecisionSubject
    record: SubjectRecord
    carer_persons: frozenset[str]


def judge(
    seen: Seen, record: SubjectRecord, register: RegisterView, config: RulesConfig
) -> Judged | None:
    """The outcome for one register subject, or None when it is out of scope or not involved."""
    in_scope = scope(record, register, seen.day, config)
    if in_scope is None:
        return None
    carers, home = family_carers(register, record), home_on(register, record, seen.day)
    household = household_surnames(carers, record)
    placed = not isinstance(register, DecisionView) or register.shares_place(record.subject_ref)
    found = involvement(
        seen,
        carers,
        home,
        config.review_score,
        config.weights,
        household,
        config.term_frequencies,
        placed,
    )
    kept = sorted(found, key=lambda f: -f.score)
    outcome = outcome_of(kept[0].score, config) if kept else None
    if outcome is None:
        return None
    exact = {f.person_ref for f in kept if f.clause == 1 and f.score >= config.trigger_score}
    subject = DecisionSubject.model_validate(
        {
            "basis": "register",
            "kind": record.kind,
            "subject_ref": record.subject_ref,
            "outcome": outcome,
            "score": kept[0].score,
            "reasons": [in_scope, *(f.reason for f in kept)],
            "local_authority": record.local_authority,
        }
    )
    return Judged(subject, record, frozenset(r for r in exact if r))


def household_surnames(carers: tuple[CarerRecord, ...], record: SubjectRecord) -> tuple[str, ...]:
    """The surnames a family is known by: its carers' and the subject's."""
    names = [name for carer in carers for name in carer.family_names]
    if record.family_name:
        names.append(record.family_name)
    return tuple(dict.fromkeys(names))


def _infant(person: PolicePerson, day: date, config: RulesConfig) -> str | None:
    """How a `child` in the report is known to be under 12 months on `day`, or None."""
    born = person.date_of_birth
    if born is not None:
        return "by date of birth" if born <= day < first_anniversary(born) else None
    if person.age_years is not None and person.age_years <= config.infant_age_years:
        return f"by age_years {person.age_years}"
    return None


def _report_basis(person: PolicePerson, day: date, config: RulesConfig) -> tuple[str, str] | None:
    """The kind and reason of a police-report trigger for one person, or None."""
    if person.role in INVOLVED_ROLES and person.pregnant is True:
        return (
            "unborn",
            f"police report: the {_role(person)} {person.person_ref} is reported pregnant",
        )
    how = _infant(person, day, config) if person.role == "child" else None
    if how is not None:
        return "child", f"police report: the child {person.person_ref} is under 12 months {how}"
    return None


def _covering(
    person: PolicePerson, kind: str, judged: list[Judged], day: date, config: RulesConfig
) -> Judged | None:
    """The register subject that triggers in this decision and is already this baby, if any."""
    triggered = [j for j in judged if j.subject.outcome == "trigger"]
    if kind == "unborn":
        return next(
            (
                j
                for j in triggered
                if j.record.kind == "unborn" and person.person_ref in j.carer_persons
            ),
            None,
        )
    identity = person_identity(person, day)
    return next(
        (
            j
            for j in triggered
            if j.record.kind == "child"
            and compare_identities(identity, subject_identity(j.record), config.weights).score
            >= config.review_score
        ),
        None,
    )


def _covered(
    person: PolicePerson, kind: str, judged: list[Judged], day: date, config: RulesConfig
) -> bool:
    """Whether a register subject that triggers in this decision is already this baby."""
    return _covering(person, kind, judged, day, config) is not None


def report_subjects(seen: Seen, judged: list[Judged], config: RulesConfig) -> list[DecisionSubject]:
    """Triggers on the police report alone: a pregnant involved person, or a baby in the report."""
    day, subjects = seen.day, list[DecisionSubject]()
    for person in seen.incident.persons:
        basis = _report_basis(person, day, config)
        if basis is None or _covered(person, basis[0], judged, day, config):
            continue
        kind, reason = basis
        subjects.append(
            DecisionSubject.model_validate(
                {
                    "basis": "police_report",
                    "kind": kind,
                    "person_ref": person.person_ref,
                    "outcome": "trigger",
                    "score": 1.0,
                    "reasons": [reason, "not covered by a register subject of this decision"],
                    "local_authority": None,
                }
            )
        )
    return subjects


def _judged(
    incident: PoliceIncident, register: RegisterView, config: RulesConfig
) -> tuple[Seen, int, list[Judged]]:
    """The incident as seen on its day, how many candidates, and the register subjects judged."""
    register = DecisionView(register)
    day = incident_day(incident, config)
    candidates = register.candidates(incident, day)
    seen = seen_on(incident, day, register)
    judged = [j for j in (judge(seen, r, register, config) for r in candidates) if j]
    return seen, len(candidates), judged


def covering(
    incident: PoliceIncident,
    register: RegisterView,
    config: RulesConfig,
    raised: Iterable[str] = (),
) -> dict[str, str]:
    """The police-report subjects (of `raised`, task keys) that a register subject of this
    incident's decision covers: person key to subject key, the same baby (`_covering`).

    Empty, and nothing judged, when no police-report task was raised.
    """
    persons = {key.partition(":")[2] for key in raised if key.startswith("person:")}
    if not persons:
        return {}
    seen, _, judged = _judged(incident, register, config)
    found: dict[str, str] = {}
    for person in seen.incident.persons:
        basis = _report_basis(person, seen.day, config)
        if person.person_ref not in persons or basis is None:
            continue
        covers = _covering(person, basis[0], judged, seen.day, config)
        if covers is not None:
            found[f"person:{person.person_ref}"] = f"subject:{covers.record.subject_ref}"
    return found


def decide(
    incident: PoliceIncident, register: RegisterView, config: RulesConfig = DEFAULT_CONFIG
) -> Decision:
    """Decide one incident revision: trigger, review or no_action, with each subject's evidence."""
    seen, candidates, judged = _judged(incident, register, config)
    subjects = [j.subject for j in judged] + report_subjects(seen, judged, config)
    outcomes = {subject.outcome for subject in subjects}
    decision: DecisionValue = (
        "trigger" if "trigger" in outcomes else "review" if "review" in outcomes else "no_action"
    )
    counts = ", ".join(
        f"{sum(s.outcome == o for s in subjects)} {o}" for o in ("trigger", "review")
    )
    return Decision(
        incident_id=incident.incident_id,
        revision=incident.revision,
        decision=decision,
        subjects=subjects,
        reasons=[f"rules {RULES_VERSION}", f"{candidates} register candidates; {counts}"],
    )
