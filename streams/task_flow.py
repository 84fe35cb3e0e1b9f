"""Deliver: each task command reaches the case system once, or is parked with its reason.

The command's idempotency key makes redelivery harmless: the case system
returns the task it already has. A case system that is down is retried with
exponential backoff and jitter until `task_retry_deadline_s`; a command it
refuses, or one still failing at the deadline, goes to the parking topic,
which alerts. Nothing is dropped.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from datetime import UTC, datetime
from typing import Any

from connectors.case_system import CaseSystemRejected, CaseSystemUnavailable, TaskReceipt
from schemas.task import RaiseTask
from streams.deadletter import send_dead_letter, where
from streams.wiring import Wiring

log = logging.getLogger(__name__)
FIRST_BACKOFF_S = 0.2
MAX_BACKOFF_S = 30.0


def install(w: Wiring) -> None:
    """Add the task delivery agent to the app."""

    @w.app.agent(w.topics.task_commands, name="deliver-tasks")
    async def deliver_tasks(stream: Any) -> None:
        async for event in stream.events():
            try:
                await deliver(w, event)
            except Exception as exc:  # an agent exception would ack the event: park it
                log.error("task delivery failed at %s; parked", where(exc))
                await park(w, event, "processing_error", type(exc).__name__)


def backoff(attempt: int, rng: random.Random | None = None) -> float:
    """Seconds to wait before retry `attempt` (1-based): exponential, capped, full jitter."""
    return float(
        (rng or random).uniform(0, min(MAX_BACKOFF_S, FIRST_BACKOFF_S * 2 ** min(attempt - 1, 32)))
    )


async def deliver(w: Wiring, event: Any) -> None:
    """Raise (or update) one task, retrying while the case system is unavailable."""
    command = RaiseTask.model_validate_json(event.value)
    deadline = time.monotonic() + w.settings.task_retry_deadline_s
    attempt = 0
    while True:
        attempt += 1
        try:
            receipt = await w.case_system.raise_task(command)
        except CaseSystemRejected as exc:
            w.metrics.case_system_errors.labels(f"rejected_{exc.status_code // 100}xx").inc()
            await park(w, event, "rejected", str(exc))
            return
        except CaseSystemUnavailable as exc:
            w.metrics.case_system_errors.labels(exc.kind).inc()
            pause = max(backoff(attempt), exc.retry_after or 0.0)
            if time.monotonic() + pause > deadline:
                await park(w, event, "deadline", f"still unavailable after {attempt} attempts")
                return
            await asyncio.sleep(pause)
            continue
        record_delivery(w, command, receipt)
        return


def record_delivery(w: Wiring, command: RaiseTask, receipt: TaskReceipt) -> None:
    """Count a delivered command and, for a new task, how fresh it was."""
    result = "created" if receipt.created else "updated" if receipt.updated else "unchanged"
    w.metrics.tasks.labels(result).inc()
    if receipt.created:
        lag = (datetime.now(UTC) - command.incident.reported_at).total_seconds()
        w.metrics.seconds_to_task.observe(max(0.0, lag))
    log.debug("task %s %s (revision %d)", receipt.task_id, result, receipt.revision)


async def park(w: Wiring, event: Any, reason_class: str, reason: str) -> None:
    """Park a command the case system would not take; the parking topic alerts."""
    w.metrics.tasks_parked.labels(reason_class).inc()
    await send_dead_letter(w.topics.tasks_parked, event, reason_class, reason)
