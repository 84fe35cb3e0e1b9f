"""Decide: each incident revision is judged against the register and logged once.

Ordering and delivery: the incidents topic is keyed by `incident_id`, so one
worker sees an incident's revisions in order. The decision and its task
commands are sent and acknowledged by the broker *before* the incident's state
is written (one `UnitOfWork` a batch); a crash in between redelivers the
incident and decides it again, which the idempotent task commands absorb.

Late knowledge: the state also keeps the latest revision itself and its incident
day, and each decided incident within the recent window is indexed by blocking
key (`Incidents.recent`), so `streams.flows.late` can re-decide it when the
register learns of its family late.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import faust

from schemas.decision import Decision
from schemas.police import PoliceIncident
from streams.domain import receipts
from streams.domain.audit_decisions import RecordingView, command_event, decision_event
from streams.domain.births import linked_commands
from streams.domain.incidents import IncidentState, duplicate_kind, log_record, next_state
from streams.domain.newborns import birth_news, decided_carriers
from streams.domain.people import with_people
from streams.domain.ports.audit import AuditEvent, AuditLog
from streams.domain.register.index import RegisterView
from streams.domain.rules import covering, decide
from streams.flows.deadletter import DeadLetters
from streams.flows.deps import Deps, Topics
from streams.flows.errors import Redelivery
from streams.flows.incidents import Incidents
from streams.flows.receipting import encode
from streams.flows.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)
#: Incidents decided per broker round trip, and how long a batch waits to fill.
BATCH_SIZE = 200
BATCH_WITHIN_S = 0.02

#: Who decisions and task commands are accounted to in the audit log.
ACTOR = "system:decide"

#: An event to decide, with its notification when ingest has parsed it already.
Item = tuple[Any, PoliceIncident | None]


@dataclass
class Batch:
    """The decisions of a batch of events: one unit of work, and what was decided."""

    work: UnitOfWork[IncidentState]
    decided: list[tuple[PoliceIncident, Decision]] = field(default_factory=list)
    #: The audit records of what was sent, appended before the states are written.
    audit: list[AuditEvent] = field(default_factory=list)


async def account(audit: AuditLog, events: list[AuditEvent]) -> None:
    """Append a batch's audit records with one sync, off the event loop."""
    if events:
        await asyncio.to_thread(audit.append_many, events)


def source(event: Any) -> str | None:
    """Where an event was read: `topic:partition:offset`, when the event says."""
    message = getattr(event, "message", None)
    parts = [getattr(message, name, None) for name in ("topic", "partition", "offset")]
    return None if None in parts else ":".join(str(part) for part in parts)


class DecideFlow:
    """The decision agent, and the batch decision that the ingest agent calls too."""

    #: The topic roles this flow consumes (its lag is measured).
    CONSUMES = ("incidents",)

    def __init__(
        self,
        deps: Deps,
        topics: Topics,
        incidents: Incidents,
        register: RegisterView,
        dead_letters: DeadLetters,
        redelivery: Redelivery,
    ) -> None:
        """A flow deciding against `register`, holding its incidents in `incidents`."""
        self._deps = deps
        self._topics = topics
        self.incidents = incidents
        self._register = register
        self._dead_letters = dead_letters
        self._redelivery = redelivery

    def install(self, app: faust.App) -> None:
        """Add the decision agent to the app."""

        @app.agent(self._topics.incidents, name="decide-incidents")
        async def decide_incidents(stream: Any) -> None:
            async for events in stream.take_events(BATCH_SIZE, within=BATCH_WITHIN_S):
                await self.run_batch(events)

    async def run_batch(self, events: list[Any]) -> None:
        """Decide a batch, again after a transient failure; unfinished as the worker stops, it
        is handed back to the incidents topic to be decided after the restart."""
        if not await self._redelivery.run(partial(self.handle_batch, events), "decide"):
            await self._redelivery.hand_back(self._topics.incidents, events, "decide")

    async def handle(self, event: Any) -> None:
        """Decide one incident notification, log the decision, and command its tasks."""
        await self.handle_batch([event])

    async def handle_batch(self, events: list[Any]) -> None:
        """Decide a batch of events from the incidents topic (validated by ingest, parsed here)."""
        await self.decide_parsed([(event, None) for event in events])

    async def decide_parsed(self, items: Sequence[Item]) -> None:
        """Decide a batch in order; wait for every send to be acknowledged, then write the states.

        One acknowledgement round trip per batch instead of per incident. An event
        that fails is dead-lettered on its own and does not hold up the others.
        """
        async with self.incidents.lock:
            await self._decide_batch(items)

    async def _decide_batch(self, items: Sequence[Item]) -> None:
        """`decide_parsed`, under the lock."""
        metrics = self._deps.metrics
        batch = Batch(UnitOfWork(self.incidents.table))
        failed = metrics.incidents_rejected.labels("processing_error")
        for event, incident in items:
            decide_one = partial(self._decide_one, event, batch, incident)
            await self._dead_letters.guarded(decide_one, event, failed)
        await account(self._deps.audit, batch.audit)
        await batch.work.commit()
        now = self._deps.clock.now()
        start = self.incidents.recent_start()
        for incident, decision in batch.decided:
            state = batch.work.states[incident.incident_id.encode()]
            self.incidents.remember(incident, state, start)
            metrics.count_decision(decision)
            metrics.receipts.labels("decided").inc()
            lag = (now - incident.reported_at).total_seconds()
            metrics.seconds_to_decision.observe(max(0.0, lag))

    async def _decide_one(self, event: Any, batch: Batch, incident: PoliceIncident | None) -> None:
        """Decide one notification into the batch (its state as the batch left it)."""
        incident = incident or PoliceIncident.model_validate_json(event.value)
        key = incident.incident_id.encode()
        state = batch.work.states.get(key) or self.incidents.stored(key)
        kind = duplicate_kind(state, incident)
        if kind is not None:
            self._deps.metrics.incidents_duplicate.labels(kind).inc()
            return
        deps = self._deps
        view = RecordingView(self._register) if deps.auditing else self._register
        decision = decide(incident, view, deps.rules)
        now = deps.clock.now()
        covered = covering(incident, self._register, deps.rules, state.outcomes)
        carried = decided_carriers(decision, self._register, state.outcomes, state.carried, covered)
        commands = linked_commands(
            decision, incident, self._register, state.outcomes, carried, now, deps.policy
        )
        commands = with_people(commands, incident, self._register, deps.rules)
        await batch.work.send(self._topics.decisions, key, log_record(decision, now))
        _, told = encode(receipts.decided(incident, decision, now))
        await batch.work.send(self._topics.receipts, key, told)
        if isinstance(view, RecordingView):
            where = source(event)
            audited = decision_event(
                incident, decision, view, deps.rules, now, actor=ACTOR, source=where
            )
            batch.audit.append(audited)
        for command in commands:
            value = command.model_dump_json().encode()
            await batch.work.send(
                self._topics.task_commands, command.idempotency_key.encode(), value
            )
            if deps.auditing:
                batch.audit.append(command_event(command, now, actor=ACTOR))
        _, news = birth_news(self._register, carried, state.carried, state.births)
        decided = next_state(state, incident, decision, self._deps.rules, carried, news)
        batch.work.stage(key, decided)
        batch.decided.append((incident, decision))
