"""Replaying dead letters and parked tasks: after a fix, send each one back to be processed.

Progress is committed under a consumer group id (partitions are assigned, not
joined, so it is quick and needs no rebalance): running it twice does not send
a dead letter twice. A message that is still invalid returns to the
dead-letter topic with its reason, as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata

from streams.deadletter import H_REASON_CLASS, H_SOURCE_TOPIC
from streams.settings import Settings

REPLAYED_FROM = "dvtrigger-replayed-from"


def _positioned(consumer: KafkaConsumer, topic: str) -> dict[TopicPartition, int]:
    """Assign every partition, start after the last committed replay; the end offsets."""
    partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
    consumer.assign(partitions)
    for tp in partitions:
        committed = consumer.committed(tp)
        if committed is None:
            consumer.seek_to_beginning(tp)
        else:
            consumer.seek(tp, committed)
    return dict(consumer.end_offsets(partitions))


def _records(consumer: KafkaConsumer, end: dict[TopicPartition, int]) -> list[Any]:
    """Every record up to the end offsets taken at the start."""
    records: list[Any] = []
    while any(consumer.position(tp) < offset for tp, offset in end.items()):
        for tp, batch in consumer.poll(timeout_ms=500).items():
            records.extend(r for r in batch if r.offset < end[tp])
    return records


def replay_dead_letters(settings: Settings, bootstrap: str, reason_class: str | None = None) -> int:
    """Send dead letters (optionally of one reason class) back to their source topics."""

    def source(headers: dict[str, bytes]) -> str:
        return headers.get(H_SOURCE_TOPIC, b"").decode()

    return _replay(settings, bootstrap, "dead-letter", reason_class, source)


def replay_parked(settings: Settings, bootstrap: str, reason_class: str | None = None) -> int:
    """Send parked tasks (optionally of one reason class) back to the task commands.

    A parked task may have come from the retry topic; it goes back to its first attempt,
    with a new deadline. The idempotency key makes a task the case system already has
    harmless.
    """
    commands = settings.topic("task-commands")
    return _replay(settings, bootstrap, "tasks-parked", reason_class, lambda _: commands)


def _replay(
    settings: Settings,
    bootstrap: str,
    role: str,
    reason_class: str | None,
    target: Callable[[dict[str, bytes]], str],
) -> int:
    """Send each record of the `role` topic (of one reason class) to its target topic, once."""
    topic = settings.topic(role)
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=f"{settings.app_id}-{role}-replay",
        enable_auto_commit=False,
    )
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    sent = 0
    try:
        end = _positioned(consumer, topic)
        for record in _records(consumer, end):
            headers = dict(record.headers or [])
            if reason_class and headers.get(H_REASON_CLASS, b"").decode() != reason_class:
                continue
            destination = target(headers)
            if destination:
                replayed = [(REPLAYED_FROM, topic.encode())]
                producer.send(destination, key=record.key, value=record.value, headers=replayed)
                sent += 1
        producer.flush()
        consumer.commit({tp: OffsetAndMetadata(offset, "", -1) for tp, offset in end.items()})
    finally:
        consumer.close()
        producer.close()
    return sent
