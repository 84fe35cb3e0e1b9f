"""Errors in two kinds: invalid input is dead-lettered, a transient failure is run again, and a
worker dead-lettering most of what it reads stops."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiokafka.errors import (
    KafkaConnectionError,
    MessageSizeTooLargeError,
    NotLeaderForPartitionError,
    RequestTimedOutError,
)

from streams.config.settings import Settings
from streams.config.topics import H_REASON_CLASS
from streams.flows import errors
from streams.flows.errors import (
    EXIT_UNACKNOWLEDGED,
    DeadLetterFlood,
    DeadLetterGuard,
    Redelivery,
    is_transient,
)
from tests.support.fakes import FakeClock, FakeTopic, fake_event, make_worker, sample_value
from tests.support.samples import sample_incident

TOPIC = "dvtrigger.police-incidents"


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionError("refused"),
        TimeoutError(),
        KafkaConnectionError(),
        NotLeaderForPartitionError(),
        RequestTimedOutError(),
    ],
)
def test_the_brokers_passing_failures_are_transient(exc: Exception) -> None:
    assert is_transient(exc)


@pytest.mark.parametrize(
    "exc", [ValueError("bad date"), KeyError("x"), MessageSizeTooLargeError(), RuntimeError()]
)
def test_an_error_of_the_message_or_the_code_is_not_transient(exc: Exception) -> None:
    assert not is_transient(exc)


async def test_a_transient_failure_in_a_handler_is_raised_not_dead_lettered() -> None:
    w = make_worker()
    assert w.dead_letters is not None
    failed = w.metrics.incidents_rejected.labels("processing_error")

    async def handler() -> None:
        raise KafkaConnectionError()

    with pytest.raises(KafkaConnectionError):
        await w.dead_letters.guarded(handler, fake_event(b"{}", topic=TOPIC), failed)
    assert w.topics.dead_letter.sent == []
    assert sample_value(w, "dvtrigger_incidents_rejected_total", reason="processing_error") == 0


class Flaky(FakeTopic):
    """A topic whose first `failures` sends are refused as the broker refuses them."""

    def __init__(self, name: str, failures: int) -> None:
        super().__init__(name)
        self.failures = failures

    async def send(self, *args: Any, **kwargs: Any) -> Any:
        if self.failures:
            self.failures -= 1
            raise KafkaConnectionError()
        return await super().send(*args, **kwargs)


async def test_ingest_runs_a_notification_again_when_the_broker_refused_to_forward_it() -> None:
    clock = FakeClock()
    w = make_worker(clock=clock)
    assert w.ingest is not None
    w.topics.incidents = Flaky("dvtrigger.incidents", failures=2)
    raw = sample_incident().model_dump_json().encode()
    await w.ingest.handle_batch([fake_event(raw, key=b"force-key", topic=TOPIC)])
    (forwarded,) = w.topics.incidents.sent
    assert forwarded.value == raw
    assert w.topics.dead_letter.sent == []
    assert sample_value(w, "dvtrigger_redeliveries_total", flow="ingest") == 2
    assert len(clock.sleeps) == 2  # backed off between the attempts


async def test_a_decide_batch_whose_acks_failed_is_decided_again_and_its_state_written_once() -> (
    None
):
    clock = FakeClock()
    w = make_worker(clock=clock)
    assert w.decide is not None

    class AckFails(FakeTopic):
        """The broker takes the send but its acknowledgement fails, once."""

        def __init__(self, name: str) -> None:
            super().__init__(name, fail=KafkaConnectionError())

        async def send(self, *args: Any, **kwargs: Any) -> Any:
            future = await super().send(*args, **kwargs)
            self.fail = None
            return future

    w.topics.decisions = AckFails("dvtrigger.decisions")
    raw = sample_incident().model_dump_json().encode()
    event = fake_event(raw, key=b"MPS-2026-000001", topic="dvtrigger.incidents")
    run = Redelivery(clock, lambda flow: None, lambda: False)
    assert await run.run(lambda: w.decide.handle_batch([event]), "decide")  # type: ignore[union-attr]
    assert len(w.topics.decisions.sent) == 2  # the unacknowledged decision, then again
    assert json.loads(w.topics.decisions.sent[-1].value or b"")["revision"] == 1
    assert list(w.incident_state) == [b"MPS-2026-000001"]
    assert w.topics.dead_letter.sent == []


async def test_redelivery_stops_trying_when_the_worker_stops() -> None:
    clock = FakeClock()
    stopping = [False, False, True]
    runs: list[str] = []

    async def work() -> None:
        raise KafkaConnectionError()

    redelivery = Redelivery(clock, runs.append, lambda: stopping.pop(0))
    assert not await redelivery.run(work, "register")
    assert runs == ["register"] * 3


def test_the_guard_trips_on_a_flood_not_on_a_trickle() -> None:
    clock = FakeClock()
    guard = DeadLetterGuard(limit=5, window_s=60, ratio=0.5, clock=clock.time)
    for _ in range(100):  # 1 in 10 invalid: bad input, not a broken worker
        for n in range(10):
            guard.handled()
            if n == 0:
                assert not guard.dead_lettered()
        clock.t += 0.1
    tripped = []
    for _ in range(10):
        guard.handled()
        tripped.append(guard.dead_lettered())
    assert not any(tripped)  # the window still holds the good traffic of the last minute
    clock.t += 61
    tripped = []
    for _ in range(6):
        guard.handled()
        tripped.append(guard.dead_lettered())
    assert tripped == [False, False, False, False, True, True]


async def test_a_worker_dead_lettering_everything_stops_after_the_limit() -> None:
    w = make_worker(Settings(dead_letter_limit=3, dead_letter_window_s=60), clock=FakeClock())
    assert w.ingest is not None
    poison = [fake_event(b"not json", topic=TOPIC, offset=n) for n in range(5)]
    with pytest.raises(asyncio.CancelledError):  # the agent is cancelled as the worker stops
        await w.ingest.handle_batch(poison)
    assert len(w.topics.dead_letter.sent) == 3  # each one dead-lettered: nothing is lost
    assert [m.header(H_REASON_CLASS) for m in w.topics.dead_letter.sent] == ["not_json"] * 3
    (reason,) = w.app.crashed  # type: ignore[attr-defined]
    assert isinstance(reason, DeadLetterFlood)
    assert "not json" not in str(reason)


class Stopping(FakeClock):
    """A clock whose first sleep is the moment the worker is asked to stop."""

    def __init__(self) -> None:
        super().__init__()
        self.app: Any = None

    async def sleep(self, seconds: float) -> None:
        await super().sleep(seconds)
        self.app.should_stop = True


async def test_a_decide_batch_unfinished_as_the_worker_stops_is_handed_back_to_its_topic() -> None:
    clock = Stopping()
    w = make_worker(clock=clock)
    clock.app = w.app
    assert w.decide is not None
    w.topics.decisions = FakeTopic("dvtrigger.decisions", fail=KafkaConnectionError())
    raw = sample_incident().model_dump_json().encode()
    event = fake_event(raw, key=b"MPS-2026-000001", topic="dvtrigger.incidents")
    await w.decide.run_batch([event])
    (handed,) = w.topics.incidents.sent
    assert (handed.key, handed.value, handed.acked) == (b"MPS-2026-000001", raw, True)
    assert dict(w.incident_state) == {}  # nothing recorded as decided
    assert w.topics.dead_letter.sent == []
    assert sample_value(w, "dvtrigger_redeliveries_total", flow="decide") == 2


async def test_a_notification_unfinished_at_a_stop_is_handed_back_to_the_police_topic() -> None:
    clock = Stopping()
    w = make_worker(clock=clock)
    clock.app = w.app
    assert w.ingest is not None
    w.topics.incidents = Flaky("dvtrigger.incidents", failures=100)
    raw = sample_incident().model_dump_json().encode()
    await w.ingest.handle_batch([fake_event(raw, key=b"force-key", topic=TOPIC)])
    (handed,) = w.topics.police_incidents.sent
    assert (handed.key, handed.value) == (b"force-key", raw)
    assert w.topics.incidents.sent == [] and w.topics.dead_letter.sent == []


def test_the_guard_holds_only_the_last_window_of_messages() -> None:
    clock = FakeClock()
    guard = DeadLetterGuard(limit=5, window_s=60, ratio=0.5, clock=clock.time)
    for _ in range(10_000):
        guard.handled()
        clock.t += 1
    assert len(guard._handled) <= 61  # a long quiet run of good messages does not pile up


async def test_a_stop_for_errors_carrying_names_is_logged_with_no_error_in_flight() -> None:
    w = make_worker(Settings(dead_letter_limit=1, dead_letter_ratio=0.1), clock=FakeClock())
    assert w.dead_letters is not None
    failed = w.metrics.incidents_rejected.labels("processing_error")

    async def handler() -> None:
        raise ValueError("could not match Zebedee Quuxley, NHS 9434765919")

    with pytest.raises(asyncio.CancelledError):
        await w.dead_letters.guarded(handler, fake_event(b"{}", topic=TOPIC), failed)
    assert w.app.in_flight_at_crash is None  # type: ignore[attr-defined]
    assert "Zebedee" not in repr(w.app.crashed)  # type: ignore[attr-defined]


class Exited(BaseException):
    """`os._exit`, as the tests see it: the process would end here."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


