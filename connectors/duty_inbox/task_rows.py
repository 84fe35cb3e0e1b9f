"""A task as a row of the duty inbox's SQLite table: the table, its migrations, and the mapping.

A row holds the task's record and its latest command (`body`, JSON), plus what SQL filters by,
copied out of the command when the row is written: council, priority, due time, search text,
whether it needs confirmation, and its queue.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from connectors.duty_inbox.query import search_text, time_text
from schemas.task import RaiseTask
from streams.domain.ports.case_system import TaskRecord

SCHEMA = """
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

#: Columns added since the first schema, each with its type; an older database gains them.
#: `priority`, `due_at`, `search_text`, `needs_confirmation` and `queue` are copied out of the
#: command for SQL to filter by; the rest are what a person recorded (`TaskRecord`'s review and
#: resolution fields).
ADDED = {
    "amendment": "INTEGER NOT NULL DEFAULT 0",
    "council": "TEXT NOT NULL DEFAULT ''",
    "priority": "TEXT",
    "due_at": "TEXT",
    "search_text": "TEXT",
    "review_result": "TEXT",
    "review_reason": "TEXT",
    "reviewed_by": "TEXT",
    "reviewed_at": "TEXT",
    "resolution": "TEXT",
    "resolution_reason": "TEXT",
    "strategy_discussion_on": "TEXT",
    "resolved_by": "TEXT",
    "resolved_at": "TEXT",
    "needs_confirmation": "INTEGER NOT NULL DEFAULT 0",
    "queue": "TEXT",
}
#: Columns that are not `TaskRecord` fields.
DERIVED = (
    "council",
    "priority",
    "due_at",
    "search_text",
    "needs_confirmation",
    "queue",
    "seq",
    "received",
    "rank",
)

#: The council of a task whose subject has no local authority (routed to the default inbox).
NO_COUNCIL = "unassigned"

_FIRST = (
    "task_id idempotency_key revision amendment created_revision status outcome created_at"
    " revised_at acknowledged_at closed_at council body"
)
NAMES = _FIRST.split() + [name for name in ADDED if name not in ("amendment", "council")]
INSERT = f"INSERT INTO tasks ({', '.join(NAMES)}) VALUES ({', '.join(':' + n for n in NAMES)})"
#: A task's identity (`task_id`, `idempotency_key`) never changes; the rest is its record's.
UPDATE = (
    "UPDATE tasks SET "
    + ", ".join(f"{n} = :{n}" for n in NAMES if n not in ("task_id", "idempotency_key"))
    + " WHERE task_id = :task_id"
)


def migrate(db: sqlite3.Connection) -> None:
    """Bring an older database's table up to `ADDED`, filling the new columns from each body."""
    present = {row["name"] for row in db.execute("PRAGMA table_info(tasks)")}
    for name, kind in ADDED.items():
        if name not in present:
            db.execute(f"ALTER TABLE tasks ADD COLUMN {name} {kind}")
    rows = db.execute(
        "SELECT * FROM tasks WHERE due_at IS NULL OR council = '' OR queue IS NULL"
    ).fetchall()
    for row in rows:  # a database from before councils, or before one of the list's filters
        db.execute(UPDATE, columns(record_of(row)))
    db.execute("CREATE INDEX IF NOT EXISTS tasks_by_council ON tasks (council, status)")


def council_of(local_authority: str | None) -> str:
    """The council code a task belongs to: its subject's local authority, else NO_COUNCIL."""
    return local_authority or NO_COUNCIL


def _text(moment: datetime) -> str:
    """A time as the database keeps it (`query.time_text`)."""
    return time_text(moment)


def _text_or_none(moment: datetime | None) -> str | None:
    return None if moment is None else _text(moment)


def columns(record: TaskRecord) -> dict[str, object]:
    """A task's row: its record's fields, and what SQL filters by copied out of its command."""
    task = record.task
    times = ("created_at", "revised_at", "acknowledged_at", "closed_at", "reviewed_at")
    fields = record.model_dump(exclude={"task"}, mode="python")
    fields |= {name: _text_or_none(getattr(record, name)) for name in (*times, "resolved_at")}
    on = record.strategy_discussion_on
    return fields | {
        "idempotency_key": task.idempotency_key,
        "amendment": task.amendment,
        "outcome": task.outcome,
        "council": council_of(task.local_authority),
        "priority": task.priority,
        "due_at": _text(task.due_by),
        "search_text": search_text(task),
        "needs_confirmation": int(task.needs_confirmation),
        "queue": task.queue,
        "strategy_discussion_on": None if on is None else on.isoformat(),
        "body": task.model_dump_json(by_alias=True),
    }


def aware(text: str) -> datetime:
    """An ISO 8601 time from the database; a naive one is taken as UTC."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def record_of(row: sqlite3.Row) -> TaskRecord:
    fields = {k: v for k, v in dict(row).items() if k not in DERIVED and v is not None}
    fields["task"] = RaiseTask.model_validate_json(fields.pop("body"))
    return TaskRecord.model_validate(fields)
