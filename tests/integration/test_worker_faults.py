"""Exactly one task when the duty inbox's disk fills, the worker's clock steps, or poison
arrives on the register feed (issue 16, faults 5 to 7).

Each test runs a worker (decide and deliver processes) on the session's broker, publishes a
simulated scenario, plants its fault in the running stack, and asserts: no expected task is
missing, none is duplicated, nothing is stuck (every expected task arrives within a couple of
minutes, nothing is parked unless the test parks it on purpose), and the fault really
happened. The expected tasks come from the offline replay of the same files. Each test's
figures go to the faults table of the terminal summary; seconds to recover run from the end
of the fault to the moment the last expected task is in the inbox.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors.kafka.dead_letters import replay_parked
from connectors.simulate import simulate
from schemas.decision import Decision
from schemas.receipt import Receipt
from streams.config.topics import H_REASON, H_REASON_CLASS
from tests.conftest import record_fault
from tests.support.duty_inbox import serve_duty_inbox
from tests.support.faulty_proxy import (
    FaultyProxy,
    fault_row,
    read_tasks,
    serve_faulty_proxy,
    summary,
    tally,
)
from tests.support.stack import Stack, metric_value, running_stack, wait_for
from tests.support.worker_faults import (
    InjectedFull,
    SmallDisk,
    SteppedClock,
    clock_offset,
    expected_by_incident,
    small_disk,
)

pytestmark = pytest.mark.integration

#: Short backoffs and breaker reset, so a test recovers in seconds (as the delivery faults').
FAULT_ENV = {
    "DVTRIGGER_CASE_SYSTEM_TIMEOUT_S": "1.0",
    "DVTRIGGER_TASK_RETRY_DEADLINE_S": "120",
    "DVTRIGGER_TASK_FIRST_BACKOFF_S": "0.2",
    "DVTRIGGER_TASK_MAX_BACKOFF_S": "2",
    "DVTRIGGER_BREAKER_RESET_S": "2",
}
#: How long the proxy must be quiet before the inbox is counted: late retries have landed.
QUIET_S = 3.0
RECOVERY_TIMEOUT_S = 120.0


@dataclass
class Run:
    """One fault test: its stack, the incidents, the tasks they must raise, what was sent."""

    name: str
    stack: Stack
    inbox: str
    incidents: list[dict[str, Any]]
    by_incident: dict[str, set[str]]
    subjects: int
    sent: int = 0
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def expected(self) -> set[str]:
        return set().union(*self.by_incident.values())

    def publish(self, incidents: list[dict[str, Any]]) -> None:
        self.sent += self.stack.publish("incidents", incidents)

    def raised(self, incidents: list[dict[str, Any]]) -> bool:
        """Are the tasks of these incidents all in the inbox?"""
        wanted = set().union(*(self.by_incident[i["incident_id"]] for i in incidents))
        return not tally(read_tasks(self.inbox), wanted).missing

    def await_all(self, proxy: FaultyProxy | None = None) -> float:
        """Wait until every expected task is in the inbox; when that was (monotonic)."""
        seen = f"; proxy saw {summary(proxy.posts())}" if proxy else ""
        wait_for(
            f"all {len(self.expected)} expected tasks ({self.name}{seen})",
            lambda: not tally(read_tasks(self.inbox), self.expected).missing,
            timeout=RECOVERY_TIMEOUT_S,
        )
        return time.monotonic()

    def finish(
        self,
        config: pytest.Config,
        fault_ended: float,
        evidence: str,
        proxy: FaultyProxy | None = None,
        parked_ok: bool = False,
    ) -> None:
        """Wait for every task and for quiet, record the figures, assert exactly once."""
        recovered = self.await_all(proxy)
        if proxy is not None:
            wait_for("the proxy to be quiet", lambda: proxy.idle_for() >= QUIET_S, timeout=60)
        else:
            time.sleep(QUIET_S)
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
            evidence,
        )
        record_fault(config, row)
        detail = {**row, **self.notes, "parked": parked, "withdrawn": sorted(counted.withdrawn)}
        assert not counted.missing, (sorted(counted.missing), detail)
        assert counted.duplicates == 0, detail
        assert not counted.unexpected, (sorted(counted.unexpected), detail)
        assert counted.distinct == len(self.expected) + len(counted.withdrawn), detail
        if not parked_ok:
            assert parked == 0, ("tasks were parked", detail)
        for worker in self.stack.workers:
            assert worker.poll() is None, f"a worker exited ({worker.returncode}): {detail}"


def _start(name: str, stack: Stack, inbox: str, tmp_path: Path, seed: int) -> Run:
    """A scenario whose register is loaded into the worker, and the tasks it must raise."""
    scenario = simulate(seed, 24, 48)
    by_incident = expected_by_incident(scenario, tmp_path)
    run = Run(name, stack, inbox, list(scenario.incidents), by_incident, _subjects(scenario))
    assert len(run.expected) >= 15, f"seed {seed} raises only {len(run.expected)} tasks"
    run.sent += stack.publish("register", scenario.register)
    wait_for(f"{run.subjects} register subjects", lambda: stack.register_size() == run.subjects)
    return run


def _subjects(scenario: Any) -> int:
    return len({event["subject"]["subject_ref"] for event in scenario.register})


def _thirds(items: list[Any]) -> list[list[Any]]:
    third = len(items) // 3
    return [items[:third], items[third : 2 * third], items[2 * third :]]


def _total(stack: Stack, name: str) -> float:
    """The sum of a metric over all its labels, in both processes' /metrics."""
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in stack.metrics_text().splitlines()
        if line.startswith((f"{name} ", f"{name}{{"))
    )


