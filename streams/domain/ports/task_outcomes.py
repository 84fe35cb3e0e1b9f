"""The one rule for what a person records on a task: a review's result, or what closes it.

A worker acknowledges a task, then records what came of it. An investigation (a trigger, or a
review found to be the same family) is closed by "strategy discussion held", with the date it
was held (not in the future), or by "no further action", with a reason: closing an automated
trigger without a strategy discussion is a person overriding the machine, so the reason is
mandatory and kept. A review is resolved as "same family" (it becomes an investigation and stays
in hand) or "not this family" (closed), each with the reviewer's reason. Every act keeps who
recorded it and when. Machine paths never come here: only a signed-in person's request does.

The rule is pure: the time is passed in, and the caller stores the record it returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal
from zoneinfo import ZoneInfo

from streams.domain.ports.case_system import TaskRecord

OutcomeName = Literal[
    "strategy_discussion_held", "no_further_action", "same_family", "not_this_family"
]
REVIEW_RESULTS = frozenset({"same_family", "not_this_family"})
Refusal = Literal["closed", "not_acknowledged", "wrong_task_type", "reason_needed", "date_needed"]
#: The day a strategy discussion was held is judged as the duty team in England reads dates.
LONDON = ZoneInfo("Europe/London")


@dataclass(frozen=True)
class Outcome:
    """What a person records: the outcome, its reason, and a strategy discussion's date."""

    name: OutcomeName
    reason: str | None = None
    held_on: date | None = None


class OutcomeRefused(Exception):
    """The outcome does not fit the task; `why` is one of `Refusal`, and so is the message."""

    def __init__(self, why: Refusal) -> None:
        super().__init__(why)
        self.why: Refusal = why


def apply_outcome(stored: TaskRecord, outcome: Outcome, by: str, now: datetime) -> TaskRecord:
    """The task with `outcome` recorded by `by` at `now`; `OutcomeRefused` when it does not fit."""
    _check(stored, outcome, now)
    if outcome.name in REVIEW_RESULTS:
        update: dict[str, object] = {
            "review_result": outcome.name,
            "review_reason": outcome.reason,
            "reviewed_by": by,
            "reviewed_at": now,
        }
        if outcome.name == "not_this_family":
            update |= {"status": "closed", "closed_at": now}
    else:
        update = {
            "resolution": outcome.name,
            "resolution_reason": outcome.reason,
            "strategy_discussion_on": outcome.held_on,
            "resolved_by": by,
            "resolved_at": now,
            "status": "closed",
            "closed_at": now,
        }
    return stored.model_copy(update=update)


def _check(stored: TaskRecord, outcome: Outcome, now: datetime) -> None:
    """Refuse an outcome for a closed or unacknowledged task, of the wrong type, or incomplete."""
    if stored.status == "closed":
        raise OutcomeRefused("closed")
    if stored.status != "acknowledged":
        raise OutcomeRefused("not_acknowledged")
    is_review = stored.task_type == "match_review"
    if (outcome.name in REVIEW_RESULTS) != is_review:
        raise OutcomeRefused("wrong_task_type")
    if outcome.name == "strategy_discussion_held":
        if outcome.held_on is None or outcome.held_on > now.astimezone(LONDON).date():
            raise OutcomeRefused("date_needed")
    elif not (outcome.reason and outcome.reason.strip()):
        raise OutcomeRefused("reason_needed")


def is_override(record: TaskRecord) -> bool:
    """Whether a person closed an automated trigger without a strategy discussion."""
    return record.resolution == "no_further_action" and record.task.outcome == "trigger"


def audit_action(record: TaskRecord, name: OutcomeName) -> str:
    """The audit log's action for an outcome just recorded: an override is named as one."""
    return "overrode_trigger" if name == "no_further_action" and is_override(record) else name
