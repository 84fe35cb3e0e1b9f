"""The SQLite store under concurrent writers, what it keeps on disk, its filters and pages."""

from __future__ import annotations

import sqlite3
import tempfile
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.duty_inbox.query import TaskPage, TaskQuery
from connectors.duty_inbox.store import (
    AlreadyClosed,
    BadCursor,
    OutcomeIncomplete,
    OutcomeNotFitting,
    TaskStore,
    UnknownTask,
)
from streams.domain.ports.task_outcomes import Outcome
from tests.support.duty_inbox import close_task
from tests.support.samples import OCCURRED_AT, sample_raise_task, sample_subject


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
    store.acknowledge(task_id)
    closed = store.record_outcome(task_id, Outcome("no_further_action", "known to us"), "dana")
    assert store.raise_task(sample_raise_task(revision=2, outcome="withdrawn")).updated
    record = store.get(task_id)
    assert (record.status, record.closed_at, record.task.outcome) == (
        "open",
        closed.closed_at,
        "withdrawn",
    )
    assert (record.resolution, record.resolved_by) == ("no_further_action", "dana")  # history
    assert not record.in_force(record.resolved_at)
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


def test_ties_in_duty_order_list_the_first_created_first(tmp_path: Path) -> None:
    moment = datetime(2026, 8, 1, 9, 0, tzinfo=UTC)
    store = TaskStore(tmp_path / "inbox.sqlite3", clock=lambda: moment)
    first = store.raise_task(sample_raise_task("MPS-2026-A")).task_id
    second = store.raise_task(sample_raise_task("MPS-2026-B")).task_id
    store.raise_task(sample_raise_task("MPS-2026-A", revision=2))  # same priority and due: a tie
    assert [r.task_id for r in store.list_tasks()] == [first, second]


# --- filters, search and pages ----------------------------------------------------------------

START = datetime(2026, 8, 1, 9, 0, tzinfo=UTC)


