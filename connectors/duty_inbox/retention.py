"""Retention of the duty inbox: closed tasks purged after their council's period, legal holds.

Works on the inbox's own SQLite file (`connectors.duty_inbox.store` makes its
`tasks` table, and `task_keys`, whose rows go with their task). A task under a
legal hold (`legal_holds`: who placed it, when, why) is never purged, however
long ago it was closed. Open and acknowledged tasks are never purged: someone
still has to act on them. The period is the council's (`per_council`, by the
task's `local_authority`), else `keep_days`.
The running inbox purges itself (`InboxRetention`, started by `create_app`):
every `purge_interval_s`, its closed tasks past their period, then the details
of its own audit chain older than `audit_detail_days`, keeping those naming a
held task or its incident; it writes the held references beside the chains
(`HELD_REFS_FILE`) for the decide worker's purge. `dvtrigger retention inbox`
does the same from the command line. Results are counts and task ids, never
what a task says.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from connectors.duty_inbox import sqlite
from connectors.duty_inbox.history import KEYS_SCHEMA
from connectors.duty_inbox.store import UnknownTask
from streams.config.settings import RetentionSettings
from streams.domain.ports.audit import HELD_REFS_FILE, AuditEvent, AuditLog, PurgeableAuditLog

log = logging.getLogger(__name__)
#: The running inbox's first purge comes this long after it starts (or one interval, if less).
FIRST_PURGE_S = 60.0

_HOLDS = """
CREATE TABLE IF NOT EXISTS legal_holds (
    task_id    TEXT PRIMARY KEY,
    reason     TEXT NOT NULL,
    placed_by  TEXT NOT NULL,
    placed_at  TEXT NOT NULL
);
"""

#: Closed tasks not under a hold, with what their period depends on.
_CLOSED = """
SELECT task_id, closed_at, json_extract(body, '$.local_authority') AS council
FROM tasks
WHERE status = 'closed' AND closed_at IS NOT NULL
  AND task_id NOT IN (SELECT task_id FROM legal_holds)
"""
#: Task ids deleted per statement (SQLite's limit on bound parameters is far above it).
_CHUNK = 500
NO_COUNCIL = "none"


@dataclass(frozen=True)
class Hold:
    """A legal hold on one task: it is kept until the hold is released."""

    task_id: str
    reason: str
    placed_by: str
    placed_at: datetime


@dataclass
class InboxPurge:
    """What one purge took: task counts by council (`none` for tasks of no council), the ids."""

    by_council: dict[str, int] = field(default_factory=dict)
    task_ids: list[str] = field(default_factory=list)
    held: int = 0

    @property
    def purged(self) -> int:
        """How many tasks went."""
        return len(self.task_ids)


def period_days(council: str | None, keep_days: int, per_council: Mapping[str, int]) -> int:
    """How many days a council's closed tasks are kept."""
    return per_council.get(council, keep_days) if council is not None else keep_days


def expired(
    closed_at: datetime,
    council: str | None,
    now: datetime,
    keep_days: int,
    per_council: Mapping[str, int],
) -> bool:
    """Whether a task closed at `closed_at` has been closed longer than its council's period."""
    return now - closed_at > timedelta(days=period_days(council, keep_days, per_council))


@contextmanager
def _write(db_path: Path) -> Iterator[sqlite3.Connection]:
    """One write transaction on the inbox database, with the holds and keys tables in place."""
    if not db_path.exists():
        raise FileNotFoundError(f"no duty inbox database at {db_path}")
    with closing(sqlite.connect(db_path)) as db:
        db.executescript(_HOLDS + KEYS_SCHEMA)
    with sqlite.write(db_path) as db:
        yield db


