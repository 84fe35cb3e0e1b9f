"""Consumer lag per topic role: offsets waiting, and seconds behind that grow while stuck."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from faust.types import TP
from prometheus_client import CollectorRegistry, generate_latest

from connectors.case_system.memory import InMemoryCaseSystem
from streams.bootstrap import build
from streams.config.settings import Settings
from streams.telemetry.consumer_lag import ConsumerLag, LagSensor, Offsets, faust_offsets
from streams.telemetry.metrics import Metrics

POLICE = "dvtrigger.police-incidents"
INCIDENTS = "dvtrigger.incidents"


class World:
    """A clock and the consumer's offsets, both set by the test."""

    def __init__(self) -> None:
        self.now = 10_000.0
        self.assigned: dict[tuple[str, int], tuple[int | None, int | None]] = {}

    def clock(self) -> float:
        return self.now

    def offsets(self) -> list[Offsets]:
        return [
            Offsets(t, p, high, committed) for (t, p), (high, committed) in self.assigned.items()
        ]


def lag_of(world: World, roles: tuple[str, ...] = ("police-incidents", "incidents")) -> ConsumerLag:
    return ConsumerLag(roles, world.offsets, world.clock)


def test_a_worker_with_nothing_waiting_has_no_lag_however_quiet_the_topic() -> None:
    world = World()
    lag = lag_of(world)
    world.assigned[(POLICE, 0)] = (5, 5)
    lag.processed(POLICE, 0, 4, timestamp=world.now - 30)
    world.now += 3600  # an hour without a notification
    police = lag.sample()["police-incidents"]
    assert (police.messages, police.seconds) == (0, 0.0)
    assert police.last_timestamp == 10_000.0 - 30


def test_a_stuck_worker_falls_further_behind_at_every_scrape() -> None:
    world = World()
    lag = lag_of(world)
    world.assigned[(POLICE, 0)] = (3, None)
    lag.processed(POLICE, 0, 2, timestamp=world.now)
    assert lag.sample()["police-incidents"].seconds == 0  # current at 10 000
    world.assigned[(POLICE, 0)] = (10, None)  # seven more arrive; none is processed
    world.now += 40
    assert lag.sample()["police-incidents"] == lag.sample()["police-incidents"]
    first = lag.sample()["police-incidents"]
    world.now += 60
    later = lag.sample()["police-incidents"]
    assert (first.messages, first.seconds) == (7, 40.0)
    assert (later.messages, later.seconds) == (7, 100.0)


def test_behind_is_measured_from_the_last_time_nothing_waited_not_the_last_message() -> None:
    world = World()
    lag = lag_of(world)
    world.assigned[(POLICE, 0)] = (1, None)
    lag.processed(POLICE, 0, 0, timestamp=world.now - 7200)  # a message from two hours ago
    world.now += 300
    lag.sample()  # current now
    world.assigned[(POLICE, 0)] = (2, None)
    world.now += 5
    assert lag.sample()["police-incidents"].seconds == 5.0


def test_the_worst_partition_gives_the_seconds_and_every_partition_the_messages() -> None:
    world = World()
    lag = lag_of(world)
    world.assigned[(POLICE, 0)] = (4, 4)
    world.assigned[(POLICE, 1)] = (9, 6)
    world.assigned[(INCIDENTS, 1)] = (2, 0)
    lag.processed(POLICE, 1, 5, timestamp=world.now - 20)
    sample = lag.sample()
    assert (sample["police-incidents"].messages, sample["police-incidents"].seconds) == (3, 20.0)
    assert sample["incidents"].messages == 2  # police-incidents is not read as incidents


def test_before_any_message_is_processed_the_backlog_counts_from_the_first_read() -> None:
    world = World()
    lag = lag_of(world)
    world.assigned[(POLICE, 0)] = (12, None)  # a new consumer group: nothing committed
    assert lag.sample()["police-incidents"].messages == 0  # not read yet: not known
    lag.read(POLICE, 0, 2)  # the log begins at 2
    lag.read(POLICE, 0, 3)
    world.now += 15
    police = lag.sample()["police-incidents"]
    world.now += 15
    assert (police.messages, police.seconds) == (10, 0.0)
    assert lag.sample()["police-incidents"].seconds == 15.0
    assert police.last_timestamp is None


