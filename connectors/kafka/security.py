"""How kafka-python clients reach a secured cluster: TLS, SASL/SCRAM or mutual TLS."""

from __future__ import annotations

from typing import Any

from streams.config.settings import Settings


def client_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for KafkaProducer, KafkaConsumer and KafkaAdminClient."""
    return {}
