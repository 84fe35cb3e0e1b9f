"""How long a worker's consumer lets the broker hold a fetch that finds nothing new.

faust's aiokafka consumer asks for `fetch_max_wait_ms=1500`, written into its
driver rather than a setting. Apache Kafka answers a waiting fetch as soon as a
record arrives, so the wait costs nothing there. Tansu, the embedded broker,
answers only when the wait runs out: a notification on a quiet partition waited
up to 1.5 s at each hop (police topic to the decide worker, task commands to
the deliver worker), and at 50 notifications a second p99 from publish to the
task in the inbox was 1.3-1.8 s where the hops themselves took milliseconds
(`docs/benchmarks.md`, latency at a steady load). A short wait costs an empty
fetch request per partition leader that often while a worker is idle: ten a
second at 100 ms, nothing a broker notices.

`fetch_max_wait_ms` (the `kafka_fetch_max_wait_ms` setting) replaces faust's
constant on each worker consumer faust creates, before it starts (aiokafka
hands it to its fetcher at start). faust-streaming is pinned (0.15.3): an
upgrade that renames the method fails `tests/unit/test_fetch_wait.py`.
"""

from __future__ import annotations

from typing import Any

from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

#: The app attribute that carries the wait to the consumer thread (faust's settings are closed).
ATTRIBUTE = "dvtrigger_fetch_max_wait_ms"
_original = AIOKafkaConsumerThread._create_worker_consumer


def _create_worker_consumer(self: Any, transport: Any) -> Any:
    """faust's worker consumer, with the app's fetch wait if it has one."""
    consumer = _original(self, transport)
    wait = getattr(self.app, ATTRIBUTE, None)
    if wait is not None:
        consumer._fetch_max_wait_ms = int(wait)
    return consumer


def install(app: Any, fetch_max_wait_ms: int) -> None:
    """Give `app`'s worker consumers a fetch wait of `fetch_max_wait_ms`."""
    setattr(app, ATTRIBUTE, fetch_max_wait_ms)
    AIOKafkaConsumerThread._create_worker_consumer = _create_worker_consumer  # type: ignore[method-assign]
