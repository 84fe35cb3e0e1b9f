"""Decide: each incident revision is judged against the register and logged once.

Ordering and delivery: the incidents topic is keyed by `incident_id`, so one
worker sees an incident's revisions in order. The decision and its task
commands are sent and acknowledged by the broker *before* the incident's state
is written; a crash in between redelivers the incident and decides it again,
which the idempotent task commands absorb. The other order could lose a task.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any

from pydantic import BaseModel, Field

from schemas.decision import Decision
from schemas.police import PoliceIncident
from streams.deadletter import guarded
from streams.rules import RULES_VERSION, decide
from streams.tasks import subject_key, task_commands
from streams.wiring import Wiring

log = logging.getLogger(__name__)
KEEP_NOTIFICATION_IDS = 50
#: Incidents decided per broker round trip, and how long a batch waits to fill.
BATCH_SIZE = 200
BATCH_WITHIN_S = 0.02


class IncidentState(BaseModel):
    """What the worker remembers of one incident: its latest decided revision and outcomes."""

    revision: int = 0
    notification_ids: list[str] = Field(default_factory=list)
    outcomes: dict[str, str] = Field(default_factory=dict)


def install(w: Wiring) -> None:
    """Add the decision agent to the app."""

    @w.app.agent(w.topics.incidents, name="decide-incidents")
    async def decide_incidents(stream: Any) -> None:
        async for events in stream.take_events(BATCH_SIZE, within=BATCH_WITHIN_S):
            await handle_batch(w, events)


def duplicate_kind(state: IncidentState, incident: PoliceIncident) -> str | None:
    """Why this notification needs no new decision, or None when it does."""
    if incident.notification_id in state.notification_ids:
        return "notification"
    if incident.revision < state.revision:
        return "older_revision"
    return None


class Batch:
    """Decisions of a batch of events: their sends, and the incident states to write after."""

    def __init__(self) -> None:
        self.sends: list[Any] = []
        self.states: dict[bytes, IncidentState] = {}
        self.decided: list[tuple[PoliceIncident, Decision]] = []


async def handle(w: Wiring, event: Any) -> None:
    """Decide one incident notification, log the decision, and command its tasks."""
    await handle_batch(w, [event])


async def handle_batch(w: Wiring, events: list[Any]) -> None:
    """Decide a batch of events from the incidents topic (validated by ingest, parsed here)."""
    await decide_parsed(w, [(event, None) for event in events])


async def decide_parsed(w: Wiring, items: Sequence[tuple[Any, PoliceIncident | None]]) -> None:
    """Decide a batch in order; wait for every send to be acknowledged, then write the states.

    One acknowledgement round trip per batch instead of per incident. An event
    that fails is dead-lettered on its own and does not hold up the others. The
    ingest and decide agents share one lock, so an incident's state is never
    read by one batch while another has it in flight.
    """
    async with w.decide_lock:
        await _decide_batch(w, items)


async def _decide_batch(w: Wiring, items: Sequence[tuple[Any, PoliceIncident | None]]) -> None:
    """`decide_parsed`, under the lock."""
    batch = Batch()
    failed = w.metrics.incidents_rejected.labels("processing_error")
    for event, incident in items:
        decide_one = partial(_decide_one, w, event, batch, incident)
        await guarded(decide_one, w.topics.dead_letter, event, failed)
    await asyncio.gather(*batch.sends)
    for key, state in batch.states.items():
        w.incident_state[key] = state.model_dump_json().encode()
    now = datetime.now(UTC)
    for incident, decision in batch.decided:
        w.metrics.decisions.labels(decision.decision).inc()
        lag = (now - incident.reported_at).total_seconds()
        w.metrics.seconds_to_decision.observe(max(0.0, lag))


async def _decide_one(
    w: Wiring, event: Any, batch: Batch, incident: PoliceIncident | None = None
) -> None:
    """Decide one notification into the batch (its state as the batch left it)."""
    incident = incident or PoliceIncident.model_validate_json(event.value)
    key = incident.incident_id.encode()
    state = batch.states.get(key) or _stored_state(w, key)
    kind = duplicate_kind(state, incident)
    if kind is not None:
        w.metrics.incidents_duplicate.labels(kind).inc()
        return
    decision = decide(incident, w.index, w.rules)
    commands = task_commands(decision, incident, w.index, state.outcomes, w.policy)
    batch.sends.append(await w.topics.decisions.send(key=key, value=log_record(decision)))
    for command in commands:
        value = command.model_dump_json().encode()
        key_bytes = command.idempotency_key.encode()
        batch.sends.append(await w.topics.task_commands.send(key=key_bytes, value=value))
    batch.states[key] = next_state(state, incident, decision)
    batch.decided.append((incident, decision))


def _stored_state(w: Wiring, key: bytes) -> IncidentState:
    """The incident's state from the table (a fresh one for a new incident)."""
    raw = w.incident_state.get(key)
    return IncidentState.model_validate_json(raw) if raw else IncidentState()


def next_state(state: IncidentState, incident: PoliceIncident, decision: Decision) -> IncidentState:
    """The incident's state once this revision is decided."""
    ids = [*state.notification_ids, incident.notification_id][-KEEP_NOTIFICATION_IDS:]
    outcomes = {subject_key(s): s.outcome for s in decision.subjects if s.outcome}
    return IncidentState(revision=incident.revision, notification_ids=ids, outcomes=outcomes)


def log_record(decision: Decision) -> bytes:
    """The decision/1 record for the decision log, with when and under which rules."""
    stamped = decision.model_copy(
        update={"decided_at": datetime.now(UTC).isoformat(), "rules_version": RULES_VERSION}
    )
    return stamped.model_dump_json().encode()
