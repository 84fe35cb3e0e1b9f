"""A task's history in the duty inbox: other tasks of the same family or at the same dwelling.

Each task is filed under the hashed keys `streams.domain.history.task_keys` gives it, in the
`task_keys` table, rewritten in the transaction that creates or updates the task (and filled
for older tasks at start-up). A task's history is every other task sharing a key whose incident
happened within `HISTORY_DAYS` of its own: earlier ones, which is what the duty worker asks
for, and later ones, labelled as later (someone reading an older task needs to know the family
was seen again). Only tasks of the caller's councils are found; newest incident first.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict

from connectors.duty_inbox.query import IN_COUNCILS, Councils
from connectors.duty_inbox.task_rows import record_of
from schemas.task import TaskType
from streams.domain.history import HISTORY_DAYS, Kind, task_keys
from streams.domain.ports.case_system import Resolution, ReviewResult, TaskRecord, TaskStatus

KEYS_SCHEMA = """
CREATE TABLE IF NOT EXISTS task_keys (
    task_id TEXT NOT NULL,
    kind    TEXT NOT NULL CHECK (kind IN ('family', 'dwelling')),
    key     TEXT NOT NULL,
    PRIMARY KEY (task_id, kind, key)
);
CREATE INDEX IF NOT EXISTS task_keys_by_key ON task_keys (key);
"""

#: The other tasks sharing a key with `:task_id`, of `:councils`, each with the kinds it shares.
_SHARING = f"""
SELECT tasks.*, group_concat(DISTINCT theirs.kind) AS ties
FROM task_keys AS mine
JOIN task_keys AS theirs
  ON theirs.key = mine.key AND theirs.kind = mine.kind AND theirs.task_id != mine.task_id
JOIN tasks ON tasks.task_id = theirs.task_id
WHERE mine.task_id = :task_id AND {IN_COUNCILS}
GROUP BY tasks.task_id
"""

When = Literal["earlier", "same_incident", "later"]


@dataclass(frozen=True)
class Related:
    """Another task of the same family or dwelling: the task, what ties it, when it happened."""

    record: TaskRecord
    #: "family", "dwelling", or both, in that order.
    ties: tuple[Kind, ...]
    #: Its incident against this task's: earlier, the same incident, or later.
    when: When


def file_keys(db: sqlite3.Connection, record: TaskRecord) -> None:
    """File a task under its keys, replacing those of its earlier command."""
    db.execute("DELETE FROM task_keys WHERE task_id = ?", (record.task_id,))
    db.executemany(
        "INSERT INTO task_keys (task_id, kind, key) VALUES (?, ?, ?)",
        [(record.task_id, kind, key) for kind, key in sorted(task_keys(record.task))],
    )


def backfill_keys(db: sqlite3.Connection) -> None:
    """File every task that has no keys yet (a database from before history)."""
    rows = db.execute(
        "SELECT * FROM tasks WHERE task_id NOT IN (SELECT task_id FROM task_keys)"
    ).fetchall()
    for row in rows:
        file_keys(db, record_of(row))


def related_tasks(db: sqlite3.Connection, task_id: str, councils: Councils) -> list[Related] | None:
    """The history of one task of `councils`, newest incident first; None when it is not found."""
    params = {"task_id": task_id, "councils": _json(councils)}
    own = db.execute(f"SELECT * FROM tasks WHERE task_id = :task_id AND {IN_COUNCILS}", params)
    row = own.fetchone()
    if row is None:
        return None
    this = record_of(row).task.incident
    related = []
    for other in db.execute(_SHARING, params).fetchall():
        record = record_of(other)
        gap = record.task.incident.occurred_at - this.occurred_at
        if abs(gap) <= timedelta(days=HISTORY_DAYS):
            when = _when(record.task.incident_id == this.incident_id, gap)
            related.append(Related(record, _ties(str(other["ties"])), when))
    related.sort(key=lambda r: (r.record.task.incident.occurred_at, r.record.task_id), reverse=True)
    return related


def _when(same_incident: bool, gap: timedelta) -> When:
    if same_incident:
        return "same_incident"
    return "later" if gap > timedelta(0) else "earlier"


def _ties(text: str) -> tuple[Kind, ...]:
    kinds = set(text.split(","))
    return tuple(kind for kind in ("family", "dwelling") if kind in kinds)


def _json(councils: Councils) -> str | None:
    return None if councils is None else json.dumps(sorted(councils))


class HistoryEntry(BaseModel):
    """Another task of the same family or dwelling: what tied it, what it was, what was found."""

    model_config = ConfigDict(frozen=True)

    task_id: str
    incident_id: str
    occurred_at: datetime
    #: Its incident against this task's: `earlier`, `same_incident` (another child), `later`.
    when: When
    #: What it shares with this task: `family`, `dwelling`, or both.
    ties: list[Kind]
    #: The type the duty team works now (a review found the same family investigates).
    task_type: TaskType
    status: TaskStatus
    review_result: ReviewResult | None = None
    review_reason: str | None = None
    resolution: Resolution | None = None
    resolution_reason: str | None = None
    strategy_discussion_on: date | None = None
    closed_at: datetime | None = None


class TaskHistory(BaseModel):
    """A task's history: other tasks within `days` of its incident, newest first."""

    model_config = ConfigDict(frozen=True)

    task_id: str
    days: int
    tasks: list[HistoryEntry]


def history_of(task_id: str, related: list[Related]) -> TaskHistory:
    """The API's answer for a task's history."""
    return TaskHistory(
        task_id=task_id,
        days=HISTORY_DAYS,
        tasks=[
            HistoryEntry(
                task_id=r.record.task_id,
                incident_id=r.record.task.incident_id,
                occurred_at=r.record.task.incident.occurred_at,
                when=r.when,
                ties=list(r.ties),
                task_type=r.record.task_type,
                status=r.record.status,
                review_result=r.record.review_result,
                review_reason=r.record.review_reason,
                resolution=r.record.resolution,
                resolution_reason=r.record.resolution_reason,
                strategy_discussion_on=r.record.strategy_discussion_on,
                closed_at=r.record.closed_at,
            )
            for r in related
        ],
    )
