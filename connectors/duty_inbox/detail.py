"""The page of one task, in the order a duty worker reads it: what it is for and what is marked
on it, who (the child, the carers, each person in the incident), the incident, the family's
history, the task's own record; the machine's evidence for review last."""

from __future__ import annotations

from datetime import datetime

from connectors.duty_inbox.acts import actions_html, recorded_rows
from connectors.duty_inbox.briefing import (
    age_text,
    incident_day,
    notices_html,
    people_html,
    purpose_html,
    today,
)
from connectors.duty_inbox.history import Related
from connectors.duty_inbox.history_view import history_html
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
    priority_tag,
    reasons_html,
    revision_html,
    subject_html,
    tag,
    when,
)
from schemas.police import PoliceIncident
from schemas.task import DUTY_QUEUE, RaiseTask
from streams.domain.ports.case_system import TaskRecord


def task_page(record: TaskRecord, now: datetime, csrf: str, related: list[Related]) -> str:
    """The content of the task page; with a CSRF token (a person who may act), its buttons.

    `related`: the task's history (`TaskStore.history`).
    """
    task = record.task
    return (
        f"<h1>{esc(TASK_TYPES[record.task_type])}: incident {esc(task.incident_id)}</h1>"
        f"<p>{outcome_tag(task)} {priority_tag(task)} {tag(record.status, record.status)}</p>"
        f"{purpose_html(record)}{notices_html(task)}"
        f'<div id="actions">{actions_html(record, csrf, now) if csrf else ""}</div>'
        f'<h2 id="who">Who</h2>{summary(_subject_rows(task, now))}{_carers(task)}'
        f"{people_html(task)}"
        f"<h2>Incident {esc(task.incident_id)}</h2>{_incident(task.incident)}"
        f"{history_html(related)}"
        f"<h2>Task</h2>{summary(_task_rows(record, now))}"
        f'<h2 id="evidence">Evidence (for review)</h2>{summary(_evidence_rows(task))}'
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
        ("Queue", esc(_queue(task))),
        (
            "Needs confirmation",
            esc(task.confirmation_reason or "yes") if task.needs_confirmation else "no",
        ),
        ("Changes in this revision", reasons_html(task.changes)),
        ("Raised late", late),
        ("Local authority", _optional(task.local_authority)),
        ("Reference", esc(task.idempotency_key)),
    ]


def _queue(task: RaiseTask) -> str:
    return "duty team" if task.queue == DUTY_QUEUE else f"emergency duty team ({task.queue})"


def _evidence_rows(task: RaiseTask) -> list[tuple[str, str]]:
    """The machine's evidence: the match score and reasons, and each person's match score."""
    scores = [f"{p.person_ref}: {p.score:.2f}" for p in task.people if p.score is not None]
    return [
        ("Match score", _optional(None if task.score is None else f"{task.score:.2f}", "none")),
        ("Reasons", reasons_html(task.reasons)),
        ("People's match scores", reasons_html(scores)),
    ]


def _subject_rows(task: RaiseTask, now: datetime) -> list[tuple[str, str]]:
    subject = task.subject
    label = "Weeks of pregnancy" if subject.kind == "unborn" else "Age"
    due = subject.expected_delivery_date
    return [
        ("Child" if subject.kind == "child" else "Unborn child", subject_html(subject)),
        ("Known from", esc(basis_text(subject))),
        (
            ("Expected delivery", _optional(due and day(due)))
            if subject.kind == "unborn"
            else ("Date of birth", _optional(subject.date_of_birth and day(subject.date_of_birth)))
        ),
        (label, esc(age_text(subject, incident_day(task), today(now)))),
        ("NHS number", _optional(subject.nhs_number and nhs(subject.nhs_number))),
        ("Address", esc(address_text(subject.address))),
    ]


def _carers(task: RaiseTask) -> str:
    subject = task.subject
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
        ("Reference", esc(incident.incident_id)),
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
    return summary(rows) + narrative
