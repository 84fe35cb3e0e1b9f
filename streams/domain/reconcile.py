"""Reconciliation, the pure part: what the receipts say became of each police notification.

`reconcile` reads receipts (`receipt/1`) and returns a `Report`: counts by force and by day
(the day of each receipt's `at` where the council is, e.g. Europe/London), and the gaps, by
references only:

- `no_decision`: a revision was received and has no `decided` receipt;
- `trigger_without_task`: a revision was decided `trigger` and no child protection
  investigation task was raised for it;
- `review_without_task`: a revision was decided `review` and no task at all was raised for it.

A revision received after a later one was decided is not decided itself (the worker counts
it as an older revision and keeps the later decision): a decided revision covers every
earlier revision of its incident, for `no_decision`. Tasks are judged revision by revision.
A task is known by its `task_raised` receipt, or by a `task_acknowledged` one if that is all
there is.
Rejections are counted, not gaps: they are in the dead-letter topic with their reason.

Delivery is at least once, so receipts are counted once by `receipt_id`. A gap is opened by
one receipt (the `received`, or the `decided`); a gap opened before `since` is not reported:
what came before it was not read. A gap opened less than `grace` before `now` (the time of
the read, not the newest receipt: a worker that stopped must not hide its gaps) is in flight
and only counted. Counts cover receipts at or after `since`; earlier ones still close gaps.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from schemas.receipt import Receipt, Stage

GapKind = Literal["no_decision", "trigger_without_task", "review_without_task"]
GAP_KINDS: tuple[GapKind, ...] = ("no_decision", "trigger_without_task", "review_without_task")
#: The row of receipts whose force could not be read (a rejection of an unreadable message).
UNKNOWN_FORCE = "unknown"
#: The task a trigger must have.
INVESTIGATION = "child_protection_investigation"

_Key = tuple[str, str, int]


@dataclass(frozen=True)
class DayCounts:
    """Receipts of one force on one day, by stage, each receipt once."""

    force: str
    day: date
    received: int = 0
    rejected: int = 0
    decided: int = 0
    tasks_raised: int = 0
    acknowledged: int = 0


@dataclass(frozen=True)
class Gap:
    """A revision that stopped short: its references, how far it got, and since when."""

    kind: GapKind
    force: str
    incident_id: str
    revision: int
    notification_id: str | None
    #: The stage it reached: `received`, `decided trigger` or `decided review`.
    stage: str
    #: When the receipt that opened the gap was written.
    opened_at: datetime
    age: timedelta


@dataclass(frozen=True)
class Report:
    """What `dvtrigger reconcile` shows: counts, gaps, gaps in flight, unreadable records."""

    since: datetime
    now: datetime
    grace: timedelta
    timezone: str
    force: str | None
    days: tuple[DayCounts, ...]
    gaps: tuple[Gap, ...]
    in_flight: tuple[Gap, ...]
    duplicates: int
    unreadable: int

    @property
    def exit_status(self) -> int:
        """0 when there is no gap, 1 when there is one (for cron and CI)."""
        return 1 if self.gaps else 0

    def gaps_of(self, kind: GapKind) -> tuple[Gap, ...]:
        """The gaps of one kind, in order."""
        return tuple(g for g in self.gaps if g.kind == kind)

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready values (times in UTC ISO 8601, ages in seconds)."""
        return {
            "since": self.since.isoformat(),
            "now": self.now.isoformat(),
            "grace_seconds": int(self.grace.total_seconds()),
            "timezone": self.timezone,
            "force": self.force,
            "days": [{**asdict(d), "day": d.day.isoformat()} for d in self.days],
            "gaps": {kind: [_gap_dict(g) for g in self.gaps_of(kind)] for kind in GAP_KINDS},
            "in_flight": {kind: sum(g.kind == kind for g in self.in_flight) for kind in GAP_KINDS},
            "duplicates": self.duplicates,
            "unreadable": self.unreadable,
        }


def _gap_dict(gap: Gap) -> dict[str, Any]:
    """One gap as JSON-ready values."""
    found = asdict(gap)
    found["opened_at"] = gap.opened_at.isoformat()
    found["age_seconds"] = int(found.pop("age").total_seconds())
    return found


