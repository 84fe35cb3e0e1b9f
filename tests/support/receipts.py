"""Receipts of sample notifications, one builder a stage, for the reconciliation tests."""

from __future__ import annotations

from datetime import datetime, timedelta

from schemas.decision import Decision, DecisionValue
from schemas.police import PoliceIncident
from schemas.receipt import Channel, Receipt
from schemas.task import RaiseTask
from streams.domain import receipts
from streams.domain.parsing import Rejected
from tests.support.samples import Outcome, sample_incident, sample_raise_task

MINUTE = timedelta(minutes=1)
#: The council every sample task is raised in.
COUNCIL = "E09000014"


def notification(incident_id: str, revision: int = 1) -> PoliceIncident:
    """One revision of an incident, with a notification id of its own."""
    number = int(incident_id.rsplit("-", 1)[1])
    uuid = f"ff90fc81-c6c3-e972-1eb8-{number:010d}{revision:02d}"
    return sample_incident(incident_id, revision, notification_id=uuid)


def arrived(
    incident_id: str, at: datetime, revision: int = 1, channel: Channel = "kafka"
) -> Receipt:
    """A `received` receipt of one revision."""
    return receipts.received(notification(incident_id, revision), at, channel, b"{}")


def judged(incident_id: str, decision: DecisionValue, at: datetime, revision: int = 1) -> Receipt:
    """A `decided` receipt of one revision."""
    value = Decision(
        incident_id=incident_id, revision=revision, decision=decision, subjects=[], how="-"
    )
    return receipts.decided(notification(incident_id, revision), value, at)


def command(incident_id: str, outcome: Outcome = "trigger", revision: int = 1) -> RaiseTask:
    """The task of a revision: an investigation for a trigger, a match review for a review."""
    return sample_raise_task(incident_id, revision=revision, outcome=outcome)


def raised(
    incident_id: str, at: datetime, outcome: Outcome = "trigger", revision: int = 1
) -> Receipt:
    """A `task_raised` receipt."""
    task = command(incident_id, outcome, revision)
    return receipts.task_raised(task, f"T-{incident_id}", COUNCIL, at)


def acknowledged(incident_id: str, at: datetime) -> Receipt:
    """A `task_acknowledged` receipt of an investigation task."""
    watched = receipts.WatchedTask.of(command(incident_id), f"T-{incident_id}", COUNCIL, at)
    return receipts.task_acknowledged(watched, "acknowledged", at)


def refused(raw: bytes, at: datetime, force: str | None = None) -> Receipt:
    """A `rejected` receipt of a message that is not valid."""
    return receipts.rejected(raw, Rejected("not_json", "not JSON"), at, "kafka", force)


def whole(incident_id: str, decision: DecisionValue, at: datetime) -> list[Receipt]:
    """Every receipt of a revision that went all the way."""
    found = [arrived(incident_id, at), judged(incident_id, decision, at + MINUTE)]
    if decision == "trigger":
        found += [raised(incident_id, at + 2 * MINUTE), acknowledged(incident_id, at + 9 * MINUTE)]
    elif decision == "review":
        found.append(raised(incident_id, at + 2 * MINUTE, outcome="review"))
    return found
