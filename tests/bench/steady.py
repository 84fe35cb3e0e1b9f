"""What the steady-load benches share: a running pipeline, a paced publisher, and its outputs.

The pipeline is run as `make run` runs it: an embedded broker (started by the
caller), a `--role decide` and a `--role deliver` worker process and a real duty
inbox process with an API client credential, the register loaded first.

Times, all on this one machine's clock:

- *publish*: the notification's Kafka timestamp, which kafka-python sets when the
  bench hands it to `send()`, at its scheduled moment;
- *decision logged*: the decision record's Kafka timestamp, set by the decide
  worker's producer as it writes the record (a few ms of linger and the
  acknowledgement later it can be read). A consumer's receive time would add the
  bench's own fetch wait (up to 100 ms) and its polling would compete for the cores;
- *task in the inbox*: the task row's `created_at` (or `revised_at` for a later
  revision), which the duty inbox stamps inside the write transaction: the task is
  readable once that commits (one fsync, a few ms). The `task_raised` receipt, sent
  by the deliver worker once the inbox has answered, is reported beside it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
import time
import urllib.request
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil
from kafka import KafkaConsumer, KafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from connectors.cli.allocator import allocator_env
from connectors.kafka.broker import EmbeddedBroker, free_port
from tests.bench.children import Children, wait_json
from tests.bench.kafka_io import partitions
from tests.bench.probes import wait_idle
from tests.bench.report import percentile
from tests.bench.stages import Stage, stage
from tests.bench.worker_stage import (
    REGISTER_TIMEOUT_S,
    deliver_url,
    load_register,
    start_duty_inbox,
)
from tests.bench.workload import Message, Workload
from tests.support.duty_inbox import TEST_CLIENT_TOKEN

Key = tuple[str, int]  # (incident_id, revision)
OUT_DIR = Path("var/bench")


@dataclass
class Pipeline:
    """A running pipeline: its settings, the inbox's database, and each process's pid."""

    stage: Stage
    inbox_db: Path
    pids: dict[str, int]

    @property
    def bootstrap(self) -> str:
        """The broker's bootstrap servers."""
        return str(self.stage.env["KAFKA_BOOTSTRAP_SERVERS"])

    def topic(self, role: str) -> str:
        """The full name of one of the pipeline's topics."""
        return self.stage.settings.topic(role)


def start_pipeline(
    bootstrap: str,
    broker_pid: int | None,
    run_id: str,
    data_dir: Path,
    work: Workload,
    children: Children,
    **env: str,
) -> Pipeline:
    """Start a duty inbox, a decide and a deliver worker, load the register, wait for quiet.

    `env` adds worker settings (DVTRIGGER_...). Workers log at WARNING, as the
    integration tests' do: INFO logging changes the timings.
    """
    folder = data_dir / "inbox"
    inbox_url = start_duty_inbox(children, folder)  # it knows the token given below
    inbox_db = folder / "duty-inbox.sqlite3"
    s = stage(
        run_id,
        "steady",
        bootstrap,
        data_dir,
        DVTRIGGER_CASE_SYSTEM_URL=inbox_url,
        DVTRIGGER_CASE_SYSTEM_TOKEN=TEST_CLIENT_TOKEN,
        DVTRIGGER_DELIVER_WEB_PORT=str(free_port()),
        **{"DVTRIGGER_LOG_LEVEL": "WARNING", **env},
    )
    worker_args = ["-m", "connectors.cli", "worker", "--role"]
    workers_env = {**s.env, **allocator_env()}  # as the image runs them: on jemalloc
    decide = children.python("worker", [*worker_args, "decide"], workers_env)
    deliver = children.python("deliver", [*worker_args, "deliver"], workers_env)
    wait_json(s.health_url, children=children)
    wait_json(deliver_url(s, "healthz"), children=children)
    load_register(s, work, children)
    wait_idle(decide.pid, REGISTER_TIMEOUT_S)
    pids = {"decide": decide.pid, "deliver": deliver.pid, "inbox": children.pid_of("duty-inbox")}
    if broker_pid is not None:
        pids["broker"] = broker_pid
    return Pipeline(s, inbox_db, pids)


@contextmanager
def running_pipeline(
    name: str, work: Workload, say: Callable[[str], None], **env: str
) -> Iterator[tuple[Pipeline, Children]]:
    """An embedded broker and a pipeline on it (`start_pipeline`), its register loaded;
    logs in var/bench/logs/`name`; everything stopped on exit."""
    logs = OUT_DIR / "logs" / name
    logs.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix=f"dvtrigger-{name}-") as tmp,
        EmbeddedBroker(log_path=logs / "broker.log") as broker,
        Children(logs) as children,
    ):
        proc = getattr(broker, "_proc", None)
        say(f"broker at {broker.bootstrap}; loading a register of {work.subjects} subjects")
        pipeline = start_pipeline(
            broker.bootstrap,
            proc.pid if proc else None,
            str(os.getpid()),
            Path(tmp),
            work,
            children,
            **env,
        )
        yield pipeline, children


