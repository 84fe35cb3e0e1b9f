"""Deliver flow: backoff, first attempts within the inline budget, retry topic, and parking."""

from __future__ import annotations

import asyncio
import random
import time
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.case_system.memory import InMemoryCaseSystem
from schemas.task import RaiseTask
from streams.bootstrap import Worker
from streams.config.settings import Settings
from streams.config.topics import (
    H_REASON,
    H_REASON_CLASS,
    H_SOURCE_OFFSET,
    H_SOURCE_PARTITION,
    H_SOURCE_TOPIC,
)
from streams.domain.ports.case_system import (
    CaseSystemConflict,
    CaseSystemRejected,
    CaseSystemUnavailable,
)
from streams.flows.clock import Clock
from streams.flows.retries import (
    FIRST_BACKOFF_S,
    H_ATTEMPTS,
    H_DUE_AT,
    H_FIRST_ATTEMPT_AT,
    MAX_BACKOFF_S,
    backoff,
)
from tests.support.fakes import FakeTopic, fake_event, make_worker, sample_value
from tests.support.samples import sample_raise_task

TOPIC = "dvtrigger.task-commands"


class Highest:
    """An rng whose `uniform` always gives the top of the range."""

    def uniform(self, low: float, high: float) -> float:
        return high


@given(st.integers(min_value=1, max_value=1000), st.integers(min_value=0, max_value=2**32))
def test_backoff_is_within_the_capped_exponential(attempt: int, seed: int) -> None:
    pause = backoff(attempt, random.Random(seed))
    assert 0.0 <= pause <= MAX_BACKOFF_S
    assert pause <= FIRST_BACKOFF_S * 2 ** (attempt - 1)


def test_backoff_doubles_up_to_the_cap() -> None:
    tops = [backoff(attempt, Highest()) for attempt in range(1, 12)]  # type: ignore[arg-type]
    assert tops[:3] == pytest.approx([FIRST_BACKOFF_S, 2 * FIRST_BACKOFF_S, 4 * FIRST_BACKOFF_S])
    assert tops[-1] == MAX_BACKOFF_S
    assert tops == sorted(tops)


def test_backoff_of_a_late_attempt_is_the_cap() -> None:
    assert 0.0 <= backoff(1025) <= MAX_BACKOFF_S


def command_event(command: RaiseTask | None = None, offset: int = 7) -> object:
    command = command or sample_raise_task()
    value = command.model_dump_json().encode()
    return fake_event(value, key=command.idempotency_key.encode(), topic=TOPIC, offset=offset)


def a_worker(fake: InMemoryCaseSystem, clock: Clock | None = None, **settings: float) -> Worker:
    return make_worker(settings=Settings(**settings), case_system=fake, clock=clock)


class MonotonicClock:
    """Wall-clock seconds of 1000 + the monotonic clock; real sleeps."""

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), UTC)

    def time(self) -> float:
        return 1000.0 + time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class Counting(InMemoryCaseSystem):
    """The in-memory case system, counting the requests it was sent."""

    def __init__(self) -> None:
        super().__init__()
        self.requests = 0

    async def raise_task(self, cmd: RaiseTask):  # type: ignore[no-untyped-def]
        self.requests += 1
        return await super().raise_task(cmd)


def unavailable(n: int) -> list[CaseSystemUnavailable]:
    return [CaseSystemUnavailable("POST /api/tasks: 503", "5xx")] * n


async def test_a_task_is_created_then_unchanged_on_redelivery() -> None:
    fake = InMemoryCaseSystem()
    w = a_worker(fake)
    await w.deliver.deliver(command_event())
    await w.deliver.deliver(command_event())
    (task,) = await fake.list_tasks()
    assert task.task == sample_raise_task()
    assert sample_value(w, "dvtrigger_tasks_total", result="created") == 1
    assert sample_value(w, "dvtrigger_tasks_total", result="unchanged") == 1
    assert sample_value(w, "dvtrigger_seconds_reported_to_task_count", kind="investigation") == 1
    requests = "dvtrigger_case_system_request_seconds_count"
    assert sample_value(w, requests, council="default", status="2xx") == 2
    assert w.topics.tasks_parked.sent == []


async def test_a_later_revision_updates_the_task() -> None:
    fake = InMemoryCaseSystem()
    w = a_worker(fake)
    await w.deliver.deliver(command_event(sample_raise_task(revision=1)))
    await w.deliver.deliver(command_event(sample_raise_task(revision=2)))
    (task,) = await fake.list_tasks()
    assert task.revision == 2
    assert sample_value(w, "dvtrigger_tasks_total", result="updated") == 1
    assert sample_value(w, "dvtrigger_seconds_reported_to_task_count", kind="investigation") == 1


