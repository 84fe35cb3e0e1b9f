"""Every metric the worker exports, declared once against an injectable registry.

Labels carry bounded values only (outcome, reason class, council code, status
class), never an incident id, a name, an address or any other personal data.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

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
        self.case_system_errors = Counter(
            "dvtrigger_case_system_errors",
            "Failed case-system requests, by error class.",
            ["error"],
            registry=r,
        )
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
