"""Decide: each incident revision is judged against the register and logged once.

Ordering and delivery: the incidents topic is keyed by `incident_id`, so one
worker sees an incident's revisions in order. The decision and its task
commands are sent and acknowledged by the broker *before* the incident's state
is written; a crash in between redelivers the incident and decides it again,
which the idempotent task commands absorb. The other order could lose a task.

Late knowledge: the state also keeps the latest revision itself and its incident
day, and each decided incident within the recent window is indexed by blocking
key in `w.recent` (rebuilt when the table recovers), so `streams.flows.late` can
re-decide it when the register learns of its family late.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, date, datetime
from functools import partial
from typing import Any

from pydantic import BaseModel, Field

from schemas.decision import Decision
from schemas.police import PoliceIncident
from streams.domain.config import DEFAULT_CONFIG, RULES_VERSION, RulesConfig
from streams.domain.late import local_today, named_outcomes, window_start
from streams.domain.matching.blocking import incident_keys
from streams.domain.rules import decide, incident_day
from streams.domain.tasks import task_commands
from streams.flows.deadletter import guarded
from streams.flows.wiring import Wiring

log = logging.getLogger(__name__)
KEEP_NOTIFICATION_IDS = 50
#: Incidents decided per broker round trip, and how long a batch waits to fill.
BATCH_SIZE = 200
BATCH_WITHIN_S = 0.02
#: The topic roles this flow consumes (its lag is measured).
CONSUMES = ("incidents",)


class IncidentState(BaseModel):
    """What the worker remembers of one incident: its latest decided revision and outcomes.

    `outcomes` are the subjects a task was raised for (what a later revision
    updates or withdraws); `logged` those the latest logged decision names. They
    differ only after a re-decision dropped a subject, whose task stays open.
    """

    revision: int = 0
    notification_ids: list[str] = Field(default_factory=list)
    outcomes: dict[str, str] = Field(default_factory=dict)
    #: The latest decided revision, validated JSON, to re-decide it when the register changes.
    incident: str | None = None
    #: Its incident day (Europe/London), to tell whether it is still recent.
    day: date | None = None
    logged: dict[str, str] = Field(default_factory=dict)
    #: Re-decisions of this revision that updated a task (`RaiseTask.amendment`).
    amendments: int = 0


def install(w: Wiring) -> None:
    """Add the decision agent to the app (the recent incidents' upkeep is `streams.flows.late`)."""

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
        await guarded(decide_one, w, event, failed)
    await asyncio.gather(*batch.sends)
    for key, state in batch.states.items():
        w.incident_state[key] = state.model_dump_json().encode()
    now = datetime.now(UTC)
    start = recent_start(w)
    for incident, decision in batch.decided:
        remember(w, incident, batch.states[incident.incident_id.encode()], start)
        w.metrics.count_decision(decision)
        lag = (now - incident.reported_at).total_seconds()
        w.metrics.seconds_to_decision.observe(max(0.0, lag))


async def _decide_one(
    w: Wiring, event: Any, batch: Batch, incident: PoliceIncident | None = None
) -> None:
    """Decide one notification into the batch (its state as the batch left it)."""
    incident = incident or PoliceIncident.model_validate_json(event.value)
    key = incident.incident_id.encode()
    state = batch.states.get(key) or stored_state(w, key)
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
    batch.states[key] = next_state(state, incident, decision, w.rules)
    batch.decided.append((incident, decision))


def stored_state(w: Wiring, key: bytes) -> IncidentState:
    """The incident's state from the table (a fresh one for a new incident)."""
    raw = w.incident_state.get(key)
    return IncidentState.model_validate_json(raw) if raw else IncidentState()


def next_state(
    state: IncidentState,
    incident: PoliceIncident,
    decision: Decision,
    config: RulesConfig = DEFAULT_CONFIG,
) -> IncidentState:
    """The incident's state once this revision is decided."""
    ids = [*state.notification_ids, incident.notification_id][-KEEP_NOTIFICATION_IDS:]
    outcomes = named_outcomes(decision)
    return IncidentState(
        revision=incident.revision,
        notification_ids=ids,
        outcomes=outcomes,
        incident=incident.model_dump_json(),
        day=incident_day(incident, config),
        logged=dict(outcomes),
    )


def recent_start(w: Wiring) -> date:
    """The earliest incident day still kept to re-decide."""
    today = local_today(w.clock(), w.rules.timezone)
    return window_start(today, w.settings.recent_incidents_days)


def remember(w: Wiring, incident: PoliceIncident, state: IncidentState, start: date) -> None:
    """Index a decided incident's latest revision by blocking key while it is recent."""
    if state.day is None or state.day < start:
        w.recent.remove(incident.incident_id)
    else:
        w.recent.add(incident.incident_id, state.day, incident_keys(incident))
    w.metrics.recent_incidents.set(len(w.recent))


def owns(w: Wiring, key: bytes) -> bool:
    """Whether this worker holds the incident-state partition of `key` right now.

    The table is co-partitioned with the incidents topic, so it is the incidents
    partition the key hashes to. Without a consumer to ask (unit tests' fake
    app) every incident is this worker's.
    """
    consumer = getattr(w.app, "consumer", None)
    if consumer is None:
        return True
    topic = w.topics.incidents.get_topic_name()
    try:
        partition = consumer.key_partition(topic, key)
        return any(tp.topic == topic and tp.partition == partition for tp in consumer.assignment())
    except Exception:  # no metadata (mid-rebalance): not ours to re-decide now
        return False


def log_record(decision: Decision) -> bytes:
    """The decision/1 record for the decision log, with when and under which rules."""
    stamped = decision.model_copy(
        update={"decided_at": datetime.now(UTC).isoformat(), "rules_version": RULES_VERSION}
    )
    return stamped.model_dump_json().encode()