async def test_an_unavailable_case_system_is_retried_inline_then_delivered() -> None:
    fake = InMemoryCaseSystem()
    fake.fail_next(
        CaseSystemUnavailable("POST /api/tasks: 503", "5xx"),
        CaseSystemUnavailable("POST /api/tasks: timed out", "timeout"),
        CaseSystemConflict("POST /api/tasks: 409", "409"),
    )
    w = a_worker(fake, task_first_backoff_s=0.0)
    await w.deliver.deliver(command_event())
    assert len(await fake.list_tasks()) == 1
    assert sample_value(w, "dvtrigger_tasks_total", result="created") == 1
    assert sample_value(w, "dvtrigger_council_tasks_total", council="default", result="created")
    for kind in ("5xx", "timeout", "409"):
        errors = sample_value(
            w, "dvtrigger_case_system_errors_total", council="default", error=kind
        )
        assert errors == 1
    requests = "dvtrigger_case_system_request_seconds_count"
    for status in ("5xx", "timeout", "2xx"):
        assert sample_value(w, requests, council="default", status=status) == 1
    assert w.topics.tasks_parked.sent == []
    assert w.topics.task_retries.sent == []


async def test_retry_after_is_waited_for() -> None:
    fake = InMemoryCaseSystem()
    fake.fail_next(CaseSystemUnavailable("POST /api/tasks: 429", "429", retry_after=0.05))
    w = a_worker(fake, task_first_backoff_s=0.0)
    started = time.monotonic()
    await w.deliver.deliver(command_event())
    assert time.monotonic() - started >= 0.05
    assert len(await fake.list_tasks()) == 1


@pytest.mark.parametrize("status", [400, 404, 422])
async def test_a_rejected_command_is_parked_with_its_reason(status: int) -> None:
    fake = InMemoryCaseSystem()
    fake.fail_next(CaseSystemRejected(f"POST /api/tasks: {status}", status))
    w = a_worker(fake)
    event = command_event()
    await w.deliver.deliver(event)
    assert await fake.list_tasks() == []
    (parked,) = w.topics.tasks_parked.sent
    assert (parked.key, parked.value) == (event.key, event.value)  # type: ignore[attr-defined]
    assert parked.header(H_REASON_CLASS) == "rejected"
    assert parked.header(H_REASON) == f"POST /api/tasks: {status}"
    assert (parked.header(H_SOURCE_TOPIC), parked.header(H_SOURCE_OFFSET)) == (TOPIC, "7")
    assert parked.header(H_SOURCE_PARTITION) == "0"
    assert sample_value(w, "dvtrigger_tasks_parked_total", reason="rejected") == 1
    errors = sample_value(
        w, "dvtrigger_case_system_errors_total", council="default", error="rejected_4xx"
    )
    assert errors == 1
    assert sample_value(w, "dvtrigger_council_tasks_total", council="default", result="parked")
    assert sample_value(w, "dvtrigger_tasks_total", result="created") == 0
    assert w.topics.dead_letter.sent == []
    assert parked.acked


async def test_a_pause_past_the_deadline_parks_the_command() -> None:
    fake = InMemoryCaseSystem()
    fake.fail_next(CaseSystemUnavailable("POST /api/tasks: 503", "5xx", retry_after=1.0))
    w = a_worker(fake, task_retry_deadline_s=0.01)
    started = time.monotonic()
    await w.deliver.deliver(command_event())
    assert time.monotonic() - started < 0.5  # parked at once, not after sleeping
    (parked,) = w.topics.tasks_parked.sent
    assert parked.header(H_REASON_CLASS) == "deadline"
    assert parked.header(H_REASON) == "still unavailable after 1 attempts"
    assert sample_value(w, "dvtrigger_tasks_parked_total", reason="deadline") == 1
    assert await fake.list_tasks() == []


async def test_a_task_still_failing_after_the_inline_budget_goes_to_the_retry_topic() -> None:
    fake = Counting()
    fake.fail_next(*unavailable(1000))
    w = a_worker(
        fake,
        MonotonicClock(),  # wall time as the headers carry it
        task_inline_budget_s=0.05,
        task_first_backoff_s=0.04,
        breaker_failures=100,
    )
    event = command_event()
    before = w.deps.clock.time()
    await w.deliver.deliver(event)
    assert 1 <= fake.requests < 20  # jittered pauses of 0-40 ms, 0-80 ms... within 50 ms
    (queued,) = w.topics.task_retries.sent
    assert queued.acked
    assert (queued.key, queued.value) == (event.key, event.value)  # type: ignore[attr-defined]
    assert queued.header(H_ATTEMPTS) == str(fake.requests)
    assert queued.header(H_REASON_CLASS) == "5xx"
    first = float(queued.header(H_FIRST_ATTEMPT_AT) or 0)
    assert before <= first <= w.deps.clock.time()
    assert first <= float(queued.header(H_DUE_AT) or 0) <= w.deps.clock.time() + MAX_BACKOFF_S
    assert sample_value(w, "dvtrigger_tasks_retry_queued_total", reason="5xx") == 1
    assert w.topics.tasks_parked.sent == []
    assert await fake.list_tasks() == []