@pytest.fixture
def exits(monkeypatch: pytest.MonkeyPatch) -> None:
    """`os._exit` raises `Exited` instead of ending the test run."""

    def fake_exit(status: int) -> None:
        raise Exited(status)

    monkeypatch.setattr(errors.os, "_exit", fake_exit)


async def test_a_hand_back_the_broker_refuses_is_sent_again_until_it_takes_it(exits: None) -> None:
    clock = FakeClock()
    topic = Flaky("dvtrigger.incidents", failures=3)
    run = Redelivery(clock, lambda flow: None, lambda: True)
    await run.hand_back(topic, [fake_event(b"{}", key=b"k", topic=TOPIC)], "decide")
    (taken,) = topic.sent  # refused three times, then taken
    assert (taken.value, taken.acked, topic.failures) == (b"{}", True, 0)
    assert len(clock.sleeps) == 3 and sum(clock.sleeps) < errors.HAND_BACK_S


async def test_a_hand_back_refused_past_its_time_exits_without_acknowledging(exits: None) -> None:
    clock = FakeClock()
    topic = FakeTopic("dvtrigger.incidents", fail=KafkaConnectionError())
    run = Redelivery(clock, lambda flow: None, lambda: True)
    events = [fake_event(b"{}", key=bytes([n]), topic=TOPIC) for n in range(3)]
    with pytest.raises(Exited) as exited:
        await run.hand_back(topic, events, "decide")
    assert exited.value.status == EXIT_UNACKNOWLEDGED
    assert sum(clock.sleeps) >= errors.HAND_BACK_S  # it kept trying for its time first
    assert {m.key for m in topic.sent} == {b"\x00"}  # the first event never went


async def test_a_register_event_unfinished_at_a_stop_exits_without_acknowledging(
    exits: None,
) -> None:
    clock = Stopping()
    w = make_worker(clock=clock)
    clock.app = w.app
    assert w.register is not None
    applied: list[Any] = []

    async def refused(event: Any) -> None:
        applied.append(event)
        raise KafkaConnectionError()

    w.register.handle = refused  # type: ignore[method-assign]
    with pytest.raises(Exited) as exited:
        await w.register.consume(fake_event(b"{}", key=b"S1", topic="dvtrigger.register-events"))
    assert exited.value.status == EXIT_UNACKNOWLEDGED
    assert len(applied) == 2  # tried, slept (the stop came), tried again: then out
    assert w.topics.register_events.sent == []  # not handed back out of order
