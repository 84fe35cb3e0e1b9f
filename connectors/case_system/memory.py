"""A case system in memory, with the duty inbox's semantics: for tests and demos.

Its tasks change only through `apply_task_command`, the rule the duty inbox's store applies
too, and it lists them in the store's duty order, so the fake cannot drift from the real one.
"""

from __future__ import annotations

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
from streams.domain.ports.task_updates import apply_task_command


class InMemoryCaseSystem:
    """A fake case system with the duty inbox's semantics, for tests and demos."""

    def __init__(self, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._clock = clock
        #: Tasks in the order they were created, as the store's rowids are.
        self._by_id: dict[str, TaskRecord] = {}
        self._id_by_key: dict[str, str] = {}
        self._failures: list[CaseSystemError] = []

    def fail_next(self, *errors: CaseSystemError) -> None:
        """Make the next calls to `raise_task` raise these errors, in order."""
        self._failures.extend(errors)

    async def raise_task(self, cmd: RaiseTask) -> TaskReceipt:
        """Create, update (newer revision or amendment, reopening the task) or leave the task."""
        if self._failures:
            raise self._failures.pop(0)
        task_id = self._id_by_key.get(cmd.idempotency_key)
        stored = None if task_id is None else self._by_id[task_id]
        change = apply_task_command(stored, cmd, self._clock(), str(uuid.uuid4()))
        self._by_id[change.record.task_id] = change.record
        self._id_by_key[cmd.idempotency_key] = change.record.task_id
        return change.receipt

    async def get_task(self, task_id: str) -> TaskRecord:
        """The task with this id."""
        try:
            return self._by_id[task_id]
        except KeyError:
            raise TaskNotFound(f"GET /api/tasks/{task_id}: 404", 404) from None

    async def list_tasks(
        self, status: TaskStatus | None = None, limit: int = 100
    ) -> list[TaskRecord]:
        """Tasks in duty order; ties go to the first created, as in the store."""
        records = [r for r in self._by_id.values() if status is None or r.status == status]
        records.sort(key=duty_order)  # stable: ties keep the order they were created in
        return records[:limit]

    def acknowledge(self, task_id: str, at: datetime | None = None, closed: bool = False) -> None:
        """As a duty worker would: acknowledge the task (or close it), for tests and demos."""
        at = at or self._clock()
        update: dict[str, object] = {"status": "closed" if closed else "acknowledged"}
        update["closed_at" if closed else "acknowledged_at"] = at
        self._by_id[task_id] = self._by_id[task_id].model_copy(update=update)

    async def aclose(self) -> None:
        """Nothing to release."""
