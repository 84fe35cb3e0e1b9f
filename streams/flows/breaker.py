"""A circuit breaker per case-system route: stop hammering a system that keeps failing.

Closed: every request goes through; `failures` consecutive retryable failures open it.
Open: no request at all for `reset_s`. Then half-open: one trial request is let through;
its success closes the breaker, its failure opens it again for another `reset_s`. A trial
that never reports back (its caller was cancelled) expires after `reset_s`, so the breaker
cannot stay half-open for ever. Pure: the clock is passed in. It may be a wall clock: one
stepped back (say an hour) restarts a wait from the new time, so no wait exceeds `reset_s`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import IntEnum


class BreakerState(IntEnum):
    """The breaker's state; the value is what the circuit-state gauge shows."""

    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class Breaker:
    """Closed, open or half-open, from the outcomes of the requests it let through."""

    def __init__(
        self, failures: int = 5, reset_s: float = 30.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if failures < 1 or reset_s < 0:
            raise ValueError("a breaker needs failures >= 1 and reset_s >= 0")
        self.failures = failures
        self.reset_s = reset_s
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._consecutive = 0
        self._opened_at = 0.0
        self._trial_at: float | None = None

    @property
    def state(self) -> BreakerState:
        """The state now: an open breaker whose reset time has passed reads as half-open."""
        if self._state is BreakerState.OPEN and self.retry_in() == 0.0:
            return BreakerState.HALF_OPEN
        return self._state

    def allow(self) -> bool:
        """May one request go out now? In half-open, True once: that request is the trial."""
        now = self._now()
        if self._state is BreakerState.CLOSED:
            return True
        if self._state is BreakerState.OPEN:
            if now < self._opened_at + self.reset_s:
                return False
            self._state = BreakerState.HALF_OPEN
        if self._trial_at is not None and now < self._trial_at + self.reset_s:
            return False  # a trial is already out
        self._trial_at = now
        return True

    def succeeded(self) -> None:
        """The case system answered (a receipt or a refusal): close."""
        self._state = BreakerState.CLOSED
        self._consecutive = 0
        self._trial_at = None

    def failed(self) -> None:
        """A retryable failure: count it; open at the threshold, or at once from half-open."""
        self._consecutive += 1
        if self._state is BreakerState.HALF_OPEN or self._consecutive >= self.failures:
            self._state = BreakerState.OPEN
            self._opened_at = self._now()
            self._trial_at = None

    def released(self) -> None:
        """A request let through gave no verdict (abandoned): free the trial slot, if it held it."""
        self._trial_at = None

    def retry_in(self) -> float:
        """Seconds until a request may go out (0.0 when one may now)."""
        now = self._now()
        if self._state is BreakerState.CLOSED:
            return 0.0
        if self._state is BreakerState.OPEN:
            return max(0.0, self._opened_at + self.reset_s - now)
        if self._trial_at is None:
            return 0.0
        return max(0.0, self._trial_at + self.reset_s - now)

    def _now(self) -> float:
        """The clock's time; marks ahead of it (the clock was stepped back) are moved to it."""
        now = self._clock()
        self._opened_at = min(self._opened_at, now)
        if self._trial_at is not None:
            self._trial_at = min(self._trial_at, now)
        return now
