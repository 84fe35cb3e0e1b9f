"""The receipts topic, tailed by a consumer in no group: what the acknowledgement watch folds.

The deliver worker's watch of raised tasks is not a table of its own: it is the receipts
topic folded (a `task_raised` opens a watch, a `task_acknowledged` closes it). On its first
read the tail starts at the records of `since` (the watch's window), then each read returns
what was written after. Every worker reads every partition: the watches it acts on are
those of the task-command partitions it is assigned, whichever worker raised the task.

A read goes on until a poll comes back empty (not to the end offsets, which the embedded
broker reports short of the last batch) or `max_records` were read; the rest comes next time.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from connectors.kafka.security import client_options
from streams.config.settings import Settings


class ReceiptsTail:
    """Reads the receipts topic from a time, then on from where it left off (blocking calls)."""

    def __init__(
        self, settings: Settings, bootstrap: str, topic: str, max_records: int = 50_000
    ) -> None:
        self._settings = settings
        self._bootstrap = bootstrap
        self._topic = topic
        self._max_records = max_records
        self._consumer: KafkaConsumer | None = None
        self._assigned: set[TopicPartition] = set()
        self._lock = threading.Lock()

    def read_new(self, since: datetime) -> list[bytes]:
        """The values written since the last read; the first read starts at `since`.

        A failure to reach the broker closes the consumer: the next read starts again at
        `since`, which the fold absorbs (a watch opened twice is one watch).
        """
        with self._lock:
            try:
                return self._read(since)
            except KafkaError:
                self.close()
                raise

    def _read(self, since: datetime) -> list[bytes]:
        consumer = self._consumer_at(since)
        values: list[bytes] = []
        while len(values) < self._max_records:
            batches = consumer.poll(timeout_ms=200, max_records=5_000)
            if not batches:
                break
            values.extend(r.value for records in batches.values() for r in records if r.value)
        return values

    def _consumer_at(self, since: datetime) -> KafkaConsumer:
        """The consumer, assigned every partition; a partition new to it starts at `since`."""
        if self._consumer is None:
            self._consumer = KafkaConsumer(
                bootstrap_servers=self._bootstrap,
                enable_auto_commit=False,
                group_id=None,
                **client_options(self._settings),
            )
            self._assigned = set()
        consumer = self._consumer
        known = consumer.partitions_for_topic(self._topic) or set()
        partitions = {TopicPartition(self._topic, p) for p in known}
        new = partitions - self._assigned
        if new:
            consumer.assign(sorted(partitions))
            self._seek(consumer, sorted(new), since)
            self._assigned = partitions
        return consumer

    @staticmethod
    def _seek(consumer: Any, partitions: list[TopicPartition], since: datetime) -> None:
        """Start each new partition at its first record at or after `since`: at its end when
        there is none, at its beginning when the broker cannot say (the embedded one answers
        offset 0 and timestamp -1; reading more only folds more)."""
        wanted = {tp: int(since.timestamp() * 1000) for tp in partitions}
        found = consumer.offsets_for_times(wanted)
        for tp in partitions:
            at = found.get(tp)
            if at is None:
                consumer.seek_to_end(tp)
            elif at.timestamp < 0:
                consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, at.offset)

    def close(self) -> None:
        """Close the consumer; a later read opens a new one."""
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None
            self._assigned = set()