async def test_the_breaker_opens_after_consecutive_failures_and_stops_requests() -> None:
    fake = Counting()
    fake.fail_next(*unavailable(1000))
    w = a_worker(fake, task_first_backoff_s=0.0, breaker_failures=3, breaker_reset_s=60)
    await w.deliver.deliver(command_event())
    assert fake.requests == 3  # inline retries stop when the circuit opens
    (queued,) = w.topics.task_retries.sent
    assert queued.header(H_REASON_CLASS) == "circuit_open"
    assert queued.header(H_ATTEMPTS) == "3"
    due = float(queued.header(H_DUE_AT) or 0)
    assert due >= w.deps.clock.time() + 59  # not due before the circuit may let a trial through
    assert sample_value(w, "dvtrigger_case_system_circuit_state", council="default") == 2
    await w.deliver.deliver(command_event(sample_raise_task(subject_ref="U2")))
    assert fake.requests == 3  # open: no request at all
    assert len(w.topics.task_retries.sent) == 2
    assert w.topics.task_retries.sent[1].header(H_ATTEMPTS) == "0"
    assert sample_value(w, "dvtrigger_tasks_retry_queued_total", reason="circuit_open") == 2


async def test_a_refusal_answers_the_breaker_and_closes_it() -> None:
    fake = Counting()
    fake.fail_next(*unavailable(2), CaseSystemRejected("POST /api/tasks: 400", 400))
    w = a_worker(fake, task_first_backoff_s=0.0, breaker_failures=3)
    await w.deliver.deliver(command_event())
    (parked,) = w.topics.tasks_parked.sent
    assert parked.header(H_REASON_CLASS) == "rejected"
    fake.fail_next(*unavailable(2))
    await w.deliver.deliver(command_event(sample_raise_task(subject_ref="U2")))
    assert len(await fake.list_tasks()) == 1  # two failures after a refusal: still closed
    assert sample_value(w, "dvtrigger_case_system_circuit_state", council="default") == 0


async def test_a_retry_topic_that_will_not_take_the_task_parks_it() -> None:
    fake = InMemoryCaseSystem()
    fake.fail_next(*unavailable(1000))
    w = a_worker(fake, task_inline_budget_s=0.01, task_first_backoff_s=0.02)
    w.topics.task_retries = FakeTopic("dvtrigger.task-retries", fail=RuntimeError("no leader"))
    await w.deliver.deliver(command_event())
    (parked,) = w.topics.tasks_parked.sent
    assert parked.acked
    assert parked.header(H_REASON_CLASS) == "requeue_failed"
    assert parked.header(H_REASON) == "RuntimeError"


class FlakyTopic(FakeTopic):
    """A topic whose first `failures` sends are not acknowledged."""

    def __init__(self, name: str, failures: int) -> None:
        super().__init__(name)
        self.failures = failures

    async def send(self, key=None, value=None, headers=None):  # type: ignore[no-untyped-def]
        future = await super().send(key, value, headers)
        if self.failures:
            self.failures -= 1
            future.error = RuntimeError("not enough replicas")
        return future


async def test_parking_is_retried_until_the_broker_takes_it() -> None:
    fake = InMemoryCaseSystem()
    fake.fail_next(CaseSystemRejected("POST /api/tasks: 422", 422))
    w = a_worker(fake, task_first_backoff_s=0.0)
    w.topics.tasks_parked = FlakyTopic("dvtrigger.tasks-parked", failures=2)
    await w.deliver.deliver(command_event())
    sent = w.topics.tasks_parked.sent
    assert [m.acked for m in sent] == [False, False, True]


async def test_an_unexpected_error_parks_the_command_and_does_not_escape() -> None:
    w = a_worker(InMemoryCaseSystem())
    event = fake_event(b"{not json", key=b"k", topic=TOPIC)
    for handler in (w.deliver.deliver, w.deliver.retry):
        await w.deliver.guarded(event, handler)
    assert [m.header(H_REASON_CLASS) for m in w.topics.tasks_parked.sent] == [
        "processing_error"
    ] * 2
