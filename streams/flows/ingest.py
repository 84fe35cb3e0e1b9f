"""Ingest: police notifications are validated, refused to the dead-letter topic, or decided.

Every revision of one incident must be decided in order by one worker, against
the incident's state in a table partitioned by `incident_id`. A notification
that a force already keyed by `incident_id`, and that sits in the partition the
incidents topic would give that key, is decided where it is (its partition
number is the same on every co-partitioned topic, so this worker owns that
incident's state). Any other is re-keyed by `incident_id` onto the incidents
topic and decided from there. Both paths run the same `DecideFlow` code.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import faust

from schemas.police import PoliceIncident
from schemas.receipt import Receipt
from streams.domain import receipts
from streams.domain.parsing import Rejected, dead_letter_of, parse_incident
from streams.flows.deadletter import DeadLetters
from streams.flows.decide import BATCH_SIZE, BATCH_WITHIN_S, DecideFlow
from streams.flows.deps import Deps, Topics
from streams.flows.errors import Redelivery
from streams.flows.receipting import ReceiptSender, door_of


class IngestFlow:
    """The ingest agent: validate, dead-letter, decide in place or forward by incident."""

    #: The topic roles this flow consumes (its lag is measured).
    CONSUMES = ("police-incidents",)

    def __init__(
        self,
        deps: Deps,
        topics: Topics,
        decide: DecideFlow,
        dead_letters: DeadLetters,
        redelivery: Redelivery,
        app: Any,
    ) -> None:
        """A flow handing what it keeps to `decide`; `app` (faust's) knows the partitions."""
        self._deps = deps
        self._topics = topics
        self._decide = decide
        self._dead_letters = dead_letters
        self._redelivery = redelivery
        self._app = app
        self._receipts = ReceiptSender(topics.receipts, deps.metrics)

    def install(self, app: faust.App) -> None:
        """Add the ingest agent to the app."""

        @app.agent(self._topics.police_incidents, name="ingest-police-incidents")
        async def ingest(stream: Any) -> None:
            async for events in stream.take_events(BATCH_SIZE, within=BATCH_WITHIN_S):
                await self.handle_batch(events)

    async def handle_batch(self, events: list[Any]) -> None:
        """Receive each notification (on its own), then decide those kept here as one batch,
        their receipts sent alongside and confirmed after.

        Work a transient failure left unfinished as the worker stopped is handed back to
        the police topic, to be read again after the restart (its receipts are sent again,
        with the same ids).
        """
        failed = self._deps.metrics.incidents_rejected.labels("processing_error")
        here: list[tuple[Any, PoliceIncident]] = []
        told: list[Receipt] = []
        run = self._redelivery
        for event in events:
            receive = partial(self.receive, event, here, told)
            guarded = partial(self._dead_letters.guarded, receive)
            if not await run.run(partial(guarded, event, failed), "ingest"):
                await run.hand_back(self._topics.police_incidents, [event], "ingest")
        # The receipts go out with the decisions' sends and are confirmed after: one round
        # trip to the broker for both.
        sending = await self._receipts.start(told)
        if here and not await run.run(partial(self._decide.decide_parsed, here), "decide"):
            await run.hand_back(self._topics.police_incidents, [e for e, _ in here], "decide")
        if told and not await run.run(partial(self._receipts.confirm, sending), "receipts"):
            await run.hand_back(self._topics.police_incidents, events, "receipts")

    async def receive(
        self, event: Any, here: list[tuple[Any, PoliceIncident]], told: list[Receipt]
    ) -> None:
        """Validate one notification; keep it to decide here, forward it, or dead-letter it.
        Its receipt (received or rejected) is added to `told`, sent after the batch's."""
        metrics = self._deps.metrics
        metrics.incidents_received.inc()
        channel, door_at = door_of(getattr(event, "headers", None))
        now = self._deps.clock.now()
        try:
            incident = parse_incident(event.value)
        except Rejected as rejected:
            metrics.incidents_rejected.labels(rejected.reason_class).inc()
            letter = dead_letter_of(event)  # an oversize value is not sent again
            await self._dead_letters.send(letter, rejected.reason_class, rejected.detail)
            told.append(receipts.rejected(event.value, rejected, door_at or now, channel))
            return
        metrics.note_notification(incident.reported_at)
        told.append(receipts.received(incident, door_at or now, channel, event.value))
        key = incident.incident_id.encode()
        if self.decides_in_place(event, key):
            metrics.incidents_routed.labels("in_place").inc()
            here.append((event, incident))
            return
        metrics.incidents_routed.labels("re_keyed").inc()
        await self._topics.incidents.send(key=key, value=event.value)

    def decides_in_place(self, event: Any, key: bytes) -> bool:
        """Whether the notification is keyed by its incident and where the incidents topic puts it.

        Then the incidents topic and the incident-state table, having as many
        partitions as the police topic, are co-partitioned with it: this worker owns
        the partition that holds the incident's state. When the partition counts
        cannot be read, the notification takes the incidents topic (always correct).
        """
        message = event.message
        if message.key != key:
            return False
        incidents = self._topics.incidents.get_topic_name()
        counts = self.partition_counts((message.topic, incidents))
        if counts is None or counts[0] != counts[1]:
            return False
        return bool(self._app.consumer.key_partition(incidents, key) == message.partition)

    def partition_counts(self, topics: tuple[str, ...]) -> tuple[int, ...] | None:
        """Partitions of each subscribed topic (faust's consumer metadata); None if unknown."""
        try:
            counts = tuple(self._app.consumer.topic_partitions(topic) or 0 for topic in topics)
        except Exception:  # no consumer yet, or a transport without it: take the incidents topic
            return None
        return counts if all(counts) else None
