"""No decision or task lost or doubled when the broker fails (issue 16).

One broker for the module, with its log in S3 (moto on loopback, `tests/support/s3_store.py`),
so it can be SIGKILLed and started again with every acknowledged record kept; and a TCP proxy
in front of it (`tests/support/kafka_proxy.py`) that the broker advertises, so every client,
the workers' and the test's, reaches it only through the proxy, which can cut them off.

Each test runs a worker (decide and deliver processes) against a real duty inbox, publishes
simulated notifications (and register events) in chunks from a thread while it plants one
fault, then waits until every expected decision is on the decision log and every expected
task in the inbox, and asserts: nothing lost, no task doubled, nothing stuck (no committed
consumer lag left, nothing parked), and the fault really happened. Expected decisions and
tasks come from the offline replay of the same files. The decision log may hold a decision
twice after a broker kill (the record written, its acknowledgement lost, written again);
those byte-identical duplicates are reported, not failed on. Seconds to recover run from the
end of the fault (the broker back, the proxy healed, the worker started again) to the moment
the last expected task is in the inbox and the last expected decision on the log.
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from connectors.cli.replay import replay
from connectors.kafka.broker import EmbeddedBroker, free_port
from connectors.kafka.publish import producer, publish_dicts
from connectors.simulate import simulate
from connectors.simulate.scenario import dumps
from schemas.decision import Decision
from streams.bootstrap import DELIVER_SUFFIX
from streams.domain.tasks import idempotency_key, subject_key
from tests.conftest import record_fault
from tests.integration.test_delivery_faults import FAULT_ENV
from tests.support.faulty_proxy import read_tasks, tally
from tests.support.kafka_proxy import KafkaProxy, serve_kafka_proxy
from tests.support.s3_store import serve_s3
from tests.support.stack import Stack, running_stack, wait_for

pytestmark = pytest.mark.integration

RECOVERY_TIMEOUT_S = 180.0
#: Chunks the notifications are published in, and the pause between two.
CHUNKS = 10
PAUSE_S = 1.0
#: How long decisions that differ from the replay's may take to be put right (re-decided).
SETTLE_S = 20.0


@dataclass
class FaultyBroker:
    """The module's broker, its S3-kept log and the proxy every client goes through."""

    broker: EmbeddedBroker
    proxy: KafkaProxy

    @property
    def bootstrap(self) -> str:
        return self.broker.bootstrap


@pytest.fixture(scope="module")
def faulty_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultyBroker]:
    """A broker of this module's own: these tests kill it, the session's must live on."""
    log = tmp_path_factory.mktemp("broker") / "tansu.log"
    port, advertised = free_port(), free_port()
    with (
        serve_s3() as store,
        serve_kafka_proxy(port, advertised) as proxy,
        EmbeddedBroker(
            port, log, advertised_port=advertised, storage=store.storage_url, env=store.env
        ) as broker,
    ):
        yield FaultyBroker(broker, proxy)


@pytest.fixture
def kafka(faulty_broker: FaultyBroker) -> Iterator[FaultyBroker]:
    """The broker running and the proxy passing everything, whatever the last test left."""
    faulty_broker.proxy.heal()
    if faulty_broker.broker.pid is None:
        faulty_broker.broker.restart()
    faulty_broker.proxy.forget()
    yield faulty_broker
    faulty_broker.proxy.heal()


# -- what is expected, and what is found -------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    """What the offline replay decides: each incident's latest revision and its tasks."""

    decisions: dict[str, Decision]  # incident id -> the decision on its latest revision
    tasks: set[str]  # idempotency keys

    @property
    def revisions(self) -> set[tuple[str, int]]:
        return {(d.incident_id, d.revision) for d in self.decisions.values()}


#: Lines a worker may write over a broker outage: its start and end, and a stray few (before
#: the outage was reported: thousands, 100 a second).
MOST_ERRORS = 5
MOST_WARNINGS = 20


def expected(register: list[dict[str, Any]], incidents: list[dict[str, Any]], at: Path) -> Expected:
    """Replay the register (all of it, in publishing order) and the incidents offline."""
    at.mkdir(parents=True, exist_ok=True)
    (at / "register.jsonl").write_text("".join(dumps(e) + "\n" for e in register))
    (at / "incidents.jsonl").write_text("".join(dumps(m) + "\n" for m in incidents))
    replay(at / "register.jsonl", at / "incidents.jsonl", at / "replay.jsonl")
    latest: dict[str, Decision] = {}
    for line in (at / "replay.jsonl").read_text().splitlines():
        decision = Decision.model_validate_json(line)
        latest[decision.incident_id] = decision
    tasks = {
        idempotency_key(d.incident_id, subject_key(s))
        for d in latest.values()
        for s in d.subjects
        if s.outcome
    }
    return Expected(latest, tasks)


