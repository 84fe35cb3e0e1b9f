"""Circuit breaker: closed, open after consecutive failures, one trial when half-open."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.flows.breaker import Breaker, BreakerState


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def breaker(failures: int = 3, reset_s: float = 30.0) -> tuple[Breaker, Clock]:
    clock = Clock()
    return Breaker(failures, reset_s, clock), clock


def test_a_new_breaker_is_closed_and_lets_everything_through() -> None:
    b, _ = breaker()
    assert b.state is BreakerState.CLOSED
    assert all(b.allow() for _ in range(100))
    assert b.retry_in() == 0.0


def test_it_opens_after_the_threshold_of_consecutive_failures() -> None:
    b, _ = breaker(failures=3)
    for _ in range(2):
        assert b.allow()
        b.failed()
    assert b.state is BreakerState.CLOSED
    b.failed()
    assert b.state is BreakerState.OPEN
    assert not b.allow()
    assert b.retry_in() == 30.0


def test_a_success_resets_the_count() -> None:
    b, _ = breaker(failures=3)
    b.failed()
    b.failed()
    b.succeeded()
    b.failed()
    b.failed()
    assert b.state is BreakerState.CLOSED


def test_open_lets_nothing_through_until_the_reset_time() -> None:
    b, clock = breaker(failures=1, reset_s=30.0)
    b.failed()
    clock.t += 29.9
    assert not b.allow()
    assert b.retry_in() == pytest.approx(0.1)
    clock.t += 0.1
    assert b.state is BreakerState.HALF_OPEN


def test_a_clock_stepped_back_an_hour_does_not_hold_the_circuit_open_for_an_hour() -> None:
    b, clock = breaker(failures=1, reset_s=30.0)
    b.failed()
    clock.t -= 3600.0  # a wall clock stepped back while the circuit is open
    assert b.retry_in() == 30.0 and not b.allow()
    clock.t += 30.0
    assert b.allow()  # the trial, a reset time after the step
    clock.t -= 3600.0  # stepped back again while the trial is out
    assert b.retry_in() == 30.0
    clock.t += 30.0
    assert b.allow()


def test_half_open_lets_one_trial_through_and_its_success_closes() -> None:
    b, clock = breaker(failures=1, reset_s=30.0)
    b.failed()
    clock.t += 30.0
    assert b.allow()  # the trial
    assert not b.allow()  # a second request waits for the trial's verdict
    assert b.state is BreakerState.HALF_OPEN
    b.succeeded()
    assert b.state is BreakerState.CLOSED
    assert b.allow() and b.allow()


def test_a_failed_trial_opens_again_for_a_whole_reset_time() -> None:
    b, clock = breaker(failures=5, reset_s=30.0)
    for _ in range(5):
        b.failed()
    clock.t += 30.0
    assert b.allow()
    b.failed()  # one failure in half-open is enough
    assert b.state is BreakerState.OPEN
    assert not b.allow()
    assert b.retry_in() == 30.0


def test_a_trial_that_never_reports_expires() -> None:
    b, clock = breaker(failures=1, reset_s=10.0)
    b.failed()
    clock.t += 10.0
    assert b.allow()
    clock.t += 5.0
    assert not b.allow()
    assert b.retry_in() == 5.0
    clock.t += 5.0
    assert b.allow()  # the lost trial's slot is free again


def test_a_released_trial_frees_the_slot_at_once() -> None:
    b, clock = breaker(failures=1, reset_s=10.0)
    b.failed()
    clock.t += 10.0
    assert b.allow()
    b.released()
    assert b.allow()


def test_state_values_are_the_gauge_values() -> None:
    assert [int(s) for s in BreakerState] == [0, 1, 2]


@pytest.mark.parametrize(("failures", "reset_s"), [(0, 1.0), (1, -1.0)])
def test_nonsense_thresholds_are_refused(failures: int, reset_s: float) -> None:
    with pytest.raises(ValueError):
        Breaker(failures, reset_s)


@given(st.lists(st.sampled_from(["allow", "ok", "fail", "tick"]), max_size=60))
def test_an_open_breaker_never_lets_a_request_through(steps: list[str]) -> None:
    b, clock = breaker(failures=2, reset_s=10.0)
    for step in steps:
        if step == "tick":
            clock.t += 3.0
        elif step == "ok":
            b.succeeded()
        elif step == "fail":
            b.failed()
        else:
            was_open = b.state is BreakerState.OPEN
            assert not (was_open and b.allow())
