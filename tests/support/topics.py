"""Topics in a test: reading one whole, from the beginning; a site of its own on a broker."""

from __future__ import annotations

from typing import Any

from kafka import KafkaConsumer, TopicPartition

from streams.config.settings import Settings


def read_topic(bootstrap: str, topic: str, **options: Any) -> list[Any]:
    """Every record now on `topic`, read without a consumer group; `options` are the
    client's (TLS, SASL)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, **options)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        end = consumer.end_offsets(partitions)
        records: list[Any] = []
        while any(consumer.position(tp) < end[tp] for tp in partitions):
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()


def site_settings(monkeypatch: Any, broker: str, name: str) -> Settings:
    """Settings of a site of its own on `broker`, set in the environment as the command line
    reads them: app id and topic prefix `name`, three partitions a topic."""
    for key, value in {
        "KAFKA_BOOTSTRAP_SERVERS": broker,
        "DVTRIGGER_APP_ID": name,
        "DVTRIGGER_TOPIC_PREFIX": f"{name}.",
        "DVTRIGGER_TOPIC_PARTITIONS": "3",
    }.items():
        monkeypatch.setenv(key, value)
    return Settings()
