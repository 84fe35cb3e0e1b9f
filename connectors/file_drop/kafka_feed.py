"""The file drop's feed on Kafka: an acks=all producer, and a reader of the topics' tails."""

from __future__ import annotations

from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError

from connectors.file_drop.feed import FeedUnavailable, Outgoing, file_line
from connectors.file_drop.state import Offsets
from connectors.kafka.security import client_options
from streams.config.settings import Settings

ACK_TIMEOUT_S = 60.0


class KafkaFeed:
    """Publishes batches and reads topics back, with the cluster's TLS/SASL options."""

    def __init__(self, settings: Settings, bootstrap: str) -> None:
        self._options: dict[str, Any] = {"bootstrap_servers": bootstrap}
        self._options.update(client_options(settings))
        self._producer: KafkaProducer | None = None
        self._reader: KafkaConsumer | None = None

    def _producing(self) -> KafkaProducer:
        """The producer, made on first use (and again after a failure)."""
        if self._producer is None:
            self._producer = KafkaProducer(
                acks="all", enable_idempotence=True, linger_ms=5, **self._options
            )
        return self._producer

    def publish(self, records: list[Outgoing]) -> None:
        """Produce every record, then wait until the broker has acknowledged each one."""
        try:
            producer = self._producing()
            futures = [
                producer.send(r.topic, key=r.key, value=r.value, headers=r.headers) for r in records
            ]
            producer.flush(timeout=ACK_TIMEOUT_S)
            for future in futures:
                future.get(timeout=ACK_TIMEOUT_S)
        except KafkaError as error:
            self._drop_producer()
            raise FeedUnavailable(f"publishing failed: {type(error).__name__}") from None

    def _drop_producer(self) -> None:
        """Close the producer after a failure, waiting for what it holds to be sent or fail,
        so that no record lands behind the read-back of the next attempt."""
        if self._producer is not None:
            self._producer.close(timeout=ACK_TIMEOUT_S)
            self._producer = None

    def end_offsets(self, topics: list[str]) -> Offsets:
        """The end offset of every partition of `topics`."""
        if self._reader is None:
            self._reader = self._consumer()
        try:
            partitions = _partitions(self._reader, topics)
            ends = self._reader.end_offsets(partitions)
        except KafkaError as error:
            self._reader.close()
            self._reader = None
            raise FeedUnavailable(f"reading offsets failed: {type(error).__name__}") from None
        offsets: Offsets = {topic: {} for topic in topics}
        for tp in partitions:
            offsets[tp.topic][str(tp.partition)] = ends[tp]
        return offsets

    def landed(self, since: Offsets, digest: str) -> set[int]:
        """Lines of the file `digest` on the topics of `since`, from its offsets to the end."""
        consumer = self._consumer()
        try:
            partitions = _partitions(consumer, list(since))
            consumer.assign(partitions)
            for tp in partitions:
                consumer.seek(tp, since[tp.topic].get(str(tp.partition), 0))
            end = consumer.end_offsets(partitions)
            lines: set[int] = set()
            while any(consumer.position(tp) < end[tp] for tp in partitions):
                for batch in consumer.poll(timeout_ms=500).values():
                    lines.update(
                        line
                        for record in batch
                        if (line := file_line(record.headers or [], digest)) is not None
                    )
            return lines
        except KafkaError as error:
            raise FeedUnavailable(f"reading back failed: {type(error).__name__}") from None
        finally:
            consumer.close()

    def _consumer(self) -> KafkaConsumer:
        """A consumer in no group: it only reads offsets and records."""
        return KafkaConsumer(enable_auto_commit=False, group_id=None, **self._options)

    def close(self) -> None:
        """Send what is buffered and close the clients."""
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self._producer is not None:
            self._producer.close(timeout=ACK_TIMEOUT_S)
            self._producer = None


def _partitions(consumer: KafkaConsumer, topics: list[str]) -> list[TopicPartition]:
    """Every partition of `topics`; a topic the cluster does not have cannot be used."""
    partitions = []
    for topic in topics:
        found = consumer.partitions_for_topic(topic)
        if not found:
            raise FeedUnavailable(f"topic {topic} does not exist: run `dvtrigger topics create`")
        partitions += [TopicPartition(topic, p) for p in sorted(found)]
    return partitions
