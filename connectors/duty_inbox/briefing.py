"""The top of a task's page, what a duty worker reads first: what the task is for, what the stream
has marked on it, how old the child is, and who each person in the incident is to the child.

Ages are counted on the incident day and today, as the duty team in England counts days. A
child's age is in whole weeks from its date of birth; a pregnancy's weeks are counted from the
expected date of delivery, which is week 40 (so the EDD less 280 days is week 0).
"""

from __future__ import annotations

from datetime import date, datetime

from connectors.duty_inbox.render import LONDON, address_text, aware, day, esc, nhs
from schemas.police import PolicePerson
from schemas.task import DUTY_QUEUE, RaiseTask, TaskPerson, TaskSubject
from streams.domain.ports.case_system import TaskRecord

INVESTIGATION = (
    "There has been a domestic abuse incident in a family with a child under 12 months or an"
    " unborn child. Local protocol requires a strategy discussion and a decision on a section 47"
    " enquiry."
)
REVIEW = (
    "A domestic abuse incident may involve a family with a child under 12 months or an unborn"
    " child, but the match is not certain. Decide whether this is the family: “Same family” makes"
    " this task a child protection investigation; “Not this family” closes it. The people below"
    " say how each one matches; the evidence is at the foot of the page."
)
WITHDRAWN = " The police have since withdrawn this incident: record what was decided to close it."
#: Days from week 0 of a pregnancy to its expected date of delivery (40 weeks).
TERM_DAYS = 280


def purpose_html(record: TaskRecord) -> str:
    """What the task asks of the duty worker, in plain words, by the type it is now."""
    words = INVESTIGATION if record.task_type == "child_protection_investigation" else REVIEW
    if record.task.outcome == "withdrawn":
        words += WITHDRAWN
    return f'<p class="purpose" id="purpose">{esc(words)}</p>'


def notices_html(task: RaiseTask) -> str:
    """What the stream marked on the task, each in words: confirmation, queue, late, changes."""
    notices = []
    if task.needs_confirmation:
        reason = (task.confirmation_reason or "").strip().rstrip(".")
        learned = f": {reason}" if reason else ""
        text = f"The register has learned more since this task was raised{learned}."
        notices.append(
            '<div class="notice confirm" id="needs-confirmation" role="alert">'
            f"<strong>Needs confirmation.</strong> {esc(text)} Confirm or close it.</div>"
        )
    if task.queue != DUTY_QUEUE:
        notices.append(
            '<div class="notice" id="queue"><strong>Emergency duty team.</strong> This task is'
            f" in the emergency duty team's queue ({esc(task.queue)}), not the duty team's.</div>"
        )
    if task.late:
        why = task.late_reason or "it was raised after the time it was due to be raised"
        notices.append(
            f'<div class="notice" id="late"><strong>Raised late:</strong> {esc(why)}</div>'
        )
    if task.changes:
        items = "".join(f"<li>{esc(change)}</li>" for change in task.changes)
        notices.append(
            '<div class="notice" id="changes"><strong>What changed since it was raised</strong>'
            f'<ul class="plain">{items}</ul></div>'
        )
    return "".join(notices)


def incident_day(task: RaiseTask) -> date:
    """The day of the incident, in England."""
    return aware(task.incident.occurred_at).astimezone(LONDON).date()


def age_text(subject: TaskSubject, on_incident_day: date, today: date) -> str:
    """'24 weeks old on the incident day; 25 weeks today', or a pregnancy's weeks the same way."""
    if subject.kind == "unborn":
        due = subject.expected_delivery_date
        if due is None:
            return "weeks of pregnancy not known (no expected date of delivery)"
        then, now = _pregnancy(due, on_incident_day), _pregnancy(due, today)
        return f"{then} on the incident day; {now} today"
    born = subject.date_of_birth
    if born is None:
        return "age not known (no date of birth)"
    return f"{_age(born, on_incident_day)} on the incident day; {_age(born, today)} today"


def _age(born: date, on: date) -> str:
    days = (on - born).days
    return "not yet born" if days < 0 else f"{_weeks(days)} old"


def _pregnancy(due: date, on: date) -> str:
    days = TERM_DAYS - (due - on).days
    if days < 0:
        return "not yet pregnant by the expected date of delivery"
    past = " (past the expected date of delivery)" if on > due else ""
    return f"{_weeks(days)} pregnant{past}"


def _weeks(days: int) -> str:
    """'24 weeks', '1 week and 3 days'."""
    weeks, rest = divmod(days, 7)
    text = f"{weeks} week{'' if weeks == 1 else 's'}"
    return text + (f" and {rest} day{'' if rest == 1 else 's'}" if rest else "")


def today(now: datetime) -> date:
    """Today, in England."""
    return aware(now).astimezone(LONDON).date()


def people_html(task: RaiseTask) -> str:
    """Each person in the incident: role, name, date of birth, who they are to the child, how."""
    known = {person.person_ref: person for person in task.people}
    head = "".join(
        f'<th scope="col">{esc(label)}</th>'
        for label in (
            "Person",
            "Role",
            "Date of birth / age",
            "Who they are to the child",
            "How they match",
            "Address",
            "Notes",
        )
    )
    rows = "".join(_person_row(p, known.get(p.person_ref)) for p in task.incident.persons)
    return (
        '<table id="people"><caption>People in the incident</caption>'
        f"<thead><tr>{head}</tr></thead>{rows}</table>"
    )


def _person_row(person: PolicePerson, link: TaskPerson | None) -> str:
    name = " ".join(p for p in (person.given_name, person.family_name) if p) or "name not known"
    if person.date_of_birth:
        born = esc(day(person.date_of_birth))
    elif person.age_years is not None:
        born = esc(f"age {person.age_years}")
    else:
        born = '<span class="muted">not known</span>'
    if link is None:
        who = how = '<span class="muted">not worked out when this task was raised</span>'
    else:
        who = (
            esc(link.known_as)
            if link.known_as
            else '<span class="muted">not known to be family</span>'
        )
        how = esc(link.how)
    notes = [f"NHS {nhs(person.nhs_number)}"] if person.nhs_number else []
    notes += [person.gender] if person.gender else []
    notes += ["reported pregnant"] if person.pregnant else []
    cells = [
        f'{esc(name)}<br><span class="muted">{esc(person.person_ref)}</span>',
        esc(person.role.replace("_", " ")),
        born,
        who,
        how,
        esc(address_text(person.address)),
        esc(", ".join(notes)),
    ]
    return "<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"
