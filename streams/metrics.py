"""Every metric the worker exports, declared once against an injectable registry.

Labels carry bounded values only (outcome, reason class, council code, status
class), never an incident id, a name, an address or any other personal data.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
FRESHNESS_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 4 * 3600, 24 * 3600)


class Metrics:
    """The worker's metrics; each attribute's help text is its one-line meaning."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.incidents_received = Counter(
            "dvtrigger_incidents_received", "Police notifications read from the feed.", registry=r
        )
        self.incidents_rejected = Counter(
            "dvtrigger_incidents_rejected",
            "Police notifications dead-lettered, by reason class.",
            ["reason"],
            registry=r,
        )
        self.incidents_routed = Counter(
            "dvtrigger_incidents_routed",
            "Valid notifications decided where they arrived (in_place: keyed by incident_id)"
            " or re-keyed onto the incidents topic (re_keyed).",
            ["path"],
            registry=r,
        )
        self.incidents_duplicate = Counter(
            "dvtrigger_incidents_duplicate",
            "Notifications already decided (same notification_id, or an older revision).",
            ["kind"],
            registry=r,
        )
        self.decisions = Counter(
            "dvtrigger_decisions",
            "Decisions written to the decision log.",
            ["decision"],
            registry=r,
        )
        self.incidents_redecided = Counter(
            "dvtrigger_incidents_redecided",
            "Recent incidents re-decided after a register change, by result (late_task,"
            " decision_only, unchanged, failed).",
            ["result"],
            registry=r,
        )
        self.recent_incidents = Gauge(
            "dvtrigger_recent_incidents",
            "Recent incidents this worker owns and re-decides when the register changes.",
            registry=r,
        )
        self.register_events_applied = Counter(
            "dvtrigger_register_events_applied", "Register events applied.", ["type"], registry=r
        )
        self.register_events_rejected = Counter(
            "dvtrigger_register_events_rejected",
            "Register events dead-lettered, by reason class.",
            ["reason"],
            registry=r,
        )
        self.register_subjects = Gauge(
            "dvtrigger_register_subjects",
            "Subjects in this worker's register.",
            ["kind"],
            registry=r,
        )
        self.tasks = Counter(
            "dvtrigger_tasks",
            "Task commands delivered to a case system, by result (created, updated, unchanged).",
            ["result"],
            registry=r,
        )
        self.tasks_parked = Counter(
            "dvtrigger_tasks_parked",
            "Task commands parked after the case system would not take them.",
            ["reason"],
            registry=r,
        )
        self._delivery(r)
        self.seconds_to_decision = Histogram(
            "dvtrigger_seconds_reported_to_decision",
            "Seconds from an incident's reported_at to its decision being logged.",
            buckets=FRESHNESS_BUCKETS,
            registry=r,
        )
        self.seconds_to_task = Histogram(
            "dvtrigger_seconds_reported_to_task",
            "Seconds from an incident's reported_at to its task raised in the case system.",
            buckets=FRESHNESS_BUCKETS,
            registry=r,
        )
        self.build = Info("dvtrigger_build", "Version of dvtrigger and of its rules.", registry=r)

    def _delivery(self, r: CollectorRegistry) -> None:
        """Metrics of delivery to the case systems; `council` is a route name (code or default)."""
        self.case_system_errors = Counter(
            "dvtrigger_case_system_errors",
            "Failed case-system requests, by route and error class.",
            ["council", "error"],
            registry=r,
        )
        self.council_tasks = Counter(
            "dvtrigger_council_tasks",
            "Task commands finished per route, by result (created, updated, unchanged, parked).",
            ["council", "result"],
            registry=r,
        )
        self.tasks_unrouted = Counter(
            "dvtrigger_tasks_unrouted",
            "Tasks sent to the default case system because their council has no route.",
            ["reason"],
            registry=r,
        )
        self.tasks_retry_queued = Counter(
            "dvtrigger_tasks_retry_queued",
            "Task commands sent to the retry topic, by reason class of the last failure.",
            ["reason"],
            registry=r,
        )
        self.task_retry_attempts = Counter(
            "dvtrigger_task_retry_attempts",
            "Requests the retry agent made, per route.",
            ["council"],
            registry=r,
        )
        self.case_system_seconds = Histogram(
            "dvtrigger_case_system_request_seconds",
            "Seconds per case-system request, by route and status class (2xx, 4xx, 5xx,"
            " timeout, connect, bad_response, abandoned).",
            ["council", "status"],
            buckets=REQUEST_BUCKETS,
            registry=r,
        )
        self.circuit_state = Gauge(
            "dvtrigger_case_system_circuit_state",
            "Circuit breaker of each route: 0 closed, 1 half-open, 2 open.",
            ["council"],
            registry=r,
        )
