"""The labels: the subjects and police-report persons an incident must trigger, by the contract."""

from __future__ import annotations

from datetime import date
from typing import Any

from connectors.simulate.addresses import Dwelling
from connectors.simulate.clock import first_birthday
from connectors.simulate.model import Family, Subject, in_scope
from connectors.simulate.police import INVOLVED, Case, Plan, person_ref


class Oracle:
    """Judges planned incidents against the families it knows, from the generator's ground truth."""

    def __init__(self, families: list[Family]) -> None:
        self._by_home: dict[int, list[Family]] = {}
        for family in families:
            for _, home in family.homes:
                self._by_home.setdefault(home.key, []).append(family)

    def _candidates(self, plan: Plan) -> list[Family]:
        """Families that could be involved: living at the place, or linked to a person named."""
        found: dict[int, Family] = {}
        homes = [plan.place] + [n.person.home_on(plan.day) for n in plan.persons]
        for home in homes:
            if isinstance(home, Dwelling):
                found.update((f.fid, f) for f in self._by_home.get(home.key, []))
        for named in plan.persons:
            if named.person.household is not None:
                found[named.person.household.fid] = named.person.household
        return [found[fid] for fid in sorted(found)]

    def must_subjects(self, plan: Plan) -> list[Subject]:
        """Register subjects in scope on the incident day whose family is involved."""
        return [
            subject
            for family in self._candidates(plan)
            if involved(family, plan)
            for subject in family.subjects
            if in_scope(subject, plan.day)
        ]

    def line(self, incident_id: str, case: Case) -> dict[str, Any]:
        """The truth line of an incident: judged on its last revision."""
        plan = case.revisions[-1]
        subjects = self.must_subjects(plan)
        must: list[dict[str, str]] = [{"subject_ref": s.ref} for s in subjects]
        also_ok: list[str] = []
        for index, named in enumerate(plan.persons):
            basis = _police_basis(named.role, named.pregnant, named.person.dob, plan.day)
            if not basis:
                continue
            if _covered(plan, index, subjects):
                also_ok.append(person_ref(index))
            else:
                must.append({"person_ref": person_ref(index)})
        return {"incident_id": incident_id, "kind": case.kind, "must": must, "also_ok": also_ok}


def involved(family: Family, plan: Plan) -> bool:
    """Whether `family` is brought in: a carer named, its home, or someone living there named."""
    home = family.home_on(plan.day)
    if isinstance(plan.place, Dwelling) and plan.place.key == home.key:
        return True
    for named in plan.persons:
        if named.role not in INVOLVED:
            continue
        if any(named.person is carer for carer in family.carers):
            return True
        lives = named.person.home_on(plan.day)
        if lives is not None and lives.key == home.key:
            return True
    return False


def _police_basis(role: str, pregnant: bool | None, dob: date, day: date) -> bool:
    """Whether a person alone triggers: pregnant in an involved role, or a child under 12 months."""
    if role in INVOLVED:
        return pregnant is True
    return role == "child" and dob <= day < first_birthday(dob)


def _covered(plan: Plan, index: int, subjects: list[Subject]) -> bool:
    """Whether a register subject of the same decision already is this pregnancy or this child."""
    person = plan.persons[index].person
    if person.subject is not None:
        return any(person.subject is s for s in subjects)
    family = person.household
    if family is None or family.mother is not person:
        return False
    return any(s.kind == "unborn" and any(s is t for t in subjects) for s in family.subjects)
