"""Replaying dead letters: after a fix, send each one back to the topic it came from.

Progress is committed under a consumer group id (partitions are assigned, not
joined, so it is quick and needs no rebalance): running it twice does not send
a dead letter twice. A message that is still invalid returns to the
dead-letter topic with its reason, as before.
"""

from __future__ import annotations

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
    topic = settings.topic("dead-letter")
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=f"{settings.app_id}-dead-letter-replay",
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
            source = headers.get(H_SOURCE_TOPIC, b"").decode()
            if source:
                replayed = [(REPLAYED_FROM, topic.encode())]
                producer.send(source, key=record.key, value=record.value, headers=replayed)
                sent += 1
        producer.flush()
        consumer.commit({tp: OffsetAndMetadata(offset, "", -1) for tp, offset in end.items()})
    finally:
        consumer.close()
        producer.close()
    return sent
