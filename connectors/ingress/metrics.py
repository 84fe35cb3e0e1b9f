"""The ingress's metrics, declared once against an injectable registry.

Labels are force codes and reason classes only: never anything of a notification.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

#: Why a request was refused, as the `reason` label says it.
REASONS = (
    "unauthenticated",
    "forbidden",
    "too_large",
    "unsupported_media_type",
    "invalid",
)


class IngressMetrics:
    """Counters of the ingress; each help text is the metric's one-line meaning."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.accepted = Counter(
            "dvtrigger_ingress_accepted",
            "Notifications the broker acknowledged, answered 202, by force.",
            ["force"],
            registry=r,
        )
        self.refused = Counter(
            "dvtrigger_ingress_refused",
            "Requests refused (401, 403, 413, 415, 422), by reason class.",
            ["reason"],
            registry=r,
        )
        self.rate_limited = Counter(
            "dvtrigger_ingress_rate_limited",
            "Requests answered 429 because the force's token bucket was empty, by force.",
            ["force"],
            registry=r,
        )
        self.broker_unavailable = Counter(
            "dvtrigger_ingress_broker_unavailable",
            "Writes the broker did not acknowledge in time, answered 503.",
            registry=r,
        )
        self.dead_lettered = Counter(
            "dvtrigger_ingress_dead_lettered",
            "Invalid notifications of an authenticated force sent to the dead-letter topic.",
            ["reason"],
            registry=r,
        )
        for reason in REASONS:
            self.refused.labels(reason)
