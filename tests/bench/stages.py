"""The two baselines, and what every stage shares: its own topics, settings and measurement.

Each stage has its own topic prefix and app id on the one broker, so no stage reads
what another wrote. Stage B and the pipeline are measured the same way: warm up,
then publish the measured notifications as fast as the producer takes them and
read the output topic; throughput is messages over (last output record's timestamp
- publish start), latency is each output record's timestamp - its input's.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from functools import partial
from itertools import cycle, islice
from pathlib import Path
from typing import Any

from kafka.consumer.fetcher import ConsumerRecord

from connectors.kafka.broker import free_port
from connectors.kafka.publish import producer
from connectors.kafka.topics import ensure_topics
from streams.config.settings import Settings
from tests.bench.children import Children, wait_json
from tests.bench.kafka_io import Collector, Sent, publish_timed, read_rate
from tests.bench.probes import watched
from tests.bench.report import StageResult, latency
from tests.bench.workload import Workload

#: How long a stage may take to turn its measured messages into output.
OUTPUT_TIMEOUT_S = 240.0


@dataclass(frozen=True)
class Stage:
    """One stage's settings and the environment its child process reads them from."""

    settings: Settings
    env: dict[str, str]

    @property
    def health_url(self) -> str:
        """The child's /healthz."""
        return f"http://127.0.0.1:{self.settings.web_port}/healthz"


def stage(run_id: str, name: str, bootstrap: str, data_dir: Path, **extra: str) -> Stage:
    """Settings of a stage with its own topics and app id; its topics are created."""
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "DVTRIGGER_APP_ID": f"bench-{run_id}-{name}",
        "DVTRIGGER_TOPIC_PREFIX": f"bench-{run_id}-{name}.",
        "DVTRIGGER_WEB_PORT": str(free_port()),
        "DVTRIGGER_DATA_DIR": str(data_dir / name),
        **extra,
    }
    fields = {k.removeprefix("DVTRIGGER_").lower(): v for k, v in env.items() if "DVTRIGGER_" in k}
    settings = Settings(**fields)
    ensure_topics(settings, bootstrap)
    return Stage(settings, env)


def bare_consumer(
    bootstrap: str, run_id: str, data_dir: Path, work: Workload, count: int
) -> StageResult:
    """Baseline A: kafka-python reading `count` pre-published notifications (the client's limit)."""
    s = stage(run_id, "bare", bootstrap, data_dir).settings
    topic = s.topic("police-incidents")
    kafka = producer(bootstrap)
    publish_timed(kafka, topic, list(islice(cycle(work.measured), count)))
    kafka.close()
    timed, seconds = read_rate(bootstrap, topic, s.app_id, count)
    return StageResult("A  bare kafka-python consumer", timed, seconds, notes={"read": count})


def faust_agent(
    bootstrap: str, run_id: str, data_dir: Path, work: Workload, children: Children
) -> StageResult:
    """Baseline B: a do-nothing faust agent that marks each message it reads."""
    s = stage(run_id, "noop", bootstrap, data_dir)
    proc = children.python("faust-noop", ["-m", "tests.bench.faust_noop"], s.env)
    try:
        wait_json(s.health_url, children=children)
        load: dict[str, Any] = {}
        probe = partial(watched, proc.pid, load)
        result = measure_flow("B  do-nothing faust agent", s, work, children, MARKERS, probe)
    finally:
        children.stop(proc)
    return replace(result, notes={**result.notes, "worker": load})


@dataclass(frozen=True)
class Matching:
    """How a stage's output records are paired with the notifications they answer."""

    inputs: Callable[[Sent, list[tuple[str, int]]], list[Hashable]]
    output: Callable[[ConsumerRecord], Hashable]


def _place(record: ConsumerRecord) -> Hashable:
    partition, offset = record.value.decode().split(":")
    return int(partition), int(offset)


def _decided(record: ConsumerRecord) -> Hashable:
    decision = json.loads(record.value)
    return decision["incident_id"], decision["revision"]


#: A marker names the partition and offset of the notification it answers.
MARKERS = Matching(inputs=lambda sent, ids: list(sent.places), output=_place)
#: A decision names the incident and revision of the notification it answers.
DECISIONS = Matching(inputs=lambda sent, ids: list(ids), output=_decided)


def measure_flow(
    name: str,
    stage: Stage,
    work: Workload,
    children: Children,
    matching: Matching,
    during: Callable[[], AbstractContextManager[object]] = nullcontext,
) -> StageResult:
    """Warm up, publish the measured notifications, and time their output records.

    `during` wraps the measured part (a profiler, say).
    """
    bootstrap = stage.env["KAFKA_BOOTSTRAP_SERVERS"]
    collector = Collector(bootstrap, stage.settings.topic("decisions"))
    kafka = producer(bootstrap)
    source = stage.settings.topic("police-incidents")
    try:
        warm = matching.inputs(publish_timed(kafka, source, work.warmup), work.warmup_ids)
        collector.take(len(set(warm)), OUTPUT_TIMEOUT_S, children.check)
        with during():
            sent = publish_timed(kafka, source, work.measured)
            produced = dict(
                zip(matching.inputs(sent, work.measured_ids), sent.timestamps, strict=True)
            )
            records = collector.take(len(produced), OUTPUT_TIMEOUT_S, children.check)
    finally:
        kafka.close()
        collector.close()
    return flow_result(name, sent, produced, records, matching.output)


def flow_result(
    name: str,
    sent: Sent,
    produced: dict[Hashable, float],
    records: list[ConsumerRecord],
    identify: Callable[[ConsumerRecord], Hashable],
) -> StageResult:
    """Throughput and latency from produce times and the output records answering them."""
    decided: dict[Hashable, float] = {}
    for record in records:
        decided.setdefault(identify(record), record.timestamp / 1000.0)
    missing = produced.keys() - decided.keys()
    if missing:
        raise RuntimeError(f"{name}: {len(missing)} inputs have no output record")
    keys = list(produced)
    p50, p99 = latency([produced[k] for k in keys], [decided[k] for k in keys])
    published_in = max(sent.timestamps) - sent.start
    notes = {
        "publish_start": sent.start,
        "published_in_s": round(published_in, 3),
        "outputs": len(records),
        "duplicate_outputs": len(records) - len(decided),
    }
    return StageResult(
        name, len(sent.timestamps), max(decided.values()) - sent.start, p50, p99, notes
    )
