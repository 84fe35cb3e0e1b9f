"""The page of one task: the task, its subject and carers, and the whole police incident."""

from __future__ import annotations

from datetime import datetime

from connectors.duty_inbox.acts import actions_html, recorded_rows
from connectors.duty_inbox.render import (
    TASK_TYPES,
    address_text,
    basis_text,
    day,
    due_html,
    esc,
    full_name,
    nhs,
    outcome_tag,
    reasons_html,
    revision_html,
    subject_html,
    tag,
    when,
)
from schemas.police import PoliceIncident, PolicePerson
from schemas.task import TaskSubject
from streams.domain.ports.case_system import TaskRecord


def task_page(record: TaskRecord, now: datetime, csrf: str) -> str:
    """The content of the task page; with a CSRF token (a person who may act), its buttons."""
    task = record.task
    return (
        f"<h1>{esc(TASK_TYPES[record.task_type])}: incident {esc(task.incident_id)}</h1>"
        f"<p>{outcome_tag(task)} {tag(record.status, record.status)}</p>"
        f'<div id="actions">{actions_html(record, csrf, now) if csrf else ""}</div>'
        f"<h2>Task</h2>{summary(_task_rows(record, now))}"
        f"<h2>Subject</h2>{summary(_subject_rows(task.subject))}{_carers(task.subject)}"
        f"<h2>Incident {esc(task.incident_id)}</h2>{_incident(task.incident)}"
        '<p><a href="/">Back to the tasks</a></p>'
    )


def summary(rows: list[tuple[str, str]]) -> str:
    """A definition list of (label text, value HTML) pairs."""
    items = "".join(f"<dt>{esc(label)}</dt><dd>{value}</dd>" for label, value in rows)
    return f'<dl class="summary">{items}</dl>'


def _optional(value: object, missing: str = "not known") -> str:
    return f'<span class="muted">{esc(missing)}</span>' if value is None else esc(value)


def _task_rows(record: TaskRecord, now: datetime) -> list[tuple[str, str]]:
    task = record.task
    late = esc(task.late_reason or "yes") if task.late else "no"
    return [
        ("Task type", esc(TASK_TYPES[record.task_type])),
        ("Priority", esc(task.priority)),
        ("Due by", due_html(record, now)),
        ("Revision", revision_html(record)),
        ("Raised", esc(when(record.created_at))),
        ("Revised", _optional(record.revised_at and when(record.revised_at), "not revised")),
        (
            "Acknowledged",
            _optional(record.acknowledged_at and when(record.acknowledged_at), "not yet"),
        ),
        ("Closed", _optional(record.closed_at and when(record.closed_at), "not yet")),
        *recorded_rows(record),
        ("Match score", _optional(None if task.score is None else f"{task.score:.2f}", "none")),
        ("Reasons", reasons_html(task.reasons)),
        ("Changes in this revision", reasons_html(task.changes)),
        ("Raised late", late),
        ("Local authority", _optional(task.local_authority)),
        ("Reference", esc(task.idempotency_key)),
    ]


def _subject_rows(subject: TaskSubject) -> list[tuple[str, str]]:
    return [
        ("Who", subject_html(subject)),
        ("Known from", esc(basis_text(subject))),
        ("Date of birth", _optional(subject.date_of_birth and day(subject.date_of_birth))),
        (
            "Expected delivery",
            _optional(subject.expected_delivery_date and day(subject.expected_delivery_date)),
        ),
        ("NHS number", _optional(subject.nhs_number and nhs(subject.nhs_number))),
        ("Address", esc(address_text(subject.address))),
    ]


def _carers(subject: TaskSubject) -> str:
    if not subject.carers:
        return '<p class="muted">No carers recorded.</p>'
    rows = "".join(
        f"<tr><td>{esc(full_name(c))}</td><td>{esc(c.relationship)}</td>"
        f"<td>{_optional(c.date_of_birth and day(c.date_of_birth))}</td>"
        f"<td>{_optional(c.nhs_number and nhs(c.nhs_number))}</td><td>{esc(c.person_ref)}</td></tr>"
        for c in subject.carers
    )
    head = _head("Carer", "Relationship", "Date of birth", "NHS number", "Reference")
    return f"<table><caption>Carers</caption>{head}{rows}</table>"


def _head(*labels: str) -> str:
    cells = "".join(f'<th scope="col">{esc(label)}</th>' for label in labels)
    return f"<thead><tr>{cells}</tr></thead>"


def _incident(incident: PoliceIncident) -> str:
    children = {True: "yes", False: "no", None: "not recorded"}[incident.children_present]
    rows = [
        ("Force", esc(incident.force)),
        ("Revision", esc(incident.revision)),
        ("Occurred", esc(when(incident.occurred_at))),
        ("Reported", esc(when(incident.reported_at))),
        ("Location", esc(address_text(incident.location))),
        ("DASH risk", esc(incident.dash_risk.replace("_", " "))),
        ("Children present", children),
        ("Notification", esc(incident.notification_id)),
    ]
    narrative = (
        f'<h3>Summary</h3><div class="narrative">{esc(incident.summary)}</div>'
        if incident.summary
        else ""
    )
    return summary(rows) + _persons(incident.persons) + narrative


def _persons(persons: list[PolicePerson]) -> str:
    head = _head("Ref", "Role", "Name", "Date of birth / age", "Address", "Notes")
    rows = "".join(_person_row(person) for person in persons)
    return f"<table><caption>People named in the incident</caption>{head}{rows}</table>"


def _person_row(person: PolicePerson) -> str:
    name = " ".join(p for p in (person.given_name, person.family_name) if p) or "name not known"
    born: str | None
    if person.date_of_birth:
        born = day(person.date_of_birth)
    else:
        born = f"age {person.age_years}" if person.age_years is not None else None
    notes = [f"NHS {nhs(person.nhs_number)}"] if person.nhs_number else []
    notes += [person.gender] if person.gender else []
    notes += ["reported pregnant"] if person.pregnant else []
    cells = [
        esc(person.person_ref),
        esc(person.role.replace("_", " ")),
        esc(name),
        _optional(born),
        esc(address_text(person.address)),
        esc(", ".join(notes)),
    ]
    return "<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"
