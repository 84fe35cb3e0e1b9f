"""A worker's consumer asks the broker to hold an empty fetch for the configured wait."""

from __future__ import annotations

from streams.bootstrap import faust_app
from streams.config.settings import Settings
from streams.flows import fetch_wait


def consumer_of(settings: Settings) -> object:
    """The aiokafka consumer faust would create for a worker of `settings` (not started)."""
    app = faust_app(settings)
    thread = app.consumer._thread
    return thread._create_worker_consumer(app.transport)


async def test_the_worker_consumer_waits_as_configured_not_faust_s_1500_ms() -> None:
    settings = Settings.model_validate({"kafka_fetch_max_wait_ms": 80})
    assert consumer_of(settings)._fetch_max_wait_ms == 80  # type: ignore[attr-defined]


async def test_by_default_a_tenth_of_a_second() -> None:
    assert consumer_of(Settings())._fetch_max_wait_ms == 100  # type: ignore[attr-defined]


def test_faust_still_builds_its_worker_consumer_where_the_wait_is_replaced() -> None:
    """A faust upgrade that renames the method would leave its 1,500 ms in place: fail here."""
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    assert fetch_wait._original.__name__ == "_create_worker_consumer"
    assert AIOKafkaConsumerThread._create_worker_consumer in (
        fetch_wait._create_worker_consumer,
        fetch_wait._original,
    )
