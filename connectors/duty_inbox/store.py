"""The duty inbox's tasks in SQLite: one row per idempotency key, safe under concurrent requests.

Every write runs in its own connection inside `BEGIN IMMEDIATE`, which takes SQLite's write lock
before reading, so two requests with the same key cannot both see "no task yet". The database
runs in WAL mode so pages can be read while a task is written. Whether a command creates,
updates or leaves a task is decided by `apply_task_command`, the rule the in-memory fake applies
too: the store only reads the task, and writes back the record that rule returns.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager, closing
from datetime import UTC, datetime
from pathlib import Path

from connectors.duty_inbox import sqlite
from connectors.duty_inbox.census import CENSUS, Census
from connectors.duty_inbox.history import (
    KEYS_SCHEMA,
    Related,
    backfill_keys,
    file_keys,
    related_tasks,
)
from connectors.duty_inbox.query import (
    AFTER,
    BEFORE,
    DUTY_ORDER,
    IN_COUNCILS,
    MATCHES,
    RANKED,
    REVERSED_ORDER,
    Councils,
    Position,
    TaskPage,
    TaskQuery,
    cursors,
    time_text,
)
from connectors.duty_inbox.task_rows import (
    INSERT,
    SCHEMA,
    UPDATE,
    aware,
    columns,
    migrate,
    record_of,
)
from schemas.task import RaiseTask
from streams.domain.ports.case_system import TaskReceipt, TaskRecord, TaskStatus
from streams.domain.ports.task_outcomes import Outcome, OutcomeRefused, apply_outcome
from streams.domain.ports.task_updates import apply_task_command

DEFAULT_DB_PATH = Path("var/duty-inbox.sqlite3")


class StoreError(Exception):
    """Base of the store's refusals; messages carry task ids only."""


class UnknownTask(StoreError):
    """No task has this id."""


class WrongTask(StoreError):
    """The command's idempotency key belongs to another task."""


class AlreadyClosed(StoreError):
    """A closed task cannot be acknowledged, nor have an outcome recorded."""


class BadCursor(StoreError):
    """A cursor this inbox did not make (or a mangled one)."""


class OutcomeNotFitting(StoreError):
    """The outcome does not fit the task now: not acknowledged yet, or of the other type."""


class OutcomeIncomplete(StoreError):
    """The outcome lacks its reason, or its strategy discussion's date (or that is to come)."""