def write_figures(out: Path, document: dict[str, Any], say: Callable[[str], None]) -> None:
    """Write a bench's figures as JSON to `out`."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    say(f"figures written to {out}")


def rss_mib(pids: dict[str, int]) -> dict[str, float]:
    """Resident memory of each process, MiB (None-safe: a gone process reads 0)."""
    out: dict[str, float] = {}
    for name, pid in pids.items():
        try:
            out[name] = round(psutil.Process(pid).memory_info().rss / 2**20, 1)
        except psutil.Error:
            out[name] = 0.0
    return out


@dataclass
class Paced:
    """What a paced publish did: each notification's publish time, and how late sends were."""

    published: dict[Key, float]
    late_s: list[float]
    start: float
    seconds: float


def send_paced(
    kafka: KafkaProducer,
    topic: str,
    messages: Sequence[Message],
    ids: Sequence[Key],
    rate: float,
    on_tick: Callable[[float], None] = lambda elapsed: None,
) -> Paced:
    """Send each message at its moment (`i / rate` after the start), not waiting for results.

    Open loop: a slow pipeline does not slow the offered load. `on_tick(elapsed)`
    runs between sends (a sampler). Each message's publish time is its record
    timestamp, read from the acknowledgements once all are sent.
    """
    start = time.time()
    late: list[float] = []
    futures = []
    for i, (key, value) in enumerate(messages):
        due = start + i / rate
        wait = due - time.time()
        if wait > 0:
            time.sleep(wait)
        late.append(max(0.0, time.time() - due))
        futures.append(kafka.send(topic, key=key, value=value))
        on_tick(time.time() - start)
    kafka.flush()
    stamps = [future.get(timeout=60).timestamp / 1000.0 for future in futures]
    return Paced(dict(zip(ids, stamps, strict=True)), late, start, time.time() - start)


class Tail:
    """Reads one topic from its beginning, in no group, a little more at each `read`."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.consumer = KafkaConsumer(
            bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=100
        )
        tps = partitions(self.consumer, topic)
        self.consumer.assign(tps)
        self.consumer.seek_to_beginning(*tps)

    def read(self) -> list[tuple[float, bytes | None, bytes | None]]:
        """What has come since the last read: (timestamp s, key, value) records."""
        out: list[tuple[float, bytes | None, bytes | None]] = []
        while True:
            batch = self.consumer.poll(timeout_ms=300)
            if not batch:
                return out
            for records in batch.values():
                out.extend((r.timestamp / 1000.0, r.key, r.value) for r in records)

    def close(self) -> None:
        """Leave the cluster."""
        self.consumer.close()


@dataclass
class Outputs:
    """The pipeline's decisions, task commands and task_raised receipts, read as they come."""

    decided: dict[Key, float] = field(default_factory=dict)
    #: idempotency key -> the (incident_id, revision) of each command for it, with its time.
    commands: dict[str, dict[Key, float]] = field(default_factory=dict)
    #: (task key, revision) -> the first task_raised receipt's timestamp.
    raised: dict[tuple[str, int], float] = field(default_factory=dict)
    decision_records: int = 0

    @classmethod
    def tails(cls, p: Pipeline) -> dict[str, Tail]:
        """One tail per topic read."""
        bootstrap = p.stage.env["KAFKA_BOOTSTRAP_SERVERS"]
        return {role: Tail(bootstrap, p.topic(role)) for role in TOPICS}

    def read(self, tails: dict[str, Tail]) -> None:
        """Take in what each topic has new."""
        for stamp, _, value in tails["decisions"].read():
            decision = json.loads(value or b"{}")
            self.decision_records += 1
            self.decided.setdefault((decision["incident_id"], decision["revision"]), stamp)
        for stamp, _, value in tails["task-commands"].read():
            command = json.loads(value or b"{}")
            key = (command["incident_id"], command["revision"])
            self.commands.setdefault(command["idempotency_key"], {}).setdefault(key, stamp)
        for stamp, _, value in tails["receipts"].read():
            receipt = json.loads(value or b"{}")
            if receipt.get("stage") == "task_raised":
                self.raised.setdefault((receipt["task_key"], receipt["revision"]), stamp)


TOPICS = ("decisions", "task-commands", "receipts")


@dataclass(frozen=True)
class InboxRow:
    """What the inbox holds of a task: its first and latest revision and their times."""

    incident_id: str
    created_revision: int
    revision: int
    amendment: int
    created_at: float
    revised_at: float | None


