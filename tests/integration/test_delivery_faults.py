"""Exactly one task, whatever fails between Kafka and the case system (issue 4).

Each test runs a worker (decide and deliver processes) on the session's broker against a real
duty inbox behind `FaultyProxy`, a real HTTP server on loopback that plants one fault. It
publishes simulated incidents, plants the fault at its moment, waits until every expected task
is in the inbox, and asserts three things: no expected task is missing, none is duplicated, and
the fault really happened. The expected tasks come from the offline replay of the same files.
Each test's figures go to the "delivery faults" table of the terminal summary.

Seconds to recover run from the end of the fault (the restart, the end of the window, the last
planted failure) to the moment the last expected task is in the inbox.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from connectors.case_system.http import HttpCaseSystem
from connectors.cli.replay import replay
from connectors.simulate import simulate, write_scenario
from schemas.decision import Decision
from streams.domain.ports.case_system import CaseSystemUnavailable, TaskRecord
from streams.domain.tasks import idempotency_key, subject_key
from tests.conftest import record_fault
from tests.support.duty_inbox import TEST_CLIENT_TOKEN
from tests.support.faulty_proxy import (
    Exchange,
    FaultyProxy,
    fault_row,
    read_tasks,
    serve_faulty_proxy,
    summary,
    tally,
)
from tests.support.samples import Outcome, sample_raise_task
from tests.support.stack import Stack, running_stack, stop_gracefully, wait_for

pytestmark = pytest.mark.integration

#: The deliver worker's client timeout: faults 5 and 7 are planted around it.
TIMEOUT_S = 1.0
#: Short backoffs, deadline and breaker reset, so a test recovers in seconds. Names the
#: deliver side does not know are ignored, so these work before and after it has them.
FAULT_ENV = {
    "DVTRIGGER_CASE_SYSTEM_TIMEOUT_S": str(TIMEOUT_S),
    "DVTRIGGER_TASK_RETRY_DEADLINE_S": "120",
    "DVTRIGGER_TASK_FIRST_BACKOFF_S": "0.2",
    "DVTRIGGER_TASK_MAX_BACKOFF_S": "2",
    "DVTRIGGER_BREAKER_RESET_S": "2",
}
#: How long the proxy must be quiet before the inbox is counted: late retries have landed.
QUIET_S = 3.0
RECOVERY_TIMEOUT_S = 120.0


@pytest.fixture
def proxy(inbox: str) -> Iterator[FaultyProxy]:
    """A faulty proxy in front of the test's duty inbox."""
    with serve_faulty_proxy(inbox) as running:
        yield running


@pytest.fixture
def faulty(broker: str, proxy: FaultyProxy, tmp_path: Path) -> Iterator[Stack]:
    """A worker whose case system is the faulty proxy."""
    with running_stack(broker, proxy.url, tmp_path, **FAULT_ENV) as running:
        proxy.watch_pids = [running.deliver.pid]
        yield running


