"""Retry state of a task command: what its retry-topic headers say, and when to try next.

A command that failed for a retryable reason travels on the retry topic with its original
key and value and these headers: how many requests were made for it, when the first was
made, when the next is due, how long that wait was, and the class of the last failure.
Times are wall-clock seconds since the epoch, because the next attempt may be made by another
process; the wait tells a reader when the due time was set, so one set before the wall
clock was stepped back is not waited for (`RetryState.due_by`). Pure: the time is passed in.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Protocol

from streams.config.topics import H_REASON_CLASS

H_ATTEMPTS = "dvtrigger-attempts"
H_FIRST_ATTEMPT_AT = "dvtrigger-first-attempt-at"
H_DUE_AT = "dvtrigger-due-at"
H_WAIT = "dvtrigger-wait-s"

FIRST_BACKOFF_S = 0.2
MAX_BACKOFF_S = 30.0

Headers = Mapping[str, bytes] | Iterable[tuple[str, bytes]] | None


class Uniform(Protocol):
    """What backoff needs of a random number generator."""

    def uniform(self, a: float, b: float) -> float:
        """A number between a and b."""
        ...


def backoff(
    attempt: int,
    rng: Uniform | None = None,
    first: float = FIRST_BACKOFF_S,
    cap: float = MAX_BACKOFF_S,
) -> float:
    """Seconds to wait before retry `attempt` (1-based): exponential, capped, full jitter."""
    top = min(cap, first * 2 ** min(max(attempt, 1) - 1, 32))
    return float((rng or random).uniform(0, top))


@dataclass(frozen=True)
class RetryState:
    """Where one command stands in its retries."""

    attempts: int
    first_attempt_at: float
    due_at: float
    reason_class: str = ""
    #: The wait `due_at` was set with (None: not known, from an older message).
    wait_s: float | None = None

    def headers(self) -> list[tuple[str, bytes]]:
        """The retry-topic headers that carry this state."""
        wait = [] if self.wait_s is None else [(H_WAIT, repr(self.wait_s).encode())]
        return [
            (H_ATTEMPTS, str(self.attempts).encode()),
            (H_FIRST_ATTEMPT_AT, repr(self.first_attempt_at).encode()),
            (H_DUE_AT, repr(self.due_at).encode()),
            (H_REASON_CLASS, self.reason_class.encode()),
            *wait,
        ]

    def due_by(self, now: float, deadline_s: float) -> float:
        """When to try: when due, but never past the deadline.

        A due time whose wait began after `now` was written before the wall clock was stepped
        back (say an hour): it is due at once, not an hour late. How long it has waited cannot
        be told from a clock that jumped; the route's circuit breaker paces such retries.
        """
        due = min(self.due_at, self.first_attempt_at + deadline_s)
        if self.wait_s is not None and self.due_at - self.wait_s > now:
            return now
        return due

    @classmethod
    def from_headers(cls, headers: Headers, now: float) -> RetryState:
        """Read the state back; a missing or garbled header reads as a first attempt now."""
        found = dict(headers.items() if isinstance(headers, Mapping) else headers or ())
        return cls(
            attempts=max(0, int(_number(found.get(H_ATTEMPTS), 0))),
            first_attempt_at=_number(found.get(H_FIRST_ATTEMPT_AT), now),
            due_at=_number(found.get(H_DUE_AT), now),
            reason_class=(found.get(H_REASON_CLASS) or b"").decode(errors="replace"),
            wait_s=_wait(found.get(H_WAIT)),
        )


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff and deadline of task delivery."""

    deadline_s: float
    first_backoff_s: float = FIRST_BACKOFF_S
    max_backoff_s: float = MAX_BACKOFF_S
    rng: Uniform | None = None

    def pause(self, attempt: int) -> float:
        """The jittered pause before retry `attempt`."""
        return backoff(attempt, self.rng, self.first_backoff_s, self.max_backoff_s)

    def next(
        self, state: RetryState, reason_class: str, now: float, at_least: float = 0.0
    ) -> RetryState | None:
        """The state to requeue with, due after a backoff (and `at_least`); None: park it."""
        pause = max(self.pause(max(state.attempts, 1)), at_least)
        due = now + pause
        if due > state.first_attempt_at + self.deadline_s:
            return None
        return replace(state, due_at=due, reason_class=reason_class, wait_s=pause)

    def expired(self, state: RetryState, now: float) -> bool:
        """Has the deadline passed since the first attempt?"""
        return now > state.first_attempt_at + self.deadline_s


def _number(raw: bytes | None, default: float) -> float:
    """A header's number, or `default` when it is missing or not a finite number."""
    try:
        value = float(raw) if raw is not None else default
    except ValueError:
        return default
    return value if value == value and abs(value) != float("inf") else default


def _wait(raw: bytes | None) -> float | None:
    """The wait header's seconds, or None when it is missing or not a number of seconds."""
    wait = _number(raw, -1.0)
    return wait if wait >= 0 else None
