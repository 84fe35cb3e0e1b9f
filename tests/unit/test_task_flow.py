"""Deliver flow: backoff, delivery to the in-memory case system, retries, and parking."""

from __future__ import annotations

import random
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.case_system import (
    CaseSystemConflict,
    CaseSystemRejected,
    CaseSystemUnavailable,
    InMemoryCaseSystem,
)
from schemas.task import RaiseTask
from streams import task_flow
from streams.deadletter import (
    H_REASON,
    H_REASON_CLASS,
    H_SOURCE_OFFSET,
    H_SOURCE_PARTITION,
    H_SOURCE_TOPIC,
)
from streams.settings import Settings
from streams.task_flow import FIRST_BACKOFF_S, MAX_BACKOFF_S, backoff, deliver
from streams.wiring import Wiring
from tests.support.fakes import fake_event, make_wiring, sample_value
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


def wiring(fake: InMemoryCaseSystem, **settings: float) -> Wiring:
    return make_wiring(settings=Settings(**settings), case_system=fake)


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(task_flow, "backoff", lambda attempt, rng=None: 0.0)


async def test_a_task_is_created_then_unchanged_on_redelivery() -> None:
    fake = InMemoryCaseSystem()
    w = wiring(fake)
    await deliver(w, command_event())
    await deliver(w, command_event())
    (task,) = await fake.list_tasks()
    assert task.task == sample_raise_task()
    assert sample_value(w, "dvtrigger_tasks_total", result="created") == 1
    assert sample_value(w, "dvtrigger_tasks_total", result="unchanged") == 1
    assert sample_value(w, "dvtrigger_seconds_reported_to_task_count") == 1
    assert w.topics.tasks_parked.sent == []


async def test_a_later_revision_updates_the_task() -> None:
    fake = InMemoryCaseSystem()
    w = wiring(fake)
    await deliver(w, command_event(sample_raise_task(revision=1)))
    await deliver(w, command_event(sample_raise_task(revision=2)))
    (task,) = await fake.list_tasks()
    assert task.revision == 2
    assert sample_value(w, "dvtrigger_tasks_total", result="updated") == 1
    assert sample_value(w, "dvtrigger_seconds_reported_to_task_count") == 1


@pytest.mark.usefixtures("no_backoff")
async def test_an_unavailable_case_system_is_retried_then_delivered() -> None:
    fake = InMemoryCaseSystem()
    fake.fail_next(
        CaseSystemUnavailable("POST /api/tasks: 503", "5xx"),
        CaseSystemUnavailable("POST /api/tasks: timed out", "timeout"),
        CaseSystemConflict("POST /api/tasks: 409", "409"),
    )
    w = wiring(fake)
    await deliver(w, command_event())
    assert len(await fake.list_tasks()) == 1
    assert sample_value(w, "dvtrigger_tasks_total", result="created") == 1
    for kind in ("5xx", "timeout", "409"):
        assert sample_value(w, "dvtrigger_case_system_errors_total", error=kind) == 1
    assert w.topics.tasks_parked.sent == []


@pytest.mark.usefixtures("no_backoff")
async def test_retry_after_is_waited_for() -> None:
    fake = InMemoryCaseSystem()
    fake.fail_next(CaseSystemUnavailable("POST /api/tasks: 429", "429", retry_after=0.05))
    w = wiring(fake)
    started = time.monotonic()
    await deliver(w, command_event())
    assert time.monotonic() - started >= 0.05
    assert len(await fake.list_tasks()) == 1


@pytest.mark.parametrize("status", [400, 404, 422])
async def test_a_rejected_command_is_parked_with_its_reason(status: int) -> None:
    fake = InMemoryCaseSystem()
    fake.fail_next(CaseSystemRejected(f"POST /api/tasks: {status}", status))
    w = wiring(fake)
    event = command_event()
    await deliver(w, event)
    assert await fake.list_tasks() == []
    (parked,) = w.topics.tasks_parked.sent
    assert (parked.key, parked.value) == (event.key, event.value)  # type: ignore[attr-defined]
    assert parked.header(H_REASON_CLASS) == "rejected"
    assert parked.header(H_REASON) == f"POST /api/tasks: {status}"
    assert (parked.header(H_SOURCE_TOPIC), parked.header(H_SOURCE_OFFSET)) == (TOPIC, "7")
    assert parked.header(H_SOURCE_PARTITION) == "0"
    assert sample_value(w, "dvtrigger_tasks_parked_total", reason="rejected") == 1
    assert sample_value(w, "dvtrigger_case_system_errors_total", error="rejected_4xx") == 1
    assert sample_value(w, "dvtrigger_tasks_total", result="created") == 0
    assert w.topics.dead_letter.sent == []


async def test_a_pause_past_the_deadline_parks_the_command() -> None:
    fake = InMemoryCaseSystem()
    fake.fail_next(CaseSystemUnavailable("POST /api/tasks: 503", "5xx", retry_after=1.0))
    w = wiring(fake, task_retry_deadline_s=0.01)
    started = time.monotonic()
    await deliver(w, command_event())
    assert time.monotonic() - started < 0.5  # parked at once, not after sleeping
    (parked,) = w.topics.tasks_parked.sent
    assert parked.header(H_REASON_CLASS) == "deadline"
    assert parked.header(H_REASON) == "still unavailable after 1 attempts"
    assert sample_value(w, "dvtrigger_tasks_parked_total", reason="deadline") == 1
    assert await fake.list_tasks() == []


async def test_retries_stop_at_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(task_flow, "backoff", lambda attempt, rng=None: 0.004)
    fake = InMemoryCaseSystem()
    fake.fail_next(*[CaseSystemUnavailable("POST /api/tasks: 503", "5xx")] * 1000)
    w = wiring(fake, task_retry_deadline_s=0.05)
    await deliver(w, command_event())
    (parked,) = w.topics.tasks_parked.sent
    assert parked.header(H_REASON_CLASS) == "deadline"
    attempts = sample_value(w, "dvtrigger_case_system_errors_total", error="5xx")
    assert 2 <= attempts < 1000
    assert await fake.list_tasks() == []
    assert parked.header(H_REASON) == f"still unavailable after {int(attempts)} attempts"
