"""The resources a FHIR Task contains: the subject, the carers, the incident and its people.

They are the human-readable view; the command in the Task's input is the record. The Task's
`focus` and `for` point at `#subject`, and every contained resource is referred to from the
Task, as FHIR asks (`dom-3`):

- the subject is a `Patient`, a child or an unborn child alike. FHIR R4 has no element for a
  person not yet born, so an unborn child is a Patient with no `birthDate` and the extensions
  `subject-kind` (`unborn`) and `expected-delivery-date`; a FHIR reader that ignores them sees
  a Patient without a date of birth, not a wrong one;
- each carer is a `RelatedPerson` of `#subject`: the register says how they are related
  (`relationship`, also coded in HL7 v3 RoleCode where it says the same);
- the incident is a `Communication`: the force's notification, sent at `reported_at` by the
  force to the council, about the incident's people, with the summary as its payload. It is
  what the council received; `DetectedIssue` is for clinical alerts and an `Observation`
  would claim a finding. `Task.reasonReference` points at it;
- each person in the incident is a `Person`, not a `RelatedPerson`: a RelatedPerson states a
  relationship to the subject, and for a suspect or a witness the police state none. Who they
  are to the child, in words, is in the `known-as` and `how-matched` extensions.

Human-facing strings are made valid FHIR strings (other whitespace becomes a space, empty ones
are left out) and identifier values percent-escaped one to one (`identifier_value`), so no
name or reference can make a valid command an invalid Task; the exact words are in the command.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from schemas.police import PoliceIncident, PolicePerson
from schemas.register import Carer
from schemas.shared import Address
from schemas.task import RaiseTask, TaskPerson, TaskSubject

#: The base of dvtrigger's own FHIR definitions: extensions, code systems, naming systems.
FHIR_BASE = "https://dvtrigger.example/fhir"
SD = f"{FHIR_BASE}/StructureDefinition/"
CS = f"{FHIR_BASE}/CodeSystem/"
NS = f"{FHIR_BASE}/NamingSystem/"
NHS_NUMBER_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"
ROLE_CODE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
#: The register's relationships that HL7 v3 RoleCode names exactly.
ROLE_CODES = {"mother": "MTH", "father": "FTH", "parent": "PRN"}
SUBJECT_REF = {"reference": "#subject"}


def contained(cmd: RaiseTask) -> list[dict[str, Any]]:
    """The subject, its carers, the incident and the incident's people, in that order."""
    people = {p.person_ref: p for p in cmd.people}
    persons = [_person(i, p, people.get(p.person_ref)) for i, p in enumerate(cmd.incident.persons)]
    carers = [_carer(i, carer) for i, carer in enumerate(cmd.subject.carers)]
    return [_subject(cmd.subject), *carers, _incident(cmd.incident), *persons]


def carer_inputs(cmd: RaiseTask) -> list[dict[str, Any]]:
    """The Task's inputs that point at its contained carers (a contained resource is referred
    to from the resource that contains it)."""
    return [
        {"type": concept("task-input", "carer", "Carer"), "valueReference": {"reference": ref}}
        for ref in (f"#carer-{i}" for i in range(len(cmd.subject.carers)))
    ]


def _subject(subject: TaskSubject) -> dict[str, Any]:
    """The child or unborn child, as a Patient (an unborn one has no birthDate)."""
    due = subject.expected_delivery_date
    return {
        "resourceType": "Patient",
        "id": "subject",
        "extension": [
            extension("subject-kind", valueCode=subject.kind),
            extension("subject-basis", valueCode=subject.basis),
            extension("expected-delivery-date", valueDate=due.isoformat() if due else None),
        ],
        "identifier": [
            _nhs_number(subject.nhs_number),
            _identifier("register-subject-ref", subject.subject_ref),
            _identifier("police-person-ref", subject.person_ref),
        ],
        "name": [_name(subject.given_name, subject.family_name)],
        "birthDate": subject.date_of_birth.isoformat() if subject.date_of_birth else None,
        "address": [_address(subject.address)],
    }


def _carer(index: int, carer: Carer) -> dict[str, Any]:
    """A carer the register knows, as a RelatedPerson of the subject."""
    role = ROLE_CODES.get(carer.relationship)
    relationship = concept("carer-relationship", carer.relationship, None)
    if role:
        relationship["coding"].append({"system": ROLE_CODE_SYSTEM, "code": role})
    return {
        "resourceType": "RelatedPerson",
        "id": f"carer-{index}",
        "identifier": [
            _nhs_number(carer.nhs_number),
            _identifier("register-person-ref", carer.person_ref),
        ],
        "patient": SUBJECT_REF,
        "relationship": [relationship],
        "name": [_name(carer.given_name, carer.family_name)],
        "birthDate": carer.date_of_birth.isoformat() if carer.date_of_birth else None,
    }


