"""The one rule for applying a task command to the task a case system holds; every adapter uses it.

A `RaiseTask`'s `idempotency_key` is the task's identity: every redelivery, every police
revision and every late re-decision of one subject of one incident lands on one task.
`(revision, amendment)` orders the commands for that task: a later police revision, or a later
amendment of the same revision (the register learned more), is newer. The first command creates
the task; a strictly newer one replaces the task's command and reopens it, because a person must
look at what changed even if they had acknowledged or closed the task; an equal or older one
(a redelivery, or a command overtaken on the way) changes nothing. A withdrawal is a command
like any other and follows the same rule.

What a person recorded on the task (a review's result, the outcome that closed it; see
`task_outcomes`) is kept when a newer command reopens it, as history: the task page shows it
as recorded before the revision, and it no longer holds (`TaskRecord.in_force`), so a review
found to be the same family is a review again until a person looks at the new revision. No
command ever closes a task: only a person does, by recording an outcome.

The rule is pure: the time and the id a new task would get are passed in, and the caller stores
the record it returns, so the fake and the real case system cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from schemas.task import RaiseTask
from streams.domain.ports.case_system import TaskReceipt, TaskRecord

ChangeKind = Literal["created", "updated", "unchanged"]


@dataclass(frozen=True)
class TaskChange:
    """What a command did to its task: the record to store and the receipt to answer with."""

    kind: ChangeKind
    record: TaskRecord

    @property
    def receipt(self) -> TaskReceipt:
        """The receipt for the command: the task's id and the revision it now holds."""
        return TaskReceipt(
            task_id=self.record.task_id,
            created=self.kind == "created",
            updated=self.kind == "updated",
            revision=self.record.revision,
        )


def command_order(cmd: RaiseTask) -> tuple[int, int]:
    """The key that orders the commands for one task: (revision, amendment)."""
    return cmd.revision, cmd.amendment


def apply_task_command(
    stored: TaskRecord | None, cmd: RaiseTask, now: datetime, new_task_id: str
) -> TaskChange:
    """Create the task, update it with a newer command (reopening it), or leave it unchanged."""
    if stored is None:
        return TaskChange("created", _created(cmd, now, new_task_id))
    if command_order(cmd) <= command_order(stored.task):
        return TaskChange("unchanged", stored)
    update = {"task": cmd, "revision": cmd.revision, "status": "open", "revised_at": now}
    return TaskChange("updated", stored.model_copy(update=update))


def _created(cmd: RaiseTask, now: datetime, task_id: str) -> TaskRecord:
    """A new open task holding its first command."""
    return TaskRecord(
        task_id=task_id,
        status="open",
        revision=cmd.revision,
        created_revision=cmd.revision,
        created_at=now,
        task=cmd,
    )