class Clock:
    """A clock the test sets."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


def _ids(page: TaskPage) -> list[str]:
    return [record.task.incident_id for record in page.tasks]


def test_filters_and_search_find_tasks_by_what_the_duty_team_knows(tmp_path: Path) -> None:
    clock = Clock()
    store = TaskStore(tmp_path / "inbox.sqlite3", clock)
    other = sample_subject("C2", "Zebedee", nhs_number="9434765919", carers=[])
    store.raise_task(sample_raise_task("MPS-2026-000001"))
    clock.now += timedelta(minutes=1)
    store.raise_task(sample_raise_task("MPS-2026-000002", "C2", subject=other, due_by=OCCURRED_AT))
    store.raise_task(sample_raise_task("MPS-2026-000003", "C3", outcome="review"))
    store.raise_task(sample_raise_task("MPS-2026-000004", "C4", local_authority="E09000001"))

    def found(**fields: object) -> list[str]:
        return _ids(store.page(TaskQuery(**fields), None))  # type: ignore[arg-type]

    assert found(search="mps-2026-000002") == ["MPS-2026-000002"]
    assert found(search="  ZEBEDEE  quarrington ") == ["MPS-2026-000002"]
    assert found(search="imelda") == ["MPS-2026-000001", "MPS-2026-000004", "MPS-2026-000003"]
    assert found(search="943 476 5919") == ["MPS-2026-000002"] == found(search="9434765919")
    assert found(search="485 777") == ["MPS-2026-000001", "MPS-2026-000004", "MPS-2026-000003"]
    assert found(search="no such name") == []
    assert found(priority="high") == ["MPS-2026-000003"]
    assert found(priority="normal") == []
    assert found(councils=frozenset({"E09000001"})) == ["MPS-2026-000004"]
    assert found(overdue_at=OCCURRED_AT + timedelta(hours=1)) == ["MPS-2026-000002"]
    task_id = store.page(TaskQuery(search="MPS-2026-000002"), 1).tasks[0].task_id
    close_task(store, task_id)
    assert found(overdue_at=OCCURRED_AT + timedelta(hours=1)) == []  # closed: not overdue
    assert found(statuses=frozenset({"closed"})) == ["MPS-2026-000002"]
    assert store.count(TaskQuery(statuses=frozenset({"open", "acknowledged"}))) == 3


def test_pages_go_forwards_and_back_in_duty_order(tmp_path: Path) -> None:
    store = TaskStore(tmp_path / "inbox.sqlite3", lambda: START)  # every task at one time: ties
    for n in range(7):
        store.raise_task(
            sample_raise_task(f"MPS-{n}", f"C{n}", outcome=("trigger", "review")[n % 2])
        )
    everything = _ids(store.page(TaskQuery(), None))
    first = store.page(TaskQuery(), 3)
    assert first.previous_cursor is None and first.next_cursor
    second = store.page(TaskQuery(), 3, after=first.next_cursor)
    third = store.page(TaskQuery(), 3, after=second.next_cursor)
    assert _ids(first) + _ids(second) + _ids(third) == everything and third.next_cursor is None
    back = store.page(TaskQuery(), 3, before=second.previous_cursor)
    assert _ids(back) == _ids(first) and back.previous_cursor is None
    assert back.next_cursor == first.next_cursor
    with pytest.raises(BadCursor):
        store.page(TaskQuery(), 3, after="bm90IGEgY3Vyc29y")


#: Tasks to start with (outcome index, minutes after START; equal minutes tie), a page size,
#: and how many tasks are raised before each following page is read.
_start = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 3)), max_size=14)


@settings(max_examples=40, deadline=None)
@given(_start, st.integers(1, 5), st.lists(st.integers(0, 3), max_size=8))
def test_paging_shows_each_task_once_while_tasks_are_raised(
    start: list[tuple[int, int]], size: int, raised_between: list[int]
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        clock = Clock()
        store = TaskStore(Path(folder) / "inbox.sqlite3", clock)
        made = iter(range(10_000))

        def raise_one(outcome: int) -> str:
            n = next(made)
            cmd = sample_raise_task(
                f"MPS-{n}",
                f"C{n}",
                outcome=("trigger", "review", "withdrawn")[outcome],
                due_by=START + timedelta(minutes=n * 7 % 5),  # due times tie and interleave
            )
            return store.raise_task(cmd).task_id

        for outcome, minutes in sorted(start, key=lambda s: s[1]):
            clock.now = START + timedelta(minutes=minutes)
            raise_one(outcome)
        before = {r.task_id for r in store.page(TaskQuery(), None).tasks}
        seen: list[str] = []
        page = store.page(TaskQuery(), size)
        for n in range(10_000):
            seen += [r.task_id for r in page.tasks]
            if page.next_cursor is None:
                break
            for k in range(raised_between[n] if n < len(raised_between) else 0):
                clock.now += timedelta(seconds=1)
                raise_one(k % 3)
            page = store.page(TaskQuery(), size, after=page.next_cursor)
        assert len(seen) == len(set(seen))  # no task twice
        assert before <= set(seen)  # none that was there from the start skipped


def test_a_database_from_before_filters_and_outcomes_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "inbox.sqlite3"
    store = TaskStore(path)
    task_id = store.raise_task(sample_raise_task()).task_id
    with sqlite3.connect(path) as db:
        for column in ("priority", "due_at", "search_text", "resolution", "review_result"):
            db.execute(f"ALTER TABLE tasks DROP COLUMN {column}")
    migrated = TaskStore(path)
    assert _ids(migrated.page(TaskQuery(search="wilhelmina"), None)) == ["MPS-2026-000001"]
    assert migrated.count(TaskQuery(priority="urgent")) == 1
    close_task(migrated, task_id)
    assert migrated.get(task_id).resolution == "no_further_action"


def test_an_outcome_is_kept_on_the_task_and_refused_when_it_does_not_fit(tmp_path: Path) -> None:
    store = TaskStore(tmp_path / "inbox.sqlite3", lambda: START)
    task_id = store.raise_task(sample_raise_task(outcome="review")).task_id
    with pytest.raises(OutcomeNotFitting):
        store.record_outcome(task_id, Outcome("same_family", "same home"), "dana")
    store.acknowledge(task_id)
    with pytest.raises(OutcomeIncomplete):
        store.record_outcome(task_id, Outcome("same_family"), "dana")
    store.record_outcome(task_id, Outcome("same_family", "same home"), "dana")
    assert [c.task_type for c in store.census()] == ["child_protection_investigation"]
    held = Outcome("strategy_discussion_held", held_on=START.date())
    record = TaskStore(store._path).record_outcome(task_id, held, "erin")
    assert TaskStore(store._path).get(task_id) == record
    assert (record.review_reason, record.strategy_discussion_on) == ("same home", START.date())
    with pytest.raises(AlreadyClosed):
        store.record_outcome(task_id, held, "erin")
    with pytest.raises(UnknownTask):
        store.record_outcome("nope", held, "erin")
