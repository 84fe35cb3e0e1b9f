"""Consumer lag per topic role: messages waiting, and how long this worker has been behind.

faust tells a sensor when a message is read (`on_message_in`) and when every stream that
read it is done with it (`on_message_out`). `ConsumerLag` keeps, per partition, the next
offset to process and the timestamp of the last message processed; at scrape it reads the
high-water mark of each partition assigned (the offset the next message produced will
take) and works out:

- offset lag: high-water minus the next offset to process, summed over a topic's
  partitions. The next offset is the later of the last processed plus one and the
  committed offset; before either, the first offset read;
- time lag: 0 when nothing waits; else now minus the later of the last processed
  message's timestamp and the last time nothing waited (every message before that was
  processed, so the oldest one waiting is younger). Before either is known, the time
  since the backlog was first seen. It grows while a worker is stuck; a quiet topic, with
  nothing waiting, stays at 0.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

import faust

from streams.telemetry.labels import topic_role
from streams.telemetry.metrics import Metrics
from streams.telemetry.scrape_gauge import Samples


class Offsets(NamedTuple):
    """One assigned partition as the consumer sees it; None where it does not know."""

    topic: str
    partition: int
    highwater: int | None
    committed: int | None


@dataclass
class _Partition:
    """What the worker knows of one partition it reads."""

    first_read: int | None = None
    next_offset: int | None = None
    timestamp: float | None = None
    current_at: float | None = None
    behind_since: float | None = None


@dataclass(frozen=True)
class TopicLag:
    """One topic role's lag on this worker."""

    messages: int
    seconds: float
    last_timestamp: float | None


class ConsumerLag:
    """Lag bookkeeping for the topic roles a worker consumes; `offsets` reads the consumer."""

    def __init__(
        self,
        roles: Iterable[str],
        offsets: Callable[[], Iterable[Offsets]],
        clock: Callable[[], float],
    ) -> None:
        self.roles = tuple(roles)
        self.offsets = offsets
        self.clock = clock
        self._partitions: dict[tuple[str, int], _Partition] = {}

    def _partition(self, topic: str, partition: int) -> _Partition | None:
        """The partition's record (made on first sight), or None for a topic not measured."""
        known = self._partitions.get((topic, partition))
        if known is None and topic_role(topic) in self.roles:
            known = self._partitions[(topic, partition)] = _Partition()
        return known

    def read(self, topic: str, partition: int, offset: int) -> None:
        """A message was read from the broker into the streams."""
        known = self._partition(topic, partition)
        if known is not None and known.first_read is None:
            known.first_read = offset

    def processed(self, topic: str, partition: int, offset: int, timestamp: float | None) -> None:
        """Every stream is done with the message at `offset`."""
        known = self._partition(topic, partition)
        if known is None:
            return
        known.next_offset = max(offset + 1, known.next_offset or 0)
        if timestamp is not None:
            known.timestamp = max(timestamp, known.timestamp or 0.0)

    def sample(self) -> dict[str, TopicLag]:
        """Each role's lag now, from the partitions assigned to this worker."""
        now = self.clock()
        messages = dict.fromkeys(self.roles, 0)
        seconds = dict.fromkeys(self.roles, 0.0)
        for seen in self.offsets():
            role = topic_role(seen.topic)
            if role not in messages:
                continue
            known = self._partition(seen.topic, seen.partition)
            assert known is not None  # its role is measured
            waiting = _waiting(known, seen)
            if waiting is not None:
                messages[role] += waiting
                seconds[role] = max(seconds[role], _seconds_behind(known, waiting, now))
        return {
            role: TopicLag(messages[role], seconds[role], self._last_timestamp(role))
            for role in self.roles
        }

    def _last_timestamp(self, role: str) -> float | None:
        stamps = [
            p.timestamp
            for (topic, _), p in self._partitions.items()
            if p.timestamp is not None and topic_role(topic) == role
        ]
        return max(stamps, default=None)

    def export(self, metrics: Metrics) -> None:
        """Make this the source of the consumer gauges of `metrics`."""
        metrics.consumer_offset_lag.source = lambda: _by_role(
            {r: float(lag.messages) for r, lag in self.sample().items()}
        )
        metrics.consumer_lag_seconds.source = lambda: _by_role(
            {r: lag.seconds for r, lag in self.sample().items()}
        )
        metrics.consumer_last_message.source = lambda: _by_role(
            {r: lag.last_timestamp for r, lag in self.sample().items()}
        )


def _waiting(known: _Partition, seen: Offsets) -> int | None:
    """Messages waiting on one partition, or None when the offsets are not known yet."""
    positions = [p for p in (known.next_offset, seen.committed) if p is not None]
    position = max(positions) if positions else known.first_read
    if seen.highwater is None or position is None:
        return None
    return max(0, seen.highwater - position)


def _seconds_behind(known: _Partition, waiting: int, now: float) -> float:
    """How long one partition has been behind, noting when it was last current."""
    if waiting == 0:
        known.current_at, known.behind_since = now, None
        return 0.0
    marks = [m for m in (known.timestamp, known.current_at) if m is not None]
    if not marks:
        known.behind_since = known.behind_since or now
        marks = [known.behind_since]
    return max(0.0, now - max(marks))


def _by_role(values: dict[str, float | None]) -> Samples:
    """Samples labelled by topic role, leaving out unknown values."""
    return {(role,): value for role, value in values.items() if value is not None}


def faust_offsets(app: faust.App) -> list[Offsets]:
    """The high-water mark and committed offset of each partition assigned to the worker.

    Read from faust's consumer without a request to the broker: the high-water mark is the
    one the last fetch returned, the committed offset faust's own record of its commits.
    """
    consumer = app.consumer
    committed: dict[Any, int | None] = getattr(consumer, "_committed_offset", {})
    try:
        assigned = consumer.assignment()
    except Exception:  # the consumer has not started: nothing is assigned yet
        return []
    found = []
    for tp in assigned:
        try:
            highwater = consumer.highwater(tp)
        except Exception:  # not assigned any more, or no fetch yet
            highwater = None
        found.append(Offsets(tp.topic, tp.partition, highwater, committed.get(tp)))
    return found


class LagSensor(faust.Sensor):
    """Feeds `ConsumerLag` from faust's sensor calls; never keeps a message."""

    def __init__(self, lag: ConsumerLag, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lag = lag

    def on_message_in(self, tp: Any, offset: int, message: Any) -> None:
        """A message was read from the broker."""
        self.lag.read(tp.topic, tp.partition, offset)

    def on_message_out(self, tp: Any, offset: int, message: Any) -> None:
        """A message was processed by every stream that read it."""
        self.lag.processed(tp.topic, tp.partition, offset, getattr(message, "timestamp", None))


def install(app: faust.App, metrics: Metrics, roles: Iterable[str]) -> ConsumerLag:
    """Track the lag of the topic roles a worker consumes and export it in `metrics`."""
    lag = ConsumerLag(roles, lambda: faust_offsets(app), metrics.clock)
    app.sensors.add(LagSensor(lag))
    lag.export(metrics)
    return lag