@dataclass
class Run:
    """One fault test: the incidents, the tasks they must raise, and what was published."""

    name: str
    stack: Stack
    proxy: FaultyProxy
    inbox: str
    incidents: list[dict[str, Any]]
    expected: set[str]
    sent: int = 0

    def publish(self, incidents: list[dict[str, Any]] | None = None) -> None:
        """Publish these incidents (all of them by default)."""
        self.sent += self.stack.publish(
            "incidents", self.incidents if incidents is None else incidents
        )

    def missing(self) -> int:
        """Expected tasks not in the inbox yet."""
        return len(tally(read_tasks(self.inbox), self.expected).missing)

    def await_all(self) -> float:
        """Wait until every expected task is in the inbox; when that was (monotonic)."""
        wait_for(
            f"all {len(self.expected)} expected tasks ({self.name}; proxy saw "
            f"{summary(self.proxy.posts())})",
            lambda: self.missing() == 0,
            timeout=RECOVERY_TIMEOUT_S,
        )
        return time.monotonic()

    def finish(
        self,
        config: pytest.Config,
        fault_ended: float,
        evidence: Callable[[], str],
        **extra: Any,
    ) -> None:
        """Wait for quiet, count the inbox, record the figures, assert exactly once.

        `evidence` says, from the proxy's records once all is quiet, what the fault did.
        """
        recovered = self.await_all()
        wait_for("the proxy to be quiet", lambda: self.proxy.idle_for() >= QUIET_S, timeout=60)
        counted = tally(read_tasks(self.inbox), self.expected)
        parked = len(self.stack.read_topic("tasks-parked"))
        commands = len(self.stack.read_topic("task-commands"))
        row = fault_row(
            self.name,
            self.sent,
            commands,
            len(self.expected),
            counted,
            recovered - fault_ended,
            evidence(),
        )
        record_fault(config, row)
        detail = {
            **row,
            **extra,
            "withdrawn": sorted(counted.withdrawn),
            "parked": parked,
            "proxy": summary(self.proxy.posts()),
        }
        assert not counted.missing, (sorted(counted.missing), detail)
        assert counted.duplicates == 0, detail
        assert not counted.unexpected, (sorted(counted.unexpected), detail)
        # A task a later revision withdrew stays, marked withdrawn (as in test_end_to_end).
        assert counted.distinct == len(self.expected) + len(counted.withdrawn), detail
        created = [e.key for e in self.proxy.created()]
        assert len(created) == len(set(created)), ("the inbox created a key twice", detail)


def _start(
    name: str, stack: Stack, proxy: FaultyProxy, inbox: str, tmp_path: Path, seed: int
) -> Run:
    """A scenario whose register is loaded into the worker, and the tasks it must raise."""
    scenario = simulate(seed, 24, 48)
    expected = _expected_keys(scenario, tmp_path)
    assert len(expected) >= 15, f"seed {seed} raises only {len(expected)} tasks"
    stack.publish("register", scenario.register)
    subjects = len({event["subject"]["subject_ref"] for event in scenario.register})
    wait_for(f"{subjects} register subjects", lambda: stack.register_size() == subjects)
    return Run(name, stack, proxy, inbox, list(scenario.incidents), expected)


def _expected_keys(scenario: Any, tmp_path: Path) -> set[str]:
    """The idempotency keys of the tasks the offline replay's latest decisions raise."""
    write_scenario(scenario, tmp_path / "data")
    out = tmp_path / "replay.jsonl"
    replay(tmp_path / "data" / "register.jsonl", tmp_path / "data" / "incidents.jsonl", out)
    latest: dict[str, Decision] = {}
    for line in out.read_text().splitlines():
        decision = Decision.model_validate_json(line)
        latest[decision.incident_id] = decision
    return {
        idempotency_key(d.incident_id, subject_key(s))
        for d in latest.values()
        for s in d.subjects
        if s.outcome
    }


def _restart_deliver(faulty: Stack, proxy: FaultyProxy) -> float:
    """Start the deliver process again and trace the proxy's requests to it; when it started."""
    restarted = time.monotonic()
    faulty.restart_deliver()
    proxy.watch_pids = [faulty.deliver.pid]
    return restarted


def _redelivered(proxy: FaultyProxy) -> list[Exchange]:
    """POSTs that created a task and whose key the inbox later answered 200."""
    return [e for e in proxy.created() if proxy.answered_later(e)]


def _last_end(exchanges: list[Exchange]) -> float:
    return max(e.done_at for e in exchanges)


# -- the proxy itself ---------------------------------------------------------------------------


