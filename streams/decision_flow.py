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


class IncidentState(BaseModel):
    """What the worker remembers of one incident: its latest decided revision and outcomes."""

    revision: int = 0
    notification_ids: list[str] = Field(default_factory=list)
    outcomes: dict[str, str] = Field(default_factory=dict)


def install(w: Wiring) -> None:
    """Add the decision agent to the app."""

    @w.app.agent(w.topics.incidents, name="decide-incidents")
    async def decide_incidents(stream: Any) -> None:
        async for event in stream.events():
            failed = w.metrics.incidents_rejected.labels("processing_error")
            await guarded(partial(handle, w, event), w.topics.dead_letter, event, failed)


def duplicate_kind(state: IncidentState, incident: PoliceIncident) -> str | None:
    """Why this notification needs no new decision, or None when it does."""
    if incident.notification_id in state.notification_ids:
        return "notification"
    if incident.revision < state.revision:
        return "older_revision"
    return None


async def handle(w: Wiring, event: Any) -> None:
    """Decide one incident notification, log the decision, and command its tasks."""
    incident = PoliceIncident.model_validate_json(event.value)
    key = incident.incident_id.encode()
    raw_state = w.incident_state.get(key)
    state = IncidentState.model_validate_json(raw_state) if raw_state else IncidentState()
    kind = duplicate_kind(state, incident)
    if kind is not None:
        w.metrics.incidents_duplicate.labels(kind).inc()
        return
    decision = decide(incident, w.index, w.rules)
    commands = task_commands(decision, incident, w.index, state.outcomes, w.policy)
    sends = [await w.topics.decisions.send(key=key, value=log_record(decision))]
    for command in commands:
        sends.append(
            await w.topics.task_commands.send(
                key=command.idempotency_key.encode(), value=command.model_dump_json().encode()
            )
        )
    await asyncio.gather(*sends)
    w.incident_state[key] = next_state(state, incident, decision).model_dump_json().encode()
    w.metrics.decisions.labels(decision.decision).inc()
    lag = (datetime.now(UTC) - incident.reported_at).total_seconds()
    w.metrics.seconds_to_decision.observe(max(0.0, lag))


def next_state(state: IncidentState, incident: PoliceIncident, decision: Decision) -> IncidentState:
    """The incident's state once this revision is decided."""
    ids = [*state.notification_ids, incident.notification_id][-KEEP_NOTIFICATION_IDS:]
    outcomes = {subject_key(s): s.outcome for s in decision.subjects if s.outcome}
    return IncidentState(revision=incident.revision, notification_ids=ids, outcomes=outcomes)


def log_record(decision: Decision) -> bytes:
    """The decision/1 record for the decision log, with when and under which rules."""
    record = decision.model_dump(mode="json")
    record["decided_at"] = datetime.now(UTC).isoformat()
    record["rules_version"] = RULES_VERSION
    return Decision.model_validate(record).model_dump_json().encode()
