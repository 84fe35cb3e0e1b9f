"""Retry agent and routing isolation: due times, requeues, deadlines, and councils apart."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from connectors.case_system.memory import InMemoryCaseSystem
from schemas.task import RaiseTask
from streams.bootstrap import Worker
from streams.config.settings import Settings
from streams.config.topics import H_REASON, H_REASON_CLASS, H_SOURCE_TOPIC
from streams.domain.ports.case_system import CaseSystemRejected, CaseSystemUnavailable, TaskReceipt
from streams.domain.ports.routing import CaseSystemRouter, Route
from streams.flows.deliver import WAIT_SLICE_S
from streams.flows.retries import H_ATTEMPTS, H_DUE_AT, H_FIRST_ATTEMPT_AT, H_WAIT, RetryState
from tests.support.fakes import FakeClock, Sent, fake_event, make_worker, sample_value
from tests.support.samples import sample_raise_task

RETRIES = "dvtrigger.task-retries"
T0 = 1_800_000_000.0


class Clock(FakeClock):
    """Wall time that only moves when the flow sleeps (from T0); records each sleep."""

    def __init__(self, now: float = T0) -> None:
        super().__init__(now)


class Counting(InMemoryCaseSystem):
    """The in-memory case system, counting requests; `hang` makes every request wait for ever."""

    def __init__(self, hang: bool = False) -> None:
        super().__init__()
        self.requests = 0
        self.hang = hang

    async def raise_task(self, cmd: RaiseTask) -> TaskReceipt:
        self.requests += 1
        if self.hang:
            await asyncio.Event().wait()
        return await super().raise_task(cmd)


def a_worker(fake: InMemoryCaseSystem, clock: Clock | None = None, **settings: Any) -> Worker:
    settings.setdefault("task_first_backoff_s", 1.0)
    settings.setdefault("task_max_backoff_s", 8.0)
    return make_worker(settings=Settings(**settings), case_system=fake, clock=clock)


def retry_event(state: RetryState | None, command: RaiseTask | None = None, offset: int = 3) -> Any:
    command = command or sample_raise_task()
    event = fake_event(
        command.model_dump_json().encode(),
        key=command.idempotency_key.encode(),
        topic=RETRIES,
        offset=offset,
    )
    event.headers = dict(state.headers()) if state else {}
    return event


def as_event(sent: Sent) -> Any:
    """A message the flow sent to the retry topic, read back as the retry agent gets it."""
    event = fake_event(sent.value, key=sent.key, topic=RETRIES)
    event.headers = dict(sent.headers or [])
    return event


def unavailable(n: int) -> list[CaseSystemUnavailable]:
    return [CaseSystemUnavailable("POST /api/tasks: 503", "5xx")] * n


async def test_a_retry_waits_until_it_is_due_then_delivers() -> None:
    clock, fake = Clock(), Counting()
    w = a_worker(fake, clock)
    await w.deliver.retry(retry_event(RetryState(2, T0 - 10, T0 + 5, "5xx")))
    assert sum(clock.sleeps) == 5.0 and max(clock.sleeps) <= WAIT_SLICE_S
    assert fake.requests == 1
    assert len(await fake.list_tasks()) == 1
    assert sample_value(w, "dvtrigger_tasks_total", result="created") == 1
    assert sample_value(w, "dvtrigger_task_retry_attempts_total", council="default") == 1
    assert w.topics.task_retries.sent == [] and w.topics.tasks_parked.sent == []


async def test_a_due_time_past_the_deadline_is_not_waited_for() -> None:
    clock, fake = Clock(), Counting()
    w = a_worker(fake, clock, task_retry_deadline_s=60.0)
    await w.deliver.retry(retry_event(RetryState(1, T0, T0 + 10**9, "5xx")))
    assert sum(clock.sleeps) == 60.0 and fake.requests == 1


async def test_a_retry_set_before_the_clock_stepped_back_an_hour_goes_at_once() -> None:
    clock, fake = Clock(T0 + 3600), Counting()
    fake.fail_next(*unavailable(1))
    w = a_worker(fake, clock)
    await w.deliver.retry(retry_event(RetryState(2, T0 + 3590, T0 + 3600, "5xx")))
    (again,) = w.topics.task_retries.sent
    wait = float(again.header(H_WAIT) or -1)
    assert 0 <= wait <= 8.0 and float(again.header(H_DUE_AT) or 0) == T0 + 3600 + wait
    clock.t = T0  # the wall clock is stepped back an hour
    await w.deliver.retry(as_event(again))
    assert clock.sleeps == [] and fake.requests == 2
    assert len(await fake.list_tasks()) == 1 and w.topics.tasks_parked.sent == []


async def test_a_clock_stepped_back_while_a_retry_waits_does_not_make_it_wait_longer() -> None:
    class SteppedBack(Clock):
        async def sleep(self, seconds: float) -> None:
            await super().sleep(seconds)
            if len(self.sleeps) == 2:
                self.t -= 3600  # stepped back an hour a second into the wait

    clock, fake = SteppedBack(), Counting()
    w = a_worker(fake, clock)
    await w.deliver.retry(retry_event(RetryState(2, T0 - 10, T0 + 5, "5xx")))
    assert sum(clock.sleeps) == 5.0 and fake.requests == 1


def test_a_due_time_set_with_its_wait_is_waited_for_until_it_began_after_now() -> None:
    state = RetryState(1, 90.0, due_at=100.0, wait_s=8.0)  # set at 92
    assert state.due_by(now=92.0, deadline_s=10**6) == 100.0
    assert state.due_by(now=91.0, deadline_s=10**6) == 91.0  # the clock went back since


def test_a_garbled_wait_header_reads_as_no_wait_known() -> None:
    for raw in (b"-1", b"nan", b"soon"):
        state = RetryState.from_headers({H_DUE_AT: b"100.0", H_WAIT: raw}, now=50.0)
        assert state.wait_s is None and state.due_by(50.0, deadline_s=10**6) == 100.0


async def test_a_clock_stepped_back_mid_command_spends_no_more_than_the_inline_budget() -> None:
    class SteppedBack(Clock):
        async def sleep(self, seconds: float) -> None:
            await super().sleep(seconds)
            if len(self.sleeps) == 1:
                self.t -= 3600  # stepped back an hour during the first pause

    clock, fake = SteppedBack(), Counting()
    fake.fail_next(*unavailable(1000))
    w = a_worker(fake, clock, task_inline_budget_s=4.0, breaker_failures=1000)
    await w.deliver.deliver(retry_event(None))
    # The pause the clock was stepped in is not counted (the wall clock cannot tell it).
    assert sum(clock.sleeps[1:]) <= 4.0 and fake.requests <= 40  # not an hour of retries
    (requeued,) = w.topics.task_retries.sent
    assert requeued.header(H_REASON_CLASS) == "5xx"


@pytest.mark.parametrize("leaving", ["should_stop", "rebalancing"])
async def test_a_retry_not_yet_due_is_handed_back_when_the_worker_stops_or_rebalances(
    leaving: str,
) -> None:
    class Leaving(Clock):
        async def sleep(self, seconds: float) -> None:
            await super().sleep(seconds)
            if self.t >= T0 + 2:
                setattr(w.app, leaving, True)  # a SIGTERM, or a rebalance, two seconds in

    clock, fake = Leaving(), Counting()
    w = a_worker(fake, clock)
    state = RetryState(2, T0 - 10, T0 + 120, "5xx")
    await w.deliver.retry(retry_event(state))
    assert sum(clock.sleeps) == 2.0 and fake.requests == 0
    (back,) = w.topics.task_retries.sent
    assert RetryState.from_headers(back.headers, T0) == state  # as it was: due at the same time
    assert back.value == sample_raise_task().model_dump_json().encode()
    assert w.topics.tasks_parked.sent == []


async def test_a_retry_already_due_goes_at_once() -> None:
    clock, fake = Clock(), Counting()
    await a_worker(fake, clock).deliver.retry(retry_event(RetryState(1, T0 - 3, T0 - 1, "5xx")))
    assert clock.sleeps == [] and fake.requests == 1


async def test_a_failed_retry_goes_back_with_one_more_attempt() -> None:
    clock, fake = Clock(), Counting()
    fake.fail_next(CaseSystemUnavailable("POST /api/tasks: timed out", "timeout"))
    w = a_worker(fake, clock)
    event = retry_event(RetryState(2, T0 - 10, T0, "5xx"))
    await w.deliver.retry(event)
    (again,) = w.topics.task_retries.sent
    assert again.acked
    assert (again.key, again.value) == (event.key, event.value)
    assert again.header(H_ATTEMPTS) == "3"
    assert again.header(H_REASON_CLASS) == "timeout"
    assert float(again.header(H_FIRST_ATTEMPT_AT) or 0) == T0 - 10
    assert T0 <= float(again.header(H_DUE_AT) or 0) <= T0 + 4.0  # third retry: up to 1 s * 2**2
    assert sample_value(w, "dvtrigger_tasks_retry_queued_total", reason="timeout") == 1
    errors = sample_value(
        w, "dvtrigger_case_system_errors_total", council="default", error="timeout"
    )
    assert errors == 1


async def test_retries_back_off_exponentially_and_park_at_the_deadline() -> None:
    clock, fake = Clock(), Counting()
    fake.fail_next(*unavailable(1000))
    w = a_worker(fake, clock, task_retry_deadline_s=60.0, breaker_failures=1000)
    event = retry_event(None)  # no headers: a first attempt now
    while not w.topics.tasks_parked.sent:
        await w.deliver.retry(event)
        event = as_event(w.topics.task_retries.sent[-1])
    (parked,) = w.topics.tasks_parked.sent
    assert parked.header(H_REASON_CLASS) == "deadline"
    assert parked.header(H_REASON) == f"still unavailable after {fake.requests} attempts"
    assert parked.header(H_SOURCE_TOPIC) == RETRIES
    assert clock.t - T0 <= 60.0
    assert 8 <= fake.requests <= 200  # backoff capped at 8 s with full jitter within 60 s
    assert sample_value(w, "dvtrigger_tasks_parked_total", reason="deadline") == 1
    assert await fake.list_tasks() == []


async def test_a_retry_found_past_its_deadline_is_parked_without_a_request() -> None:
    clock, fake = Clock(), Counting()
    w = a_worker(fake, clock, task_retry_deadline_s=30.0)
    await w.deliver.retry(retry_event(RetryState(4, T0 - 31, T0 - 20, "5xx")))
    assert fake.requests == 0
    (parked,) = w.topics.tasks_parked.sent
    assert parked.header(H_REASON) == "still unavailable after 4 attempts"


async def test_a_refused_retry_is_parked_at_once() -> None:
    clock, fake = Clock(), Counting()
    fake.fail_next(CaseSystemRejected("POST /api/tasks: 422", 422))
    w = a_worker(fake, clock)
    await w.deliver.retry(retry_event(RetryState(1, T0, T0, "5xx")))
    (parked,) = w.topics.tasks_parked.sent
    assert parked.header(H_REASON_CLASS) == "rejected"
    assert w.topics.task_retries.sent == []


async def test_an_open_circuit_requeues_without_a_request_until_a_trial_may_go() -> None:
    clock, fake = Clock(), Counting()
    fake.fail_next(*unavailable(2))
    w = a_worker(fake, clock, breaker_failures=2, breaker_reset_s=20.0)
    await w.deliver.retry(retry_event(RetryState(1, T0, T0, "5xx")))
    await w.deliver.retry(retry_event(RetryState(1, T0, T0, "5xx")))
    assert sample_value(w, "dvtrigger_case_system_circuit_state", council="default") == 2
    await w.deliver.retry(retry_event(RetryState(1, T0, T0, "5xx"), offset=9))
    assert fake.requests == 2
    skipped = w.topics.task_retries.sent[-1]
    assert skipped.header(H_REASON_CLASS) == "circuit_open"
    assert skipped.header(H_ATTEMPTS) == "1"  # no request made: no attempt counted
    assert float(skipped.header(H_DUE_AT) or 0) >= T0 + 20.0
    await w.deliver.retry(as_event(skipped))  # waits until due; the trial succeeds and closes
    assert clock.t >= T0 + 20.0
    assert fake.requests == 3 and len(await fake.list_tasks()) == 1
    assert sample_value(w, "dvtrigger_case_system_circuit_state", council="default") == 0


def two_councils(a: InMemoryCaseSystem, b: InMemoryCaseSystem) -> CaseSystemRouter:
    return CaseSystemRouter(
        InMemoryCaseSystem(), {"A": Route("A", a, timeout_s=1.0), "B": Route("B", b, 1.0)}
    )


def command_of(council: str, n: int) -> Any:
    command = sample_raise_task(subject_ref=f"{council}{n}", local_authority=council)
    value = command.model_dump_json().encode()
    return fake_event(value, key=command.idempotency_key.encode(), topic="t", offset=n)


@pytest.mark.parametrize("failure", ["hangs", "fails"])
async def test_a_failing_council_does_not_hold_up_another(failure: str) -> None:
    a, b = Counting(hang=failure == "hangs"), Counting()
    a.fail_next(*unavailable(1000))
    w = make_worker(
        settings=Settings(task_inline_budget_s=0.05, task_first_backoff_s=0.0, breaker_failures=3),
        router=two_councils(a, b),
    )
    started = time.monotonic()
    for n in range(10):
        await w.deliver.deliver(command_of("A", n))
    await w.deliver.deliver(command_of("B", 1))
    elapsed = time.monotonic() - started
    assert len(await b.list_tasks()) == 1
    assert sample_value(w, "dvtrigger_council_tasks_total", council="B", result="created") == 1
    assert len(w.topics.task_retries.sent) == 10  # every A task waits on the retry topic
    assert w.topics.tasks_parked.sent == []
    assert elapsed < 10 * 0.05 + 1.0  # never more than A's inline budget per A task
    if failure == "fails":
        assert a.requests == 3  # the circuit opened, then no more requests to A
        assert sample_value(w, "dvtrigger_case_system_circuit_state", council="A") == 2
    else:
        assert a.requests == 10  # abandoned, not failed: one request each, breaker not told
    assert sample_value(w, "dvtrigger_case_system_circuit_state", council="B") == 0
