"""A deliver process waiting for a retry that is not due stops at once and loses nothing.

faust waits for the event in hand before it stops or gives a partition up, and
the retry agent holds a command until it is due (seconds to minutes). It must
hand the command back to the retry topic rather than hold a SIGTERM or a
rebalance that long; after a restart the command is delivered when due.
"""

from __future__ import annotations

import time

from connectors.kafka.publish import producer
from streams.flows.retries import RetryState
from tests.support.samples import sample_raise_task
from tests.support.stack import Stack, wait_for

#: When the planted command falls due, from its sending: well after the SIGTERM.
DUE_IN_S = 20.0


async def _task_count(stack: Stack, key: str) -> int:
    return sum(t.task.idempotency_key == key for t in await stack.inbox_tasks())


def _held(stack: Stack) -> bool:
    """Whether the deliver process has read the retry command and is waiting on it."""
    return stack.metric("dvtrigger_consumer_offset_lag", topic="task-retries") == 1


async def test_a_stop_while_a_retry_waits_hands_it_back_and_it_is_delivered_after(
    stack: Stack,
) -> None:
    command = sample_raise_task()
    now = time.time()
    state = RetryState(attempts=1, first_attempt_at=now, due_at=now + DUE_IN_S, reason_class="5xx")
    kafka = producer(stack.bootstrap)
    try:
        topic = stack.settings.topic("task-retries")
        value = command.model_dump_json().encode()
        key = command.idempotency_key.encode()
        kafka.send(topic, key=key, value=value, headers=state.headers()).get(timeout=30)
    finally:
        kafka.close()
    wait_for("the deliver process to hold the retry", lambda: _held(stack), timeout=15)

    asked = time.monotonic()
    assert stack.stop_deliver(timeout=DUE_IN_S), "the deliver process had to be killed"
    stopped_after = time.monotonic() - asked
    assert now + DUE_IN_S - time.time() > 5, "the stop came too late to tell anything"
    assert stopped_after < 10, f"the stop waited {stopped_after:.1f} s for the retry to fall due"

    handed_back = stack.read_topic("task-retries")
    assert len(handed_back) == 2  # the planted command, and the same handed back
    assert RetryState.from_headers(handed_back[1].headers, now) == state
    assert handed_back[1].value == value
    assert await _task_count(stack, command.idempotency_key) == 0  # not due: not sent early

    stack.restart_deliver()

    async def delivered() -> int:
        return await _task_count(stack, command.idempotency_key)

    deadline = time.monotonic() + DUE_IN_S + 30
    while await delivered() == 0:
        assert time.monotonic() < deadline, "the handed-back command was never delivered"
        time.sleep(0.5)
    assert await delivered() == 1
