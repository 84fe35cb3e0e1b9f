"""`receipt/1`: what became of one police notification, stage by stage, for the force to reconcile.

Receipts go on the receipts topic keyed by the force's incident reference (`incident_id`),
and the ingress and the file drop answer with the same model. A receipt names references,
counts and reason classes only, never a person, a date of birth, an address or a narrative:
a force reads it back over its own systems.

Stages, in the order a notification passes them:

- `received`: the notification was valid and taken in (by the ingress, the file drop, or the
  worker reading the police topic directly);
- `rejected`: it was not valid, with the validation errors (field paths and error types);
  it went to the dead-letter topic and can be replayed after a fix;
- `decided`: the rule was applied to this revision: `trigger`, `review` or `no_action`;
- `task_raised`: a task is in the council's case system, with its reference there;
- `task_acknowledged`: the council's duty team acknowledged (or closed) that task.

Delivery is at least once. `receipt_id` is built from what the receipt says, not when it was
sent, so a receipt sent twice (a redelivery, a restart) has the same id: drop duplicates by it.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from schemas.decision import DecisionValue
from schemas.shared import WireModel
from schemas.task import TaskType
from schemas.wire import JsonInteger, WireDateTime

Stage = Literal["received", "rejected", "decided", "task_raised", "task_acknowledged"]
STAGES: tuple[Stage, ...] = ("received", "rejected", "decided", "task_raised", "task_acknowledged")
#: Where a notification came in.
Channel = Literal["kafka", "ingress", "file_drop"]
#: The most validation errors a rejection lists (the rest are counted in `error_count`).
MAX_ERRORS = 20


class Receipt(WireModel):
    """One stage of one notification, as the force that sent it may read it."""

    model_config = ConfigDict(extra="forbid")

    schema_: Literal["receipt/1"] = Field("receipt/1", alias="schema")
    #: Same receipt, same id: a digest of the stage and the references (`receipt_id_of`).
    receipt_id: str
    stage: Stage
    #: When this stage was reached.
    at: WireDateTime
    #: The publishing force's code; None only for a rejection whose force could not be read.
    force: str | None = None
    #: The force's incident reference; None only for a rejection that did not carry one.
    incident_id: str | None = None
    notification_id: str | None = None
    revision: Annotated[int, Field(ge=1), JsonInteger] | None = None
    #: `task_raised` and `task_acknowledged`: re-decisions of the revision that changed the task
    #: (late knowledge); a task's version is (revision, amendment).
    amendment: Annotated[int, Field(ge=0), JsonInteger] | None = None
    #: Where the notification came in (`received` and `rejected`).
    channel: Channel | None = None
    #: SHA-256 of the bytes as received (`received` and `rejected`): a force that cannot read
    #: a rejected message's references back can still find which message it was.
    message_sha256: str | None = None
    #: `rejected`: the reason class (`schema`, `not_json`, `empty`, `oversize`...) and the
    #: errors, as field paths and error types (never a value sent).
    reason_class: str | None = None
    errors: list[str] = Field(default_factory=list)
    error_count: Annotated[int, Field(ge=0), JsonInteger] | None = None
    #: `decided`: the decision for this revision, and nothing of why.
    decision: DecisionValue | None = None
    #: `task_raised` and `task_acknowledged`: the task's reference in the council's case system,
    #: its type, the council (or `default`, the MASH front door), and dvtrigger's own key.
    task_ref: str | None = None
    task_type: TaskType | None = None
    council: str | None = None
    task_key: str | None = None
    #: `task_acknowledged`: what the case system says of the task (`acknowledged` or `closed`).
    task_status: str | None = None


def receipt_id_of(stage: Stage, *parts: object) -> str:
    """The id of a receipt: a digest of its stage and the references that make it this one."""
    text = "\x1f".join([stage, *("" if p is None else str(p) for p in parts)])
    return hashlib.sha256(text.encode()).hexdigest()[:32]