@dataclass
class DecisionLog:
    """The decision log as read: distinct (incident, revision), duplicates, the last of each."""

    records: int
    last: dict[tuple[str, int], Decision]
    identical_duplicates: int  # records byte for byte like one before them
    redecided: int  # records for an (incident, revision) seen before, with other content


def read_decisions(stack: Stack) -> DecisionLog:
    raw = [r.value for r in read_all(stack.bootstrap, stack.settings.topic("decisions"))]
    seen: set[bytes] = set()
    pairs: Counter[tuple[str, int]] = Counter()
    last: dict[tuple[str, int], Decision] = {}
    identical = 0
    for value in raw:
        decision = Decision.model_validate_json(value)
        pair = (decision.incident_id, decision.revision)
        pairs[pair] += 1
        last[pair] = decision
        if value in seen:
            identical += 1
        seen.add(value)
    redecided = sum(n - 1 for n in pairs.values()) - identical
    return DecisionLog(len(raw), last, identical, redecided)


def _outcomes(decision: Decision) -> tuple[str, list[tuple[str, str]]]:
    """What a decision comes to: its value and each subject's outcome."""
    subjects = sorted((subject_key(s), str(s.outcome)) for s in decision.subjects)
    return str(decision.decision), subjects


def read_all(bootstrap: str, topic: str) -> list[Any]:
    """Every record on `topic`, read until the broker has no more to give.

    Not up to the end offsets the broker reports: Tansu's ListOffsets answer lags its log
    (in memory, by the last batch; with S3 storage, by thousands of records), so a read up
    to them stops short.
    """
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        records: list[Any] = []
        empty = 0
        while empty < 2:
            batches = consumer.poll(timeout_ms=500)
            empty = 0 if batches else empty + 1
            for batch in batches.values():
                records.extend(batch)
        return records
    finally:
        consumer.close()


