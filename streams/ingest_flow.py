"""Ingest: police notifications are validated, refused to the dead-letter topic, or passed on.

Valid notifications are re-keyed by `incident_id`, so that every revision of
one incident is decided in order by one worker.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from streams.deadletter import guarded, send_dead_letter
from streams.ingest import Rejected, parse_incident
from streams.wiring import Wiring


def install(w: Wiring) -> None:
    """Add the ingest agent to the app."""

    @w.app.agent(w.topics.police_incidents, name="ingest-police-incidents")
    async def ingest(stream: Any) -> None:
        async for event in stream.events():
            failed = w.metrics.incidents_rejected.labels("processing_error")
            await guarded(partial(receive, w, event), w.topics.dead_letter, event, failed)


async def receive(w: Wiring, event: Any) -> None:
    """Validate one notification; forward it, or dead-letter it with its reason."""
    w.metrics.incidents_received.inc()
    try:
        incident = parse_incident(event.value)
    except Rejected as rejected:
        w.metrics.incidents_rejected.labels(rejected.reason_class).inc()
        await send_dead_letter(w.topics.dead_letter, event, rejected.reason_class, rejected.detail)
        return
    await w.topics.incidents.send(key=incident.incident_id.encode(), value=event.value)
