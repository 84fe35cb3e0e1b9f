"""Publisher: validate police notifications or register events from a file, then produce them.

It is what a police integration team runs to put a file on the feed: every
line is validated against the contract first; the ones refused are reported
by line number and reason (never their content) and not produced.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from kafka import KafkaProducer

from streams.domain.parsing import Rejected, parse_incident, parse_register_event

Feed = Literal["incidents", "register"]


@dataclass
class PublishReport:
    """What a publish run did: counts, and each refused line with its reason."""

    produced: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)


def keyed(feed: Feed, raw: bytes) -> bytes:
    """Validate one message and return its partition key (incident or subject ref)."""
    if feed == "incidents":
        return parse_incident(raw).incident_id.encode()
    return parse_register_event(raw).subject.subject_ref.encode()


def lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """Non-blank lines of a JSON-lines file with their 1-based numbers."""
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                yield number, line.strip()


def producer(
    bootstrap: str, options: Mapping[str, Any] | None = None, *, idempotent: bool = True
) -> KafkaProducer:
    """A producer that waits for all in-sync replicas and never writes a message twice.

    `options`: TLS and SASL, as `connectors.kafka.security.client_options` gives them;
    none: plaintext (the embedded broker). `idempotent=False`: a retried send may be written
    twice (the flows drop the repeat). Only for a broker that is SIGKILLed under load: the
    embedded Tansu with its log in S3 then loses records it acknowledged to an idempotent
    producer (docs/testing.md, "A broker that loses acknowledged records").
    """
    return KafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=idempotent,
        linger_ms=5,
        **(options or {}),
    )


def publish(
    feed: Feed, messages: Iterable[tuple[int, bytes]], topic: str, kafka: KafkaProducer
) -> PublishReport:
    """Validate and produce each message; refused ones are reported, not produced."""
    report = PublishReport()
    futures = []
    for number, raw in messages:
        try:
            key = keyed(feed, raw)
        except Rejected as rejected:
            report.rejected.append((number, str(rejected)))
            continue
        futures.append(kafka.send(topic, key=key, value=raw))
    kafka.flush()
    for future in futures:
        future.get(timeout=30)
        report.produced += 1
    return report


def publish_dicts(
    feed: Feed, messages: Iterable[dict[str, object]], topic: str, kafka: KafkaProducer
) -> PublishReport:
    """Publish messages given as dicts (the demo feed and tests)."""
    encoded = ((n, json.dumps(m).encode()) for n, m in enumerate(messages, start=1))
    return publish(feed, encoded, topic, kafka)
