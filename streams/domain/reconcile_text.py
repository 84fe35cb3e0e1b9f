"""The reconciliation report as plain text, for a police integration team and an operator.

A table of counts by force and day, then each kind of gap with its references (force,
incident, revision, notification, the stage it reached, how long ago), then what is in
flight, repeated or unreadable. Times are shown where the council is; nothing but
references and counts is ever printed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from streams.domain.reconcile import GAP_KINDS, DayCounts, GapKind, Report

#: The heading of each kind of gap.
TITLES: dict[GapKind, str] = {
    "no_decision": "Incidents without a decision",
    "trigger_without_task": "Triggers without an investigation task",
    "review_without_task": "Reviews without a task",
}
_SHORT: dict[GapKind, str] = {
    "no_decision": "without a decision",
    "trigger_without_task": "triggers without a task",
    "review_without_task": "reviews without a task",
}
_COUNTS = ("force", "day", "received", "rejected", "decided", "tasks raised", "acknowledged")
_GAPS = ("force", "incident_id", "revision", "notification", "stage reached", "age")


def render_text(report: Report) -> str:
    """The whole report, lines ending in a newline."""
    zone = ZoneInfo(report.timezone)
    who = f"force {report.force}" if report.force else "all forces"
    lines = [
        f"Receipts since {_local(report.since, zone)}, read at {_local(report.now, zone)}"
        f" ({report.timezone}); {who}; grace {age(report.grace)}",
        "",
        *_table(_COUNTS, [_count_row(d) for d in report.days] or [["(no receipts)"]]),
    ]
    for kind in GAP_KINDS:
        gaps = report.gaps_of(kind)
        lines += ["", f"{TITLES[kind]}: {len(gaps)}"]
        rows = [
            [g.force, g.incident_id, str(g.revision), g.notification_id or "-", g.stage, age(g.age)]
            for g in gaps
        ]
        if rows:
            lines += ["  " + line for line in _table(_GAPS, rows)]
    flying = ", ".join(
        f"{sum(g.kind == kind for g in report.in_flight)} {_SHORT[kind]}" for kind in GAP_KINDS
    )
    lines += [
        "",
        f"In flight (opened less than {age(report.grace)} ago, not gaps): {flying}",
        f"Repeated receipts counted once: {report.duplicates}",
        f"Unreadable records on the receipts topic (skipped): {report.unreadable}",
        "Gaps found." if report.gaps else "No gaps.",
    ]
    return "\n".join(lines) + "\n"


def age(span: timedelta) -> str:
    """A duration in the two largest units: `3d 04h`, `2h 05m`, `12m`, `40s`."""
    seconds = max(0, int(span.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m" if minutes else f"{seconds}s"


def _local(moment: datetime, zone: ZoneInfo) -> str:
    """A time to the minute where the council is."""
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def _count_row(counts: DayCounts) -> list[str]:
    """One row of the counts table."""
    numbers = (
        counts.received,
        counts.rejected,
        counts.decided,
        counts.tasks_raised,
        counts.acknowledged,
    )
    return [counts.force, counts.day.isoformat(), *(str(n) for n in numbers)]


def _table(heads: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Columns padded to their widest cell; numbers to the right, words to the left."""
    widths = [max([len(h), *(len(r[i]) for r in rows if i < len(r))]) for i, h in enumerate(heads)]

    def line(cells: Sequence[str]) -> str:
        padded = [
            c.rjust(w) if c.isdigit() else c.ljust(w) for c, w in zip(cells, widths, strict=False)
        ]
        return "  ".join(padded).rstrip()

    return [line(heads), *(line(r) for r in rows)]
