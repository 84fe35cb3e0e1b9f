"""One attempt at one task on one route: the circuit breaker asked, the request timed and counted.

Both delivery agents (`streams.flows.deliver`) make their requests here, so every request is
measured the same way and feeds the same breaker.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Literal

from schemas.task import RaiseTask
from streams.domain.ports.case_system import (
    CaseSystemConflict,
    CaseSystemRejected,
    CaseSystemUnavailable,
    TaskReceipt,
)
from streams.domain.ports.routing import Route
from streams.flows.breaker import Breaker
from streams.telemetry.metrics import Metrics

log = logging.getLogger(__name__)

AttemptKind = Literal["delivered", "rejected", "failed", "skipped", "abandoned"]
#: The status class of each retryable error kind, for the request-duration histogram.
STATUS_OF_KIND = {"5xx": "5xx", "429": "4xx", "409": "4xx"}


@dataclass(frozen=True)
class Attempt:
    """What became of one attempt: a receipt, a refusal, a retryable failure, or no request."""

    kind: AttemptKind
    receipt: TaskReceipt | None = None
    reason_class: str = ""
    reason: str = ""
    retry_after: float = 0.0


async def attempt(
    metrics: Metrics,
    breaker: Breaker,
    route: Route,
    command: RaiseTask,
    timeout: float,
    abandon: bool,
) -> Attempt:
    """Ask the route's breaker, then raise the task on `route` within `timeout` seconds.

    A request still unanswered at `timeout` is cancelled. With `abandon` (the deliver
    agent's own budget ran out) that is no verdict on the case system and the breaker is not
    told; otherwise it counts as a timeout. Cancelling is safe: the command is idempotent.
    """
    if not breaker.allow():
        show(metrics, route, breaker)
        return Attempt("skipped", reason_class="circuit_open")
    started = time.perf_counter()
    result = await _request(metrics, route, command, timeout, abandon)
    status = _status(result)
    metrics.case_system_seconds.labels(route.name, status).observe(time.perf_counter() - started)
    if result.kind == "failed":
        metrics.case_system_errors.labels(route.name, result.reason_class).inc()
        if result.reason_class != "409":  # a request still in flight says nothing of health
            breaker.failed()
    elif result.kind == "abandoned":
        breaker.released()
    else:
        breaker.succeeded()
    show(metrics, route, breaker)
    return result


async def _request(
    metrics: Metrics, route: Route, command: RaiseTask, timeout: float, abandon: bool
) -> Attempt:
    """The request itself, its failures turned into an Attempt."""
    try:
        receipt = await asyncio.wait_for(route.case_system.raise_task(command), timeout)
    except TimeoutError:
        if abandon:
            return Attempt("abandoned", reason_class="abandoned", reason="inline budget spent")
        return Attempt("failed", reason_class="timeout", reason=f"no answer in {timeout:.1f}s")
    except CaseSystemRejected as exc:
        error = f"rejected_{exc.status_code // 100}xx"
        metrics.case_system_errors.labels(route.name, error).inc()
        return Attempt("rejected", reason_class=error, reason=str(exc))
    except CaseSystemUnavailable as exc:
        kind = "409" if isinstance(exc, CaseSystemConflict) else exc.kind
        return Attempt(
            "failed", reason_class=kind, reason=str(exc), retry_after=exc.retry_after or 0.0
        )
    return Attempt("delivered", receipt=receipt)


def _status(result: Attempt) -> str:
    """The status class of an attempt, for the duration histogram."""
    if result.kind == "delivered":
        return "2xx"
    if result.kind == "rejected":
        return "4xx"
    return STATUS_OF_KIND.get(result.reason_class, result.reason_class)


def show(metrics: Metrics, route: Route, breaker: Breaker) -> None:
    """Publish the route's circuit state."""
    metrics.circuit_state.labels(route.name).set(int(breaker.state))


def record_delivery(
    metrics: Metrics, route: Route, command: RaiseTask, receipt: TaskReceipt
) -> None:
    """Count a delivered command and, for a new task, how fresh it was."""
    result = "created" if receipt.created else "updated" if receipt.updated else "unchanged"
    metrics.tasks.labels(result).inc()
    metrics.council_tasks.labels(route.name, result).inc()
    if receipt.created:
        metrics.observe_task_raised(command.task_type, command.incident.reported_at)
    log.debug(
        "task %s %s (revision %d) on %s", receipt.task_id, result, receipt.revision, route.name
    )
