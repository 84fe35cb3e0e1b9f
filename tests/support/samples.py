"""Sample incidents and RaiseTask commands, and a check that text carries no personal data."""

from __future__ import annotations

import codecs
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from schemas.police import PoliceIncident
from schemas.register import Carer
from schemas.shared import Address
from schemas.task import RaiseTask, TaskSubject
from streams.domain.parsing import MAX_MESSAGE_BYTES

Outcome = Literal["trigger", "review", "withdrawn"]

#: A name that breaks any page that forgets to escape it.
HOSTILE_NAME = '<script>alert("x")</script> & Ó\'Brien'

OCCURRED_AT = datetime(2026, 7, 30, 6, 22, tzinfo=UTC)


def sample_incident(
    incident_id: str = "MPS-2026-000001", revision: int = 1, **overrides: Any
) -> PoliceIncident:
    """A valid police incident with a victim and a suspect; every name and address is invented."""
    data: dict[str, Any] = {
        "schema": "police-incident/1",
        "notification_id": f"ff90fc81-c6c3-e972-1eb8-cb651b5e27{revision:02d}",
        "incident_id": incident_id,
        "force": incident_id.split("-", 1)[0],
        "revision": revision,
        "occurred_at": OCCURRED_AT.isoformat(),
        "reported_at": (OCCURRED_AT + timedelta(hours=3)).isoformat(),
        "location": {"lines": ["Flat 7", "231 West Green Road"], "postcode": "N8 7DW"},
        "dash_risk": "medium",
        "children_present": True,
        "persons": [
            _person("P1", "victim", "Imelda", "Quarrington", "1996-03-14", "9434765919"),
            _person("P2", "suspect", "Barnaby", "Ulverstone", "1991-11-02", None),
        ],
        "summary": "Verbal argument escalated; officers attended. Parties separated.",
    }
    data.update(overrides)
    return PoliceIncident.model_validate_json(json.dumps(data))


def _person(
    ref: str, role: str, given: str, family: str, dob: str, nhs: str | None
) -> dict[str, Any]:
    return {
        "person_ref": ref,
        "role": role,
        "given_name": given,
        "family_name": family,
        "date_of_birth": dob,
        "address": {
            "lines": ["Flat 7", "231 West Green Road"],
            "town": "London",
            "postcode": "N8 7DW",
        },
        "nhs_number": nhs,
    }


_MOTHER = Carer(
    person_ref="H0000257",
    relationship="mother",
    given_name="Imelda",
    family_name="Quarrington",
    date_of_birth=date(1996, 3, 14),
)


def sample_subject(
    subject_ref: str = "C002916a", given_name: str = "Wilhelmina", **overrides: Any
) -> TaskSubject:
    """A register child under 12 months with two carers."""
    fields: dict[str, Any] = {
        "basis": "register",
        "kind": "child",
        "subject_ref": subject_ref,
        "given_name": given_name,
        "family_name": "Quarrington",
        "date_of_birth": date(2026, 2, 11),
        "nhs_number": "4857773456",
        "address": Address(
            lines=["Flat 7", "231 West Green Road"], town="London", postcode="N8 7DW"
        ),
        "carers": [_MOTHER],
    }
    fields.update(overrides)
    return TaskSubject(**fields)


def sample_raise_task(
    incident_id: str = "MPS-2026-000001",
    subject_ref: str = "C002916a",
    revision: int = 1,
    outcome: Outcome = "trigger",
    **overrides: Any,
) -> RaiseTask:
    """A RaiseTask for one subject of one incident revision, with a PD-free title."""
    task_type = "match_review" if outcome == "review" else "child_protection_investigation"
    fields: dict[str, Any] = {
        "idempotency_key": f"{incident_id}:{subject_ref}",
        "task_type": task_type,
        "title": f"{task_type.replace('_', ' ').capitalize()}: incident {incident_id}",
        "priority": "urgent" if outcome == "trigger" else "high",
        "due_by": OCCURRED_AT + timedelta(hours=24),
        "local_authority": "E09000014",
        "incident_id": incident_id,
        "revision": revision,
        "outcome": outcome,
        "score": None if outcome == "trigger" else 0.72,
        "reasons": ["carer_is_party", "incident_at_home"],
        "subject": sample_subject(subject_ref),
        "incident": sample_incident(incident_id, revision),
    }
    fields.update(overrides)
    return RaiseTask(**fields)