async def test_the_proxy_plants_each_fault(proxy: FaultyProxy, inbox: str) -> None:
    """Each fault does what the tests below rely on, seen from a real HTTP client."""
    client = HttpCaseSystem(proxy.url, timeout=0.5, token=SecretStr(TEST_CLIENT_TOKEN))

    async def outcome(incident: str) -> str:
        try:
            receipt = await client.raise_task(sample_raise_task(incident_id=incident))
        except CaseSystemUnavailable as exc:
            return exc.kind
        return "created" if receipt.created else "existing"

    try:
        proxy.fail((500, 503), requests=2)
        assert [await outcome("MPS-2026-000101") for _ in range(3)] == ["5xx", "5xx", "created"]
        proxy.hold(2.0, keys=1)
        assert [await outcome("MPS-2026-000102") for _ in range(2)] == ["timeout", "existing"]
        proxy.reset(keys=1)
        assert [await outcome("MPS-2026-000103") for _ in range(2)] == ["connect", "existing"]
        proxy.slow(0.3, 0.4, seconds=60)
        started = time.monotonic()
        assert await outcome("MPS-2026-000104") == "created"
        assert time.monotonic() - started >= 0.3
    finally:
        await client.aclose()
    assert proxy.statuses()[500] == proxy.statuses()[503] == 1
    held, reset = proxy.faulted("hold"), proxy.faulted("reset")
    assert held[0].upstream_status == 201 and held[0].client_gone and held[0].status is None
    assert reset[0].upstream_status == 201 and reset[0].status is None
    assert proxy.answered_later(held[0]) and proxy.answered_later(reset[0])
    assert tally(read_tasks(inbox), set()).found == 4


def test_tally_counts_duplicates_missing_and_withdrawn() -> None:
    """The counting the fault tests rely on can find each kind of error."""
    now = datetime.now(UTC)

    def record(key: str, subject: str, outcome: Outcome = "trigger") -> TaskRecord:
        task = sample_raise_task(subject_ref=subject, outcome=outcome)
        task = task.model_copy(update={"idempotency_key": key})
        return TaskRecord(
            task_id=key, status="open", revision=1, created_revision=1, created_at=now, task=task
        )

    tasks = [record("k1", "C1"), record("k1-again", "C1"), record("k2", "C2", "withdrawn")]
    counted = tally(tasks, {"k1", "k3"})
    assert (counted.found, counted.distinct, counted.duplicates) == (3, 2, 1)
    assert counted.missing == {"k3"} and counted.unexpected == {"k1-again"}
    assert counted.withdrawn == {"k2"}


# -- 1. SIGKILL after the task was created, before the offset was committed ---------------------

KILL_AT_CREATED = 5


