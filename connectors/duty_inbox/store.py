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
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from connectors.duty_inbox import sqlite
from schemas.task import RaiseTask
from streams.domain.ports.case_system import TaskReceipt, TaskRecord, TaskStatus
from streams.domain.ports.task_updates import apply_task_command

DEFAULT_DB_PATH = Path("var/duty-inbox.sqlite3")

#: The councils whose tasks a query may find; None: every council.
Councils = frozenset[str] | None

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    task_id          TEXT PRIMARY KEY,
    idempotency_key  TEXT NOT NULL UNIQUE,
    revision         INTEGER NOT NULL,
    amendment        INTEGER NOT NULL DEFAULT 0,
    created_revision INTEGER NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('open', 'acknowledged', 'closed')),
    outcome          TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    revised_at       TEXT,
    acknowledged_at  TEXT,
    closed_at        TEXT,
    council          TEXT NOT NULL DEFAULT 'unassigned',
    body             TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS tasks_by_status ON tasks (status);
"""

#: The council of a task whose subject has no local authority (routed to the default inbox).
NO_COUNCIL = "unassigned"

#: Tasks of the councils in `:councils` (a JSON array), or of every council when it is NULL.
_IN_COUNCILS = "(:councils IS NULL OR council IN (SELECT value FROM json_each(:councils)))"

_INSERT = """
INSERT INTO tasks (task_id, idempotency_key, revision, amendment, created_revision, status,
                   outcome, created_at, revised_at, acknowledged_at, closed_at, council, body)
VALUES (:task_id, :idempotency_key, :revision, :amendment, :created_revision, :status,
        :outcome, :created_at, :revised_at, :acknowledged_at, :closed_at, :council, :body)
"""

#: A task's identity (`task_id`, `idempotency_key`) never changes; the rest is its record's.
_UPDATE = """
UPDATE tasks SET revision = :revision, amendment = :amendment,
                 created_revision = :created_revision, status = :status, outcome = :outcome,
                 created_at = :created_at, revised_at = :revised_at,
                 acknowledged_at = :acknowledged_at, closed_at = :closed_at,
                 council = :council, body = :body
WHERE task_id = :task_id
"""

#: Ties (the same received time) go to the most recently created task: rowids never change.
_DUTY_ORDER = """
ORDER BY CASE outcome WHEN 'trigger' THEN 0 WHEN 'review' THEN 1 ELSE 2 END,
         coalesce(revised_at, created_at) DESC, rowid DESC
"""


#: What the inbox's metrics read of each task not closed: nothing of its body but its type
#: and due time. `unacknowledged_since`: when it was raised, or reopened by a revision.
_CENSUS = """
SELECT json_extract(body, '$.task_type') AS task_type, status,
       json_extract(body, '$.due_by') AS due_by,
       CASE WHEN acknowledged_at IS NULL AND closed_at IS NULL THEN created_at
            ELSE coalesce(revised_at, created_at) END AS unacknowledged_since
FROM tasks WHERE status != 'closed'
"""


@dataclass(frozen=True)
class Census:
    """One task not closed, as the inbox's metrics count it."""

    task_type: str
    status: str
    due_by: datetime | None
    unacknowledged_since: datetime


class StoreError(Exception):
    """Base of the store's refusals; messages carry task ids only."""


class UnknownTask(StoreError):
    """No task has this id."""


class WrongTask(StoreError):
    """The command's idempotency key belongs to another task."""