def inbox_rows(db: Path) -> dict[str, InboxRow]:
    """Every task in the duty inbox by idempotency key, read from its database (read only)."""
    uri = f"file:{db}?mode=ro"
    with sqlite3.connect(uri, uri=True, timeout=10) as con:
        rows = con.execute(
            "SELECT idempotency_key, json_extract(body, '$.incident_id'), created_revision,"
            " revision, amendment, created_at, revised_at FROM tasks"
        ).fetchall()
    parse = _epoch
    return {
        key: InboxRow(inc, first, rev, amend, parse(created), parse(revised) if revised else None)
        for key, inc, first, rev, amend, created, revised in rows
    }


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def task_times(
    rows: dict[str, InboxRow], wanted: Iterable[Key]
) -> tuple[dict[Key, float], dict[Key, str]]:
    """When each notification in `wanted` put its task in the inbox, and the task's key.

    A task's creation answers the notification of its first revision; its latest
    revision's (when not an amendment) answers that notification. Intermediate
    revisions, overwritten since, are not timed.
    """
    want = set(wanted)
    times: dict[Key, float] = {}
    keys: dict[Key, str] = {}
    for task_key, row in rows.items():
        first = (row.incident_id, row.created_revision)
        if first in want:
            times[first], keys[first] = row.created_at, task_key
        latest = (row.incident_id, row.revision)
        if latest != first and latest in want and row.amendment == 0 and row.revised_at:
            times[latest], keys[latest] = row.revised_at, task_key
    return times, keys


def expected_tasks(outputs: Outputs, wanted: Iterable[Key]) -> set[str]:
    """The task keys the worker commanded for the notifications in `wanted`."""
    want = set(wanted)
    return {key for key, sent in outputs.commands.items() if want & sent.keys()}


REQUEST_SECONDS = "dvtrigger_case_system_request_seconds"


def request_histogram(p: Pipeline) -> dict[str, float]:
    """The deliver worker's case-system request histogram so far, every route and status
    summed: {"count", "sum", and each bucket's upper bound as text: cumulative count}."""
    with urllib.request.urlopen(deliver_url(p.stage, "metrics"), timeout=5) as response:
        text = response.read().decode()
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != REQUEST_SECONDS:
            continue
        for sample in family.samples:
            if sample.name.endswith("_bucket"):
                le = sample.labels["le"]
                out[le] = out.get(le, 0.0) + sample.value
            elif sample.name.endswith(("_count", "_sum")):
                name = sample.name.rsplit("_", 1)[1]
                out[name] = out.get(name, 0.0) + sample.value
    return out


def request_figures(before: dict[str, float], after: dict[str, float]) -> dict[str, Any]:
    """Case-system requests between two histograms: count, mean ms, and the bucket holding
    the 99th percentile (an upper bound, ms)."""
    count = after.get("count", 0.0) - before.get("count", 0.0)
    if count <= 0:
        return {"requests": 0, "mean_ms": None, "p99_le_ms": None}
    total = after.get("sum", 0.0) - before.get("sum", 0.0)
    bounds = sorted((float(le), le) for le in after if le not in ("count", "sum"))
    p99 = None
    for bound, le in bounds:
        if after[le] - before.get(le, 0.0) >= 0.99 * count:
            p99 = bound * 1000.0
            break
    return {"requests": int(count), "mean_ms": round(total / count * 1000.0, 1), "p99_le_ms": p99}


def spread(lags_s: Sequence[float]) -> dict[str, float | int | None]:
    """p50, p99 and max of lags in seconds, as milliseconds; the count."""
    if not lags_s:
        return {"n": 0, "p50_ms": None, "p99_ms": None, "max_ms": None}
    ms = [lag * 1000.0 for lag in lags_s]
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 0.50), 1),
        "p99_ms": round(percentile(ms, 0.99), 1),
        "max_ms": round(max(ms), 1),
    }


def lags(start: dict[Any, float], end: dict[Any, float], keys: Iterable[Hashable]) -> list[float]:
    """`end[k] - start[k]` for the keys in both."""
    return [end[k] - start[k] for k in keys if k in start and k in end]


def drain(
    p: Pipeline,
    tails: dict[str, Tail],
    outputs: Outputs,
    sent: Iterable[Key],
    children: Children,
    timeout: float = 240.0,
) -> dict[str, InboxRow]:
    """Read outputs until every sent notification is decided and every task commanded for
    them is in the inbox, or `timeout` passes (what is missing is then reported)."""
    sent = list(sent)
    deadline = time.monotonic() + timeout
    done_twice = 0  # a command may be readable a moment after its decision: check once more
    while True:
        outputs.read(tails)
        rows = inbox_rows(p.inbox_db)
        decided = all(k in outputs.decided for k in sent)
        done = decided and expected_tasks(outputs, sent) <= rows.keys()
        done_twice = done_twice + 1 if done else 0
        if done_twice >= 2 or time.monotonic() > deadline:
            return rows
        children.check()
        time.sleep(0.5)