def _receipted_tasks(stack: Stack) -> set[str]:
    """The task ids every `task_raised` receipt names: what the force was told is raised."""
    receipts = [Receipt.model_validate_json(r.value) for r in stack.read_topic("receipts")]
    return {r.task_ref for r in receipts if r.stage == "task_raised" and r.task_ref}


# -- 5. the duty inbox's disk fills up, then is freed --------------------------------------------

DISK_FAULT_S = 8.0


@pytest.fixture
def disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SmallDisk | InjectedFull]:
    """The inbox's disk: a small tmpfs when this process may mount, else an injected error."""
    with small_disk(tmp_path / "disk", monkeypatch) as mounted:
        yield mounted


@pytest.fixture
def disk_inbox(disk: SmallDisk | InjectedFull) -> Iterator[str]:
    """A real duty inbox whose database is on `disk`."""
    with serve_duty_inbox(disk.path / "inbox.sqlite3") as url:
        yield url


@pytest.fixture
def watcher(disk_inbox: str) -> Iterator[FaultyProxy]:
    """A proxy in front of the inbox that plants nothing: it records what the inbox answered."""
    with serve_faulty_proxy(disk_inbox) as running:
        yield running


def _held_open(db_path: Path) -> sqlite3.Connection:
    """A reader holding the database open, as a busy inbox's requests do: its WAL index stays,
    so the inbox still signs its client in during the fault and only writes fail."""
    reader = sqlite3.connect(db_path)
    reader.execute("SELECT count(*) FROM tasks").fetchone()
    return reader


def _answers_between(proxy: FaultyProxy, start: float, end: float) -> Counter[int | None]:
    """What the inbox answered the POSTs sent between `start` and `end` (monotonic)."""
    return Counter(e.upstream_status for e in proxy.posts() if start < e.at < end)