def minimal_incident(**overrides: Any) -> dict[str, Any]:
    """The smallest valid `police-incident/1`, as JSON values, with `overrides` applied."""
    return {
        "schema": "police-incident/1",
        "notification_id": "6f1c1a52-4a54-5d35-9d38-0d8e3bb1e7a1",
        "incident_id": "QQP-2026-000001",
        "force": "QQP",
        "revision": 1,
        "occurred_at": "2026-03-29T00:30:00+00:00",
        "reported_at": "2026-03-29T09:05:00+01:00",
        "location": {"lines": ["1 Mill Lane"], "postcode": None},
        "dash_risk": "high",
        "persons": [{"person_ref": "P1", "role": "victim"}],
    } | overrides


def personal_data_in(text: str, cmd: RaiseTask) -> list[str]:
    """Names, dates of birth, NHS numbers, address lines and postcodes of `cmd` found in `text`."""
    haystack = text.casefold()
    return sorted({item for item in _personal_data(cmd) if item.casefold() in haystack})


def _personal_data(cmd: RaiseTask) -> set[str]:
    people: list[Any] = [cmd.subject, *cmd.subject.carers, *cmd.incident.persons]
    items: set[str] = set()
    for person in people:
        for name in ("given_name", "family_name", "nhs_number"):
            value = getattr(person, name, None)
            if value:
                items.add(str(value))
        dob = getattr(person, "date_of_birth", None)
        if dob is not None:
            items.update({dob.isoformat(), dob.strftime("%d/%m/%Y")})
    addresses = [cmd.subject.address, cmd.incident.location]
    addresses += [p.address for p in cmd.incident.persons]
    for address in addresses:
        if address is not None:
            items.update(address.lines)
            if address.postcode:
                items.add(address.postcode)
    if cmd.incident.summary:
        items.add(cmd.incident.summary)
    return items


#: An incident location no register home is at.
ELSEWHERE = {"lines": ["1 Market Square"], "postcode": "ZZ1 1ZZ"}


def victim_incident(**person: Any) -> PoliceIncident:
    """An incident at ELSEWHERE whose only person is the victim P1 with `person`'s fields."""
    return PoliceIncident.model_validate(
        {
            "schema": "police-incident/1",
            "notification_id": "0b6c2f1e-1d2a-4c3b-8e4f-5a6b7c8d9e0f",
            "incident_id": "X-2026-000001",
            "revision": 1,
            "force": "XX",
            "occurred_at": "2026-02-01T12:00:00+00:00",
            "reported_at": "2026-02-01T13:00:00+00:00",
            "location": ELSEWHERE,
            "dash_risk": "standard",
            "persons": [{"person_ref": "P1", "role": "victim", **person}],
        }
    )


def hostile_variants(raw: bytes) -> dict[str, tuple[bytes, str]]:
    """Invalid variants of a valid JSON message, each with the reason class it must get."""
    text = raw.decode()
    return {
        "oversize": (raw[:-1] + b', "pad": "' + b"x" * MAX_MESSAGE_BYTES + b'"}', "oversize"),
        "deep": (b'{"schema": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", "not_json"),
        "utf16": (text.encode("utf-16"), "not_json"),
        "utf16_no_bom": (text.encode("utf-16-le"), "not_json"),
        "utf8_bom": (codecs.BOM_UTF8 + raw, "not_json"),
        "latin1": (raw[:-1] + ', "x": "Zo\u00eb"}'.encode("latin-1"), "not_json"),
        "truncated": (raw[: len(raw) // 2], "not_json"),
        "duplicate_key": (b'{"schema": "x", ' + raw[1:], "not_json"),
        "nan": (raw[:-1] + b', "x": NaN}', "not_json"),
    }