def reconcile(
    receipts: Iterable[Receipt],
    *,
    since: datetime,
    now: datetime,
    grace: timedelta,
    timezone: str,
    force: str | None = None,
    unreadable: int = 0,
) -> Report:
    """Count the receipts by force and day and find the gaps; `force`: only that force's."""
    unique, duplicates = _unique(r for r in receipts if force is None or r.force == force)
    opened = _gaps(unique, since, now)
    return Report(
        since=since,
        now=now,
        grace=grace,
        timezone=timezone,
        force=force,
        days=_days((r for r in unique if r.at >= since), ZoneInfo(timezone)),
        gaps=tuple(g for g in opened if g.age >= grace),
        in_flight=tuple(g for g in opened if g.age < grace),
        duplicates=duplicates,
        unreadable=unreadable,
    )


def _unique(receipts: Iterable[Receipt]) -> tuple[list[Receipt], int]:
    """Each receipt once (the first read of each `receipt_id`), and how many repeats."""
    seen: dict[str, Receipt] = {}
    repeats = 0
    for receipt in receipts:
        if receipt.receipt_id in seen:
            repeats += 1
        else:
            seen[receipt.receipt_id] = receipt
    return list(seen.values()), repeats


#: The column each stage is counted in.
_COLUMNS: dict[Stage, str] = {
    "received": "received",
    "rejected": "rejected",
    "decided": "decided",
    "task_raised": "tasks_raised",
    "task_acknowledged": "acknowledged",
}


def _days(receipts: Iterable[Receipt], zone: ZoneInfo) -> tuple[DayCounts, ...]:
    """Counts by force and local day, in order of force then day."""
    counts: dict[tuple[str, date], Counter[str]] = defaultdict(Counter)
    for receipt in receipts:
        day = receipt.at.astimezone(zone).date()
        counts[(receipt.force or UNKNOWN_FORCE, day)][_COLUMNS[receipt.stage]] += 1
    return tuple(DayCounts(force, day, **counts[(force, day)]) for force, day in sorted(counts))


def _key(receipt: Receipt) -> _Key | None:
    """The revision a receipt is of; None when it does not say (a rejection)."""
    if receipt.force is None or receipt.incident_id is None or receipt.revision is None:
        return None
    return receipt.force, receipt.incident_id, receipt.revision


def _gaps(receipts: Iterable[Receipt], since: datetime, now: datetime) -> list[Gap]:
    """Every gap opened at or after `since`, whatever its age, in order of kind and key."""
    received: dict[_Key, Receipt] = {}
    decided: dict[_Key, dict[str, Receipt]] = defaultdict(dict)
    tasks: dict[_Key, set[str | None]] = defaultdict(set)
    for receipt in receipts:
        key = _key(receipt)
        if key is None:
            continue
        if receipt.stage == "received":
            received[key] = _first(received.get(key), receipt)
        elif receipt.stage == "decided" and receipt.decision is not None:
            by = decided[key]
            by[receipt.decision] = _first(by.get(receipt.decision), receipt)
        elif receipt.stage in ("task_raised", "task_acknowledged"):
            tasks[key].add(receipt.task_type)
    newest: dict[tuple[str, str], int] = {}
    for force, incident_id, revision in decided:
        newest[force, incident_id] = max(revision, newest.get((force, incident_id), 0))
    found = [
        _gap("no_decision", "received", key, first, now)
        for key, first in received.items()
        if newest.get(key[:2], 0) < key[2]
    ]
    for key, by in decided.items():
        if "trigger" in by and INVESTIGATION not in tasks[key]:
            found.append(_gap("trigger_without_task", "decided trigger", key, by["trigger"], now))
        elif "trigger" not in by and "review" in by and not tasks[key]:
            found.append(_gap("review_without_task", "decided review", key, by["review"], now))
    found = [g for g in found if g.opened_at >= since]
    return sorted(found, key=_order)


def _order(gap: Gap) -> tuple[int, str, str, int]:
    """Gaps by kind, then force, incident and revision."""
    return GAP_KINDS.index(gap.kind), gap.force, gap.incident_id, gap.revision


def _first(known: Receipt | None, receipt: Receipt) -> Receipt:
    """The earlier of two receipts (the one known on a tie)."""
    return receipt if known is None or receipt.at < known.at else known


def _gap(kind: GapKind, stage: str, key: _Key, opened: Receipt, now: datetime) -> Gap:
    """The gap a receipt opened."""
    force, incident_id, revision = key
    at = opened.at
    return Gap(kind, force, incident_id, revision, opened.notification_id, stage, at, now - at)
