"""Replaying dead letters and parked tasks: after a fix, send each one back to be processed.

Progress is committed under a consumer group id (partitions are assigned, not
joined, so it is quick and needs no rebalance): running it twice does not send
a dead letter twice. A replay of one reason class (`--reason-class`) keeps its
progress under a group of its own, and every replay skips what another has
already sent: the whole topic's replay skips a record that its class's replay
got past, and a class's replay starts after the whole topic's. So replaying
one class never hides the others from a later replay. A message that is still
invalid returns to the dead-letter topic with its reason, as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata

from connectors.kafka.security import client_options
from streams.config.settings import Settings
from streams.config.topics import H_REASON_CLASS, H_SOURCE_TOPIC

REPLAYED_FROM = "dvtrigger-replayed-from"


def _partitions(consumer: KafkaConsumer, topic: str) -> list[TopicPartition]:
    """Every partition of `topic`."""
    return [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]


def _committed(
    settings: Settings, bootstrap: str, group: str, partitions: list[TopicPartition]
) -> dict[TopicPartition, int]:
    """How far a replay group got on each partition (0 where it never committed)."""
    reader = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        **client_options(settings),
    )
    try:
        return {tp: reader.committed(tp) or 0 for tp in partitions}
    finally:
        reader.close()


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


def _group(settings: Settings, role: str, reason_class: str | None) -> str:
    """The consumer group that keeps a replay's progress: the whole topic's, or one class's."""
    whole = f"{settings.app_id}-{role}-replay"
    return f"{whole}-{reason_class}" if reason_class else whole


def _replay(
    settings: Settings,
    bootstrap: str,
    role: str,
    reason_class: str | None,
    target: Callable[[dict[str, bytes]], str],
) -> int:
    """Send each record of the `role` topic (of one reason class) to its target topic, once."""
    topic = settings.topic(role)
    options = client_options(settings)
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=_group(settings, role, reason_class),
        enable_auto_commit=False,
        auto_offset_reset="earliest",  # a position the topic's retention has passed
        **options,
    )
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, **options
    )
    sent = 0
    try:
        partitions = _partitions(consumer, topic)
        consumer.assign(partitions)
        whole = _committed(settings, bootstrap, _group(settings, role, None), partitions)
        got_past: dict[str, dict[TopicPartition, int]] = {}  # by class, when first met
        for tp in partitions:
            own = consumer.committed(tp) or 0
            start = max(own, whole[tp]) if reason_class else own
            if start:
                consumer.seek(tp, start)
            else:
                consumer.seek_to_beginning(tp)
        end = dict(consumer.end_offsets(partitions))
        for record in _records(consumer, end):
            headers = dict(record.headers or [])
            found = headers.get(H_REASON_CLASS, b"").decode()
            if reason_class and found != reason_class:
                continue
            if not reason_class and found:
                if found not in got_past:
                    got_past[found] = _committed(
                        settings, bootstrap, _group(settings, role, found), partitions
                    )
                tp = TopicPartition(record.topic, record.partition)
                if record.offset < got_past[found].get(tp, 0):
                    continue  # sent already by a replay of its class
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