def test_inbox_disk_full_for_a_while_then_back(
    broker: str,
    disk: SmallDisk | InjectedFull,
    disk_inbox: str,
    watcher: FaultyProxy,
    tmp_path: Path,
    pytestconfig: pytest.Config,
) -> None:
    with (
        running_stack(broker, watcher.url, tmp_path, **FAULT_ENV) as stack,
        closing(_held_open(disk.path / "inbox.sqlite3")),
    ):
        run = _start("16.5 inbox disk full 8 s", stack, disk_inbox, tmp_path, seed=51)
        third = len(run.incidents) // 3
        before, during = run.incidents[:third], run.incidents[third:]
        run.publish(before)
        wait_for("the first tasks", lambda: run.raised(before))
        stored_before = len(read_tasks(disk_inbox))
        filler = disk.fill()
        full_at = time.monotonic()
        run.publish(during)
        wait_for("the inbox to refuse a task", lambda: watcher.statuses()[503] >= 3)
        wait_for("a retry queued", lambda: _total(stack, "dvtrigger_tasks_retry_queued_total") > 0)
        time.sleep(max(0.0, full_at + DISK_FAULT_S - time.monotonic()))
        stored_during = len(read_tasks(disk_inbox))
        answered = _answers_between(watcher, full_at + 0.05, time.monotonic())
        disk.free()
        freed_at = time.monotonic()
        retried = _total(stack, "dvtrigger_tasks_retry_queued_total")
        evidence = (
            f"{disk.kind}{f' ({filler // 1024} KiB filler)' if filler else ''}"
            f" for {DISK_FAULT_S:.0f} s: inbox answered"
            f" {answered[503]} x 503, {answered[201] + answered[200]} x 2xx; {retried:.0f}"
            " retries queued"
        )
        run.notes = {"answered during the fault": dict(answered), "stored": stored_during}
        run.finish(pytestconfig, freed_at, evidence, proxy=watcher)

        assert answered[503] >= 3, f"the fault did not happen: {answered}"
        assert set(answered) <= {503}, f"a POST was not refused while the disk was full: {answered}"
        assert stored_during == stored_before, "a task was stored while the disk was full"
        assert retried > 0
        stored = {t.task_id for t in read_tasks(disk_inbox)}
        receipted = _receipted_tasks(stack)
        assert receipted <= stored, f"receipts for tasks not stored: {sorted(receipted - stored)}"
        assert receipted == stored, "a stored task has no task_raised receipt"


PARK_DEADLINE_S = 4.0


def test_inbox_disk_full_past_the_retry_deadline_parks_then_replays(
    broker: str,
    disk: SmallDisk | InjectedFull,
    disk_inbox: str,
    watcher: FaultyProxy,
    tmp_path: Path,
    pytestconfig: pytest.Config,
) -> None:
    deadline = {"DVTRIGGER_TASK_RETRY_DEADLINE_S": str(PARK_DEADLINE_S)}
    with (
        running_stack(broker, watcher.url, tmp_path, **{**FAULT_ENV, **deadline}) as stack,
        closing(_held_open(disk.path / "inbox.sqlite3")),
    ):
        run = _start("16.5 inbox disk full, parked", stack, disk_inbox, tmp_path, seed=52)
        disk.fill()
        run.publish(run.incidents)

        def parked() -> int:
            return len(stack.read_topic("tasks-parked"))

        wait_for(
            "every task parked: nothing left retrying",
            lambda: parked() > 0 and watcher.idle_for() >= 3.0,
            timeout=90,
        )
        answered = Counter(e.upstream_status for e in watcher.posts())
        parked_then, commands = parked(), len(stack.read_topic("task-commands"))
        missing_then = len(tally(read_tasks(disk_inbox), run.expected).missing)
        disk.free()
        freed_at = time.monotonic()
        replayed = replay_parked(stack.settings, broker)
        evidence = (
            f"{disk.kind}, deadline {PARK_DEADLINE_S:.0f} s: {answered[503]} x 503,"
            f" {parked_then} tasks parked, all replayed after the disk was back"
        )
        run.notes = {"answered during the fault": dict(answered), "replayed": replayed}
        run.finish(pytestconfig, freed_at, evidence, proxy=watcher, parked_ok=True)

        assert set(answered) <= {503} and answered[503] > 0, answered
        assert replayed == parked_then == commands, "not every command was parked"
        assert missing_then == len(run.expected), "a task was stored while the disk was full"
        assert stack.metric("dvtrigger_tasks_parked_total", reason="deadline") == parked_then
        stored = {t.task_id for t in read_tasks(disk_inbox)}
        assert _receipted_tasks(stack) == stored


# -- 7. poison register events in the middle of a stream ---------------------------------------

NEVER_SEEN = "S-NEVER-REGISTERED-1"


def _unknown_subject(template: dict[str, Any], type_: str, n: int) -> dict[str, Any]:
    """A valid register event (by the contract) changing a subject the register never held."""
    subject = {"subject_ref": f"{NEVER_SEEN[:-1]}{n}", "kind": "child"}
    event = {**template, "event_id": str(uuid.uuid4()), "type": type_}
    event = {k: v for k, v in event.items() if k not in ("carers", "outcome")}
    return {**event, "subject": subject, "effective_date": "2026-03-01"}


