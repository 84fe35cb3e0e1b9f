"""Ingest: police notifications are validated, refused to the dead-letter topic, or decided.

Every revision of one incident must be decided in order by one worker, against
the incident's state in a table partitioned by `incident_id`. A notification
that a force already keyed by `incident_id`, and that sits in the partition the
incidents topic would give that key, is decided where it is (its partition
number is the same on every co-partitioned topic, so this worker owns that
incident's state). Any other is re-keyed by `incident_id` onto the incidents
topic and decided from there. Both paths run the same `decision_flow` code.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from schemas.police import PoliceIncident
from streams.domain.parsing import Rejected, parse_incident
from streams.flows import decide as decision_flow
from streams.flows.deadletter import guarded, send_dead_letter
from streams.flows.wiring import Wiring

#: The topic roles this flow consumes (its lag is measured).
CONSUMES = ("police-incidents",)


def install(w: Wiring) -> None:
    """Add the ingest agent to the app."""

    @w.app.agent(w.topics.police_incidents, name="ingest-police-incidents")
    async def ingest(stream: Any) -> None:
        batch_size, within = decision_flow.BATCH_SIZE, decision_flow.BATCH_WITHIN_S
        async for events in stream.take_events(batch_size, within=within):
            failed = w.metrics.incidents_rejected.labels("processing_error")
            here: list[tuple[Any, PoliceIncident]] = []
            for event in events:
                await guarded(partial(receive, w, event, here), w, event, failed)
            if here:
                await decision_flow.decide_parsed(w, here)


async def receive(w: Wiring, event: Any, here: list[tuple[Any, PoliceIncident]]) -> None:
    """Validate one notification; keep it to decide here, forward it, or dead-letter it."""
    w.metrics.incidents_received.inc()
    try:
        incident = parse_incident(event.value)
    except Rejected as rejected:
        w.metrics.incidents_rejected.labels(rejected.reason_class).inc()
        await send_dead_letter(w, event, rejected.reason_class, rejected.detail)
        return
    w.metrics.note_notification(incident.reported_at)
    key = incident.incident_id.encode()
    if decides_in_place(w, event, key):
        w.metrics.incidents_routed.labels("in_place").inc()
        here.append((event, incident))
        return
    w.metrics.incidents_routed.labels("re_keyed").inc()
    await w.topics.incidents.send(key=key, value=event.value)


def decides_in_place(w: Wiring, event: Any, key: bytes) -> bool:
    """Whether the notification is keyed by its incident and where the incidents topic puts it.

    Then the incidents topic and the incident-state table, having as many
    partitions as the police topic, are co-partitioned with it: this worker owns
    the partition that holds the incident's state. When the partition counts
    cannot be read, the notification takes the incidents topic (always correct).
    """
    message = event.message
    if message.key != key:
        return False
    incidents = w.topics.incidents.get_topic_name()
    counts = partition_counts(w, (message.topic, incidents))
    if counts is None or counts[0] != counts[1]:
        return False
    return bool(w.app.consumer.key_partition(incidents, key) == message.partition)


def partition_counts(w: Wiring, topics: tuple[str, ...]) -> tuple[int, ...] | None:
    """Partitions of each subscribed topic (faust's consumer metadata); None if unknown."""
    try:
        counts = tuple(w.app.consumer.topic_partitions(topic) or 0 for topic in topics)
    except Exception:  # no consumer yet, or a transport without it: take the incidents topic
        return None
    return counts if all(counts) else None