def group_lag(bootstrap: str, group: str) -> dict[str, int]:
    """Records after the group's committed offsets, by topic (the topics it has committed on)."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    try:
        committed = admin.list_group_offsets({group: None})[group]
    finally:
        admin.close()
    lag: Counter[str] = Counter()
    for topic in {tp.topic for tp in committed}:
        ends: dict[int, int] = {}
        for record in read_all(bootstrap, topic):
            ends[record.partition] = max(ends.get(record.partition, 0), record.offset + 1)
        for tp, meta in committed.items():
            if tp.topic == topic:
                lag[topic] += max(0, ends.get(tp.partition, 0) - meta.offset)
    return dict(lag)


# -- one run: publish in chunks while a fault is planted ---------------------------------------


@dataclass
class Run:
    """One fault test: the scenario, what it must come to, and what has been published."""

    name: str
    stack: Stack
    inbox: str
    incidents: list[dict[str, Any]]
    #: Register events published in chunks with the incidents (the rest before them).
    late_register: list[dict[str, Any]]
    expected: Expected
    subjects: int  # in the register once every event is read
    sent: int = 0
    register_sent: int = 0
    chunks_done: int = 0
    errors: list[BaseException] = field(default_factory=list)
    thread: threading.Thread | None = None
    seen: str = ""  # the fault, as the test saw it

    def publish_in_chunks(self, chunks: int = CHUNKS, pause_s: float = PAUSE_S) -> None:
        """Start publishing the incidents (and late register events) in `chunks`, from a thread.

        One producer (acks=all, retrying) for the whole run, as a police feed would hold one:
        a chunk published while the broker is away waits, and goes when it is back. Not
        idempotent: Tansu with its log in S3 loses records it acknowledged to an idempotent
        producer when it is SIGKILLed mid-produce (`tests.bench.broker_kill` shows it), which
        would fail these tests for the broker's loss. A retried send written twice instead is a
        duplicate notification, which the worker must drop (and these tests count).
        """

        def chunked(items: list[dict[str, Any]], i: int) -> list[dict[str, Any]]:
            size = -(-len(items) // chunks)
            return items[i * size : (i + 1) * size]

        def run() -> None:
            options = {"reconnect_backoff_max_ms": 1000}
            kafka = producer(self.stack.bootstrap, options, idempotent=False)
            settings = self.stack.settings
            try:
                for i in range(chunks):
                    for feed, role, items in (
                        ("register", "register-events", chunked(self.late_register, i)),
                        ("incidents", "police-incidents", chunked(self.incidents, i)),
                    ):
                        report = publish_dicts(feed, items, settings.topic(role), kafka)  # type: ignore[arg-type]
                        assert not report.rejected, report.rejected
                        if feed == "incidents":
                            self.sent += report.produced
                        else:
                            self.register_sent += report.produced
                    self.chunks_done += 1
                    time.sleep(pause_s)
            except BaseException as exc:  # reported by `join`
                self.errors.append(exc)
            finally:
                kafka.close()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def publishing(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def join(self) -> None:
        """Wait until every chunk is published."""
        assert self.thread is not None
        self.thread.join(timeout=RECOVERY_TIMEOUT_S)
        assert not self.thread.is_alive(), "publishing did not finish"
        assert not self.errors, self.errors

    def missing_tasks(self) -> int:
        return len(tally(read_tasks(self.inbox), self.expected.tasks).missing)

    def missing_decisions(self) -> int:
        return len(self.expected.revisions - set(read_decisions(self.stack).last))

    def await_all(self) -> float:
        """Wait until every expected task and decision is there; when that was (monotonic)."""
        self.join()
        try:
            wait_for(
                f"all {len(self.expected.decisions)} expected decisions ({self.name})",
                lambda: self.missing_decisions() == 0,
                timeout=RECOVERY_TIMEOUT_S,
            )
            wait_for(  # a decision on a partial register is not put right by waiting longer
                "every decision to be the replay's",
                lambda: not self.decided_otherwise(read_decisions(self.stack)),
                timeout=SETTLE_S,
            )
            wait_for(
                f"all {len(self.expected.tasks)} expected tasks ({self.name})",
                lambda: self.missing_tasks() == 0,
                timeout=RECOVERY_TIMEOUT_S,
            )
        except AssertionError as timed_out:
            raise AssertionError(f"{timed_out}: {self.progress()}") from None
        return time.monotonic()

    def decided_otherwise(self, log: DecisionLog) -> list[str]:
        """Incidents whose last decision on their latest revision is not the replay's."""
        return sorted(
            d.incident_id
            for d in self.expected.decisions.values()
            if (d.incident_id, d.revision) in log.last
            and _outcomes(log.last[d.incident_id, d.revision]) != _outcomes(d)
        )

    def progress(self) -> dict[str, Any]:
        """Where the run is stuck: what is missing, the consumer lag, the workers alive.

        The decision log goes to decisions.jsonl beside the workers' logs, to be read after.
        """
        raw = [r.value for r in self.topic("decisions")]
        (self.stack.data_dir / "decisions.jsonl").write_bytes(b"\n".join(raw))
        return {
            "fault": self.seen,
            "tasks missing": self.missing_tasks(),
            "decisions missing": self.missing_decisions(),
            "decided otherwise than the replay": len(
                self.decided_otherwise(read_decisions(self.stack))
            ),
            "task commands": len(self.topic("task-commands")),
            "lag": self.lag(),
            "register": _register_size(self.stack),
            "workers alive": [w.poll() is None for w in self.stack.workers],
        }

    def topic(self, role: str) -> list[Any]:
        """Every record on one of the stack's topics."""
        return read_all(self.stack.bootstrap, self.stack.settings.topic(role))

    def lag(self) -> dict[str, int]:
        """Committed consumer lag of both processes' groups, by topic (none: not stuck)."""
        app = self.stack.settings.app_id
        lags = {**group_lag(self.stack.bootstrap, app)}
        for topic, n in group_lag(self.stack.bootstrap, app + DELIVER_SUFFIX).items():
            lags[topic] = lags.get(topic, 0) + n
        return {topic: n for topic, n in lags.items() if n}

    def finish(
        self, config: pytest.Config, fault_ended: float, seen: str, **extra: Any
    ) -> dict[str, Any]:
        """Wait for everything, count, record the figures, assert nothing lost, doubled, stuck."""
        self.seen = seen
        recovered = self.await_all()
        wait_for("no consumer lag left", lambda: not self.lag(), timeout=60)
        wait_for("every register event read", lambda: _register_size(self.stack) == self.subjects)
        tasks = tally(read_tasks(self.inbox), self.expected.tasks)
        log = read_decisions(self.stack)
        lost = self.expected.revisions - set(log.last)
        wrong = self.decided_otherwise(log)
        parked = len(self.topic("tasks-parked"))
        incidents_on_topic = len(self.topic("police-incidents"))
        row = {
            "fault": self.name,
            "messages sent": self.sent,
            "task commands": len(self.topic("task-commands")),
            "tasks expected": len(self.expected.tasks),
            "tasks found": tasks.found,
            "duplicates": tasks.duplicates,
            "missing": len(tasks.missing) + len(lost),
            "recover s": f"{max(0.0, recovered - fault_ended):.1f}",
            "the fault, as the proxy saw it": (
                f"{seen}; decisions: {len(self.expected.decisions)} expected, {len(lost)} lost,"
                f" {log.identical_duplicates} identical duplicate records"
            ),
        }
        record_fault(config, row)
        detail = {
            **row,
            **extra,
            "decision records": log.records,
            "re-decided": log.redecided,
            "decided otherwise than the replay": wrong[:10],
            "incident records on the topic": incidents_on_topic,
            "register events sent late": self.register_sent,
            "parked": parked,
        }
        assert not lost, (sorted(lost)[:10], detail)
        assert not tasks.missing, (sorted(tasks.missing)[:10], detail)
        assert tasks.duplicates == 0, detail
        assert not tasks.unexpected, (sorted(tasks.unexpected)[:10], detail)
        assert not wrong, ("decisions differ from the replay's", detail)
        assert parked == 0, ("tasks parked", detail)
        assert incidents_on_topic >= self.sent, detail
        return detail