def _incident(incident: PoliceIncident) -> dict[str, Any]:
    """The force's notification as a Communication to the council, about the incident's people."""
    return {
        "resourceType": "Communication",
        "id": "incident",
        "extension": [
            extension("incident-revision", valueDecimal=incident.revision),
            extension("occurred-at", valueDateTime=incident.occurred_at.isoformat()),
            extension("incident-location", valueAddress=_address(incident.location)),
            extension("dash-risk", valueCode=incident.dash_risk.replace("_", "-")),
            extension("children-present", valueBoolean=incident.children_present),
        ],
        "identifier": [
            _identifier("police-incident-id", incident.incident_id),
            _identifier("police-notification-id", incident.notification_id),
        ],
        "status": "completed",
        "category": [concept("notification-type", "domestic-abuse-incident", "Domestic abuse")],
        "subject": SUBJECT_REF,
        "about": [{"reference": f"#person-{i}"} for i in range(len(incident.persons))],
        "sent": incident.reported_at.isoformat(),
        "sender": {"display": incident.force},
        "payload": [{"contentString": fhir_string(incident.summary)}],
    }


def _person(index: int, person: PolicePerson, task_person: TaskPerson | None) -> dict[str, Any]:
    """A person in the incident, as a Person: the police state no relationship to the child."""
    known_as = task_person.known_as if task_person else None
    how = task_person.how if task_person else None
    return {
        "resourceType": "Person",
        "id": f"person-{index}",
        "extension": [
            extension("incident-role", valueCode=person.role.replace("_", "-")),
            extension("age-years", valueInteger=person.age_years),
            extension("pregnant", valueBoolean=person.pregnant),
            extension("known-as", valueString=fhir_string(known_as)),
            extension("how-matched", valueString=fhir_string(how)),
        ],
        "identifier": [
            _nhs_number(person.nhs_number),
            _identifier("police-person-ref", person.person_ref),
        ],
        "name": [_name(person.given_name, person.family_name)],
        "gender": person.gender,
        "birthDate": person.date_of_birth.isoformat() if person.date_of_birth else None,
        "address": [_address(person.address)],
    }


def _name(given: str | None, family: str | None) -> dict[str, Any]:
    """A HumanName from the feeds' two parts."""
    return {"family": fhir_string(family), "given": [fhir_string(given)]}


def _address(address: Address | None) -> dict[str, Any] | None:
    """A FHIR Address from a feed's address (the UPRN is in the command)."""
    if address is None:
        return None
    return {
        "line": [fhir_string(line) for line in address.lines],
        "city": fhir_string(address.town),
        "postalCode": fhir_string(address.postcode),
        "country": "GB",
    }


def _nhs_number(number: str | None) -> dict[str, Any] | None:
    """An NHS number as NHS England's identifier."""
    return {"system": NHS_NUMBER_SYSTEM, "value": number} if number else None


def _identifier(naming_system: str, value: str | None) -> dict[str, Any] | None:
    """An identifier in one of dvtrigger's naming systems."""
    return {"system": NS + naming_system, "value": identifier_value(value)} if value else None


def pruned(resource: dict[str, Any]) -> dict[str, Any]:
    """The resource without None, empty lists and empty objects, at any depth (FHIR has none)."""
    kept: dict[str, Any] = _pruned(resource)
    return kept


def _pruned(value: Any) -> Any:
    """`pruned` of any JSON value."""
    if isinstance(value, dict):
        items = ((k, _pruned(v)) for k, v in value.items())
        return {k: v for k, v in items if v is not None and v != [] and v != {}}
    if isinstance(value, list):
        return [v for v in map(_pruned, value) if v is not None and v != [] and v != {}]
    return value


def concept(
    system: str, code: str | None, display: str | None, text: str | None = None
) -> dict[str, Any]:
    """A CodeableConcept with one coding in one of dvtrigger's code systems."""
    coding = [{"system": CS + system, "code": code, "display": display}] if code else []
    return {"coding": coding, "text": text}


def extension(name: str, **value: Any) -> dict[str, Any] | None:
    """One of dvtrigger's extensions with its one value, or None when the value is None."""
    (kind, item), *_ = value.items()
    return None if item is None else {"url": SD + name, kind: item}


def fhir_string(text: str | None) -> str | None:
    """Text as a valid FHIR string: control and other whitespace characters become spaces, the
    ends are trimmed, and an empty result is None (FHIR has no empty strings)."""
    if text is None:
        return None
    cleaned = "".join(" " if _unfit(ch) else ch for ch in text).strip()
    return cleaned or None


def fhir_code(text: str) -> str | None:
    """Text as a valid FHIR code: a valid string with single spaces between its words."""
    return " ".join((fhir_string(text) or "").split()) or None


def identifier_value(value: str) -> str:
    """A reference or key as a FHIR identifier value, one to one: `%`, whitespace and control
    characters are percent-escaped as UTF-8; every usual key ("MPS-2026-000001:C1") is unchanged."""
    escaped = (_escape(ch) if ch == "%" or ch.isspace() or _unfit(ch) else ch for ch in value)
    return "".join(escaped)


def _unfit(ch: str) -> bool:
    """Whether a character has no place in a FHIR string (tab, CR and LF do)."""
    return ch not in "\t\r\n " and (ch.isspace() or unicodedata.category(ch) == "Cc")


def _escape(ch: str) -> str:
    """A character percent-escaped as its UTF-8 bytes."""
    return "".join(f"%{byte:02X}" for byte in ch.encode())
