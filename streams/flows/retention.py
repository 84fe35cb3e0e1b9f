"""Retention in the stream: a timer purges register subjects and incident states past their time.

When each may go is `streams.domain.retention`. Every decide worker sweeps on
its own timer (`purge_interval_s`), in slices (`purge_slice`) with the event
loop handed back between them, so decisions never wait long:

- register subjects: the index names those whose scope window ended long
  enough ago without reading a record; each one's family is read and judged,
  and a member is purged only by the worker assigned its register-events
  partition, the one that applies its events, so a purge and an event for the
  same subject never race. `del` on the table writes a tombstone to the
  register changelog (compacted): every worker drops the subject from its
  index as it reads it, and the broker drops the key at compaction.
- incident states, under the decide lock, only of the partitions this worker
  is assigned: `del` tombstones the key on the incident-state changelog.

The register-events topic gets no tombstone: it is not compacted (the events
of a subject are folded, so all of them are kept, `connectors/kafka/topics.py`)
and a tombstone there would be read as an empty register event. Its retention
is the topic's.

- the details of the worker's own audit chain older than `audit_detail_days`,
  when its audit log can purge (`PurgeableAuditLog`), in a worker thread (the
  rewrite takes the log's own lock, as appends do, never the decide lock). The
  details naming a held reference are kept: those in
  `<data_dir>/audit/held-refs.txt` (the duty inbox and `dvtrigger retention
  hold` write each held task's id and its incident's there) and in
  `retention.held_refs` (for a worker that does not share the inbox's volume).
  No file: only the setting's are held; an unreadable one: no purge.

Counts only are logged; the audit log gets a `retention` record with the counts.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import faust

from schemas.police import PoliceIncident
from streams.domain import retention
from streams.domain.incidents import IncidentState
from streams.domain.late import local_today
from streams.domain.ports.audit import HELD_REFS_FILE, AuditEvent, PurgeableAuditLog
from streams.flows.deps import Deps, leaving
from streams.flows.errors import where
from streams.flows.incidents import Incidents, owns
from streams.flows.register import RegisterFlow

log = logging.getLogger(__name__)
#: Label values of `dvtrigger_retention_purged_total{kind}`.
SUBJECT, INCIDENT, DETAIL = "register_subject", "incident_state", "audit_detail"


@dataclass(frozen=True)
class Swept:
    """What one sweep purged."""

    subjects: int = 0
    incidents: int = 0
    details: int = 0


class RetentionFlow:
    """The periodic purge of register subjects and incident states past their retention."""

    #: The topic roles this flow consumes: none (a timer drives it).
    CONSUMES: tuple[str, ...] = ()

    def __init__(
        self,
        deps: Deps,
        app: Any,
        register: RegisterFlow,
        incidents: Incidents,
        register_events: Any,
    ) -> None:
        """A flow purging `register`'s subjects and `incidents`' states; `register_events`
        (the topic) says which subjects this worker applies events for."""
        self._deps = deps
        self._app = app
        self._register = register
        self._incidents = incidents
        self._register_events = register_events

    def install(self, app: faust.App) -> None:
        """Run a sweep every `purge_interval_s` on every worker (each purges what it owns).

        An app without timers (the unit tests' fake) gets none: tests call `sweep`.
        """
        timer = getattr(app, "timer", None)
        if timer is None:
            return
        interval = self._deps.settings.retention.purge_interval_s

        async def sweep_periodically() -> None:
            await self.sweep()

        timer(interval, on_leader=False, name="retention-sweep")(sweep_periodically)

    async def sweep(self) -> Swept:
        """Purge what is past its time, slice by slice; never raises (a failure is logged)."""
        if leaving(self._app):
            return Swept()
        today = local_today(self._deps.clock.now(), self._deps.rules.timezone)
        subjects = incidents = details = 0
        try:
            subjects = await self.purge_register(today)
            incidents = await self.purge_incidents(today)
            details = await self.purge_audit()
        except Exception as exc:  # the next sweep tries again
            log.error("retention sweep failed at %s", where(exc))
        swept = Swept(subjects, incidents, details)
        self._account(swept)
        return swept

    async def purge_register(self, today: date) -> int:
        """Purge the register subjects whose family may go today; how many went."""
        days = self._deps.settings.retention.register_purge_after_days
        index = self._register.index
        ended = index.ended_by(retention.ended_by(today, days))
        judged: set[str] = set()
        purged = 0
        step = self._deps.settings.retention.purge_slice
        for start in range(0, len(ended), step):
            for ref in ended[start : start + step]:
                if ref in judged:
                    continue
                family = index.family(ref)
                judged.update(family)
                if retention.family_purgeable(family, index, today, days):
                    purged += self._forget(family)
            if not await self._pause():
                break
        if purged:
            self._register.update_size()
        return purged

    async def purge_audit(self) -> int:
        """Purge the audit chain's details past `audit_detail_days`, but the held; how many."""
        audit = self._deps.audit
        if not isinstance(audit, PurgeableAuditLog):
            return 0
        settings = self._deps.settings
        before = self._deps.clock.now() - timedelta(days=settings.retention.audit_detail_days)
        path = settings.audit_directory() / HELD_REFS_FILE
        held = settings.retention.held_refs
        return await asyncio.to_thread(_purge_details, audit, before, path, held)

    def _forget(self, family: list[str]) -> int:
        """Purge the members of a family this worker applies events for; how many."""
        purged = 0
        for ref in family:
            if self._register.index.get(ref) is None:
                continue
            if owns(self._app, self._register_events, ref.encode()):
                self._register.forget(ref)
                purged += 1
        return purged

    async def purge_incidents(self, today: date) -> int:
        """Purge the incident states this worker owns that are past their time; how many."""
        incidents = self._incidents
        keys = [bytes(key) for key in list(incidents.table.keys())]
        purged = 0
        step = self._deps.settings.retention.purge_slice
        for start in range(0, len(keys), step):
            async with incidents.lock:
                for key in keys[start : start + step]:
                    purged += self._purge_incident(key, today)
            if not await self._pause():
                break
        if purged:
            incidents.show()
        return purged

    def _purge_incident(self, key: bytes, today: date) -> int:
        """Purge one incident's state if it is this worker's and past its time (under the lock)."""
        raw = self._incidents.table.get(key)
        if raw is None or not self._incidents.owns(key):
            return 0
        try:
            state = IncidentState.model_validate_json(raw)
        except ValueError:  # unreadable: held (nothing here can tell its age)
            return 0
        if state.day is None or state.incident is None:
            return 0  # no day to count from (a state from before days were kept): held
        settings = self._deps.settings
        recent, margin = (
            settings.recent_incidents_days,
            settings.retention.incident_state_margin_days,
        )
        if not retention.incident_purgeable(state.day, state.day, today, recent, margin):
            return 0  # not even counted from its day: no need to read the incident
        try:
            incident = PoliceIncident.model_validate_json(state.incident)
        except ValueError:
            return 0
        reported = local_today(incident.reported_at, self._deps.rules.timezone)
        if not retention.incident_purgeable(state.day, reported, today, recent, margin):
            return 0
        del self._incidents.table[key]
        self._incidents.recent.remove(incident.incident_id)
        return 1

    async def _pause(self) -> bool:
        """Hand the event loop back between slices; False when the worker is leaving."""
        await asyncio.sleep(0)
        return not leaving(self._app)

    def _account(self, swept: Swept) -> None:
        """Count, log (counts only) and audit what a sweep purged."""
        metrics = self._deps.metrics
        metrics.retention_purged.labels(SUBJECT).inc(swept.subjects)
        metrics.retention_purged.labels(INCIDENT).inc(swept.incidents)
        metrics.retention_purged.labels(DETAIL).inc(swept.details)
        metrics.retention_last_sweep.set(self._deps.clock.time())
        log.info(
            "retention sweep: %d register subjects, %d incident states, %d audit details purged",
            swept.subjects,
            swept.incidents,
            swept.details,
        )
        if swept.subjects or swept.incidents:
            self._deps.audit.append(
                AuditEvent(
                    kind="retention",
                    at=self._deps.clock.now(),
                    actor="system:decide",
                    action="purged",
                    detail={
                        "register_subjects": swept.subjects,
                        "incident_states": swept.incidents,
                    },
                )
            )


def held_refs(path: Path) -> set[str]:
    """The references under hold, one a line in `path`; none when there is no such file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return set()
    return {line.strip() for line in text.splitlines() if line.strip()}


def _purge_details(
    audit: PurgeableAuditLog, before: datetime, path: Path, held: frozenset[str]
) -> int:
    """Read the holds, then purge (blocking: run in a worker thread)."""
    return audit.purge_details(before, held_refs(path) | held)
