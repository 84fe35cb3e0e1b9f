"""Every metric the worker exports, declared once against an injectable registry.

Labels carry bounded values only (outcome, rule, reason class, council code,
status class, topic role, task kind), never an incident id, a name, an address
or any other personal data. Gauges whose value depends on the time of the scrape
(ages, lags) are `ScrapeGauge`s: declared here, computed by a source at scrape.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from schemas.decision import Decision
from streams.telemetry.labels import rule_of, task_kind
from streams.telemetry.scrape_gauge import Samples, ScrapeGauge

REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
FRESHNESS_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 4 * 3600, 24 * 3600)


class Metrics:
    """The worker's metrics; each attribute's help text is its one-line meaning."""

    def __init__(
        self, registry: CollectorRegistry | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.registry = registry or CollectorRegistry()
        self.clock = clock
        r = self.registry
        self._incidents(r)
        self._register(r)
        self._set_aside(r)
        self._delivery(r)
        self._freshness(r)
        self._consumer(r)
        self._retention(r)
        self._broker(r)
        self.build = Info("dvtrigger_build", "Version of dvtrigger and of its rules.", registry=r)

    def _incidents(self, r: CollectorRegistry) -> None:
        """Metrics of the police feed and the decisions made on it."""
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
        self.subject_outcomes = Counter(
            "dvtrigger_subject_outcomes",
            "Subjects in the decisions logged, by outcome and the rule whose evidence was"
            " strongest.",
            ["outcome", "rule"],
            registry=r,
        )
        self.incidents_redecided = Counter(
            "dvtrigger_incidents_redecided",
            "Recent incidents re-decided after a register change, by result (late_task,"
            " task_flagged, decision_only, unchanged, failed).",
            ["result"],
            registry=r,
        )
        self.tasks_flagged = Counter(
            "dvtrigger_tasks_flagged",
            "Tasks a re-decision marked for a person to confirm or close, the register having"
            " learned since that the subject was out of scope or unmatched on the incident day, by"
            " reason (pregnancy_ended, moved, withdrawn, no_longer_matched).",
            ["reason"],
            registry=r,
        )
        self.receipts = Counter(
            "dvtrigger_receipts",
            "Receipts for the police sent to the receipts topic and acknowledged, by stage"
            " (received, rejected, decided, task_raised, task_acknowledged).",
            ["stage"],
            registry=r,
        )
        self.tasks_awaiting_ack = Gauge(
            "dvtrigger_tasks_awaiting_acknowledgement",
            "Raised tasks this deliver worker watches until the council's duty team acknowledges"
            " them (of the task-command partitions it is assigned).",
            registry=r,
        )
        self.ack_watches_dropped = Counter(
            "dvtrigger_ack_watches_dropped",
            "Raised tasks no longer watched for an acknowledgement, by why: expired (none within"
            " receipts.ack_watch_days) or not_found (the case system no longer has the task).",
            ["why"],
            registry=r,
        )
        self.recent_incidents = Gauge(
            "dvtrigger_recent_incidents",
            "Recent incidents this worker owns and re-decides when the register changes.",
            registry=r,
        )
        self.incident_states = ScrapeGauge(
            "dvtrigger_incident_states",
            "Incident states in this worker's incident-state table, recent or not: what"
            " retention purges.",
            registry=r,
        )

    def _register(self, r: CollectorRegistry) -> None:
        """Metrics of the register feed and the register it folds into."""
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
        self.register_snapshots = Counter(
            "dvtrigger_register_snapshots",
            "Register snapshots by result: written; loaded (at start); failed (not written,"
            " the disk refused); discarded (loaded, but the changelog did not hold it).",
            ["result"],
            registry=r,
        )
        self.register_snapshot_timestamp = ScrapeGauge(
            "dvtrigger_register_snapshot_timestamp_seconds",
            "When the register snapshot this worker last wrote or loaded was made (Unix time):"
            " a restart reads the changelog only after it, while it is young enough to trust.",
            registry=r,
        )
        #: When the snapshot last written or loaded was made; no sample until one is.
        self.register_snapshot_made: float | None = None
        self.register_snapshot_timestamp.source = lambda: _sample(self.register_snapshot_made)

    def _set_aside(self, r: CollectorRegistry) -> None:
        """Task commands delivered or parked, dead letters, and work run again."""
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
        self.dead_letters = Counter(
            "dvtrigger_dead_letters",
            "Messages written to the dead-letter topic, by source topic role and reason class.",
            ["source", "reason"],
            registry=r,
        )
        self.redeliveries = Counter(
            "dvtrigger_redeliveries",
            "Units of work run again after a failure that was not the input's (the broker's or"
            " the network's), by flow: never dead-lettered.",
            ["flow"],
            registry=r,
        )

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

    def _freshness(self, r: CollectorRegistry) -> None:
        """How fresh the decisions, the tasks and the feeds are."""
        self.seconds_to_decision = Histogram(
            "dvtrigger_seconds_reported_to_decision",
            "Seconds from an incident's reported_at to its decision being logged.",
            buckets=FRESHNESS_BUCKETS,
            registry=r,
        )
        self.seconds_to_task = Histogram(
            "dvtrigger_seconds_reported_to_task",
            "Seconds from an incident's reported_at to its task raised in the case system,"
            " by task kind (investigation, review).",
            ["kind"],
            buckets=FRESHNESS_BUCKETS,
            registry=r,
        )
        self.police_newest = ScrapeGauge(
            "dvtrigger_police_newest_notification_timestamp_seconds",
            "reported_at of the newest police notification this worker received (Unix time).",
            registry=r,
        )
        self.register_newest = ScrapeGauge(
            "dvtrigger_register_newest_event_timestamp_seconds",
            "recorded_at of the newest register event in this worker's register (Unix time).",
            registry=r,
        )
        self.register_newest_age = ScrapeGauge(
            "dvtrigger_register_newest_event_age_seconds",
            "Seconds since the recorded_at of the newest register event: a stale feed grows it.",
            registry=r,
        )
        #: The newest times seen; no sample of their gauges until one is (Unix time).
        self.newest_notification: float | None = None
        self.newest_register_event: float | None = None
        self.police_newest.source = lambda: _sample(self.newest_notification)
        self.register_newest.source = lambda: _sample(self.newest_register_event)
        self.register_newest_age.source = self._register_age

    def _consumer(self, r: CollectorRegistry) -> None:
        """How far behind the messages on each topic this worker consumes it is."""
        self.consumer_lag_seconds = ScrapeGauge(
            "dvtrigger_consumer_lag_seconds",
            "Seconds since the timestamp of the last message processed on a topic while"
            " messages wait on this worker's partitions of it; 0 when none wait.",
            ["topic"],
            registry=r,
        )
        self.consumer_last_message = ScrapeGauge(
            "dvtrigger_consumer_last_message_timestamp_seconds",
            "Timestamp of the last message this worker processed on a topic (Unix time).",
            ["topic"],
            registry=r,
        )
        self.consumer_offset_lag = ScrapeGauge(
            "dvtrigger_consumer_offset_lag",
            "Messages not yet processed on the partitions of a topic this worker is assigned.",
            ["topic"],
            registry=r,
        )

    def _retention(self, r: CollectorRegistry) -> None:
        """What retention purged, and when it last finished a sweep."""
        self.retention_purged = Counter(
            "dvtrigger_retention_purged",
            "Records purged past their retention period, by kind (register_subject,"
            " incident_state: tombstoned on the changelog; audit_detail: a detail nulled).",
            ["kind"],
            registry=r,
        )
        self.retention_last_sweep = Gauge(
            "dvtrigger_retention_last_sweep_timestamp_seconds",
            "When this worker last finished a retention sweep (Unix time).",
            registry=r,
        )

    def _broker(self, r: CollectorRegistry) -> None:
        """Whether the broker can be reached (`streams.telemetry.broker_outage`)."""
        self.broker_reachable = ScrapeGauge(
            "dvtrigger_broker_reachable",
            "1 while this worker reaches the broker, 0 during an outage: from its Kafka"
            " clients' connection failures and a periodic metadata probe.",
            registry=r,
        )
        self.broker_outage_seconds = ScrapeGauge(
            "dvtrigger_broker_outage_seconds",
            "Seconds the broker outage under way has lasted; 0 while the broker is reachable.",
            registry=r,
        )
        self.log_records_suppressed = Counter(
            "dvtrigger_log_records_suppressed",
            "Connection-failure log records of the Kafka clients counted instead of logged"
            " during broker outages (the outage's start and end are logged once each).",
            registry=r,
        )

    def set_build(self, version: str, rules_version: str) -> None:
        """Publish the versions this worker runs."""
        self.build.info({"version": version, "rules_version": rules_version})

    def count_decision(self, decision: Decision) -> None:
        """Count one decision logged, and each of its subjects by outcome and rule."""
        self.decisions.labels(decision.decision).inc()
        for subject in decision.subjects:
            if subject.outcome is not None:
                self.subject_outcomes.labels(subject.outcome, rule_of(subject)).inc()

    def observe_task_raised(self, task_type: str, reported_at: datetime) -> None:
        """Observe a new task's freshness: seconds from its incident's reported_at."""
        lag = self.clock() - reported_at.timestamp()
        self.seconds_to_task.labels(task_kind(task_type)).observe(max(0.0, lag))

    def note_notification(self, reported_at: datetime) -> None:
        """Keep the newest reported_at of the notifications received."""
        stamp = reported_at.timestamp()
        if self.newest_notification is None or stamp > self.newest_notification:
            self.newest_notification = stamp

    def note_register_event(self, recorded_at: datetime | None) -> None:
        """Keep the newest recorded_at of the register events the register holds."""
        if recorded_at is None:
            return
        stamp = recorded_at.timestamp()
        if self.newest_register_event is None or stamp > self.newest_register_event:
            self.newest_register_event = stamp

    def _register_age(self) -> Samples:
        """The newest register event's age now; no sample before the register holds one."""
        newest = self.newest_register_event
        return {} if newest is None else {(): max(0.0, self.clock() - newest)}


def _sample(value: float | None) -> Samples:
    """One label-less sample, or none while the value is unknown."""
    return {} if value is None else {(): value}