def _register_size(stack: Stack) -> int:
    try:
        return stack.register_size()
    except OSError:
        return -1


def start(
    name: str,
    stack: Stack,
    inbox: str,
    tmp_path: Path,
    seed: int,
    families: int = 60,
    incidents: int = 240,
    late_families: int = 20,
    strangers: int = 0,
) -> Run:
    """A scenario whose register (but the late events) is loaded, and what it must come to.

    `late_families`: a second simulated register (another seed: other people), published in
    chunks with the incidents; `strangers`: a third one, loaded first, to make the register big.
    """
    scenario = simulate(seed, families, incidents)
    late = simulate(seed + 1000, late_families, 0).register if late_families else []
    big = simulate(seed + 2000, strangers, 0).register if strangers else []
    first = [*big, *scenario.register]
    messages = list(scenario.incidents)
    want = expected([*first, *late], messages, tmp_path / "replay")
    assert len(want.tasks) >= 30, f"seed {seed} raises only {len(want.tasks)} tasks"
    stack.publish("register", first)
    subjects = len({e["subject"]["subject_ref"] for e in first})
    wait_for(
        f"{subjects} register subjects", lambda: _register_size(stack) == subjects, timeout=120
    )
    everyone = len({e["subject"]["subject_ref"] for e in [*first, *late]})
    return Run(name, stack, inbox, messages, late, want, everyone)


def _until_mid_stream(run: Run) -> int:
    """Wait until some tasks are in the inbox and publishing goes on; tasks still missing."""
    wait_for("ten tasks in the inbox", lambda: run.missing_tasks() <= len(run.expected.tasks) - 10)
    assert run.publishing(), "publishing finished before the fault: not mid-stream"
    return run.missing_tasks()


# -- the proxy itself ---------------------------------------------------------------------------


def test_the_proxy_cuts_clients_off_and_lets_them_back(kafka: FaultyBroker) -> None:
    """Each mode does what the tests below rely on, seen from a real Kafka client."""
    proxy = kafka.proxy

    def metadata() -> str:
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=kafka.bootstrap,
                request_timeout_ms=1500,
                bootstrap_timeout_ms=1500,
            )
            admin.list_topics()
            admin.close()
            return "ok"
        except (KafkaError, OSError) as error:
            return type(error).__name__

    assert metadata() == "ok"
    proxy.drop()
    assert metadata() != "ok"
    assert proxy.resets() >= 1
    proxy.blackhole()
    started = time.monotonic()
    assert metadata() != "ok"
    assert time.monotonic() - started >= 1.0, "a blackholed client was answered at once"
    assert proxy.held()
    proxy.heal()
    assert metadata() == "ok"


# -- 1. the broker SIGKILLed mid-stream, started again after 5 s and after 60 s ----------------


