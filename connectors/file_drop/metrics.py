"""The file drop's metrics, declared once against an injectable registry; no personal data."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class DropMetrics:
    """Counters of files and lines; labels are bounded (outcome, reason class)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.files = Counter(
            "dvtrigger_file_drop_files",
            "Dropped files finished, by outcome (published, duplicate, failed).",
            ["outcome"],
            registry=r,
        )
        self.lines_published = Counter(
            "dvtrigger_file_drop_lines_published",
            "Lines of dropped files published to the police feed.",
            registry=r,
        )
        self.lines_refused = Counter(
            "dvtrigger_file_drop_lines_refused",
            "Lines of dropped files dead-lettered, by reason class.",
            ["reason"],
            registry=r,
        )
        self.feed_failures = Counter(
            "dvtrigger_file_drop_feed_failures",
            "Batches the broker did not take; the file is tried again from its checkpoint.",
            registry=r,
        )
        self.heartbeat = Gauge(
            "dvtrigger_file_drop_heartbeat_timestamp_seconds",
            "When the drop last looked at its folder or finished a batch (Unix time).",
            registry=r,
        )
