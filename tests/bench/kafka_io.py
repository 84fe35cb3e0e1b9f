"""Kafka for the bench: timed publishing, and collecting what a stage wrote, with timestamps.

Every time here is a Kafka record timestamp (CreateTime, set by the producing client)
or `time.time()` in this process: one machine, one clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

#: The consumer settings the brief gives kafka-python on Tansu.
GROUP_TIMEOUTS = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000}


@dataclass(frozen=True)
class Sent:
    """What a timed publish did: when it began and, per message, where and when it was produced."""

    start: float
    timestamps: list[float]
    places: list[tuple[int, int]]

    def at(self) -> dict[tuple[int, int], float]:
        """Produce time of each message by its (partition, offset)."""
        return dict(zip(self.places, self.timestamps, strict=True))


def publish_timed(
    kafka: KafkaProducer, topic: str, messages: Sequence[tuple[bytes, bytes]]
) -> Sent:
    """Produce (key, value) pairs as fast as the producer takes them; wait for every ack."""
    start = time.time()
    futures = [kafka.send(topic, key=key, value=value) for key, value in messages]
    kafka.flush()
    metadata = [future.get(timeout=60) for future in futures]
    return Sent(
        start=start,
        timestamps=[m.timestamp / 1000.0 for m in metadata],
        places=[(m.partition, m.offset) for m in metadata],
    )


def partitions(consumer: KafkaConsumer, topic: str, timeout: float = 30.0) -> list[TopicPartition]:
    """The partitions of `topic`, once the cluster's metadata names them."""
    deadline = time.monotonic() + timeout
    while not (numbers := consumer.partitions_for_topic(topic)):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no partitions for {topic}")
        time.sleep(0.1)
    return [TopicPartition(topic, number) for number in sorted(numbers)]


def topic_size(bootstrap: str, topic: str) -> int:
    """How many records `topic` holds (the sum of its partitions' end offsets)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        return sum(consumer.end_offsets(partitions(consumer, topic)).values())
    finally:
        consumer.close()


class Collector:
    """Reads one topic from its beginning, without a consumer group (no join to wait for)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self.consumer = KafkaConsumer(
            bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=100
        )
        tps = partitions(self.consumer, topic)
        self.consumer.assign(tps)
        self.consumer.seek_to_beginning(*tps)

    def take(
        self, count: int, timeout: float, alive: Callable[[], None] = lambda: None
    ) -> list[ConsumerRecord]:
        """The next `count` records (or more, when a fetch brings them); `alive` may raise."""
        records: list[ConsumerRecord] = []
        deadline = time.monotonic() + timeout
        while len(records) < count:
            for batch in self.consumer.poll(timeout_ms=200).values():
                records.extend(batch)
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.topic}: {len(records)} of {count} records in {timeout}s")
            alive()
        return records

    def close(self) -> None:
        """Leave the cluster."""
        self.consumer.close()


def read_rate(
    bootstrap: str, topic: str, group: str, count: int, timeout: float = 120.0
) -> tuple[int, float]:
    """Read `count` records as a member of `group`: (records timed, seconds they took).

    The clock starts when the first fetch has returned, so the group join and the
    first fetch's round trip are left out, and so are the records that fetch brought.
    """
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **GROUP_TIMEOUTS,
    )
    deadline = time.monotonic() + timeout
    try:
        seen = timed = 0
        start = last = 0.0
        while seen < count:
            batch = consumer.poll(timeout_ms=1000)
            got = sum(len(records) for records in batch.values())
            now = time.perf_counter()
            if got and not seen:
                start = now
            elif got:
                timed += got
            seen += got
            last = now if got else last
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: read {seen} of {count} records in {timeout}s")
        return timed, last - start
    finally:
        consumer.close()
