"""The case system port: raise or update one task per incident and subject; adapters implement it.

Semantics shared by every adapter: a `RaiseTask` is keyed by its `idempotency_key`. The first
command creates the task; one with the same key and a higher `(revision, amendment)` updates it
(and puts it back in front of the duty team); an equal or lower one changes nothing. The rule is
written once, in `task_updates.apply_task_command`. Errors carry ids, refs and status codes only,
never personal data.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict

from schemas.task import RaiseTask, TaskType

TaskStatus = Literal["open", "acknowledged", "closed"]
#: What a person recorded that closed an investigation: a strategy discussion was held, or
#: no further action (the override of an automated trigger, always with a reason).
Resolution = Literal["strategy_discussion_held", "no_further_action"]
#: What a person found on a review: the same family (it becomes an investigation), or not.
ReviewResult = Literal["same_family", "not_this_family"]
ErrorKind = Literal["connect", "timeout", "5xx", "429", "409", "bad_response"]

#: The duty order's first key: a task's priority, a withdrawn task last (`duty_order`).
DUTY_RANK: dict[str, int] = {"urgent": 0, "high": 1, "normal": 2, "withdrawn": 3}


class TaskReceipt(BaseModel):
    """What the case system says it did with one RaiseTask; ids and counters only."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    task_id: str
    created: bool
    updated: bool
    revision: int


class TaskRecord(BaseModel):
    """One task as the case system holds it, with the latest command it received."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    task_id: str
    status: TaskStatus
    revision: int
    created_revision: int
    created_at: datetime
    revised_at: datetime | None = None
    acknowledged_at: datetime | None = None
    closed_at: datetime | None = None
    task: RaiseTask
    #: A review's result, its reason, and who recorded it (a username) when.
    review_result: ReviewResult | None = None
    review_reason: str | None = None
    reviewed_by: str | None = None
    reviewed_at: datetime | None = None
    #: The outcome that closed the task, its reason, the strategy discussion's date, who, when.
    resolution: Resolution | None = None
    resolution_reason: str | None = None
    strategy_discussion_on: date | None = None
    resolved_by: str | None = None
    resolved_at: datetime | None = None

    @property
    def received_at(self) -> datetime:
        """When the task was raised or last revised: the duty team's 'newest'."""
        return self.revised_at or self.created_at

    def in_force(self, recorded_at: datetime | None) -> bool:
        """Whether a person's act recorded then still holds: no newer command reopened the task."""
        return recorded_at is not None and (
            self.revised_at is None or recorded_at >= self.revised_at
        )

    @property
    def task_type(self) -> TaskType:
        """The type the duty team works: a review found to be the same family investigates."""
        confirmed = self.review_result == "same_family" and self.in_force(self.reviewed_at)
        if self.task.task_type == "match_review" and confirmed:
            return "child_protection_investigation"
        return self.task.task_type


class TaskList(BaseModel):
    """A page of tasks in duty order."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    tasks: list[TaskRecord]
    #: The cursor of the next page (the `cursor` query parameter); None on the last page.
    next_cursor: str | None = None
    #: How many tasks match the query, on every page.
    total: int | None = None


def duty_order(record: TaskRecord) -> tuple[int, float]:
    """Sort key of the duty order: by priority (urgent, high, normal; withdrawn last), then the
    task due soonest; a stable sort leaves ties in the order the tasks were raised."""
    rank = DUTY_RANK["withdrawn" if record.task.outcome == "withdrawn" else record.task.priority]
    due = record.task.due_by
    return rank, (due if due.tzinfo else due.replace(tzinfo=UTC)).timestamp()


class CaseSystemError(Exception):
    """Base of every case system failure; its message carries no personal data."""


class CaseSystemUnavailable(CaseSystemError):
    """Retryable: the case system could not be reached or asked us to come back later."""

    def __init__(self, message: str, kind: ErrorKind, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.retry_after = retry_after


class CaseSystemConflict(CaseSystemUnavailable):
    """Retryable: a request with the same key is still in flight (409)."""


class CaseSystemRejected(CaseSystemError):
    """Permanent: the case system refused the request (4xx other than 409 and 429)."""

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


class TaskNotFound(CaseSystemRejected):
    """No task has this id."""


class CaseSystemBadResponse(CaseSystemUnavailable):
    """Retryable: the answer did not parse as the API's model (a proxy page, a garbled body).

    Retrying is safe because every command is idempotent, and safer than dropping the task.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, "bad_response")


class CaseSystem(Protocol):
    """The port every case system adapter implements."""

    async def raise_task(self, cmd: RaiseTask) -> TaskReceipt:
        """Create the task for `cmd`, or update it with a higher (revision, amendment)."""
        ...

    async def get_task(self, task_id: str) -> TaskRecord:
        """The task with this id; `TaskNotFound` when there is none."""
        ...

    async def list_tasks(
        self, status: TaskStatus | None = None, limit: int = 100
    ) -> list[TaskRecord]:
        """Tasks in duty order, optionally only those in one status."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
