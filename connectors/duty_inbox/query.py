"""Which tasks a list asks for, and where a page of them starts: filters, search and cursors.

The duty order is the order a duty team works in: urgent, then high, then normal priority (the
incident's DASH risk), withdrawn tasks last; within each, the task due soonest first (so the
overdue lead); then the task raised first. Pages are cut by keyset over that order, with the
task's rowid as the unique tie-breaker. A cursor is the position of the last task a page showed,
opaque to the client; the next page is the tasks after it in that order, so a task that was
there when paging began is shown once and never skipped. A task raised or revised between two
pages takes its place by priority and due time: after the cursor it is met on this pass,
before it on the next pass from the top (the list says how many match, so a person sees that
the count grew).
"""

from __future__ import annotations

import base64
import binascii
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from schemas.register import Carer
from schemas.task import RaiseTask, TaskSubject
from streams.domain.ports.case_system import TaskRecord

#: The councils whose tasks a query may find; None: every council.
Councils = frozenset[str] | None
#: The priorities a list may ask for ("normal" too: a queue's routine tasks).
Priority = Literal["urgent", "high", "normal"]
#: The queues a list may ask for: the duty team's, or the emergency duty team's (any other).
Queue = Literal["duty", "emergency"]

#: Tasks of the councils in `:councils` (a JSON array), or of every council when it is NULL.
IN_COUNCILS = "(:councils IS NULL OR council IN (SELECT value FROM json_each(:councils)))"

#: Each task with its place in the duty order: `rank` by priority (withdrawn last), `due`,
#: `seq` (rowid).
RANKED = """
SELECT *, rowid AS seq, coalesce(due_at, '') AS due,
       CASE WHEN outcome = 'withdrawn' THEN 3
            WHEN priority = 'urgent' THEN 0 WHEN priority = 'high' THEN 1 ELSE 2 END AS rank
FROM tasks
"""

#: The filters and the search; each is off when its parameter is NULL.
MATCHES = f"""
{IN_COUNCILS}
AND (:statuses IS NULL OR status IN (SELECT value FROM json_each(:statuses)))
AND (:priority IS NULL OR priority = :priority)
AND (:overdue_at IS NULL OR (status != 'closed' AND due_at < :overdue_at))
AND (:search IS NULL OR instr(search_text, :search) > 0)
AND (:needs_confirmation IS NULL OR needs_confirmation = :needs_confirmation)
AND (:queue IS NULL OR (CASE queue WHEN 'duty' THEN 'duty' ELSE 'emergency' END) = :queue)
"""

#: After the cursor in duty order, and (`BEFORE`) before it.
AFTER = """
(:rank IS NULL OR rank > :rank OR (rank = :rank AND (due > :due
 OR (due = :due AND seq > :seq))))
"""
BEFORE = """
(rank < :rank OR (rank = :rank AND (due < :due
 OR (due = :due AND seq < :seq))))
"""
DUTY_ORDER = "ORDER BY rank, due, seq"
REVERSED_ORDER = "ORDER BY rank DESC, due DESC, seq DESC"


@dataclass(frozen=True)
class TaskQuery:
    """A list's filters: councils, statuses, priority, overdue at a time, a search, and
    whether only tasks that need confirmation, or of one queue."""

    councils: Councils = None
    statuses: frozenset[str] | None = None
    priority: str | None = None
    overdue_at: datetime | None = None
    search: str = ""
    needs_confirmation: bool = False
    queue: str | None = None

    def parameters(self) -> dict[str, object]:
        """The SQL parameters of `MATCHES`."""
        return {
            "councils": _json(self.councils),
            "statuses": _json(self.statuses),
            "priority": self.priority,
            "overdue_at": None if self.overdue_at is None else time_text(self.overdue_at),
            "search": search_key(self.search) or None,
            "needs_confirmation": 1 if self.needs_confirmation else None,
            "queue": self.queue,
        }


def narrowed(councils: Councils, council: str | None) -> Councils:
    """The councils a caller may see, narrowed to one when a list asks for one."""
    if not council:
        return councils
    return frozenset({council}) & councils if councils is not None else frozenset({council})


@dataclass(frozen=True)
class Position:
    """A task's place in the duty order: what a cursor holds."""

    rank: int
    due: str
    seq: int

    def cursor(self) -> str:
        """The opaque cursor of this position."""
        raw = json.dumps([self.rank, self.due, self.seq], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def of(cls, cursor: str) -> Position:
        """The position a cursor holds; `ValueError` when it holds none."""
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            rank, due, seq = json.loads(raw)
        except (binascii.Error, UnicodeDecodeError, ValueError, TypeError):
            raise ValueError("not a cursor of this inbox") from None
        if not (type(rank) is int and type(seq) is int and isinstance(due, str)):
            raise ValueError("not a cursor of this inbox")
        return cls(rank, due, seq)


@dataclass(frozen=True)
class TaskPage:
    """A page of tasks, with the cursors of the pages after and before it (None: none)."""

    tasks: list[TaskRecord]
    next_cursor: str | None
    previous_cursor: str | None


def cursors(
    rows: Sequence[sqlite3.Row], more: bool, backwards: bool, from_cursor: bool
) -> tuple[str | None, str | None]:
    """The next and previous cursors of a page of ranked rows in duty order.

    `more`: rows lie beyond the page in the direction read; `from_cursor`: it was read from one.
    """
    if not rows:
        return None, None
    first, last = (Position(r["rank"], r["due"], r["seq"]).cursor() for r in (rows[0], rows[-1]))
    following = from_cursor if backwards else more
    preceding = more if backwards else from_cursor
    return last if following else None, first if preceding else None


def time_text(moment: datetime) -> str:
    """A time as the database keeps it: UTC, ISO 8601 to the microsecond, so text sorts as time."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat(timespec="microseconds")


def search_key(text: str) -> str:
    """A search as the index holds text: lower case, single spaces; an NHS number's digits only."""
    words = " ".join(text.lower().split())
    digits = words.replace(" ", "")
    return digits if digits.isdigit() else words


def search_text(task: RaiseTask) -> str:
    """What a search finds a task by: incident reference, subject's and carers' names and NHS
    numbers, one a line."""
    people: list[TaskSubject | Carer] = [task.subject, *task.subject.carers]
    lines = [task.incident_id]
    for person in people:
        lines.append(" ".join(p for p in (person.given_name, person.family_name) if p))
        lines.append(person.nhs_number or "")
    return "\n".join(search_key(line) for line in lines if line)


def _json(values: frozenset[str] | None) -> str | None:
    return None if values is None else json.dumps(sorted(values))
