"""The incidents a decide worker holds: their state, the recent ones by blocking key, one lock.

The state table is co-partitioned with the incidents topic, so this worker
holds the state of the incidents on the partitions it is assigned. Each decided
incident within the recent window is indexed by blocking key (`recent`), so a
register change finds the incidents it may concern (`streams.flows.late`).
Deciding and re-deciding both hold `lock`, so an incident's state is never read
by one batch while another has it in flight.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field

from schemas.decision import Decision
from schemas.police import PoliceIncident
from streams.domain.config import DEFAULT_CONFIG, RULES_VERSION, RulesConfig
from streams.domain.late import RecentIncidents, local_today, named_outcomes, window_start
from streams.domain.matching.blocking import incident_keys
from streams.domain.rules import incident_day
from streams.flows.deps import Deps

KEEP_NOTIFICATION_IDS = 50


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


def duplicate_kind(state: IncidentState, incident: PoliceIncident) -> str | None:
    """Why this notification needs no new decision, or None when it does."""
    if incident.notification_id in state.notification_ids:
        return "notification"
    if incident.revision < state.revision:
        return "older_revision"
    return None


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


def log_record(decision: Decision, decided_at: datetime) -> bytes:
    """The decision/1 record for the decision log, with when and under which rules."""
    stamped = decision.model_copy(
        update={"decided_at": decided_at.isoformat(), "rules_version": RULES_VERSION}
    )
    return stamped.model_dump_json().encode()


class Incidents:
    """The incident-state table, the recent incidents it holds, and the decide lock."""

    def __init__(self, deps: Deps, table: Any, app: Any, incidents_topic: Any) -> None:
        """State in `table`; `app` (faust's) says which partitions of `incidents_topic` are ours."""
        self.table = table
        self.recent = RecentIncidents()
        self.lock = asyncio.Lock()
        self._deps = deps
        self._app = app
        self._topic = incidents_topic

    def stored(self, key: bytes) -> IncidentState:
        """The incident's state from the table (a fresh one for a new incident)."""
        raw = self.table.get(key)
        return IncidentState.model_validate_json(raw) if raw else IncidentState()

    def recent_start(self) -> date:
        """The earliest incident day still kept to re-decide."""
        today = local_today(self._deps.clock.now(), self._deps.rules.timezone)
        return window_start(today, self._deps.settings.recent_incidents_days)

    def remember(self, incident: PoliceIncident, state: IncidentState, start: date) -> None:
        """Index a decided incident's latest revision by blocking key while it is recent."""
        if state.day is None or state.day < start:
            self.recent.remove(incident.incident_id)
        else:
            self.recent.add(incident.incident_id, state.day, incident_keys(incident))
        self.show()

    def show(self) -> None:
        """Publish how many recent incidents are held."""
        self._deps.metrics.recent_incidents.set(len(self.recent))

    def owns(self, key: bytes) -> bool:
        """Whether this worker holds the incident-state partition of `key` right now.

        The table is co-partitioned with the incidents topic, so it is the incidents
        partition the key hashes to. Without a consumer to ask (unit tests' fake
        app) every incident is this worker's.
        """
        consumer = getattr(self._app, "consumer", None)
        if consumer is None:
            return True
        topic = self._topic.get_topic_name()
        try:
            partition = consumer.key_partition(topic, key)
            assignment = consumer.assignment()
            return any(tp.topic == topic and tp.partition == partition for tp in assignment)
        except Exception:  # no metadata (mid-rebalance): not ours to re-decide now
            return False
