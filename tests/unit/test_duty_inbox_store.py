"""The SQLite store under concurrent writers, and what it keeps on disk."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
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