@pytest.mark.parametrize("outage_s", [5, 60], ids=["5s", "60s"])
def test_broker_killed_mid_stream_and_restarted(
    kafka: FaultyBroker, inbox: str, tmp_path: Path, pytestconfig: pytest.Config, outage_s: int
) -> None:
    with running_stack(kafka.bootstrap, inbox, tmp_path, **FAULT_ENV) as stack:
        run = start(f"broker SIGKILL {outage_s} s", stack, inbox, tmp_path, seed=41 + outage_s)
        run.publish_in_chunks()
        missing_at_kill = _until_mid_stream(run)
        chunks_at_kill = run.chunks_done
        pid = kafka.broker.pid
        kafka.broker.kill()
        killed = time.monotonic()
        time.sleep(outage_s)
        assert stack.workers[0].poll() is None and stack.workers[1].poll() is None
        kafka.broker.restart()
        back = time.monotonic()
        seen = (
            f"pid {pid} SIGKILLed after {chunks_at_kill}/{CHUNKS} chunks,"
            f" {missing_at_kill} tasks not yet raised; back after {back - killed:.0f} s"
        )
        run.finish(pytestconfig, back, seen)
        assert kafka.broker.pid not in (None, pid)
        assert missing_at_kill > 0
        assert all(w.poll() is None for w in stack.workers), "a worker died"
        # The outage was reported, not flooded: a few ERROR lines per process, not thousands.
        for role in ("decide", "deliver"):
            log = stack.data_dir / f"{stack.settings.app_id}-{role}.log"
            lines = log.read_text(errors="replace").splitlines()
            errors = [line for line in lines if re.search(r"\[(ERROR|CRITICAL)\]", line)]
            warnings = [line for line in lines if "[WARNING]" in line]
            assert any("broker unreachable" in line for line in errors), (role, errors[:5])
            assert any("broker reachable again" in line for line in warnings), role
            assert len(errors) <= MOST_ERRORS, (role, len(errors), errors[:10])
            assert len(warnings) <= MOST_WARNINGS, (role, len(warnings), warnings[:10])
        assert stack.metric("dvtrigger_broker_reachable") == 2  # both processes, reachable again


# -- 2. the broker unreachable for 30 s: the proxy blackholes every connection -----------------

UNREACHABLE_S = 30


