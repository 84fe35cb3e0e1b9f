"""The duty inbox's metrics, declared once and worked out from its database at each scrape.

The inbox exports them on its own `GET /metrics`, from its own registry. `kind` is the
task kind (`investigation` or `review`); no label carries anything of a task but that. A
review a person found to be the same family is counted as an investigation while that holds.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry

from connectors.duty_inbox.census import Census
from connectors.duty_inbox.store import TaskStore
from streams.telemetry.labels import task_kind
from streams.telemetry.scrape_gauge import Samples, ScrapeGauge

KINDS = ("investigation", "review")


class InboxMetrics:
    """The duty inbox's metrics; each help text is the metric's one-line meaning."""

    def __init__(
        self,
        store: TaskStore,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.registry = registry or CollectorRegistry()
        self.store = store
        self.clock = clock
        r = self.registry
        self.review_queue_depth = ScrapeGauge(
            "dvtrigger_duty_inbox_review_queue_depth",
            "Review tasks not yet closed: possible matches waiting for a person to check.",
            registry=r,
        )
        self.unacknowledged = ScrapeGauge(
            "dvtrigger_duty_inbox_tasks_unacknowledged",
            "Open tasks nobody has acknowledged yet (a revision reopens a task), by kind.",
            ["kind"],
            registry=r,
        )
        self.oldest_unacknowledged = ScrapeGauge(
            "dvtrigger_duty_inbox_oldest_unacknowledged_age_seconds",
            "Seconds the oldest unacknowledged task has waited since raised or reopened, by"
            " kind; 0 when none waits.",
            ["kind"],
            registry=r,
        )
        self.overdue = ScrapeGauge(
            "dvtrigger_duty_inbox_tasks_overdue",
            "Tasks not closed and past their due time, by kind (the inbox page marks them).",
            ["kind"],
            registry=r,
        )
        self.review_queue_depth.source = lambda: {(): float(self._count(lambda t: True)["review"])}
        self.unacknowledged.source = lambda: _by_kind(self._count(lambda t: t.status == "open"))
        self.oldest_unacknowledged.source = self._oldest
        self.overdue.source = self._overdue

    def _tasks(self) -> list[tuple[str, Census]]:
        """Each task not closed, with its kind (tasks of another type are left out)."""
        return [
            (kind, task)
            for task in self.store.census()
            if (kind := task_kind(task.task_type)) in KINDS
        ]

    def _count(self, wanted: Callable[[Census], bool]) -> dict[str, int]:
        counts = dict.fromkeys(KINDS, 0)
        for kind, task in self._tasks():
            counts[kind] += wanted(task)
        return counts

    def _oldest(self) -> Samples:
        now = self.clock()
        ages = dict.fromkeys(KINDS, 0.0)
        for kind, task in self._tasks():
            if task.status == "open":
                waited = (now - task.unacknowledged_since).total_seconds()
                ages[kind] = max(ages[kind], waited)
        return {(kind,): age for kind, age in ages.items()}

    def _overdue(self) -> Samples:
        now = self.clock()
        return _by_kind(self._count(lambda t: t.due_by is not None and t.due_by < now))


def _by_kind(counts: dict[str, int]) -> Samples:
    return {(kind,): float(n) for kind, n in counts.items()}
