"""Where accepted notifications go: the broker, written with acks=all before the 202.

`KafkaSink` runs kafka-python's blocking producer in a thread pool and waits for the
broker's acknowledgement; a broker that is down or slow raises `BrokerUnavailable`.
`MemorySink` is its fake for tests.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from kafka import KafkaProducer
from kafka.errors import KafkaError

from connectors.kafka.security import client_options
from streams.config.settings import Settings


@dataclass(frozen=True)
class Record:
    """One message to write: topic, key, value and headers."""

    topic: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]] = field(default_factory=list)


class BrokerUnavailable(Exception):
    """The broker did not acknowledge the write in time (its reason: an error type only)."""


class Sink(Protocol):
    """Writes one record, returning only once it is durable."""

    async def write(self, record: Record) -> None:
        """Write `record`, or raise `BrokerUnavailable`."""

    def close(self) -> None:
        """Release connections and threads."""


class KafkaSink:
    """The broker, through one idempotent acks=all producer made on first use."""

    def __init__(self, settings: Settings, bootstrap: str, timeout_s: float) -> None:
        self._settings = settings
        self._bootstrap = bootstrap
        self._timeout_s = timeout_s
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="ingress-kafka")
        self._lock = threading.Lock()
        self._producer: KafkaProducer | None = None

    async def write(self, record: Record) -> None:
        """Write `record` and wait for the broker's acknowledgement."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._pool, self._write, record)

    def _write(self, record: Record) -> None:
        try:
            future = self._kafka().send(
                record.topic, key=record.key, value=record.value, headers=record.headers
            )
            future.get(timeout=self._timeout_s)
        except (KafkaError, OSError) as exc:
            raise BrokerUnavailable(type(exc).__name__) from None

    def _kafka(self) -> KafkaProducer:
        with self._lock:
            if self._producer is None:
                timeout_ms = int(self._timeout_s * 1000)
                self._producer = KafkaProducer(
                    bootstrap_servers=self._bootstrap,
                    acks="all",
                    enable_idempotence=True,
                    linger_ms=0,
                    max_block_ms=timeout_ms,
                    bootstrap_timeout_ms=timeout_ms,
                    request_timeout_ms=timeout_ms,
                    delivery_timeout_ms=timeout_ms + 1000,
                    **client_options(self._settings),
                )
            return self._producer

    def close(self) -> None:
        """Flush and close the producer, then the thread pool."""
        with self._lock:
            if self._producer is not None:
                self._producer.close(timeout=self._timeout_s)
                self._producer = None
        self._pool.shutdown(wait=True)


class MemorySink:
    """A sink in memory, for tests: records in order; `down` makes every write fail."""

    def __init__(self) -> None:
        self.records: list[Record] = []
        self.down = False

    async def write(self, record: Record) -> None:
        """Keep `record`, or raise `BrokerUnavailable` while `down`."""
        if self.down:
            raise BrokerUnavailable("down")
        self.records.append(record)

    def close(self) -> None:
        """Nothing to release."""

    def of(self, topic: str) -> list[Record]:
        """The records written to `topic`."""
        return [r for r in self.records if r.topic == topic]

    def values(self, topic: str) -> list[Any]:
        """The values written to `topic`."""
        return [r.value for r in self.of(topic)]