def test_a_commit_by_the_previous_owner_after_a_rebalance_moves_the_position_on() -> None:
    world = World()
    lag = lag_of(world)
    lag.processed(POLICE, 0, 3, timestamp=world.now)
    world.assigned[(POLICE, 0)] = (50, 45)  # taken back later: another worker got to 45
    assert lag.sample()["police-incidents"].messages == 5


def test_topics_the_worker_does_not_consume_are_left_out() -> None:
    world = World()
    lag = lag_of(world, roles=("incidents",))
    world.assigned[(POLICE, 0)] = (9, 0)
    world.assigned[("dvtrigger-incident-state-changelog", 0)] = (9, 0)
    lag.processed(POLICE, 0, 1, timestamp=world.now)
    sample = lag.sample()
    assert list(sample) == ["incidents"]
    assert sample["incidents"].messages == 0 and sample["incidents"].last_timestamp is None


def test_the_metrics_show_each_role_the_worker_consumes() -> None:
    world = World()
    metrics = Metrics(CollectorRegistry(), clock=world.clock)
    lag = lag_of(world)
    lag.export(metrics)
    world.assigned[(POLICE, 0)] = (3, None)
    lag.processed(POLICE, 0, 0, timestamp=world.now - 2)
    world.now += 8

    def sample(name: str, topic: str) -> float | None:
        return metrics.registry.get_sample_value(name, {"topic": topic})

    assert sample("dvtrigger_consumer_offset_lag", "police-incidents") == 2
    assert sample("dvtrigger_consumer_lag_seconds", "police-incidents") == 10
    assert sample("dvtrigger_consumer_last_message_timestamp_seconds", "police-incidents") == (
        10_000 - 2
    )
    assert sample("dvtrigger_consumer_offset_lag", "incidents") == 0
    assert sample("dvtrigger_consumer_last_message_timestamp_seconds", "incidents") is None


def test_the_sensor_feeds_the_lag_from_faust_calls() -> None:
    world = World()
    lag = lag_of(world)
    sensor = LagSensor(lag)
    tp = SimpleNamespace(topic=POLICE, partition=0)
    world.assigned[(POLICE, 0)] = (8, None)
    sensor.on_message_in(tp, 5, SimpleNamespace(timestamp=9_990.0))
    assert lag.sample()["police-incidents"].messages == 3
    sensor.on_message_out(tp, 5, SimpleNamespace(timestamp=9_990.0))
    police = lag.sample()["police-incidents"]
    assert (police.messages, police.last_timestamp) == (2, 9_990.0)


class FakeConsumer:
    """faust's consumer as `faust_offsets` reads it."""

    def __init__(self) -> None:
        self.tps = [TP(POLICE, p) for p in (0, 1)]
        self._committed_offset = {self.tps[0]: 7}

    def assignment(self) -> set[Any]:
        return set(self.tps)

    def highwater(self, tp: Any) -> int:
        if tp.partition == 1:
            raise AssertionError("partition is not assigned")  # aiokafka, mid-rebalance
        return 9


def test_offsets_are_read_from_the_consumer_without_failing_on_a_partition() -> None:
    app = SimpleNamespace(consumer=FakeConsumer())
    found = sorted(faust_offsets(app), key=lambda o: o.partition)  # type: ignore[arg-type]
    assert found == [Offsets(POLICE, 0, 9, 7), Offsets(POLICE, 1, None, None)]


def test_a_worker_not_yet_started_answers_a_scrape_with_no_lag() -> None:
    settings = Settings(app_id="lag", web_port=7011, deliver_web_port=7012)
    w = build(settings, InMemoryCaseSystem(), Metrics(CollectorRegistry()), role="deliver")
    text = generate_latest(w.metrics.registry).decode()
    assert 'dvtrigger_consumer_offset_lag{topic="task-commands"} 0.0' in text
    assert 'dvtrigger_consumer_lag_seconds{topic="task-retries"} 0.0' in text
    assert 'topic="police-incidents"' not in text  # the deliver role does not read it