class TaskStore:
    """Tasks raised by dvtrigger, as the duty team works them."""

    def __init__(
        self,
        path: str | Path = DEFAULT_DB_PATH,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._path = Path(path)
        self._clock = clock
        self._path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA + KEYS_SCHEMA)
        with self._write() as db:
            migrate(db)
            backfill_keys(db)

    def _connect(self) -> sqlite3.Connection:
        return sqlite.connect(self._path)

    def _write(self) -> AbstractContextManager[sqlite3.Connection]:
        """One write transaction holding the database's write lock from its first read."""
        return sqlite.write(self._path)

    def _now(self) -> str:
        return time_text(self._clock())

    def raise_task(self, cmd: RaiseTask) -> TaskReceipt:
        """Create the task for this key, or update it with a higher (revision, amendment)."""
        with self._write() as db:
            row = db.execute(
                "SELECT * FROM tasks WHERE idempotency_key = ?", (cmd.idempotency_key,)
            ).fetchone()
            return self._apply(db, None if row is None else record_of(row), cmd)

    def revise(self, task_id: str, cmd: RaiseTask, councils: Councils = None) -> TaskReceipt:
        """Update one task when `cmd` has a higher (revision, amendment); else change nothing.

        `councils`, here and below: only a task of one of these councils is found (None: any).
        """
        with self._write() as db:
            row = _row(db, task_id, councils)
            if row is None:
                raise UnknownTask(task_id)
            if row["idempotency_key"] != cmd.idempotency_key:
                raise WrongTask(task_id)
            return self._apply(db, record_of(row), cmd)

    def _apply(
        self, db: sqlite3.Connection, stored: TaskRecord | None, cmd: RaiseTask
    ) -> TaskReceipt:
        """Apply the one rule for task commands and write back the record it returns."""
        change = apply_task_command(stored, cmd, self._clock(), str(uuid.uuid4()))
        if change.kind != "unchanged":
            db.execute(INSERT if change.kind == "created" else UPDATE, columns(change.record))
            file_keys(db, change.record)
        return change.receipt

    def get(self, task_id: str, councils: Councils = None) -> TaskRecord:
        """One task; `UnknownTask` when there is none (of these councils)."""
        with closing(self._connect()) as db:
            row = _row(db, task_id, councils)
        if row is None:
            raise UnknownTask(task_id)
        return record_of(row)

    def history(self, task_id: str, councils: Councils = None) -> list[Related]:
        """Other tasks of the same family or dwelling within a year of this task's incident."""
        with closing(self._connect()) as db:
            related = related_tasks(db, task_id, councils)
        if related is None:
            raise UnknownTask(task_id)
        return related

    def list_tasks(
        self, status: TaskStatus | None = None, limit: int | None = 100, councils: Councils = None
    ) -> list[TaskRecord]:
        """Tasks in duty order: by priority (withdrawn last), then due soonest, then raised first.

        `limit=None` lists them all.
        """
        statuses = None if status is None else frozenset({status})
        return self.page(TaskQuery(councils, statuses), limit).tasks

    def page(
        self,
        query: TaskQuery,
        limit: int | None = 50,
        after: str | None = None,
        before: str | None = None,
    ) -> TaskPage:
        """The tasks matching `query` in duty order, `limit` of them after (or before) a cursor.

        `BadCursor` when a cursor is not one this inbox made.
        """
        backwards = before is not None
        cursor = _position(before if backwards else after)
        at = {"rank": None, "due": None, "seq": None} | (vars(cursor) if cursor else {})
        sql = (
            f"SELECT * FROM ({RANKED}) WHERE {MATCHES} AND {BEFORE if backwards else AFTER}"
            f" {REVERSED_ORDER if backwards else DUTY_ORDER} LIMIT :limit"
        )
        wanted = -1 if limit is None else limit + 1
        with closing(self._connect()) as db:
            rows = db.execute(sql, query.parameters() | at | {"limit": wanted}).fetchall()
        more = limit is not None and len(rows) > limit
        rows = rows[:limit] if limit is not None else rows
        if backwards:
            rows.reverse()
        return _page(rows, more, backwards, cursor is not None)

    def count(self, query: TaskQuery) -> int:
        """How many tasks match `query`."""
        with closing(self._connect()) as db:
            row = db.execute(f"SELECT count(*) FROM tasks WHERE {MATCHES}", query.parameters())
            return int(row.fetchone()[0])

    def census(self) -> list[Census]:
        """Each task not closed: its type, status, due time, when it became unacknowledged."""
        with closing(self._connect()) as db:
            rows = db.execute(CENSUS).fetchall()
        return [
            Census(
                task_type=str(row["task_type"]),
                status=str(row["status"]),
                due_by=aware(row["due_by"]) if row["due_by"] else None,
                unacknowledged_since=aware(row["unacknowledged_since"]),
            )
            for row in rows
        ]

    def acknowledge(self, task_id: str, councils: Councils = None) -> TaskRecord:
        """Mark an open task as in hand; acknowledging twice changes nothing."""
        with self._write() as db:
            status = _status(db, task_id, councils)
            if status == "closed":
                raise AlreadyClosed(task_id)
            if status == "open":
                db.execute(
                    "UPDATE tasks SET status = 'acknowledged', acknowledged_at = ?"
                    " WHERE task_id = ?",
                    (self._now(), task_id),
                )
        return self.get(task_id)

    def record_outcome(
        self, task_id: str, outcome: Outcome, by: str, councils: Councils = None
    ) -> TaskRecord:
        """Record what a person found (`task_outcomes.apply_outcome`) on a task.

        `AlreadyClosed`, `OutcomeNotFitting` or `OutcomeIncomplete` when the rule refuses it.
        """
        with self._write() as db:
            row = _row(db, task_id, councils)
            if row is None:
                raise UnknownTask(task_id)
            try:
                recorded = apply_outcome(record_of(row), outcome, by, self._clock())
            except OutcomeRefused as refused:
                raise _refusal(task_id, refused) from None
            db.execute(UPDATE, columns(recorded))
        return recorded


def _position(cursor: str | None) -> Position | None:
    """The position a cursor holds; `BadCursor` when it holds none."""
    try:
        return None if cursor is None else Position.of(cursor)
    except ValueError:
        raise BadCursor("not a cursor of this inbox") from None


def _page(rows: list[sqlite3.Row], more: bool, backwards: bool, from_cursor: bool) -> TaskPage:
    """A page of rows in duty order; `more`: rows beyond the page, in the direction read."""
    following, preceding = cursors(rows, more, backwards, from_cursor)
    return TaskPage([record_of(row) for row in rows], following, preceding)


#: Why an outcome was refused, in the words a person reads; never a value they sent.
REFUSAL_WORDS = {
    "not_acknowledged": "acknowledge the task before recording its outcome",
    "wrong_task_type": "that outcome is not one for this type of task",
    "reason_needed": "a reason is needed for this outcome",
    "date_needed": "a strategy discussion needs the date it was held, not a date to come",
}


def _refusal(task_id: str, refused: OutcomeRefused) -> StoreError:
    """The store's error for an outcome refused by the rule."""
    if refused.why == "closed":
        return AlreadyClosed(task_id)
    words = REFUSAL_WORDS[refused.why]
    if refused.why in ("not_acknowledged", "wrong_task_type"):
        return OutcomeNotFitting(words)
    return OutcomeIncomplete(words)


def _json_councils(councils: Councils) -> str | None:
    return None if councils is None else json.dumps(sorted(councils))


def _row(db: sqlite3.Connection, task_id: str, councils: Councils) -> sqlite3.Row | None:
    """The task's row when it is of one of `councils`; another council's is not found."""
    row: sqlite3.Row | None = db.execute(
        f"SELECT * FROM tasks WHERE task_id = :task_id AND {IN_COUNCILS}",
        {"task_id": task_id, "councils": _json_councils(councils)},
    ).fetchone()
    return row


def _status(db: sqlite3.Connection, task_id: str, councils: Councils) -> str:
    row = _row(db, task_id, councils)
    if row is None:
        raise UnknownTask(task_id)
    return str(row["status"])