def test_deliver_killed_after_the_case_system_created_the_task(
    faulty: Stack, proxy: FaultyProxy, inbox: str, tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    run = _start("1 SIGKILL after create", faulty, proxy, inbox, tmp_path, seed=11)
    killed = threading.Event()
    victims: list[str] = []
    created = itertools.count(1)

    def kill_on_create(key: str) -> None:  # on the proxy's thread, before the 201 goes back
        if next(created) == KILL_AT_CREATED:
            faulty.kill_deliver()
            victims.append(key)
            killed.set()

    proxy.on_created = kill_on_create
    run.publish()
    assert killed.wait(60), f"no {KILL_AT_CREATED}th task created: {summary(proxy.posts())}"
    faulty.deliver.wait(timeout=10)
    proxy.on_created = None
    missing_at_kill = run.missing()
    restarted = _restart_deliver(faulty, proxy)

    def evidence() -> str:
        again = len(_redelivered(proxy))
        return (
            f"SIGKILL at the {KILL_AT_CREATED}th 201, {missing_at_kill} tasks not yet raised;"
            f" {again} redelivered commands answered 200"
        )

    run.finish(pytestconfig, restarted, evidence)

    victim = next(e for e in proxy.created() if e.key == victims[0])
    assert proxy.answered_later(victim), "the killed command was not redelivered (200)"
    assert missing_at_kill > 0


# -- 2. SIGTERM mid-stream and restart ----------------------------------------------------------


def test_deliver_stopped_mid_stream_and_restarted(
    faulty: Stack, proxy: FaultyProxy, inbox: str, tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    run = _start("2 SIGTERM and restart", faulty, proxy, inbox, tmp_path, seed=12)
    pace = proxy.slow(0.2, 0.3, seconds=600)  # keeps the stream going while it is stopped
    run.publish()
    wait_for("five tasks created", lambda: len(proxy.created()) >= 5)
    stopping = time.monotonic()
    assert faulty.stop_deliver(timeout=30), "the deliver process ignored SIGTERM for 30 s"
    stop_s = time.monotonic() - stopping
    missing_at_stop = run.missing()
    created_at_stop = len(proxy.created())
    pace.until = time.monotonic()
    before = len(proxy.posts())
    restarted = _restart_deliver(faulty, proxy)

    def evidence() -> str:
        again = len(_redelivered(proxy))
        return (
            f"SIGTERM after {created_at_stop} tasks, stopped in {stop_s:.1f} s, {missing_at_stop}"
            f" not yet raised; {again} redelivered commands answered 200"
        )

    run.finish(pytestconfig, restarted, evidence)

    assert missing_at_stop > 0, "the worker was not stopped mid-stream"
    after = proxy.posts()[before:]
    assert sum(e.upstream_status == 201 for e in after) >= 1, "the restarted worker raised nothing"


# -- 3. a second worker joins mid-stream and later leaves ---------------------------------------


def test_second_deliver_joins_mid_stream_and_leaves(
    faulty: Stack, proxy: FaultyProxy, inbox: str, tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    run = _start("3 rebalance: join, leave", faulty, proxy, inbox, tmp_path, seed=13)
    first = faulty.deliver.pid
    proxy.slow(0.15, 0.25, seconds=600)  # a stream long enough to share
    third = len(run.incidents) // 3
    run.publish(run.incidents[:third])
    wait_for("three tasks created", lambda: len(proxy.created()) >= 3)
    second = faulty.add_deliver()
    proxy.watch_pids = [first, second.process.pid]

    def second_took_part() -> bool:
        return any(e.pid == second.process.pid and e.upstream_status for e in proxy.posts())

    feed = iter(run.incidents[third : 2 * third])
    for incident in feed:  # one at a time, until the rebalance gives the second worker work
        run.publish([incident])
        if second_took_part():
            break
        time.sleep(0.4)
    run.publish(list(feed))
    wait_for("the second worker to deliver", second_took_part, timeout=60)
    run.publish(run.incidents[2 * third :])
    leaving = time.monotonic()
    assert stop_gracefully(second.process), "the second worker ignored SIGTERM"
    left = len(proxy.posts())

    def by_pid() -> dict[int, int]:
        return {
            pid: sum(e.pid == pid and e.upstream_status is not None for e in proxy.posts())
            for pid in (first, second.process.pid)
        }

    def evidence() -> str:
        after = sum(e.pid == first for e in proxy.posts()[left:])
        counts = " / ".join(str(n) for n in by_pid().values())
        return f"POSTs by the first / second worker: {counts}; {after} by the first after the leave"

    run.finish(pytestconfig, leaving, evidence)
    counts = by_pid()
    assert all(counts.values()), f"both workers must have delivered: {counts}"
    assert any(e.pid == first for e in proxy.posts()[left:]), "the first worker did not carry on"
    assert all(e.pid in (first, second.process.pid) for e in proxy.posts()), "unknown caller"


# -- 4. 500/503 for a while, then recovery ------------------------------------------------------

OUTAGE_S = 8.0


def test_case_system_answers_5xx_for_a_while_then_recovers(
    faulty: Stack, proxy: FaultyProxy, inbox: str, tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    run = _start("4 500/503 for 8 s", faulty, proxy, inbox, tmp_path, seed=14)
    outage = proxy.fail((500, 503), seconds=OUTAGE_S)
    run.publish()
    assert outage.until is not None
    time.sleep(max(0.0, outage.until - time.monotonic()))

    def evidence() -> str:
        codes = proxy.statuses()
        return f"{codes[500]} x 500 and {codes[503]} x 503 in {OUTAGE_S:.0f} s, nothing forwarded"

    run.finish(pytestconfig, outage.until, evidence)

    statuses = proxy.statuses()
    assert statuses[500] >= 1 and statuses[503] >= 1, statuses
    first_created = min(e.at for e in proxy.created())
    assert first_created >= outage.until, "a task went through during the outage"


# -- 5. created, but the answer times out ------------------------------------------------------

HELD_KEYS = 3


def test_task_created_but_the_answer_times_out(
    faulty: Stack, proxy: FaultyProxy, inbox: str, tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    run = _start("5 created, answer timed out", faulty, proxy, inbox, tmp_path, seed=15)
    proxy.hold(3 * TIMEOUT_S, keys=HELD_KEYS)
    run.publish()
    wait_for("three answers held", lambda: len(proxy.faulted("hold")) >= HELD_KEYS)
    held = proxy.faulted("hold")

    def evidence() -> str:
        waited = max(e.done_at - e.at for e in held)
        again = sum(proxy.answered_later(e) for e in held)
        return (
            f"{len(held)} POSTs created (201) and held; the client gave up within {waited:.1f} s;"
            f" {again} retries answered 200"
        )

    run.finish(pytestconfig, _last_end(held), evidence)

    for exchange in held:
        assert exchange.upstream_status == 201, "the inbox did not create the task"
        assert exchange.client_gone, "the client did not give up (time out)"
        assert exchange.done_at - exchange.at < 3 * TIMEOUT_S, "the client waited past its timeout"
        assert proxy.answered_later(exchange), f"no retry of {exchange.key} got 200"


# -- 6. connection reset mid-response ----------------------------------------------------------

RESET_KEYS = 3


def test_connection_reset_mid_response(
    faulty: Stack, proxy: FaultyProxy, inbox: str, tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    run = _start("6 reset mid-response", faulty, proxy, inbox, tmp_path, seed=16)
    proxy.reset(keys=RESET_KEYS)
    run.publish()

    def finished() -> list[Exchange]:
        return [e for e in proxy.faulted("reset") if e.done_at]

    wait_for("three connections reset", lambda: len(finished()) >= RESET_KEYS)
    reset = finished()

    def evidence() -> str:
        made = sum(e.upstream_status == 201 for e in reset)
        again = sum(proxy.answered_later(e) for e in reset)
        return (
            f"{len(reset)} POSTs reset after 2/3 of the answer, {made} of them created (201);"
            f" {again} retries answered 200"
        )

    run.finish(pytestconfig, _last_end(reset), evidence)

    # On a loaded machine the client may give up (1 s) before the inbox answers the reset
    # request, and its retry create the task first: that request then answers 200. Every
    # request the inbox answered 201 for must have a retry answered 200.
    created = [e for e in reset if e.upstream_status == 201]
    assert created, "no reset request created its task"
    for exchange in reset:
        assert exchange.status is None and exchange.upstream_status in (200, 201)
    for exchange in created:
        assert proxy.answered_later(exchange), f"no retry of {exchange.key} got 200"


# -- 7. slow answers, close to the client timeout ----------------------------------------------

SLOW_S = 12.0


def test_case_system_answers_close_to_the_timeout(
    faulty: Stack, proxy: FaultyProxy, inbox: str, tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    run = _start("7 slow, near timeout", faulty, proxy, inbox, tmp_path, seed=17)
    slow = proxy.slow(0.7 * TIMEOUT_S, 0.95 * TIMEOUT_S, seconds=SLOW_S)
    run.publish()
    assert slow.until is not None
    time.sleep(max(0.0, slow.until - time.monotonic()))
    slowed = proxy.faulted("slow")
    answered = [e for e in slowed if e.status is not None]
    timed_out = [e for e in slowed if e.client_gone]

    def evidence() -> str:
        return (
            f"{len(slowed)} answers delayed 0.70-0.95 s (timeout {TIMEOUT_S:.0f} s),"
            f" {len(timed_out)} timed out anyway and were retried"
        )

    run.finish(pytestconfig, _last_end(slowed), evidence)

    assert len(answered) >= 5, f"only {len(answered)} slow answers were taken"
    assert all(e.done_at - e.at >= 0.7 * TIMEOUT_S for e in answered)
    for exchange in timed_out:  # an answer that came too late was retried, and taken
        assert any(
            e.key == exchange.key and e.at > exchange.at and e.status in (200, 201)
            for e in proxy.posts()
        ), f"no retry of {exchange.key} was answered"
