"""Deliver: each task command reaches its council's case system once, or is parked with its reason.

Two agents. `deliver-tasks` reads the task commands and gives each a short inline budget
(`task_inline_budget_s`): one request, or a few quick ones with backoff. A command still
failing for a retryable reason, or whose route's circuit is open, is sent to the retry
topic with retry headers (`streams.flows.retries`) and the agent moves on, so one failing
council never holds up another's tasks on the same partition. `retry-tasks` reads the
retry topic, waits until each command is due, and tries again: success is done, another
failure goes back on the retry topic, and past `task_retry_deadline_s` from the first
attempt the command is parked, which alerts. A refusal (4xx) parks at once. A command
still waiting when the worker stops or rebalances goes back on the retry topic as it
was, so neither waits for it.

The idempotency key makes every repeat harmless: the case system returns the task it
already has. Nothing is dropped: faust acknowledges an event whose agent raised, so every
failure is caught and the command sent on (retry or parking topic) before the event is
acknowledged; a send the broker will not take is retried until it is.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import faust

from schemas.task import RaiseTask
from streams.domain import receipts
from streams.domain.ports.case_system import TaskReceipt
from streams.domain.ports.routing import Route
from streams.flows.attempts import Attempt, attempt, record_delivery
from streams.flows.breaker import Breaker
from streams.flows.deadletter import dead_letter_headers
from streams.flows.deps import Deps, Topics, leaving
from streams.flows.errors import where
from streams.flows.receipting import ReceiptSender
from streams.flows.retries import RetryPolicy, RetryState, backoff

log = logging.getLogger(__name__)
#: Longest the retry agent sleeps at a time while a command is not due: it checks in between
#: whether the worker is stopping or rebalancing, and if so hands the command back.
WAIT_SLICE_S = 0.5


class DeliverFlow:
    """The deliver and retry agents, and the circuit breaker of each route they use."""

    #: The topic roles this flow consumes (its lag is measured).
    CONSUMES = ("task-commands", "task-retries")

    def __init__(self, deps: Deps, topics: Topics, app: Any) -> None:
        """A flow delivering through `deps.router`; `app` says when the worker is leaving."""
        self._deps = deps
        self._topics = topics
        self._app = app
        self._receipts = ReceiptSender(topics.receipts, deps.metrics)
        s = deps.settings
        self.policy = RetryPolicy(
            s.task_retry_deadline_s, s.task_first_backoff_s, s.task_max_backoff_s
        )
        #: One circuit breaker per route name, made when the route is first used.
        self.breakers: dict[str, Breaker] = {}

    def install(self, app: faust.App) -> None:
        """Add the deliver and retry agents to the app."""

        @app.agent(self._topics.task_commands, name="deliver-tasks")
        async def deliver_tasks(stream: Any) -> None:
            async for event in stream.events():
                await self.guarded(event, self.deliver)

        @app.agent(self._topics.task_retries, name="retry-tasks")
        async def retry_tasks(stream: Any) -> None:
            async for event in stream.events():
                await self.guarded(event, self.retry)

    async def guarded(self, event: Any, handle: Any) -> None:
        """Run one handler; an unexpected error parks the command rather than lose it."""
        try:
            await handle(event)
        except Exception as exc:
            log.error("task delivery failed at %s; parked", where(exc))
            await self.park(event, "processing_error", type(exc).__name__)

    def breaker_of(self, route: Route) -> Breaker:
        """The route's circuit breaker, made on first use with the settings' thresholds."""
        breaker = self.breakers.get(route.name)
        if breaker is None:
            s = self._deps.settings
            breaker = Breaker(s.breaker_failures, s.breaker_reset_s, self._deps.clock.time)
            self.breakers[route.name] = breaker
        return breaker

    async def _attempt(
        self, route: Route, command: RaiseTask, timeout: float, abandon: bool
    ) -> Attempt:
        """One attempt on `route`, through its breaker."""
        breaker = self.breaker_of(route)
        return await attempt(self._deps.metrics, breaker, route, command, timeout, abandon)

    async def deliver(self, event: Any) -> None:
        """First attempts at one command, within the inline budget; then retry topic or parking."""
        deps = self._deps
        clock = deps.clock
        command = RaiseTask.model_validate_json(event.value)
        routed = deps.router.route(command.local_authority)
        if routed.unrouted is not None:
            deps.metrics.tasks_unrouted.labels(routed.unrouted).inc()
            log.warning("no case system for council %s: task sent to the default", _code(command))
        route, started = routed.route, clock.time()
        state = RetryState(attempts=0, first_attempt_at=started, due_at=started)
        s = deps.settings
        budget = _Budget(clock.time, started, min(s.task_inline_budget_s, s.task_retry_deadline_s))
        while True:
            remaining = budget.left()
            result = await self._attempt(route, command, timeout=max(remaining, 0.0), abandon=True)
            if result.kind != "skipped":
                state = RetryState(state.attempts + 1, started, started)
            if await self.settled(event, route, command, result):
                return
            pause = max(self.policy.pause(state.attempts), result.retry_after)
            if result.kind in ("skipped", "abandoned") or pause >= budget.left():
                await self.requeue(event, route, state, result)
                return
            await clock.sleep(pause)

    async def retry(self, event: Any) -> None:
        """One more attempt at a command from the retry topic, when it is due."""
        deps = self._deps
        now = deps.clock.time
        state = RetryState.from_headers(getattr(event, "headers", None), now())
        if self.policy.expired(state, now()):
            await self.park(event, "deadline", f"still unavailable after {state.attempts} attempts")
            return
        due = state.due_by(now(), deps.settings.task_retry_deadline_s)
        if not await self._waited(due):  # never past the deadline, whatever a header says
            await self._hand_back(event, state)
            return
        command = RaiseTask.model_validate_json(event.value)
        route = deps.router.route(command.local_authority).route
        result = await self._attempt(route, command, timeout=route.timeout_s + 1.0, abandon=False)
        if result.kind != "skipped":
            deps.metrics.task_retry_attempts.labels(route.name).inc()
            state = RetryState(state.attempts + 1, state.first_attempt_at, state.due_at)
        if not await self.settled(event, route, command, result):
            await self.requeue(event, route, state, result)

    async def _waited(self, due: float) -> bool:
        """Wait until `due`, a slice at a time; False as soon as the worker stops or rebalances.

        faust waits for the event in hand before it stops or gives a partition up,
        so a command not due for minutes must not be held that long. The wait never grows
        past what it was when it began: a wall clock stepped back meanwhile does not hold
        the command for the length of the step.
        """
        clock = self._deps.clock
        most = due - clock.time()
        while (left := min(due - clock.time(), most)) > 0:
            if leaving(self._app):
                return False
            pause = min(left, WAIT_SLICE_S)
            await clock.sleep(pause)
            most -= pause
        return True

    async def _hand_back(self, event: Any, state: RetryState) -> None:
        """Put a command that is not due yet back on the retry topic as it was, for later."""
        if await self._to_retry_topic(event, state):
            log.info(
                "task not yet due handed back to the retry topic (worker stopping or rebalancing)"
            )

    async def _to_retry_topic(
        self, event: Any, state: RetryState, route: Route | None = None
    ) -> bool:
        """Send the command to the retry topic with `state` in its headers, acknowledged; if the
        topic will not take it, park it instead (the event must not be acknowledged unsent)."""
        try:
            await _send_acked(self._topics.task_retries, event.key, event.value, state.headers())
        except Exception as exc:
            log.error("retry topic refused a task at %s; parking it", where(exc))
            await self.park(event, "requeue_failed", type(exc).__name__, route)
            return False
        return True

    async def settled(self, event: Any, route: Route, command: RaiseTask, result: Attempt) -> bool:
        """Finish a command that was delivered or refused; False when it is still to retry."""
        if result.receipt is not None:
            record_delivery(self._deps.metrics, route, command, result.receipt)
            await self.raised(route, command, result.receipt)
            return True
        if result.kind == "rejected":
            await self.park(event, "rejected", result.reason, route)
            return True
        return False

    async def raised(self, route: Route, command: RaiseTask, receipt: TaskReceipt) -> None:
        """Tell the force the task is raised: its receipt, sent until the broker takes it, which
        also opens the task's acknowledgement watch (`streams/flows/acknowledgements.py`)."""
        told = receipts.task_raised(command, receipt.task_id, route.name, self._deps.clock.now())
        await self._until_taken(partial(self._receipts.send_all, [told]), "receipts topic")

    async def _until_taken(self, send: Callable[[], Awaitable[None]], where_to: str) -> None:
        """Send until the broker takes it, backing off: never acknowledge an event whose work
        went nowhere (a parked task, the receipt of a raised one)."""
        sends = 0
        while True:
            try:
                await send()
                return
            except Exception as exc:
                sends += 1
                log.error("%s refused a message at %s (%d); retrying", where_to, where(exc), sends)
                first = self._deps.settings.task_first_backoff_s or 0.2
                await self._deps.clock.sleep(backoff(sends, first=first))

    async def requeue(self, event: Any, route: Route, state: RetryState, result: Attempt) -> None:
        """Send the command to the retry topic, due after a backoff; past the deadline, park it."""
        wait = max(result.retry_after, self.breaker_of(route).retry_in())
        now = self._deps.clock.time()
        following = self.policy.next(state, result.reason_class, now, at_least=wait)
        if following is None:
            reason = f"still unavailable after {state.attempts} attempts"
            await self.park(event, "deadline", reason, route)
            return
        if not await self._to_retry_topic(event, following, route):
            return
        self._deps.metrics.tasks_retry_queued.labels(result.reason_class).inc()
        log.info(
            "task for %s to retry (%s, attempt %d)", route.name, result.reason_class, state.attempts
        )

    async def park(
        self, event: Any, reason_class: str, reason: str, route: Route | None = None
    ) -> None:
        """Park a command on the parking topic (which alerts), sending until the topic takes it."""
        metrics = self._deps.metrics
        metrics.tasks_parked.labels(reason_class).inc()
        if route is not None:
            metrics.council_tasks.labels(route.name, "parked").inc()
        message = event.message
        headers = dead_letter_headers(
            reason_class, reason, message.topic, message.partition, message.offset
        )
        parking = partial(_send_acked, self._topics.tasks_parked, event.key, event.value, headers)
        await self._until_taken(parking, "parking topic")
        log.warning(
            "task parked from %s@%s: %s (%s)", message.topic, message.offset, reason_class, reason
        )


class _Budget:
    """The deliver agent's inline budget for one command, on the worker's wall clock.

    A clock stepped back (say an hour) gives none: without this a step back mid-command would
    keep the agent retrying that command inline for an hour. The pause the step fell in is
    not counted either (a wall clock cannot tell it): the budget is overrun by one pause.
    """

    def __init__(self, time: Callable[[], float], started: float, seconds: float) -> None:
        self._time = time
        self._last = started
        self._end = started + seconds

    def left(self) -> float:
        """Seconds of the budget left now (negative once spent)."""
        now = self._time()
        self._end -= max(0.0, self._last - now)
        self._last = now
        return self._end - now


async def _send_acked(
    topic: Any, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]
) -> None:
    """Send and wait for the broker's acknowledgement."""
    await (await topic.send(key=key, value=value, headers=headers))


def _code(command: RaiseTask) -> str:
    """The council code for a log line (codes are not personal data), kept short and printable."""
    return "".join(ch for ch in str(command.local_authority)[:16] if ch.isalnum())
