"""The SQLite store under concurrent writers, and what it keeps on disk."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from connectors.duty_inbox.store import TaskStore
from tests.support.samples import sample_raise_task


def test_concurrent_raises_with_one_key_make_one_task(tmp_path: Path) -> None:
    path = tmp_path / "inbox.sqlite3"
    TaskStore(path)
    cmd = sample_raise_task()
    with ThreadPoolExecutor(max_workers=16) as pool:
        receipts = list(pool.map(lambda _: TaskStore(path).raise_task(cmd), range(32)))
    assert len({r.task_id for r in receipts}) == 1
    assert sum(r.created for r in receipts) == 1
    assert len(TaskStore(path).list_tasks()) == 1


def test_concurrent_revisions_keep_the_highest(tmp_path: Path) -> None:
    store = TaskStore(tmp_path / "inbox.sqlite3")
    commands = [sample_raise_task(revision=r) for r in range(1, 21)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        receipts = list(pool.map(store.raise_task, reversed(commands)))
    (record,) = store.list_tasks()
    assert record.revision == 20 and record.task == commands[-1]
    assert sum(r.created for r in receipts) == 1


def test_database_is_in_wal_mode_and_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "inbox.sqlite3"
    task_id = TaskStore(path).raise_task(sample_raise_task()).task_id
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert TaskStore(path).get(task_id).task == sample_raise_task()


def test_an_amendment_updates_its_revision_and_a_new_revision_beats_any_amendment(
    tmp_path: Path,
) -> None:
    store = TaskStore(tmp_path / "inbox.sqlite3")
    review = sample_raise_task().model_copy(update={"outcome": "review"})
    store.raise_task(review)
    upgraded = sample_raise_task().model_copy(update={"outcome": "trigger", "amendment": 1})
    assert store.raise_task(upgraded).updated
    assert not store.raise_task(review).updated  # the older amendment changes nothing
    (record,) = store.list_tasks()
    assert (record.revision, record.task.amendment, record.task.outcome) == (1, 1, "trigger")
    assert store.raise_task(sample_raise_task(revision=2)).updated  # (2, 0) is after (1, 1)
    assert store.list_tasks()[0].task.revision == 2


def test_a_database_from_before_amendments_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "inbox.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE tasks (task_id TEXT PRIMARY KEY, idempotency_key TEXT NOT NULL UNIQUE,"
            " revision INTEGER NOT NULL, created_revision INTEGER NOT NULL, status TEXT NOT NULL,"
            " outcome TEXT NOT NULL, created_at TEXT NOT NULL, revised_at TEXT,"
            " acknowledged_at TEXT, closed_at TEXT, body TEXT NOT NULL)"
        )
    store = TaskStore(path)
    store.raise_task(sample_raise_task())
    assert store.raise_task(sample_raise_task().model_copy(update={"amendment": 1})).updated


def test_a_newer_command_reopens_an_acknowledged_or_closed_task(tmp_path: Path) -> None:
    store = TaskStore(tmp_path / "inbox.sqlite3")
    task_id = store.raise_task(sample_raise_task(outcome="review")).task_id
    acknowledged = store.acknowledge(task_id)
    assert store.raise_task(sample_raise_task(outcome="trigger", amendment=1)).updated
    reopened = store.get(task_id)
    assert (reopened.status, reopened.acknowledged_at) == ("open", acknowledged.acknowledged_at)
    closed = store.close(task_id)
    assert store.raise_task(sample_raise_task(revision=2, outcome="withdrawn")).updated
    record = store.get(task_id)
    assert (record.status, record.closed_at, record.task.outcome) == (
        "open",
        closed.closed_at,
        "withdrawn",
    )
    assert record.created_at == acknowledged.created_at


def test_an_older_command_leaves_an_acknowledged_task_alone(tmp_path: Path) -> None:
    store = TaskStore(tmp_path / "inbox.sqlite3")
    task_id = store.raise_task(sample_raise_task(revision=2)).task_id
    acknowledged = store.acknowledge(task_id)
    receipt = store.revise(task_id, sample_raise_task(revision=1, amendment=4))
    assert (receipt.updated, receipt.revision) == (False, 2)
    assert store.get(task_id) == acknowledged


def test_the_amendment_and_outcome_columns_follow_the_stored_command(tmp_path: Path) -> None:
    path = tmp_path / "inbox.sqlite3"
    store = TaskStore(path)
    store.raise_task(sample_raise_task(outcome="review"))
    store.raise_task(sample_raise_task(outcome="trigger", amendment=2))
    with sqlite3.connect(path) as db:
        row = db.execute("SELECT revision, amendment, outcome FROM tasks").fetchone()
    assert row == (1, 2, "trigger")


def test_ties_in_received_time_list_the_most_recently_created_first(tmp_path: Path) -> None:
    moment = datetime(2026, 8, 1, 9, 0, tzinfo=UTC)
    store = TaskStore(tmp_path / "inbox.sqlite3", clock=lambda: moment)
    first = store.raise_task(sample_raise_task("MPS-2026-A")).task_id
    second = store.raise_task(sample_raise_task("MPS-2026-B")).task_id
    store.raise_task(sample_raise_task("MPS-2026-A", revision=2))  # same time: still a tie
    assert [r.task_id for r in store.list_tasks()] == [second, first]
