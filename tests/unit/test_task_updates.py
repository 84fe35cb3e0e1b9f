"""The one rule for task commands: create, update with a newer (revision, amendment), or not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.task import RaiseTask
from streams.domain.ports.case_system import TaskReceipt, TaskRecord
from streams.domain.ports.task_updates import apply_task_command
from tests.support.samples import sample_raise_task

CREATED_AT = datetime(2026, 7, 30, 9, 0, tzinfo=UTC)
LATER = CREATED_AT + timedelta(hours=2)
BASE = sample_raise_task()


def command(revision: int = 1, amendment: int = 0, **fields: object) -> RaiseTask:
    """The sample command at this (revision, amendment), without building it again."""
    return BASE.model_copy(update={"revision": revision, "amendment": amendment, **fields})


def stored(revision: int = 1, amendment: int = 0, **fields: object) -> TaskRecord:
    """A task created at revision 1 that now holds the command at (revision, amendment)."""
    record = apply_task_command(None, command(), CREATED_AT, "task-1").record
    return record.model_copy(
        update={"revision": revision, "task": command(revision, amendment), **fields}
    )


def test_the_first_command_creates_an_open_task() -> None:
    cmd = command(revision=2)
    change = apply_task_command(None, cmd, CREATED_AT, "task-1")
    assert change.kind == "created"
    assert change.record == TaskRecord(
        task_id="task-1",
        status="open",
        revision=2,
        created_revision=2,
        created_at=CREATED_AT,
        task=cmd,
    )
    assert change.receipt == TaskReceipt(task_id="task-1", created=True, updated=False, revision=2)


@pytest.mark.parametrize(
    ("revision", "amendment"), [(2, 0), (1, 1), (3, 7)], ids=["revision", "amendment", "both"]
)
def test_a_newer_command_updates_the_task(revision: int, amendment: int) -> None:
    cmd = command(revision, amendment, outcome="review", changes=["what changed"])
    change = apply_task_command(stored(), cmd, LATER, "unused")
    assert change.kind == "updated"
    record = change.record
    assert (record.task_id, record.task, record.revision) == ("task-1", cmd, revision)
    assert (record.created_revision, record.created_at) == (1, CREATED_AT)
    assert (record.status, record.revised_at, record.received_at) == ("open", LATER, LATER)
    assert change.receipt == TaskReceipt(
        task_id="task-1", created=False, updated=True, revision=revision
    )


@pytest.mark.parametrize(
    ("revision", "amendment"), [(2, 1), (2, 0), (1, 5)], ids=["equal", "lower", "older-revision"]
)
def test_an_equal_or_older_command_changes_nothing(revision: int, amendment: int) -> None:
    before = stored(revision=2, amendment=1)
    change = apply_task_command(before, command(revision, amendment), LATER, "unused")
    assert change.kind == "unchanged"
    assert change.record is before
    assert change.receipt == TaskReceipt(task_id="task-1", created=False, updated=False, revision=2)


def test_a_withdrawal_follows_the_same_rule() -> None:
    withdrawal = command(revision=2, outcome="withdrawn")
    change = apply_task_command(stored(), withdrawal, LATER, "unused")
    assert (change.kind, change.record.task) == ("updated", withdrawal)
    late_trigger = command(revision=1, amendment=1)
    again = apply_task_command(change.record, late_trigger, LATER, "unused")
    assert (again.kind, again.record.task.outcome) == ("unchanged", "withdrawn")


@pytest.mark.parametrize("status", ["acknowledged", "closed"])
def test_an_update_reopens_a_task_the_duty_team_had_worked(status: str) -> None:
    worked = stored(status=status, acknowledged_at=CREATED_AT, closed_at=CREATED_AT)
    change = apply_task_command(worked, command(amendment=1), LATER, "unused")
    assert change.record.status == "open"  # a person must look at what changed
    assert (change.record.acknowledged_at, change.record.closed_at) == (CREATED_AT, CREATED_AT)
    unchanged = apply_task_command(worked, command(), LATER, "unused")
    assert unchanged.record.status == status


#: A run of commands for one task, each told apart by its `changes`.
orders = st.lists(st.tuples(st.integers(1, 4), st.integers(0, 3)), min_size=1, max_size=12)


@given(orders)
def test_the_task_ends_with_the_newest_command_first_seen(order: list[tuple[int, int]]) -> None:
    commands = [command(r, a, changes=[f"command {i}"]) for i, (r, a) in enumerate(order)]
    record: TaskRecord | None = None
    kinds: list[str] = []
    for minute, cmd in enumerate(commands):
        change = apply_task_command(record, cmd, CREATED_AT + timedelta(minutes=minute), "task-1")
        record = change.record
        kinds.append(change.kind)
        assert change.receipt.revision == record.revision == record.task.revision
    newest = max(order)
    assert record is not None
    assert record.task == commands[order.index(newest)]
    assert (record.task_id, record.created_revision) == ("task-1", order[0][0])
    newer = [order[i] > max(order[:i]) for i in range(1, len(order))]
    assert kinds == ["created", *("updated" if n else "unchanged" for n in newer)]
