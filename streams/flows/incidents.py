"""The incidents a decide worker holds: their state, the recent ones by blocking key, one lock.

What the state holds and how a revision changes it is `streams.domain.incidents`.

The state table is co-partitioned with the incidents topic, so this worker
holds the state of the incidents on the partitions it is assigned. Each decided
incident within the recent window is indexed by blocking key (`recent`), so a
register change finds the incidents it may concern (`streams.flows.late`).
Deciding and re-deciding both hold `lock`, so an incident's state is never read
by one batch while another has it in flight.
"""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

from schemas.police import PoliceIncident
from streams.domain.incidents import IncidentState
from streams.domain.late import RecentIncidents, local_today, window_start
from streams.domain.matching.blocking import incident_keys
from streams.flows.deps import Deps


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
        deps.metrics.incident_states.source = lambda: {(): float(len(table))}

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
        return owns(self._app, self._topic, key)


def owns(app: Any, topic: Any, key: bytes) -> bool:
    """Whether this worker is assigned the partition of `topic` that `key` hashes to.

    Without a consumer to ask (unit tests' fake app) every key is this worker's;
    without metadata (mid-rebalance) none is.
    """
    consumer = getattr(app, "consumer", None)
    if consumer is None:
        return True
    name = topic.get_topic_name()
    try:
        partition = consumer.key_partition(name, key)
        assignment = consumer.assignment()
        return any(tp.topic == name and tp.partition == partition for tp in assignment)
    except Exception:  # no metadata (mid-rebalance): not ours to act on now
        return False
