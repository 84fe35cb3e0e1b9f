"""From a decision to the case-system tasks it raises; pure.

One task per (incident, subject): the idempotency key is built from those two
only, so a redelivered message, a re-sent notification and a later revision
all land on the same task. A later revision that no longer names a subject
sends a `withdrawn` update rather than leaving a stale task open. A subject a
re-decision names only because the register learned of it late gets a task
marked `late`, with why (`late_commands`); a re-decision never withdraws: a task
the register has since put out of scope is marked for a person to confirm or close
(`confirmation_command`). A child born of a pregnancy keeps the pregnancy's task
(`rekeyed`, `streams.domain.births`), which then shows the child (`showing`); so
does a register subject that is a police-report task's baby.

A task's due time and queue are counted from when dvtrigger raises it (the
caller's `now`), in the duty team's office calendar; its priority follows the
incident's DASH risk (`streams.domain.task_policy`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

from schemas.decision import Decision, DecisionSubject
from schemas.police import PoliceIncident, PolicePerson
from schemas.register import Carer
from schemas.shared import Address
from schemas.task import RaiseTask, TaskSubject, TaskType
from streams.domain.register.index import RegisterView
from streams.domain.register.records import CarerRecord, Place, SubjectRecord
from streams.domain.rules import incident_day
from streams.domain.task_policy import DEFAULT_POLICY, TaskPolicy, priority, route

TITLES = {
    "child_protection_investigation": "Child protection investigation",
    "match_review": "Match review",
}


@dataclass(frozen=True, slots=True)
class Raised:
    """When dvtrigger raises a decision's tasks, and the policy that routes them."""

    at: datetime
    policy: TaskPolicy


def subject_key(subject: DecisionSubject) -> str:
    """The subject part of a task's identity: its register ref, or the police person ref."""
    if subject.basis == "register":
        return f"subject:{subject.subject_ref}"
    return f"person:{subject.person_ref}"


def idempotency_key(incident_id: str, key: str) -> str:
    """The one identity of a task: incident and subject, never the revision."""
    return f"{incident_id}/{key}"


def task_commands(
    decision: Decision,
    incident: PoliceIncident,
    register: RegisterView,
    previous: Mapping[str, str],
    now: datetime,
    policy: TaskPolicy = DEFAULT_POLICY,
) -> list[RaiseTask]:
    """The commands for one decision taken at `now`; `previous` maps subject keys to earlier
    outcomes."""
    named = {subject_key(s): s for s in decision.subjects if s.outcome is not None}
    raised = Raised(now, policy)
    commands = [
        _command(incident, s, register, raised, _changes(previous.get(key), s, incident))
        for key, s in named.items()
    ]
    for key, outcome in previous.items():
        if key not in named and outcome in ("trigger", "review"):
            commands.append(_withdrawn(incident, key, outcome, register, raised))
    return commands


def late_commands(
    decision: Decision,
    incident: PoliceIncident,
    register: RegisterView,
    late: Mapping[str, str],
    now: datetime,
    policy: TaskPolicy = DEFAULT_POLICY,
    upgraded: Mapping[str, str] | None = None,
    amendment: int = 0,
) -> list[RaiseTask]:
    """The commands of a re-decision: one per subject in `late` (subject key to why it is late)
    and one per subject in `upgraded` (a review task that now triggers: its update).

    Only these subjects, and no withdrawals. Like every task, a late one is due
    counted from `now`, when the register made it known, not from the report
    weeks ago. An upgrade carries `amendment`, so the case system takes it on the
    same revision.
    """
    upgraded, raised = upgraded or {}, Raised(now, policy)
    commands = [
        _command(incident, s, register, raised, [], late_reason=late[key])
        for s in decision.subjects
        if s.outcome is not None and (key := subject_key(s)) in late
    ]
    for s in decision.subjects:
        why = upgraded.get(subject_key(s))
        if s.outcome is not None and why is not None:
            command = _command(incident, s, register, raised, [why], late_reason=why)
            commands.append(command.model_copy(update={"amendment": amendment}))
    return commands


def _changes(before: str | None, subject: DecisionSubject, incident: PoliceIncident) -> list[str]:
    """What a later revision changed for this subject, in words a duty worker reads."""
    if incident.revision == 1 or before is None:
        return [] if incident.revision == 1 else [f"first named in revision {incident.revision}"]
    if before == subject.outcome:
        return [f"revision {incident.revision} received; outcome still {subject.outcome}"]
    return [f"revision {incident.revision}: outcome changed from {before} to {subject.outcome}"]


def _command(
    incident: PoliceIncident,
    subject: DecisionSubject,
    register: RegisterView,
    raised: Raised,
    changes: list[str],
    late_reason: str | None = None,
) -> RaiseTask:
    """The command for one named subject; late when `late_reason` says why it comes late."""
    key = subject_key(subject)
    trigger = subject.outcome == "trigger"
    task_type: TaskType = "child_protection_investigation" if trigger else "match_review"
    routing = route(raised.policy, trigger, raised.at)
    return RaiseTask(
        idempotency_key=idempotency_key(incident.incident_id, key),
        task_type=task_type,
        title=f"{TITLES[task_type]}: incident {incident.incident_id}, {key}",
        priority=priority(incident),
        due_by=routing.due_by,
        queue=routing.queue,
        local_authority=_local_authority(subject, register),
        incident_id=incident.incident_id,
        revision=incident.revision,
        outcome="trigger" if trigger else "review",
        score=subject.score,
        reasons=list(subject.reasons),
        late=late_reason is not None,
        late_reason=late_reason,
        changes=changes,
        subject=_task_subject(subject, incident, register),
        incident=incident,
    )


