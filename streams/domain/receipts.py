"""Receipts for the police: one `receipt/1` per stage of a notification, built from references.

The flows and the doors (ingress, file drop) call these; each returns a `Receipt` whose
`receipt_id` depends only on what it says, so a redelivered stage repeats the same id.
Nothing here reads a name, a date of birth, an address or a narrative: a rejection's
references are echoed only when they look like references (`_reference`).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from schemas.decision import Decision
from schemas.police import PoliceIncident
from schemas.receipt import MAX_ERRORS, Channel, Receipt, receipt_id_of
from schemas.task import RaiseTask, TaskType
from streams.domain.parsing import Rejected

#: What a force's code looks like (the contract's pattern).
_FORCE = re.compile(r"[A-Z]{2,5}")
#: What a reference echoed from a rejected message must look like: a short identifier. Any
#: other text (a name typed in the wrong field) is not repeated; the digest still finds it.
_REFERENCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9/_.:#-]{0,63}")


def digest(raw: bytes | None) -> str:
    """SHA-256 of the bytes as received, in hex."""
    return hashlib.sha256(raw or b"").hexdigest()


def received(incident: PoliceIncident, at: datetime, channel: Channel, raw: bytes) -> Receipt:
    """A valid notification was taken in."""
    return Receipt(
        receipt_id=receipt_id_of("received", incident.force, incident.notification_id),
        stage="received",
        at=at,
        force=incident.force,
        incident_id=incident.incident_id,
        notification_id=incident.notification_id,
        revision=incident.revision,
        channel=channel,
        message_sha256=digest(raw),
    )


def rejected(
    raw: bytes | None, refusal: Rejected, at: datetime, channel: Channel, force: str | None = None
) -> Receipt:
    """An invalid notification went to the dead-letter topic; `force` is who sent it when the
    door knows (the ingress's authenticated force), else what the message says, if readable."""
    refs = references(raw)
    errors = [e for e in refusal.detail.split("; ") if e]
    sha = digest(raw)
    return Receipt(
        receipt_id=receipt_id_of("rejected", sha, refusal.reason_class),
        stage="rejected",
        at=at,
        force=force or refs.get("force"),
        incident_id=refs.get("incident_id"),
        notification_id=refs.get("notification_id"),
        revision=refs.get("revision"),
        channel=channel,
        message_sha256=sha,
        reason_class=refusal.reason_class,
        errors=errors[:MAX_ERRORS],
        error_count=len(errors),
    )


def decided(incident: PoliceIncident, decision: Decision, at: datetime) -> Receipt:
    """The rule was applied to one revision: the decision, and nothing of why."""
    return Receipt(
        receipt_id=receipt_id_of(
            "decided", incident.force, incident.incident_id, incident.revision, decision.decision
        ),
        stage="decided",
        at=at,
        force=incident.force,
        incident_id=incident.incident_id,
        notification_id=incident.notification_id,
        revision=incident.revision,
        decision=decision.decision,
    )


def task_raised(command: RaiseTask, task_ref: str, council: str, at: datetime) -> Receipt:
    """A task is in the council's case system (created, updated, or already there)."""
    incident = command.incident
    return Receipt(
        receipt_id=receipt_id_of(
            "task_raised", command.idempotency_key, command.revision, command.amendment, task_ref
        ),
        stage="task_raised",
        at=at,
        force=incident.force,
        incident_id=incident.incident_id,
        notification_id=incident.notification_id,
        revision=command.revision,
        amendment=command.amendment,
        task_ref=task_ref,
        task_type=command.task_type,
        council=council,
        task_key=command.idempotency_key,
    )


def task_acknowledged(
    watched: WatchedTask, status: str, at: datetime, task_type: TaskType | None = None
) -> Receipt:
    """The council's duty team acknowledged (or closed) a task dvtrigger raised."""
    return Receipt(
        receipt_id=receipt_id_of(
            "task_acknowledged",
            watched.task_key,
            watched.task_ref,
            watched.revision,
            watched.amendment,
        ),
        stage="task_acknowledged",
        at=at,
        force=watched.force,
        incident_id=watched.incident_id,
        revision=watched.revision,
        amendment=watched.amendment,
        task_ref=watched.task_ref,
        task_type=task_type or watched.task_type,
        council=watched.council,
        task_key=watched.task_key,
        task_status=status,
    )


def references(raw: bytes | None) -> dict[str, Any]:
    """The force, incident, notification and revision of a message that may not be valid:
    each only when it is there and looks like one."""
    try:
        doc = json.loads(raw or b"")
    except (ValueError, RecursionError):
        return {}
    if not isinstance(doc, dict):
        return {}
    found: dict[str, Any] = {}
    force = doc.get("force")
    if isinstance(force, str) and _FORCE.fullmatch(force):
        found["force"] = force
    for name in ("incident_id", "notification_id"):
        value = doc.get(name)
        if isinstance(value, str) and _REFERENCE.fullmatch(value):
            found[name] = value
    revision = doc.get("revision")
    if type(revision) is int and 1 <= revision <= 2**53 - 1:
        found["revision"] = revision
    return found


@dataclass(frozen=True)
class WatchedTask:
    """A raised task waiting to be acknowledged: its references, as the watch keeps them."""

    task_key: str
    task_ref: str
    council: str
    force: str
    incident_id: str
    revision: int
    task_type: TaskType
    raised_at: str
    amendment: int = 0

    @classmethod
    def of(cls, command: RaiseTask, task_ref: str, council: str, at: datetime) -> WatchedTask:
        """The watch of a task just raised."""
        incident = command.incident
        return cls(
            command.idempotency_key,
            task_ref,
            council,
            incident.force,
            incident.incident_id,
            command.revision,
            command.task_type,
            at.isoformat(),
            command.amendment,
        )

    @classmethod
    def of_receipt(cls, receipt: Receipt) -> WatchedTask:
        """The watch a `task_raised` receipt opens."""
        assert receipt.stage == "task_raised"
        missing = None in (receipt.task_key, receipt.task_ref, receipt.council, receipt.force)
        if missing or receipt.incident_id is None or receipt.task_type is None:
            raise ValueError("a task_raised receipt without its references")
        return cls(
            str(receipt.task_key),
            str(receipt.task_ref),
            str(receipt.council),
            str(receipt.force),
            receipt.incident_id,
            receipt.revision or 1,
            receipt.task_type,
            receipt.at.isoformat(),
            receipt.amendment or 0,
        )

    @property
    def version(self) -> tuple[int, int]:
        """The task's version the watch is of: (revision, amendment)."""
        return self.revision, self.amendment