def _schema_broken(template: dict[str, Any]) -> bytes:
    """JSON that breaks the register feed's schema: an event type and a kind it does not have."""
    broken = {**template, "type": "subject_teleported"}
    broken["subject"] = {**template["subject"], "kind": "teenager"}
    return json.dumps(broken).encode()


def test_poison_and_unknown_subject_register_events_mid_stream(
    stack: Stack, inbox: str, tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    scenario = simulate(71, 24, 48)
    by_incident = expected_by_incident(scenario, tmp_path)
    register = list(scenario.register)
    run = Run(
        "16.7 poison register events",
        stack,
        inbox,
        list(scenario.incidents),
        by_incident,
        _subjects(scenario),
    )
    template = register[0]
    not_json = b'{"schema": "register-event/1", "type": "subject_moved", "subject": {'
    half = len(register) // 2
    bad: list[tuple[bytes, str]] = []

    def poison(value: bytes, reason_class: str, key: bytes) -> None:
        stack.produce_raw("register-events", value, key=key)
        bad.append((value, reason_class))
        run.sent += 1

    def unknown(type_: str, n: int) -> None:
        event = _unknown_subject(template, type_, n)
        run.sent += stack.publish("register", [event])  # valid: the publisher's check passes
        bad.append((json.dumps(event).encode(), "unknown_subject"))

    run.sent += stack.publish("register", register[:half])
    poison(not_json, "not_json", b"x")
    poison(_schema_broken(template), "schema", template["subject"]["subject_ref"].encode())
    unknown("subject_moved", 1)
    run.sent += stack.publish("register", register[half:])
    wait_for(f"{run.subjects} subjects", lambda: stack.register_size() == run.subjects)
    first, second, third = _thirds(run.incidents)
    run.publish(first)
    unknown("subject_withdrawn", 2)
    poison(b"\xff\xfe not even text", "not_json", b"y")
    last_bad = time.monotonic()
    run.publish(second)
    run.publish(third)

    def letters() -> list[Any]:
        return stack.read_topic("dead-letter")

    wait_for("every bad register event dead-lettered", lambda: len(letters()) >= len(bad))
    dead = letters()
    reasons = Counter(dict(r.headers)[H_REASON_CLASS].decode() for r in dead)
    rejected = {
        reason: metric_value(
            stack.metrics_text(), "dvtrigger_register_events_rejected_total", reason=reason
        )
        for reason in reasons
    }
    evidence = f"{len(bad)} bad events among {len(register)} good: dead-lettered " + ", ".join(
        f"{n} {reason}" for reason, n in sorted(reasons.items())
    )
    run.notes = {"dead letters": dict(reasons), "rejected metric": rejected}
    run.finish(pytestconfig, last_bad, evidence)

    assert reasons == Counter(reason for _, reason in bad), reasons
    assert len(dead) == len(bad), "something else was dead-lettered"
    assert rejected == {reason: float(n) for reason, n in reasons.items()}
    unknown_letters = [r for r in dead if dict(r.headers)[H_REASON_CLASS] == b"unknown_subject"]
    for record in unknown_letters:
        reason = dict(record.headers)[H_REASON].decode()
        assert reason.endswith("of a subject the register does not hold"), reason
        assert NEVER_SEEN[:-1] not in reason  # the reason names no subject
    assert stack.register_size() == run.subjects, "an unknown subject was added to the register"
    assert _total(stack, "dvtrigger_register_events_applied_total") >= run.subjects


# -- 6. the worker's wall clock stepped an hour forwards, then back ------------------------------

STEP_S = 3600
CLOCK_OUTAGE_S = 10.0


@pytest.fixture
def clock(tmp_path: Path) -> SteppedClock:
    if not SteppedClock.available():
        pytest.skip("libfaketime is not installed (Debian package faketime)")
    return SteppedClock(tmp_path / "faketime.rc")


@pytest.fixture
def proxy(inbox: str) -> Iterator[FaultyProxy]:
    """A faulty proxy in front of the test's duty inbox."""
    with serve_faulty_proxy(inbox) as running:
        yield running


def _negative_samples(stack: Stack) -> list[str]:
    """dvtrigger samples below zero: none may be (counts, histograms, ages, lags)."""
    return [
        line
        for line in stack.metrics_text().splitlines()
        if line.startswith("dvtrigger_") and float(line.rsplit(" ", 1)[1]) < 0
    ]


def _decided_at(stack: Stack) -> dict[tuple[str, int], list[datetime]]:
    """When each incident revision was decided, by the decision log (each time it was)."""
    decided: dict[tuple[str, int], list[datetime]] = {}
    for record in stack.read_topic("decisions"):
        decision = Decision.model_validate_json(record.value)
        at = datetime.fromisoformat(str((decision.model_extra or {})["decided_at"]))
        decided.setdefault((decision.incident_id, decision.revision), []).append(at)
    return decided


def test_worker_clock_stepped_an_hour_forwards_then_back(
    broker: str,
    proxy: FaultyProxy,
    inbox: str,
    clock: SteppedClock,
    tmp_path: Path,
    pytestconfig: pytest.Config,
) -> None:
    with running_stack(broker, proxy.url, tmp_path, **FAULT_ENV, **clock.env()) as stack:

        def offsets() -> list[float]:
            return [clock_offset(url) for url in stack.web_urls]

        def clocks_at(offset: int) -> bool:
            return all(abs(seen - offset) < 5 for seen in offsets())

        assert clocks_at(0), offsets()
        run = _start("16.6 worker clock +1 h, then -1 h", stack, inbox, tmp_path, seed=61)
        quarter = len(run.incidents) // 4
        phases = [run.incidents[i * quarter : (i + 1) * quarter] for i in range(3)]
        phases.append(run.incidents[3 * quarter :])
        published: dict[str, tuple[int, float]] = {}  # incident: (phase, real time published)

        def publish(phase: int) -> None:
            published.update({i["incident_id"]: (phase, time.time()) for i in phases[phase]})
            run.publish(phases[phase])

        publish(0)
        wait_for("the tasks before the steps", lambda: run.raised(phases[0]))
        clock.step(+STEP_S)
        wait_for("the workers' clocks an hour ahead", lambda: clocks_at(STEP_S))
        publish(1)
        wait_for("the tasks after the step forward", lambda: run.raised(phases[1]), timeout=90)
        # The inbox fails for a while: commands wait on the retry topic, due an hour ahead of
        # the real time, and the circuit opens; then the clock is stepped back an hour.
        outage = proxy.fail((503,), seconds=CLOCK_OUTAGE_S)
        publish(2)
        wait_for(
            "retries queued an hour ahead",
            lambda: _total(stack, "dvtrigger_tasks_retry_queued_total") > 0,
        )
        # Every incident of phase 2 decided an hour ahead before the step back (on a busy
        # machine the first retry can be queued while the last of them is still waiting).
        third = {i["incident_id"] for i in phases[2]}
        wait_for(
            "phase 2 decided before the step back",
            lambda: third <= {incident for incident, _ in _decided_at(stack)},
        )
        clock.step(-STEP_S)
        wait_for("the workers' clocks back", lambda: clocks_at(0))
        publish(3)
        assert outage.until is not None
        retried = _total(stack, "dvtrigger_tasks_retry_queued_total")
        opened = _total(stack, "dvtrigger_case_system_circuit_state")
        time.sleep(max(0.0, outage.until - time.monotonic()))
        evidence = (
            f"workers' wall clock +{STEP_S // 3600} h, then back during a"
            f" {CLOCK_OUTAGE_S:.0f} s outage ({proxy.statuses()[503]} x 503, {retried:.0f}"
            " retries queued, due an hour ahead)"
        )
        run.notes = {"circuit state at the step back": opened}
        run.finish(pytestconfig, outage.until, evidence, proxy=proxy)

        assert proxy.statuses()[503] >= 1 and retried > 0
        decided = _decided_at(stack)
        doubled = {key: times for key, times in decided.items() if len(times) > 1}
        assert not doubled, f"incident revisions decided more than once: {doubled}"
        for incident, (phase, sent_at) in published.items():
            (at,) = next(times for (i, _), times in decided.items() if i == incident)
            ahead = at.timestamp() - sent_at
            want = STEP_S if phase in (1, 2) else 0  # phase 2 is decided before the step back
            assert want - 5 <= ahead <= want + 60, (incident, phase, ahead)
        for task in read_tasks(inbox):
            due_in = task.task.due_by - task.created_at
            assert timedelta(0) < due_in <= timedelta(days=7, hours=1), (task.task_id, due_in)
        assert not _negative_samples(stack), _negative_samples(stack)