def _withdrawn(
    incident: PoliceIncident, key: str, before: str, register: RegisterView, raised: Raised
) -> RaiseTask:
    """The update that tells the duty team a revision no longer names a subject."""
    basis, _, ref = key.partition(":")
    record = register.get(ref) if basis == "subject" else None
    subject = DecisionSubject(
        basis="register" if basis == "subject" else "police_report",
        kind=record.kind if record else "child",
        subject_ref=ref if basis == "subject" else None,
        person_ref=ref if basis == "person" else None,
        outcome="trigger" if before == "trigger" else "review",
    )
    command = _command(incident, subject, register, raised, [])
    reason = f"revision {incident.revision} no longer names this subject (was {before})"
    return command.model_copy(
        update={"outcome": "withdrawn", "reasons": [reason], "changes": [reason], "score": None}
    )


def rekeyed(command: RaiseTask, key: str, changes: list[str]) -> RaiseTask:
    """A command moved onto the task of subject key `key` of its incident, saying `changes` more.

    A child born of a pregnancy lands on the pregnancy's task (`streams.domain.births`).
    """
    title = f"{TITLES[command.task_type]}: incident {command.incident_id}, {key}"
    new = [change for change in changes if change not in command.changes]
    return command.model_copy(
        update={
            "idempotency_key": idempotency_key(command.incident_id, key),
            "title": title,
            "changes": [*command.changes, *new],
        }
    )


def showing(command: RaiseTask, record: SubjectRecord, changes: list[str]) -> RaiseTask:
    """A command showing the register's `record` (a child carried on the task), saying
    `changes` more; its key, title, type and outcome are the task's."""
    new = [change for change in changes if change not in command.changes]
    subject = _from_record(record, incident_day(command.incident))
    return command.model_copy(update={"subject": subject, "changes": [*command.changes, *new]})


def confirmation_command(
    incident: PoliceIncident,
    face: DecisionSubject,
    register: RegisterView,
    policy: TaskPolicy,
    words: str,
    now: datetime,
) -> RaiseTask:
    """The update of a task the register now puts out of scope or unmatches: as raised (`face`
    carries its outcome), saying why, marked for a person to confirm or close; never withdrawn.
    """
    raised = Raised(now, policy)
    command = _command(incident, face, register, raised, [words], late_reason=words)
    return command.model_copy(
        update={
            "reasons": [f"raised as {face.outcome}; the register has learned more since", words],
            "score": None,
            "needs_confirmation": True,
            "confirmation_reason": words,
        }
    )


def _local_authority(subject: DecisionSubject, register: RegisterView) -> str | None:
    """The council whose register holds the subject (police-report subjects have none)."""
    explicit = getattr(subject, "local_authority", None)
    if explicit:
        return str(explicit)
    record = register.get(subject.subject_ref) if subject.subject_ref else None
    return record.local_authority if record else None


def _task_subject(
    subject: DecisionSubject, incident: PoliceIncident, register: RegisterView
) -> TaskSubject:
    """What the duty team needs to find the child: from the register, or the police report."""
    if subject.basis == "register" and subject.subject_ref:
        record = register.get(subject.subject_ref)
        if record is not None:
            return _from_record(record, incident_day(incident))
    person = next((p for p in incident.persons if p.person_ref == subject.person_ref), None)
    return _from_person(subject, person)


def _from_record(record: SubjectRecord, day: date) -> TaskSubject:
    """A task subject from the register's record, with its address on the incident day."""
    return TaskSubject(
        basis="register",
        kind=record.kind,
        subject_ref=record.subject_ref,
        given_name=record.given_name,
        family_name=record.family_name,
        date_of_birth=record.date_of_birth,
        expected_delivery_date=record.expected_delivery_date,
        nhs_number=record.nhs_number,
        address=_contract_address(record.address_on(day)),
        carers=[_carer(c) for c in record.carers],
    )


def _from_person(subject: DecisionSubject, person: PolicePerson | None) -> TaskSubject:
    """A task subject known only from the police report."""
    if person is None:
        return TaskSubject(basis=subject.basis, kind=subject.kind, person_ref=subject.person_ref)
    return TaskSubject(
        basis="police_report",
        kind=subject.kind,
        person_ref=person.person_ref,
        given_name=person.given_name,
        family_name=person.family_name,
        date_of_birth=person.date_of_birth,
        nhs_number=person.nhs_number,
        address=person.address,
    )


def _carer(carer: CarerRecord) -> Carer:
    """A carer as the register last wrote them."""
    return Carer.model_validate(
        {
            "person_ref": carer.person_ref,
            "relationship": carer.relationship,
            "given_name": carer.given_names[-1] if carer.given_names else None,
            "family_name": carer.family_names[-1] if carer.family_names else None,
            "date_of_birth": carer.dates_of_birth[-1].isoformat() if carer.dates_of_birth else None,
            "nhs_number": carer.nhs_numbers[-1] if carer.nhs_numbers else None,
        },
        strict=False,
    )


def _contract_address(place: Place | None) -> Address | None:
    """A register address as the task contract writes it."""
    return place.to_address() if place is not None else None
