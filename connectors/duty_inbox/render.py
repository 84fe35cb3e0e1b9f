"""HTML building blocks for the duty inbox pages; every value passes through `esc` exactly once.

This is the inside of the council's system: names, dates of birth and NHS numbers the duty
worker needs are shown here, escaped, and nowhere else.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, date, datetime
from functools import cache
from html import escape
from importlib.resources import files
from string import Template
from zoneinfo import ZoneInfo

from schemas.register import Carer
from schemas.shared import Address
from schemas.task import DUTY_QUEUE, RaiseTask, TaskSubject
from streams.domain.ports.case_system import TaskRecord

LONDON = ZoneInfo("Europe/London")

TASK_TYPES = {
    "child_protection_investigation": "Child protection investigation",
    "match_review": "Match review",
}
#: What a task asks for, on its tag: the colour of urgency is its priority's (`priority_tag`).
OUTCOMES = {"trigger": "Investigation", "review": "Match review", "withdrawn": "Withdrawn"}


def esc(value: object) -> str:
    """Text as HTML: the only way a value reaches a page."""
    return escape(str(value), quote=True)


@cache
def _layout() -> Template:
    text = files("connectors.duty_inbox").joinpath("templates/layout.html").read_text("utf-8")
    return Template(text)


def page(title: str, content: str, now: datetime, account: str = "") -> str:
    """A whole page: `title` is text, `content` and `account` are HTML built by this module."""
    return _layout().substitute(
        title=esc(title), content=content, now=esc(when(now)), account=account
    )


def style_hash() -> str:
    """The CSP source of the layout's one inline style block: 'sha256-…'."""
    text = _layout().template
    css = text.split("<style>", 1)[1].split("</style>", 1)[0]
    return "'sha256-" + base64.b64encode(hashlib.sha256(css.encode()).digest()).decode() + "'"


def hidden_csrf(csrf: str) -> str:
    """The hidden CSRF field every form of a signed-in page carries."""
    return f'<input type="hidden" name="csrf" value="{esc(csrf)}">'


def account_html(username: str, csrf: str) -> str:
    """Who is signed in, and the sign-out button."""
    return (
        f'<span class="account">Signed in as {esc(username)}'
        f'<form class="inline" method="post" action="/sign-out">{hidden_csrf(csrf)}'
        '<button type="submit" class="secondary">Sign out</button></form></span>'
    )


def aware(moment: datetime) -> datetime:
    """A naive time is taken as UTC (RaiseTask.due_by does not insist on a zone)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def when(moment: datetime) -> str:
    """A time as the duty team in England reads it, e.g. 'Fri 31 Jul 2026, 07:22'."""
    return aware(moment).astimezone(LONDON).strftime("%a %d %b %Y, %H:%M")


def day(value: date) -> str:
    """A date as '14 Mar 1996'."""
    return value.strftime("%d %b %Y")


def is_overdue(record: TaskRecord, now: datetime) -> bool:
    """Past its due time and not closed."""
    return record.status != "closed" and aware(record.task.due_by) < aware(now)


def tag(text: str, kind: str) -> str:
    """A small coloured label; the colour is never the only signal, the text says it."""
    return f'<span class="tag {esc(kind)}">{esc(text)}</span>'


def priority_tag(task: RaiseTask) -> str:
    """Urgent / High / Normal, by the incident's DASH risk."""
    return tag(task.priority.capitalize(), f"priority-{task.priority}")


def outcome_tag(task: RaiseTask) -> str:
    """Urgent / Review / Withdrawn."""
    return tag(OUTCOMES[task.outcome], task.outcome)


def flags_html(task: RaiseTask) -> str:
    """The list line's marks, in words: needs confirmation, emergency duty team, raised late."""
    marks = []
    if task.needs_confirmation:
        marks.append(tag("needs confirmation", "confirm"))
    if task.queue != DUTY_QUEUE:
        marks.append(tag(f"emergency duty team ({task.queue})", "edt"))
    if task.late:
        marks.append(tag("raised late", "late"))
    return f'<br><span class="flags">{" ".join(marks)}</span>' if marks else ""


def revision_html(record: TaskRecord) -> str:
    """'Revision 2' with an 'updated' label when a later revision changed the task."""
    text = f"Revision {esc(record.revision)}"
    if record.revision > record.created_revision:
        text += " " + tag("updated", "updated")
    return text


def due_html(record: TaskRecord, now: datetime) -> str:
    """The due time, marked in words and colour when overdue."""
    due = esc(when(record.task.due_by))
    if is_overdue(record, now):
        return f'<span class="overdue-time">{due}</span> {tag("overdue", "overdue")}'
    return due


def full_name(person: TaskSubject | Carer) -> str:
    """Given and family name, or 'name not known'."""
    name = " ".join(part for part in (person.given_name, person.family_name) if part)
    return name or "name not known"


def child_name(subject: TaskSubject) -> str:
    """The child's name, or 'Baby of <carer> (<relationship>)', or 'name not known'."""
    if subject.given_name or subject.family_name or not subject.carers:
        return full_name(subject)
    carer = subject.carers[0]
    return f"Baby of {full_name(carer)} ({carer.relationship.replace('_', ' ')})"


def nhs(number: str) -> str:
    """An NHS number in its usual 3-3-4 groups."""
    return f"{number[:3]} {number[3:6]} {number[6:]}" if len(number) == 10 else number


def address_text(address: Address | None) -> str:
    """An address on one line."""
    if address is None:
        return "not known"
    parts = [*address.lines, address.town, address.postcode]
    return ", ".join(part for part in parts if part)


def subject_html(subject: TaskSubject) -> str:
    """Who the task is about: name, kind, date of birth or expected delivery, NHS number."""
    if subject.kind == "unborn":
        kind, born = "Unborn child", subject.expected_delivery_date
        born_text = f"due {esc(day(born))}" if born else "due date not known"
    else:
        kind, born = "Child", subject.date_of_birth
        born_text = f"born {esc(day(born))}" if born else "date of birth not known"
    lines = [f"<strong>{esc(child_name(subject))}</strong>", f"{kind}, {born_text}"]
    if subject.nhs_number:
        lines.append(f"NHS {esc(nhs(subject.nhs_number))}")
    if subject.carers:
        carers = "; ".join(f"{esc(full_name(c))} ({esc(c.relationship)})" for c in subject.carers)
        lines.append(f'<span class="muted">Carers: {carers}</span>')
    lines.append(f'<span class="muted">{esc(basis_text(subject))}</span>')
    return "<br>".join(lines)


def basis_text(subject: TaskSubject) -> str:
    """Where the subject is known from: 'Register C002916a' or 'Police report P3'."""
    if subject.basis == "register":
        return f"Register {subject.subject_ref or ''}".strip()
    return f"Police report {subject.person_ref or ''}".strip()


def reasons_html(reasons: list[str]) -> str:
    """Reason codes as a list a person reads."""
    if not reasons:
        return '<span class="muted">none given</span>'
    items = "".join(f"<li>{esc(reason.replace('_', ' '))}</li>" for reason in reasons)
    return f'<ul class="plain">{items}</ul>'
