"""Late knowledge in the stream: re-decide recent incidents when a subject record changes.

Every worker sees every register change (its own writes, and other workers'
through the changelog), and each re-decides only the recent incidents it owns
(`Incidents.recent`), so one change is acted on once. A re-decision runs under
the decide lock, like any batch of decisions, and is one `UnitOfWork`: the
decision record and the late tasks are sent and acknowledged, then the state is
written. A crash in between, on the worker that applied the register event,
redelivers the event, which re-decides again (`subject_repeated`). A worker
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

import faust

from schemas.decision import Decision
from schemas.police import PoliceIncident
from streams.domain import late, receipts
from streams.domain.audit_decisions import RecordingView, command_event, decision_event
from streams.domain.incidents import IncidentState, log_record
from streams.domain.late_tasks import redecision_commands
from streams.domain.matching.blocking import incident_keys
from streams.domain.people import with_people
from streams.domain.ports.audit import AuditEvent
from streams.domain.register.index import RegisterView
from streams.domain.register.records import SubjectRecord
from streams.domain.rules import covering, decide, incident_day
from streams.flows.decide import account
from streams.flows.deps import Deps, Topics
from streams.flows.errors import where
from streams.flows.incidents import Incidents
from streams.flows.receipting import encode
from streams.flows.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)
#: The two rebuilds after a recovery that the re-check waits for.
REGISTER, RECENT = "register", "recent"
#: Who re-decisions and their task commands are accounted to in the audit log.
ACTOR = "system:late"
#: Recent incidents re-checked per hold of the decide lock; new incidents are decided between.
RECHECK_CHUNK = 25


@dataclass
class Pending:
    """The re-decisions of one register change: one unit of work, its results and decisions."""

    work: UnitOfWork[IncidentState]
    results: list[str] = field(default_factory=list)
    #: Each decision logged.
    logged: list[Decision] = field(default_factory=list)
    #: The audit records of what was sent, appended before the states are written.
    audit: list[AuditEvent] = field(default_factory=list)
    #: Why each task marked for confirmation was (`streams.domain.stale` reasons).
    flagged: list[str] = field(default_factory=list)


class LateFlow:
    """Re-decides recent incidents on register changes, and re-checks them after a recovery."""

    #: The topic roles this flow consumes: none (it acts on register changes and recoveries).
    CONSUMES: tuple[str, ...] = ()

    def __init__(
        self, deps: Deps, topics: Topics, incidents: Incidents, register: RegisterView
    ) -> None:
        """A flow re-deciding the incidents of `incidents` against `register`."""
        self._deps = deps
        self._topics = topics
        self.incidents = incidents
        self._register = register
        #: Rebuilds done since the last recovery began.
        self.recovered: set[str] = set()
        #: The re-check of the recent incidents after the last recovery, while it runs.
        self.recheck: asyncio.Task[int] | None = None

    def install(self, app: faust.App) -> None:
        """Rebuild the recent incidents when the incident state recovers, then re-check them."""
        self.incidents.table.on_recover(self.rebuild_recent)

    async def rebuild_recent(self) -> None:
        """Index the recent incidents this worker owns, after the table recovered (each rebalance).

        faust's memory store keeps keys this worker wrote even after their
        partition moved to another worker, so ownership is checked key by key.
        """
        incidents = self.incidents
        async with incidents.lock:
            incidents.recent.clear()
            start = incidents.recent_start()
            for key, raw in list(incidents.table.items()):
                state = IncidentState.model_validate_json(raw)
                if state.incident is None or state.day is None or state.day < start:
                    continue
                if incidents.owns(bytes(key)):
                    incident = PoliceIncident.model_validate_json(state.incident)
                    incidents.recent.add(incident.incident_id, state.day, incident_keys(incident))
            incidents.show()
        log.info("recent incidents indexed: %d", len(incidents.recent))
        await self.table_recovered(RECENT)

    async def register_rebuilt(self) -> None:
        """The register index is rebuilt after a recovery."""
        await self.table_recovered(REGISTER)

    async def table_recovered(self, rebuilt: str) -> None:
        """Note one rebuild after a recovery; when both are done, start re-checking (background).

        faust calls the tables' recovery callbacks in no set order, and the re-check
        needs both the register and the recent incidents. A re-check still running
        from an earlier recovery is cancelled: the new one covers it.
        """
        self.recovered.add(rebuilt)
        if not {REGISTER, RECENT} <= self.recovered:
            return
        self.recovered.clear()
        if self.recheck is not None and not self.recheck.done():
            self.recheck.cancel()
        self.recheck = asyncio.ensure_future(self.recheck_recent())

    async def recheck_recent(self) -> int:
        """Re-decide every recent incident this worker owns; how many were re-checked.

        Only what differs from the last decision logged is sent, as for any
        re-decision; a lost one (a stop between a register change and its
        re-decisions) is so made good, marked as found by a re-check. Never raises.
        """
        ids = sorted(self.incidents.recent.ids())
        for start in range(0, len(ids), RECHECK_CHUNK):
            try:
                async with self.incidents.lock:
                    await self._recheck_chunk(ids[start : start + RECHECK_CHUNK])
            except Exception as exc:
                self._deps.metrics.incidents_redecided.labels(late.FAILED).inc()
                log.error("re-checking recent incidents failed at %s", where(exc))
            await asyncio.sleep(0)  # let decisions of new incidents in between
        log.info("recent incidents re-checked: %d", len(ids))
        return len(ids)

    async def _recheck_chunk(self, incident_ids: list[str]) -> None:
        """Re-decide some recent incidents (under the lock), as a register change would."""
        pending = Pending(UnitOfWork(self.incidents.table))
        for incident_id in incident_ids:
            if incident_id in self.incidents.recent:  # a later revision may have been decided
                await self._redecide_guarded_one(incident_id, None, None, pending)
        await self._settle(pending)

    async def subject_changed(self, before: SubjectRecord | None, after: SubjectRecord) -> None:
        """Re-decide this worker's recent incidents that a changed subject record may concern.

        Never raises: the register change itself is applied whatever happens here.
        A failure is logged (the exception's type and place only) and counted.
        """
        if before != after:
            await self._redecide_guarded(before, after)

    async def subject_repeated(self, record: SubjectRecord) -> None:
        """Re-decide as `subject_changed` does, for an event the record already holds.

        A redelivered register event changes nothing in the register, but a crash
        may have come between the record's write and the re-decisions it called
        for; re-deciding again sends only what is still missing. A record made by
        this one event is one the register had just learned of.
        """
        await self._redecide_guarded(None if len(record.event_ids) == 1 else record, record)

    async def _redecide_guarded(self, before: SubjectRecord | None, after: SubjectRecord) -> None:
        """Re-decide under the decide lock; a failure is logged and counted, never raised."""
        try:
            async with self.incidents.lock:
                # Under the lock: a batch in flight may be about to index the incident it decided.
                if len(self.incidents.recent):
                    await self._redecide_affected(before, after)
        except Exception as exc:
            self._deps.metrics.incidents_redecided.labels(late.FAILED).inc()
            log.error("re-deciding recent incidents failed at %s", where(exc))

    async def _redecide_affected(self, before: SubjectRecord | None, after: SubjectRecord) -> None:
        """`subject_changed`, under the lock: decide, send, wait for the acks, write the states."""
        recent = self.incidents.recent
        recent.expire(self.incidents.recent_start())
        pending = Pending(UnitOfWork(self.incidents.table))
        for incident_id in sorted(recent.sharing(late.changed_keys(self._register, before, after))):
            await self._redecide_guarded_one(incident_id, before, after, pending)
        await self._settle(pending)

    async def _redecide_guarded_one(
        self,
        incident_id: str,
        before: SubjectRecord | None,
        after: SubjectRecord | None,
        pending: Pending,
    ) -> None:
        """Re-decide one incident into `pending`; a failure is counted there, not raised."""
        try:
            await self._redecide_one(incident_id, before, after, pending)
        except Exception as exc:  # one unreadable state must not hold up the others
            pending.results.append(late.FAILED)
            log.error("re-deciding one recent incident failed at %s", where(exc))

    async def _settle(self, pending: Pending) -> None:
        """Account for the re-decisions, commit their unit of work, then count what it did."""
        await account(self._deps.audit, pending.audit)
        await pending.work.commit()
        metrics = self._deps.metrics
        for result in pending.results:
            metrics.incidents_redecided.labels(result).inc()
        for decision in pending.logged:
            metrics.count_decision(decision)
            metrics.receipts.labels("decided").inc()
        for reason in pending.flagged:
            metrics.tasks_flagged.labels(reason).inc()
        self.incidents.show()

    async def _redecide_one(
        self,
        incident_id: str,
        before: SubjectRecord | None,
        after: SubjectRecord | None,
        pending: Pending,
    ) -> None:
        """Re-decide one recent incident into `pending`; one this worker no longer owns is dropped.

        `after` None: a re-check, with no one changed record to name.
        """
        key = incident_id.encode()
        state = self.incidents.stored(key)
        if not self.incidents.owns(key) or state.incident is None:
            self.incidents.recent.remove(incident_id)
            return
        incident = PoliceIncident.model_validate_json(state.incident)
        now = self._deps.clock.now()
        on = late.local_today(now, self._deps.rules.timezone)
        view = RecordingView(self._register) if self._deps.auditing else self._register
        decision = decide(incident, view, self._deps.rules)
        day = state.day or incident_day(incident, self._deps.rules)
        covered = covering(incident, self._register, self._deps.rules, state.outcomes)
        known = late.Known(self._register, day, state.carried, state.flagged, covered, state.births)
        change = late.redecide(decision, state.outcomes, state.logged, before, after, on, known)
        pending.results.append(change.result)
        if change.decision is not None:
            await self._log(change.decision, decision, incident, view, key, pending)
        amendments = state.amendments + (1 if change.upgraded or change.flags else 0)
        commands = redecision_commands(
            change, decision, incident, self._register, now, self._deps.policy, amendments
        )
        commands = with_people(commands, incident, self._register, self._deps.rules)
        for command in commands:
            value = command.model_dump_json().encode()
            await pending.work.send(
                self._topics.task_commands, command.idempotency_key.encode(), value
            )
            if self._deps.auditing:
                pending.audit.append(command_event(command, now, actor=ACTOR))
        pending.flagged.extend(flag.reason for flag in change.flags.values())
        update = {
            "outcomes": change.outcomes,
            "logged": change.logged,
            "amendments": amendments,
            "carried": change.carried,
            "flagged": change.flagged,
            "births": change.births,
        }
        staged = state.model_copy(update=update)
        if staged != state:
            pending.work.stage(key, staged)

    async def _log(
        self,
        record: Decision,
        decision: Decision,
        incident: PoliceIncident,
        view: RegisterView,
        key: bytes,
        pending: Pending,
    ) -> None:
        """Send the decision record of a re-decision, and account for it."""
        now = self._deps.clock.now()
        await pending.work.send(self._topics.decisions, key, log_record(record, now))
        _, told = encode(receipts.decided(incident, record, now))
        await pending.work.send(self._topics.receipts, key, told)
        pending.logged.append(record)
        if isinstance(view, RecordingView):
            pending.audit.append(
                decision_event(
                    incident, decision, view, self._deps.rules, now, actor=ACTOR, action="redecided"
                )
            )
