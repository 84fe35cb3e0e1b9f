"""Late knowledge in the stream: re-decide recent incidents when a subject record changes.

Every worker sees every register change (its own writes, and other workers'
through the changelog), and each re-decides only the recent incidents it owns
(`w.recent`), so one change is acted on once. A re-decision runs under
`w.decide_lock`, like any batch of decisions, and follows the same order: the
decision record and the late tasks are sent and acknowledged, then the state is
written. A crash in between, on the worker that applied the register event,
redelivers the event, which re-decides again (`on_subject_repeated`). A worker
that learned of the change from the changelog has no event to redeliver, so
after each recovery (a start or a rebalance), once both the register index and
the recent incidents are rebuilt, every worker re-checks every recent incident
it owns against the register as it now is (`recheck_recent`), in chunks under
the lock; an unchanged decision sends nothing. The idempotency keys absorb any
repeat. What a re-decision may send is in `streams.domain.late`.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from schemas.decision import Decision
from schemas.police import PoliceIncident
from streams.domain import late
from streams.domain.matching.blocking import incident_keys
from streams.domain.register.records import SubjectRecord
from streams.domain.rules import decide
from streams.domain.tasks import late_commands
from streams.flows.deadletter import where
from streams.flows.decide import IncidentState, log_record, owns, recent_start, stored_state
from streams.flows.wiring import Wiring

log = logging.getLogger(__name__)
#: The topic roles this flow consumes: none (it acts on register changes and recoveries).
CONSUMES: tuple[str, ...] = ()
#: The two rebuilds after a recovery that the re-check waits for.
REGISTER, RECENT = "register", "recent"
#: Recent incidents re-checked per hold of the decide lock; new incidents are decided between.
RECHECK_CHUNK = 25


def install(w: Wiring) -> None:
    """Rebuild the recent incidents when the incident state recovers, then re-check them."""
    w.incident_state.on_recover(lambda: rebuild_recent(w))


async def rebuild_recent(w: Wiring) -> None:
    """Index the recent incidents this worker owns, after the table recovered (each rebalance).

    faust's memory store keeps keys this worker wrote even after their
    partition moved to another worker, so ownership is checked key by key.
    """
    async with w.decide_lock:
        w.recent.clear()
        start = recent_start(w)
        for key, raw in list(w.incident_state.items()):
            state = IncidentState.model_validate_json(raw)
            if state.incident is None or state.day is None or state.day < start:
                continue
            if owns(w, bytes(key)):
                incident = PoliceIncident.model_validate_json(state.incident)
                w.recent.add(incident.incident_id, state.day, incident_keys(incident))
        w.metrics.recent_incidents.set(len(w.recent))
    log.info("recent incidents indexed: %d", len(w.recent))
    await table_recovered(w, RECENT)


async def table_recovered(w: Wiring, rebuilt: str) -> None:
    """Note one rebuild after a recovery; when both are done, start re-checking (in the background).

    faust calls the tables' recovery callbacks in no set order, and the re-check
    needs both the register and the recent incidents. A re-check still running
    from an earlier recovery is cancelled: the new one covers it.
    """
    w.recovered.add(rebuilt)
    if not {REGISTER, RECENT} <= w.recovered:
        return
    w.recovered.clear()
    if w.recheck is not None and not w.recheck.done():
        w.recheck.cancel()
    w.recheck = asyncio.ensure_future(recheck_recent(w))


async def recheck_recent(w: Wiring) -> int:
    """Re-decide every recent incident this worker owns; how many were re-checked.

    Only what differs from the last decision logged is sent, as for any
    re-decision; a lost one (a stop between a register change and its
    re-decisions) is so made good, marked as found by a re-check. Never raises.
    """
    ids = sorted(w.recent.ids())
    for start in range(0, len(ids), RECHECK_CHUNK):
        try:
            async with w.decide_lock:
                await _recheck_chunk(w, ids[start : start + RECHECK_CHUNK])
        except Exception as exc:
            w.metrics.incidents_redecided.labels(late.FAILED).inc()
            log.error("re-checking recent incidents failed at %s", where(exc))
        await asyncio.sleep(0)  # let decisions of new incidents in between
    log.info("recent incidents re-checked: %d", len(ids))
    return len(ids)


async def _recheck_chunk(w: Wiring, incident_ids: list[str]) -> None:
    """Re-decide some recent incidents (under the lock), as a register change would."""
    pending = Pending()
    for incident_id in incident_ids:
        if incident_id in w.recent:  # a later revision may have been decided since
            await _redecide_guarded_one(w, incident_id, None, None, pending)
    await _settle(w, pending)


@dataclass
class Pending:
    """The re-decisions of one register change: their sends, and the states to write after."""

    sends: list[Any] = field(default_factory=list)
    states: dict[bytes, IncidentState] = field(default_factory=dict)
    results: list[str] = field(default_factory=list)
    #: Each decision logged.
    logged: list[Decision] = field(default_factory=list)


async def on_subject_changed(w: Wiring, before: SubjectRecord | None, after: SubjectRecord) -> None:
    """Re-decide this worker's recent incidents that a changed subject record may concern.

    Never raises: the register change itself is applied whatever happens here.
    A failure is logged (the exception's type and place only) and counted.
    """
    if before != after:
        await _redecide_guarded(w, before, after)


async def on_subject_repeated(w: Wiring, record: SubjectRecord) -> None:
    """Re-decide as `on_subject_changed` does, for an event the record already holds.

    A redelivered register event changes nothing in the register, but a crash
    may have come between the record's write and the re-decisions it called
    for; re-deciding again sends only what is still missing. A record made by
    this one event is one the register had just learned of.
    """
    await _redecide_guarded(w, None if len(record.event_ids) == 1 else record, record)


async def _redecide_guarded(w: Wiring, before: SubjectRecord | None, after: SubjectRecord) -> None:
    """Re-decide under the decide lock; a failure is logged and counted, never raised."""
    try:
        async with w.decide_lock:
            # Under the lock: a batch in flight may be about to index the incident it decided.
            if len(w.recent):
                await _redecide_affected(w, before, after)
    except Exception as exc:
        w.metrics.incidents_redecided.labels(late.FAILED).inc()
        log.error("re-deciding recent incidents failed at %s", where(exc))


async def _redecide_affected(w: Wiring, before: SubjectRecord | None, after: SubjectRecord) -> None:
    """`on_subject_changed`, under the lock: decide, send, wait for the acks, write the states."""
    start = recent_start(w)
    w.recent.expire(start)
    pending = Pending()
    for incident_id in sorted(w.recent.sharing(late.changed_keys(w.index, before, after))):
        await _redecide_guarded_one(w, incident_id, before, after, pending)
    await _settle(w, pending)


async def _redecide_guarded_one(
    w: Wiring,
    incident_id: str,
    before: SubjectRecord | None,
    after: SubjectRecord | None,
    pending: Pending,
) -> None:
    """Re-decide one incident into `pending`; a failure is counted there, not raised."""
    try:
        await _redecide_one(w, incident_id, before, after, pending)
    except Exception as exc:  # one unreadable state must not hold up the others
        pending.results.append(late.FAILED)
        log.error("re-deciding one recent incident failed at %s", where(exc))


async def _settle(w: Wiring, pending: Pending) -> None:
    """Wait for the re-decisions' sends to be acknowledged, then write their states."""
    await asyncio.gather(*pending.sends)
    for key, state in pending.states.items():
        w.incident_state[key] = state.model_dump_json().encode()
    for result in pending.results:
        w.metrics.incidents_redecided.labels(result).inc()
    for decision in pending.logged:
        w.metrics.count_decision(decision)
    w.metrics.recent_incidents.set(len(w.recent))


async def _redecide_one(
    w: Wiring,
    incident_id: str,
    before: SubjectRecord | None,
    after: SubjectRecord | None,
    pending: Pending,
) -> None:
    """Re-decide one recent incident into `pending`; one this worker no longer owns is dropped.

    `after` None: a re-check, with no one changed record to name.
    """
    key = incident_id.encode()
    state = stored_state(w, key)
    if not owns(w, key) or state.incident is None:
        w.recent.remove(incident_id)
        return
    incident = PoliceIncident.model_validate_json(state.incident)
    now = w.clock()
    on = late.local_today(now, w.rules.timezone)
    decision = decide(incident, w.index, w.rules)
    change = late.redecide(decision, state.outcomes, state.logged, before, after, on)
    pending.results.append(change.result)
    if change.decision is None:
        return
    pending.sends.append(await w.topics.decisions.send(key=key, value=log_record(change.decision)))
    pending.logged.append(change.decision)
    amendments = state.amendments + 1 if change.upgraded else state.amendments
    commands = late_commands(
        decision, incident, w.index, change.late, now, w.policy, change.upgraded, amendments
    )
    for command in commands:
        value = command.model_dump_json().encode()
        key_bytes = command.idempotency_key.encode()
        pending.sends.append(await w.topics.task_commands.send(key=key_bytes, value=value))
    update = {"outcomes": change.outcomes, "logged": change.logged, "amendments": amendments}
    pending.states[key] = state.model_copy(update=update)