def test_broker_unreachable_for_30_s(
    kafka: FaultyBroker, inbox: str, tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    with running_stack(kafka.bootstrap, inbox, tmp_path, **FAULT_ENV) as stack:
        run = start(f"broker blackholed {UNREACHABLE_S} s", stack, inbox, tmp_path, seed=71)
        run.publish_in_chunks()
        missing_at_cut = _until_mid_stream(run)
        kafka.proxy.blackhole()
        time.sleep(UNREACHABLE_S)
        missing_at_heal = run.missing_tasks()
        kafka.proxy.heal()
        healed = time.monotonic()
        held = kafka.proxy.held()
        seen = (
            f"{kafka.proxy.describe()}; {missing_at_cut} tasks not yet raised at the cut,"
            f" {missing_at_heal} at the heal"
        )
        run.finish(pytestconfig, healed, seen)
        assert len(held) >= 3, "the proxy held too few connections: no fault"
        assert any(k.held_before_connect for k in held), "no client tried to reconnect"
        assert missing_at_cut > 0 and missing_at_heal > 0
        assert all(w.poll() is None for w in stack.workers), "a worker died"


# -- 3. the deliver process cut off from the broker for 30 s while decide goes on --------------

PARTITION_S = 30


def test_deliver_partitioned_from_the_broker_while_decide_goes_on(
    kafka: FaultyBroker, inbox: str, tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    with running_stack(kafka.bootstrap, inbox, tmp_path, **FAULT_ENV) as stack:
        decide, deliver = stack.workers[0].pid, stack.deliver.pid
        kafka.proxy.watch(decide, deliver)
        run = start(f"deliver partitioned {PARTITION_S} s", stack, inbox, tmp_path, seed=81)
        # Publishing lasts past the cut, so that decide has notifications to go on with: it
        # decides each chunk within a second, and the whole stream would be decided before.
        run.publish_in_chunks(pause_s=PARTITION_S / 8)
        _until_mid_stream(run)
        decisions_before = read_decisions(stack).records
        forwarded_before = kafka.proxy.forwarded_by()
        kafka.proxy.partition(deliver)
        cut = time.monotonic()
        time.sleep(PARTITION_S)
        missing_at_heal = run.missing_tasks()
        decided_meanwhile = read_decisions(stack).records - decisions_before
        forwarded = kafka.proxy.forwarded_by()
        kafka.proxy.heal()
        healed = time.monotonic()
        held = kafka.proxy.held(deliver)
        seen = (
            f"{kafka.proxy.describe(deliver)} over {healed - cut:.0f} s; decide wrote"
            f" {decided_meanwhile} decisions meanwhile; {missing_at_heal} tasks waiting at the heal"
        )
        run.finish(pytestconfig, healed, seen)
        assert held, "no connection of the deliver process was held"
        assert not kafka.proxy.held(decide), "the decide process was cut off too"
        assert decided_meanwhile > 0, "decide did not go on during the partition"
        assert forwarded[decide] > forwarded_before[decide]
        assert missing_at_heal > 0, "nothing waited for the deliver process"
        assert all(w.poll() is None for w in stack.workers), "a worker died"


# -- 4. the decide process SIGKILLed while it rebuilds the register after a restart ------------

#: Families of strangers loaded first, so that a rebuild takes seconds (no snapshot to load).
STRANGERS = 3000


@pytest.mark.parametrize("log", ["memory", "s3"])
def test_decide_killed_while_it_rebuilds_the_register(
    request: pytest.FixtureRequest,
    log: str,
    inbox: str,
    tmp_path: Path,
    pytestconfig: pytest.Config,
) -> None:
    """On the session's broker (in memory) and on the module's (S3): the register's recovery
    depends on the highwater the broker reports."""
    bootstrap = (
        request.getfixturevalue("broker")
        if log == "memory"
        else request.getfixturevalue("kafka").bootstrap
    )
    env = {**FAULT_ENV, "DVTRIGGER_REGISTER_SNAPSHOT_INTERVAL_S": "0"}  # rebuild in full
    with running_stack(bootstrap, inbox, tmp_path, **env) as stack:
        run = start(
            f"decide SIGKILL in register rebuild ({log} log)",
            stack,
            inbox,
            tmp_path,
            seed=91,
            late_families=0,
            strangers=STRANGERS,
        )
        run.publish_in_chunks(pause_s=3.0)  # publishing goes on past the kill and the restart
        _until_mid_stream(run)
        stack.workers[0].kill()  # a crash: the next start rebuilds the register
        stack.workers[0].wait(timeout=10)
        first = _start_decide(stack)
        timeline = _until_rebuilding(stack, first, run.subjects)
        size_at_kill = _register_size(stack)
        first.kill()
        first.wait(timeout=10)
        killed = time.monotonic()
        assert run.publishing(), "publishing finished before the kill: nothing published around it"
        second = _start_decide(stack)
        restarted = time.monotonic()
        rebuilt = _rebuilt(stack, second, run.subjects)
        seen = (
            f"SIGKILLed {killed - timeline[0][0]:.1f} s into its start, {size_at_kill} of"
            f" {run.subjects} subjects indexed; the next start indexed them all in"
            f" {rebuilt - restarted:.1f} s"
        )
        run.finish(pytestconfig, restarted, seen, timeline=timeline[-5:])
        assert 0 < size_at_kill < run.subjects, "not killed during the rebuild"
        assert all(w.poll() is None for w in stack.workers), "a worker died"


def _start_decide(stack: Stack) -> subprocess.Popen[bytes]:
    """A new decide process in place of the stopped one."""
    assert stack.workers[0].poll() is not None
    stack.workers[0] = stack.spawn("decide", name=f"decide-{len(stack.started)}")
    return stack.workers[0]


def _until_rebuilding(
    stack: Stack, process: subprocess.Popen[bytes], subjects: int
) -> list[tuple[float, int]]:
    """Wait until the process answers with part of the register indexed: it is rebuilding.

    Its register size over time, from its start (-1: it did not answer yet).
    """
    timeline = [(time.monotonic(), -1)]

    def rebuilding() -> bool:
        assert process.poll() is None, "the decide process exited"
        size = _register_size(stack)
        timeline.append((time.monotonic(), size))
        assert size < subjects, f"the register was rebuilt before the kill: {timeline}"
        return size > 0

    wait_for("the register rebuild under way", rebuilding, timeout=60)
    return timeline


def _rebuilt(stack: Stack, process: subprocess.Popen[bytes], subjects: int) -> float:
    """Wait until the process has the whole register indexed; when that was."""

    def whole() -> bool:
        assert process.poll() is None, "the decide process exited"
        return _register_size(stack) == subjects

    wait_for("the register rebuilt", whole, timeout=120)
    return time.monotonic()
