"""Errors in two kinds, as arroyo has them: input that can never be valid, and failures that pass.

Invalid input (`streams.domain.parsing.Rejected`, or an error the code raises on
one message every time) goes to the dead-letter topic with its reason and is
counted: it waits there for a fix and a replay. A transient failure (the broker
or the network refusing for a while) says nothing about the message: it is
never dead-lettered, and the work is run again after a backoff (`Redelivery`)
for as long as the worker runs. Work still failing as the worker stops is handed
back to its topic; if the broker will not take that either, the worker exits
without acknowledging it (`exit_unacknowledged`), so it is read again: never
acknowledged unfinished. A worker whose dead letters are most of what it
reads is broken, not its input: `DeadLetterGuard` trips, and the worker stops
rather than empty a topic into the dead-letter topic.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, NoReturn

from aiokafka.errors import (
    BrokerNotAvailableError,
    KafkaError,
    KafkaTimeoutError,
    KafkaUnavailableError,
)

from streams.flows.clock import Clock
from streams.flows.retries import backoff

log = logging.getLogger(__name__)

#: Failures that are transient whatever aiokafka's `retriable` flag says of them.
_TRANSIENT = (
    ConnectionError,
    TimeoutError,
    KafkaTimeoutError,
    KafkaUnavailableError,
    BrokerNotAvailableError,
)


def is_transient(exc: BaseException) -> bool:
    """Whether `exc` is the broker's or the network's passing failure, not the message's."""
    if isinstance(exc, _TRANSIENT):
        return True
    return isinstance(exc, KafkaError) and bool(getattr(exc, "retriable", False))


def where(exc: BaseException) -> str:
    """The exception's type and innermost code location, never its message (it may hold PD)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    place = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}" if tb else "?"
    return f"{type(exc).__name__} ({place})"


class DeadLetterFlood(Exception):
    """The worker dead-lettered most of what it read: it stops, and a person looks."""


class DeadLetterGuard:
    """Trips when, within `window_s`, at least `limit` messages were dead-lettered and they were
    more than `ratio` of the messages handled: a worker emptying its input, not bad input."""

    def __init__(
        self, limit: int, window_s: float, ratio: float, clock: Callable[[], float]
    ) -> None:
        """A guard reading monotonic or wall-clock seconds from `clock`."""
        self.limit, self.window_s, self.ratio = limit, window_s, ratio
        self._clock = clock
        self._handled: deque[float] = deque()
        self._dead: deque[float] = deque()

    def handled(self) -> None:
        """Note one message handled (dead-lettered or not)."""
        now = self._clock()
        self._handled.append(now)
        self._forget(self._handled, now)

    def dead_lettered(self) -> bool:
        """Note one dead letter; True when the guard trips."""
        now = self._clock()
        self._dead.append(now)
        self._forget(self._dead, now)
        self._forget(self._handled, now)
        dead, handled = len(self._dead), max(len(self._handled), 1)
        return dead >= self.limit and dead / handled > self.ratio

    def _forget(self, times: deque[float], now: float) -> None:
        """Drop the times that fell out of the window (each is dropped once: amortised O(1))."""
        while times and times[0] < now - self.window_s:
            times.popleft()


#: The exit status of a worker that stops without acknowledging work it could neither finish
#: nor hand back (EX_TEMPFAIL): its supervisor starts it again, and it reads the work again.
EXIT_UNACKNOWLEDGED = 75
#: How long a hand-back is sent again while the broker refuses it.
HAND_BACK_S = 30.0


def exit_unacknowledged(flow: str) -> NoReturn:
    """Stop the process at once, before faust can acknowledge (and commit) the event in hand.

    An orderly stop would acknowledge it, and work the broker never took would be lost; an
    exit leaves the committed offsets where they are, as a SIGKILL does, and the work is
    read again after the restart (a repeat is a duplicate the flows drop).
    """
    log.critical(
        "%s: unfinished work could not be handed back; exiting without acknowledging it, to"
        " read it again after the restart",
        flow,
    )
    logging.shutdown()
    os._exit(EXIT_UNACKNOWLEDGED)


class Redelivery:
    """Runs a unit of work again after a failure that was not the input's, with backoff."""

    def __init__(
        self,
        clock: Clock,
        count: Callable[[str], None],
        leaving: Callable[[], bool],
        first_s: float = 0.2,
        cap_s: float = 30.0,
        abort: Callable[[str], None] = exit_unacknowledged,
        hand_back_s: float = HAND_BACK_S,
    ) -> None:
        """`count(flow)` counts each run again; `leaving()` says the worker is stopping;
        `abort(flow)` stops the worker without acknowledging (`exit_unacknowledged`)."""
        self._clock, self._count, self._leaving = clock, count, leaving
        self._first, self._cap = first_s or 0.2, cap_s
        self._abort, self._hand_back_s = abort, hand_back_s

    async def run(self, work: Callable[[], Awaitable[None]], flow: str) -> bool:
        """Run `work` until it succeeds; False if the worker began to stop before it did.

        Only what a flow did not set aside reaches here (the per-message guard
        dead-letters what is invalid), so whatever escapes is the broker's:
        running the unit again is safe, its sends are idempotent.
        """
        attempt = 0
        while True:
            try:
                await work()
                return True
            except Exception as exc:
                attempt += 1
                self._count(flow)
                log.warning("%s: failed at %s (attempt %d); again", flow, where(exc), attempt)
                if self._leaving():
                    log.error("%s: the worker is stopping; the work is left unfinished", flow)
                    return False
                await self._clock.sleep(backoff(attempt, first=self._first, cap=self._cap))

    async def hand_back(self, topic: Any, events: Iterable[Any], flow: str) -> None:
        """Put events whose work was left unfinished back on `topic`, as they came.

        faust acknowledges the event in hand as the worker stops; what is handed
        back is read again after the restart (a repeat is a duplicate the flows
        drop). Each send is awaited, and sent again while the broker refuses it, for
        up to `hand_back_s`; past that, or if the worker is cancelled meanwhile, the
        worker exits without acknowledging anything (`abandon`).
        """
        deadline = self._clock.time() + self._hand_back_s
        try:
            for event in events:
                if not await self._hand_back_one(topic, event, flow, deadline):
                    self.abandon(flow)
                    return
        except asyncio.CancelledError:  # stopped mid-way: what is left would be acknowledged
            self.abandon(flow)
            raise

    async def _hand_back_one(self, topic: Any, event: Any, flow: str, deadline: float) -> bool:
        """Send one event back until the broker takes it; False once `deadline` has passed."""
        attempt = 0
        while True:
            try:
                await (await topic.send(key=event.key, value=event.value))
                return True
            except Exception as exc:
                attempt += 1
                log.error("%s: handing back failed at %s (%d)", flow, where(exc), attempt)
                if self._clock.time() >= deadline:
                    return False
                await self._clock.sleep(backoff(attempt, first=self._first, cap=5.0))

    def abandon(self, flow: str) -> None:
        """Work that can be neither finished nor handed back: stop the worker unacknowledged.

        For a flow whose input must be read in order (the register's events), the only way
        to leave unfinished work without losing it.
        """
        self._abort(flow)
