"""Replaying dead letters: after a fix, send each one back to the topic it came from.

A consumer group remembers what was replayed, so running it twice does not
send a dead letter twice. A message that is still invalid returns to the
dead-letter topic with its reason, as before.
"""

from __future__ import annotations

from kafka import KafkaConsumer, KafkaProducer

from streams.deadletter import H_REASON_CLASS, H_SOURCE_TOPIC
from streams.settings import Settings

REPLAYED_FROM = "dvtrigger-replayed-from"


def replay_dead_letters(settings: Settings, bootstrap: str, reason_class: str | None = None) -> int:
    """Send dead letters (optionally of one reason class) back to their source topics."""
    consumer = KafkaConsumer(
        settings.topic("dead-letter"),
        bootstrap_servers=bootstrap,
        group_id=f"{settings.app_id}-dead-letter-replay",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=5000,
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
    )
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    sent = 0
    try:
        for message in consumer:
            headers = {key: value for key, value in message.headers or []}
            if reason_class and headers.get(H_REASON_CLASS, b"").decode() != reason_class:
                continue
            source = headers.get(H_SOURCE_TOPIC, b"").decode()
            if not source:
                continue
            replayed = [(REPLAYED_FROM, settings.topic("dead-letter").encode())]
            producer.send(source, key=message.key, value=message.value, headers=replayed)
            sent += 1
        producer.flush()
        consumer.commit()
    finally:
        consumer.close()
        producer.close()
    return sent
