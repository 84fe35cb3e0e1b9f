"""A case system in memory, with the duty inbox's semantics: for tests and demos."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from schemas.task import RaiseTask
from streams.domain.ports.case_system import (
    CaseSystemError,
    TaskNotFound,
    TaskReceipt,
    TaskRecord,
    TaskStatus,
    duty_order,
)


class InMemoryCaseSystem:
    """A fake case system with the duty inbox's semantics, for tests and demos."""

    def __init__(self, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._clock = clock
        self._by_id: dict[str, TaskRecord] = {}
        self._id_by_key: dict[str, str] = {}
        self._failures: list[CaseSystemError] = []
        self._sequence = itertools.count()
        self._order: dict[str, int] = {}

    def fail_next(self, *errors: CaseSystemError) -> None:
        """Make the next calls to `raise_task` raise these errors, in order."""
        self._failures.extend(errors)

    async def raise_task(self, cmd: RaiseTask) -> TaskReceipt:
        """Create, update (higher revision, reopening the task) or leave the task."""
        if self._failures:
            raise self._failures.pop(0)
        task_id = self._id_by_key.get(cmd.idempotency_key)
        if task_id is None:
            return self._create(cmd)
        current = self._by_id[task_id]
        if cmd.revision <= current.revision:
            return TaskReceipt(
                task_id=task_id, created=False, updated=False, revision=current.revision
            )
        now = self._clock()
        self._by_id[task_id] = current.model_copy(
            update={"task": cmd, "revision": cmd.revision, "status": "open", "revised_at": now}
        )
        self._order[task_id] = next(self._sequence)
        return TaskReceipt(task_id=task_id, created=False, updated=True, revision=cmd.revision)

    def _create(self, cmd: RaiseTask) -> TaskReceipt:
        task_id = str(uuid.uuid4())
        self._by_id[task_id] = TaskRecord(
            task_id=task_id,
            status="open",
            revision=cmd.revision,
            created_revision=cmd.revision,
            created_at=self._clock(),
            task=cmd,
        )
        self._id_by_key[cmd.idempotency_key] = task_id
        self._order[task_id] = next(self._sequence)
        return TaskReceipt(task_id=task_id, created=True, updated=False, revision=cmd.revision)

    async def get_task(self, task_id: str) -> TaskRecord:
        """The task with this id."""
        try:
            return self._by_id[task_id]
        except KeyError:
            raise TaskNotFound(f"GET /api/tasks/{task_id}: 404", 404) from None

    async def list_tasks(
        self, status: TaskStatus | None = None, limit: int = 100
    ) -> list[TaskRecord]:
        """Tasks in duty order; ties go to the most recently received."""
        records = [r for r in self._by_id.values() if status is None or r.status == status]
        records.sort(key=lambda r: (*duty_order(r), -self._order[r.task_id]))
        return records[:limit]

    async def aclose(self) -> None:
        """Nothing to release."""