class AlreadyClosed(StoreError):
    """A closed task cannot be acknowledged."""


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
            db.executescript(_SCHEMA)
            columns = {row["name"] for row in db.execute("PRAGMA table_info(tasks)")}
            if "amendment" not in columns:  # a database from before amendments
                db.execute("ALTER TABLE tasks ADD COLUMN amendment INTEGER NOT NULL DEFAULT 0")
            if "council" not in columns:  # a database from before councils
                db.execute("ALTER TABLE tasks ADD COLUMN council TEXT NOT NULL DEFAULT ''")
                db.execute(
                    "UPDATE tasks SET council ="
                    " coalesce(json_extract(body, '$.local_authority'), ?)",
                    (NO_COUNCIL,),
                )
            db.execute("CREATE INDEX IF NOT EXISTS tasks_by_council ON tasks (council, status)")

    def _connect(self) -> sqlite3.Connection:
        return sqlite.connect(self._path)

    def _write(self) -> AbstractContextManager[sqlite3.Connection]:
        """One write transaction holding the database's write lock from its first read."""
        return sqlite.write(self._path)

    def _now(self) -> str:
        return _text(self._clock())

    def raise_task(self, cmd: RaiseTask) -> TaskReceipt:
        """Create the task for this key, or update it with a higher (revision, amendment)."""
        with self._write() as db:
            row = db.execute(
                "SELECT * FROM tasks WHERE idempotency_key = ?", (cmd.idempotency_key,)
            ).fetchone()
            return self._apply(db, None if row is None else _record(row), cmd)

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
            return self._apply(db, _record(row), cmd)

    def _apply(
        self, db: sqlite3.Connection, stored: TaskRecord | None, cmd: RaiseTask
    ) -> TaskReceipt:
        """Apply the one rule for task commands and write back the record it returns."""
        change = apply_task_command(stored, cmd, self._clock(), str(uuid.uuid4()))
        if change.kind == "created":
            db.execute(_INSERT, _columns(change.record))
        elif change.kind == "updated":
            db.execute(_UPDATE, _columns(change.record))
        return change.receipt

    def get(self, task_id: str, councils: Councils = None) -> TaskRecord:
        """One task; `UnknownTask` when there is none (of these councils)."""
        with closing(self._connect()) as db:
            row = _row(db, task_id, councils)
        if row is None:
            raise UnknownTask(task_id)
        return _record(row)

    def list_tasks(
        self, status: TaskStatus | None = None, limit: int | None = 100, councils: Councils = None
    ) -> list[TaskRecord]:
        """Tasks in duty order: trigger before review before withdrawn, then newest first.

        `limit=None` lists them all (the inbox page must never drop a task silently).
        """
        with closing(self._connect()) as db:
            rows = db.execute(
                "SELECT * FROM tasks WHERE (:status IS NULL OR status = :status)"
                f" AND {_IN_COUNCILS} {_DUTY_ORDER} LIMIT :limit",
                {
                    "status": status,
                    "limit": -1 if limit is None else limit,
                    "councils": _json_councils(councils),
                },
            ).fetchall()
        return [_record(row) for row in rows]

    def census(self) -> list[Census]:
        """Each task not closed: its type, status, due time, when it became unacknowledged."""
        with closing(self._connect()) as db:
            rows = db.execute(_CENSUS).fetchall()
        return [
            Census(
                task_type=str(row["task_type"]),
                status=str(row["status"]),
                due_by=_aware(row["due_by"]) if row["due_by"] else None,
                unacknowledged_since=_aware(row["unacknowledged_since"]),
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

    def close(self, task_id: str, councils: Councils = None) -> TaskRecord:
        """Close a task; closing twice changes nothing."""
        with self._write() as db:
            if _status(db, task_id, councils) != "closed":
                db.execute(
                    "UPDATE tasks SET status = 'closed', closed_at = ? WHERE task_id = ?",
                    (self._now(), task_id),
                )
        return self.get(task_id)


def council_of(local_authority: str | None) -> str:
    """The council code a task belongs to: its subject's local authority, else NO_COUNCIL."""
    return local_authority or NO_COUNCIL


def _json_councils(councils: Councils) -> str | None:
    return None if councils is None else json.dumps(sorted(councils))


def _row(db: sqlite3.Connection, task_id: str, councils: Councils) -> sqlite3.Row | None:
    """The task's row when it is of one of `councils`; another council's is not found."""
    row: sqlite3.Row | None = db.execute(
        f"SELECT * FROM tasks WHERE task_id = :task_id AND {_IN_COUNCILS}",
        {"task_id": task_id, "councils": _json_councils(councils)},
    ).fetchone()
    return row


def _status(db: sqlite3.Connection, task_id: str, councils: Councils) -> str:
    row = _row(db, task_id, councils)
    if row is None:
        raise UnknownTask(task_id)
    return str(row["status"])


def _text(moment: datetime) -> str:
    """A time as the database keeps it: UTC, ISO 8601 to the microsecond, so text sorts as time."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _text_or_none(moment: datetime | None) -> str | None:
    return None if moment is None else _text(moment)


def _columns(record: TaskRecord) -> dict[str, object]:
    """A task's row; `amendment` and `outcome` are copied out of its command for SQL to read."""
    return {
        "task_id": record.task_id,
        "idempotency_key": record.task.idempotency_key,
        "revision": record.revision,
        "amendment": record.task.amendment,
        "created_revision": record.created_revision,
        "status": record.status,
        "outcome": record.task.outcome,
        "created_at": _text(record.created_at),
        "revised_at": _text_or_none(record.revised_at),
        "acknowledged_at": _text_or_none(record.acknowledged_at),
        "closed_at": _text_or_none(record.closed_at),
        "council": council_of(record.task.local_authority),
        "body": record.task.model_dump_json(by_alias=True),
    }


def _aware(text: str) -> datetime:
    """An ISO 8601 time from the database; a naive one is taken as UTC."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _record(row: sqlite3.Row) -> TaskRecord:
    fields = dict(row)
    fields.pop("council", None)
    fields["task"] = RaiseTask.model_validate_json(fields.pop("body"))
    return TaskRecord.model_validate(fields)