def purge_closed_tasks(
    db_path: Path | str,
    now: datetime,
    keep_days: int,
    per_council: Mapping[str, int] | None = None,
) -> InboxPurge:
    """Delete the tasks closed longer ago than their council's period and not under a hold."""
    result, councils = InboxPurge(), per_council or {}
    with _write(Path(db_path)) as db:
        for row in db.execute(_CLOSED).fetchall():
            council = row["council"]
            if expired(_aware(row["closed_at"]), council, now, keep_days, councils):
                result.task_ids.append(str(row["task_id"]))
                label = council or NO_COUNCIL
                result.by_council[label] = result.by_council.get(label, 0) + 1
        for start in range(0, len(result.task_ids), _CHUNK):
            chunk = result.task_ids[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            db.execute(f"DELETE FROM tasks WHERE task_id IN ({marks})", chunk)
            db.execute(f"DELETE FROM task_keys WHERE task_id IN ({marks})", chunk)
        result.held = db.execute("SELECT count(*) FROM legal_holds").fetchone()[0]
    return result


def place_hold(
    db_path: Path | str, task_id: str, reason: str, placed_by: str, now: datetime
) -> Hold:
    """Place (or restate) a legal hold on a task; `UnknownTask` when the inbox has none."""
    if not reason.strip():
        raise ValueError("a legal hold needs a reason")
    with _write(Path(db_path)) as db:
        if db.execute("SELECT 1 FROM tasks WHERE task_id = ?", (task_id,)).fetchone() is None:
            raise UnknownTask(task_id)
        db.execute(
            "INSERT OR REPLACE INTO legal_holds (task_id, reason, placed_by, placed_at)"
            " VALUES (?, ?, ?, ?)",
            (task_id, reason, placed_by, _text(now)),
        )
    return Hold(task_id, reason, placed_by, now)


def release_hold(db_path: Path | str, task_id: str) -> bool:
    """Release a task's legal hold; whether there was one."""
    with _write(Path(db_path)) as db:
        gone = db.execute("DELETE FROM legal_holds WHERE task_id = ?", (task_id,)).rowcount
    return bool(gone)


def holds(db_path: Path | str) -> list[Hold]:
    """Every legal hold, oldest first."""
    with _write(Path(db_path)) as db:
        rows = db.execute("SELECT * FROM legal_holds ORDER BY placed_at, task_id").fetchall()
    return [
        Hold(row["task_id"], row["reason"], row["placed_by"], _aware(row["placed_at"]))
        for row in rows
    ]


def held_refs(db_path: Path | str) -> set[str]:
    """The references under hold: each held task's id and its incident's id (audit retention)."""
    with _write(Path(db_path)) as db:
        rows = db.execute(
            "SELECT h.task_id, json_extract(t.body, '$.incident_id') AS incident_id"
            " FROM legal_holds h LEFT JOIN tasks t ON t.task_id = h.task_id"
        ).fetchall()
    return {str(ref) for row in rows for ref in (row["task_id"], row["incident_id"]) if ref}


def write_held_refs(directory: Path, refs: Iterable[str]) -> Path:
    """Write the held references, one a line, over `directory/HELD_REFS_FILE` (atomically)."""
    path = directory / HELD_REFS_FILE
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.writelines(f"{ref}\n" for ref in sorted(refs))
    os.replace(temporary, path)
    return path


@dataclass(frozen=True)
class Purged:
    """What one pass of the running inbox's retention took (counts only)."""

    tasks: int
    details: int
    held: int


#: How the loop waits: `asyncio.sleep`, or a test's stand-in.
Pause = Callable[[float], Awaitable[None]]


class InboxRetention:
    """The running inbox's own retention: closed tasks, then its audit chain's old details.

    A pass runs in a worker thread: the database has its own connection, and the audit
    log's purge takes the same lock as its appends, so requests go on meanwhile.
    """

    def __init__(
        self,
        db_path: Path | str,
        periods: RetentionSettings,
        clock: Callable[[], datetime],
        audit: AuditLog,
        *,
        audit_dir: Path | None = None,
        pause: Pause = asyncio.sleep,
    ) -> None:
        """Purge `db_path`'s tasks and `audit`'s details; held refs are written to `audit_dir`."""
        self._db, self._periods, self._clock = Path(db_path), periods, clock
        self._audit, self._audit_dir, self._pause = audit, audit_dir, pause
        self._task: asyncio.Task[None] | None = None
        self._pass: asyncio.Future[Purged] | None = None

    def purge(self) -> Purged:
        """One pass, now (blocking): tasks past their period, then old audit details."""
        now, periods = self._clock(), self._periods
        tasks = purge_closed_tasks(
            self._db, now, periods.inbox_task_days, periods.inbox_task_days_by_council
        )
        keep = held_refs(self._db)
        if self._audit_dir is not None and self._audit_dir.is_dir():
            write_held_refs(self._audit_dir, keep)
        if tasks.purged:
            self._audit.append(_tasks_purged(now, tasks))
        details = 0
        if isinstance(self._audit, PurgeableAuditLog):
            before = now - timedelta(days=periods.audit_detail_days)
            details = self._audit.purge_details(before, keep)
        log.info(
            "duty inbox retention: %d closed tasks, %d audit details purged; %d on hold",
            tasks.purged,
            details,
            tasks.held,
        )
        return Purged(tasks.purged, details, tasks.held)

    async def run(self) -> None:
        """Purge shortly after start, then every `purge_interval_s`; a failed pass is logged."""
        interval = self._periods.purge_interval_s
        await self._pause(min(FIRST_PURGE_S, interval))
        while True:
            self._pass = asyncio.ensure_future(asyncio.to_thread(self.purge))
            try:
                await asyncio.shield(self._pass)
            except Exception as exc:  # the next pass tries again; the type names no one
                log.error("duty inbox retention failed: %s", type(exc).__name__)
            await self._pause(interval)

    def start(self) -> None:
        """Start the loop on the running event loop."""
        self._task = asyncio.get_running_loop().create_task(self.run(), name="inbox-retention")

    async def stop(self) -> None:
        """Stop the loop, letting a pass under way finish (the audit log closes after)."""
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
        if self._pass is not None:
            with suppress(Exception):
                await self._pass


def _tasks_purged(now: datetime, tasks: InboxPurge) -> AuditEvent:
    """The audit record of a task purge: counts by council, no task's content."""
    return AuditEvent(
        kind="retention",
        at=now,
        actor="system:inbox",
        action="purged tasks",
        detail={"tasks": tasks.purged, "by_council": dict(sorted(tasks.by_council.items()))},
    )


def _text(moment: datetime) -> str:
    """A time as the inbox database keeps it: UTC, ISO 8601 to the microsecond."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _aware(text: str) -> datetime:
    """An ISO 8601 time from the database; a naive one is taken as UTC."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
