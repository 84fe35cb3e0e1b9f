"""`dvtrigger parked replay`: parked tasks go back to the task commands, once."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, ClassVar

import pytest

from connectors.cli.main import parser
from connectors.kafka import dead_letters
from streams.config.settings import Settings
from streams.config.topics import H_REASON_CLASS, H_SOURCE_TOPIC


class FakeConsumer:
    """One partition of records; remembers the committed offset across instances."""

    committed_at: ClassVar[dict[Any, int]] = {}
    records: ClassVar[list[Any]] = []

    def __init__(self, **kwargs: Any) -> None:
        self.group = kwargs["group_id"]
        self.at = 0

    def partitions_for_topic(self, topic: str) -> set[int]:
        self.topic = topic
        return {0}

    def assign(self, partitions: list[Any]) -> None:
        self.partitions = partitions

    def committed(self, tp: Any) -> int | None:
        return self.committed_at.get((self.group, tp))

    def seek_to_beginning(self, tp: Any) -> None:
        self.at = 0

    def seek(self, tp: Any, offset: int) -> None:
        self.at = offset

    def end_offsets(self, partitions: list[Any]) -> dict[Any, int]:
        return {tp: len(self.records) for tp in partitions}

    def position(self, tp: Any) -> int:
        return self.at

    def poll(self, timeout_ms: int) -> dict[Any, list[Any]]:
        batch, self.at = self.records[self.at :], len(self.records)
        return {self.partitions[0]: batch}

    def commit(self, offsets: dict[Any, Any]) -> None:
        for tp, meta in offsets.items():
            self.committed_at[(self.group, tp)] = meta.offset

    def close(self) -> None:
        pass


class FakeProducer:
    sent: ClassVar[list[tuple[str, bytes, bytes, Any]]] = []

    def __init__(self, **kwargs: Any) -> None:
        pass

    def send(self, topic: str, key: bytes, value: bytes, headers: Any) -> None:
        self.sent.append((topic, key, value, headers))

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def parked(offset: int, reason_class: str) -> Any:
    headers = [(H_REASON_CLASS, reason_class.encode()), (H_SOURCE_TOPIC, b"x.task-retries")]
    return SimpleNamespace(
        topic="x.tasks-parked",
        partition=0,
        offset=offset,
        key=b"k%d" % offset,
        value=b"v",
        headers=headers,
    )


@pytest.fixture
def kafka(monkeypatch: pytest.MonkeyPatch) -> type[FakeProducer]:
    monkeypatch.setattr(FakeConsumer, "committed_at", {})
    monkeypatch.setattr(FakeConsumer, "records", [parked(0, "deadline"), parked(1, "rejected")])
    monkeypatch.setattr(FakeProducer, "sent", [])
    monkeypatch.setattr(dead_letters, "KafkaConsumer", FakeConsumer)
    monkeypatch.setattr(dead_letters, "KafkaProducer", FakeProducer)
    return FakeProducer


def test_parked_tasks_go_back_to_the_task_commands_once(kafka: type[FakeProducer]) -> None:
    settings = Settings(topic_prefix="x.")
    assert dead_letters.replay_parked(settings, "b:9092", reason_class="deadline") == 1
    ((topic, key, _, headers),) = kafka.sent
    assert (topic, key) == ("x.task-commands", b"k0")  # not back to the retry topic
    assert headers == [(dead_letters.REPLAYED_FROM, b"x.tasks-parked")]
    assert dead_letters.replay_parked(settings, "b:9092", reason_class="deadline") == 0


def test_replaying_one_class_hides_no_other_from_a_later_replay(kafka: type[FakeProducer]) -> None:
    settings = Settings(topic_prefix="x.")
    assert dead_letters.replay_parked(settings, "b:9092", reason_class="deadline") == 1
    # The whole topic next: only what the class's replay did not send.
    assert dead_letters.replay_parked(settings, "b:9092") == 1
    assert [key for _, key, _, _ in kafka.sent] == [b"k0", b"k1"]
    assert dead_letters.replay_parked(settings, "b:9092") == 0  # committed: nothing twice
    assert dead_letters.replay_parked(settings, "b:9092", reason_class="rejected") == 0


def test_a_class_replayed_after_the_whole_topic_sends_nothing_again(
    kafka: type[FakeProducer],
) -> None:
    settings = Settings(topic_prefix="x.")
    assert dead_letters.replay_parked(settings, "b:9092") == 2
    assert dead_letters.replay_parked(settings, "b:9092", reason_class="deadline") == 0
    kafka_records = FakeConsumer.records
    kafka_records.append(parked(2, "deadline"))  # parked since
    assert dead_letters.replay_parked(settings, "b:9092", reason_class="deadline") == 1
    assert dead_letters.replay_parked(settings, "b:9092") == 0
    assert [key for _, key, _, _ in kafka.sent] == [b"k0", b"k1", b"k2"]


def test_the_cli_offers_parked_replay() -> None:
    args = parser().parse_args(["parked", "replay", "--reason-class", "deadline"])
    assert (args.action, args.reason_class) == ("replay", "deadline")
