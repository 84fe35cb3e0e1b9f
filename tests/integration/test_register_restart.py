"""A restarted worker reads the register changelog to its end (after its snapshot, if any), and
decides on all of it: even where the broker reports the changelog's end short of it."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from connectors.kafka.publish import producer
from connectors.kafka.topics import changelog
from connectors.simulate import simulate
from schemas.decision import Decision
from schemas.register import RegisterEvent
from streams.domain.register.codec import encode
from streams.domain.register.records import SubjectRecord, apply_event
from streams.domain.register.snapshot import MAGIC
from streams.flows.barrier import is_barrier
from tests.conftest import record_fault
from tests.integration.test_late_knowledge import incident, pregnancy_booked
from tests.support.stack import Stack, running_stack, wait_for
from tests.support.topics import read_topic

pytestmark = pytest.mark.integration


def snapshot_offset(path: Path) -> int:
    """The changelog offset the snapshot at `path` reflects (-1: none yet)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return -1
    size = int.from_bytes(data[len(MAGIC) : len(MAGIC) + 4], "big")
    header = json.loads(data[len(MAGIC) + 4 : len(MAGIC) + 4 + size])
    return int(header["marks"]["0"][0])


def last_subject_offset(records: list[Any]) -> int:
    """The offset of the last subject record on the register changelog (not a barrier): the
    mark of a snapshot of it all."""
    return max(r.offset for r in records if not is_barrier(r.key))


def restart_decide(stack: Stack) -> Path:
    """Start a new decide process in place of the stopped one; wait until it answers; its log."""
    assert stack.workers[0].poll() is not None
    name = f"decide-{len(stack.started)}"
    stack.workers[0] = stack.spawn("decide", name=name)
    url = f"{stack.web_url}/healthz"
    wait_for("the restarted worker", lambda: _answers(url), timeout=60)
    return stack.data_dir / f"{stack.settings.app_id}-{name}.log"


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except OSError:
        return False


def register(families: int) -> list[dict[str, Any]]:
    """A small register of strangers (simulated families)."""
    return simulate(5, families, 0).register


async def test_a_restarted_worker_decides_on_a_change_made_while_it_was_down(
    broker: str, inbox: str, tmp_path: Path
) -> None:
    extra = {
        "DVTRIGGER_REGISTER_SNAPSHOT_INTERVAL_S": "1",
        "DVTRIGGER_LOG_LEVEL": "INFO",
    }
    with running_stack(broker, inbox, tmp_path, **extra) as stack:
        strangers = register(30)
        stack.publish("register", strangers)
        subjects = len({e["subject"]["subject_ref"] for e in strangers})
        wait_for("the register", lambda: stack.register_size() == subjects)
        topic = changelog(stack.settings, "register-subjects")
        path = tmp_path / "register-snapshots" / f"{topic}.snapshot"
        held = last_subject_offset(read_topic(broker, topic)) + 1
        wait_for("a snapshot of the whole register", lambda: snapshot_offset(path) == held - 1)
        # Killed, as a crash would: after a graceful stop, a decide worker started again at once
        # on Tansu was seen to never consume police-incidents (with or without a snapshot).
        stack.workers[0].kill()
        stack.workers[0].wait(timeout=10)

        # While it is down, another worker learns of a pregnancy: its record reaches the changelog.
        notification = incident()
        booked = pregnancy_booked(datetime.fromisoformat(notification["occurred_at"]))
        record = apply_event(None, RegisterEvent.model_validate(booked))
        kafka = producer(broker)
        try:
            kafka.send(topic, key=b"U4242", value=encode(record)).get(timeout=30)
        finally:
            kafka.close()

        log = restart_decide(stack)
        wait_for("the change read", lambda: stack.register_size() == subjects + 1)
        logs = log.read_text()
        assert "register snapshot loaded" in logs
        assert "register snapshot not used" not in logs

        stack.publish("incidents", [notification])
        task = await stack.the_task_created("the task in the duty inbox")
        assert task.task.idempotency_key == "MPS-2026-004242/subject:U4242"
        assert task.task.outcome == "trigger"

        # Nothing changes while it is down this time: its snapshot is the changelog's end.
        wait_for("a snapshot with the change", lambda: snapshot_offset(path) == held)
        stack.workers[0].kill()
        stack.workers[0].wait(timeout=10)
        log = restart_decide(stack)
        wait_for("the recovery", lambda: "register index rebuilt" in log.read_text())
        logs = log.read_text()
        assert f"register snapshot loaded: {{'subjects': {subjects + 1}," in logs
        assert "does not match" not in logs and stack.workers[0].poll() is None
        assert stack.register_size() == subjects + 1


def folded(events: list[dict[str, Any]]) -> list[SubjectRecord]:
    """The subject records a register worker writes for `events`, one per subject."""
    records: dict[str, SubjectRecord] = {}
    for raw in events:
        event = RegisterEvent.model_validate(raw)
        ref = event.subject.subject_ref
        records[ref] = apply_event(records.get(ref), event)
    return list(records.values())


def produce_one_batch(bootstrap: str, topic: str, records: list[SubjectRecord]) -> None:
    """Write `records` to the register changelog as one record batch, as a busy worker does."""
    kafka = KafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=500, batch_size=4 * 1024 * 1024
    )
    try:
        sent = [
            kafka.send(topic, key=r.subject_ref.encode(), value=encode(r), partition=0)
            for r in records
        ]
        kafka.flush()
        for future in sent:
            future.get(timeout=30)
    finally:
        kafka.close()


def reported_end(bootstrap: str, topic: str) -> int:
    """The changelog's end as the broker reports it (ListOffsets: what faust recovers up to)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        tp = TopicPartition(topic, 0)
        return int(consumer.end_offsets([tp])[tp])
    finally:
        consumer.close()


def first_decision(stack: Stack, incident_id: str) -> Decision | None:
    """The first decision logged for `incident_id`, if any."""
    for record in stack.read_topic("decisions"):
        decision = Decision.model_validate_json(record.value)
        if decision.incident_id == incident_id:
            return decision
    return None


@pytest.mark.parametrize("snapshots", ["no snapshot", "snapshot"])
async def test_a_restarted_worker_decides_on_the_changelogs_last_batch(
    broker: str, inbox: str, tmp_path: Path, request: pytest.FixtureRequest, snapshots: str
) -> None:
    """The changelog's last record batch is read before the first decision after a restart.

    Tansu reports a partition's end as one past its last batch's first offset: a recovery
    that read only to there left the batch's other subjects out of the register, and the
    first decisions after a restart missed them (issue 16). The expectant father's record
    is the last of the last batch.
    """
    extra = {
        "DVTRIGGER_REGISTER_SNAPSHOT_INTERVAL_S": "1" if snapshots == "snapshot" else "0",
        "DVTRIGGER_LOG_LEVEL": "INFO",  # the rebuild's log line tells when the worker is ready
    }
    with running_stack(broker, inbox, tmp_path, **extra) as stack:
        strangers = register(30)  # the worker writes their records, in batches as it goes
        stack.publish("register", strangers)
        known = len({e["subject"]["subject_ref"] for e in strangers})
        wait_for("the register", lambda: stack.register_size() == known)
        topic = changelog(stack.settings, "register-subjects")
        if snapshots == "snapshot":
            path = tmp_path / "register-snapshots" / f"{topic}.snapshot"
            last = last_subject_offset(read_topic(broker, topic))
            wait_for("a snapshot of the whole register", lambda: snapshot_offset(path) == last)
        stack.workers[0].kill()  # a crash: no shutdown at all
        stack.workers[0].wait(timeout=10)

        # While it is down, another worker writes subjects to the changelog: one batch, the
        # expectant father's pregnancy last.
        notification = incident()
        booked = pregnancy_booked(datetime.fromisoformat(notification["occurred_at"]))
        batch = [*folded(simulate(6, 20, 0).register), *folded([booked])]
        produce_one_batch(broker, topic, batch)
        subjects = known + len(batch)
        end = max(r.offset for r in read_topic(broker, topic)) + 1
        reported = reported_end(broker, topic)
        assert reported < end, "the broker reported the changelog's end: no fault to recover from"

        restarted = time.monotonic()
        log = restart_decide(stack)
        wait_for("the register rebuilt", lambda: "register index rebuilt" in log.read_text())
        recover_s = time.monotonic() - restarted
        rebuilt = int(re.findall(r"register index rebuilt: (\d+) subjects", log.read_text())[0])
        answered = stack.register_size()  # /healthz, at once
        stack.publish("incidents", [notification])
        wait_for("the decision", lambda: first_decision(stack, "MPS-2026-004242") is not None)
        decided = first_decision(stack, "MPS-2026-004242")
        assert decided is not None
        task = await stack.the_task_created("the task in the duty inbox")
        commands = len(stack.read_topic("task-commands"))
        record_fault(
            request.config,
            {
                "fault": f"register changelog end reported short at a restart ({snapshots})",
                "messages sent": len(strangers) + len(batch) + 1,
                "task commands": commands,
                "tasks expected": 1,
                "tasks found": len(await stack.inbox_tasks()),
                "duplicates": 0,
                "missing": subjects - rebuilt,
                "recover s": f"{recover_s:.1f}",
                "the fault, as the proxy saw it": f"ListOffsets {reported} of {end}",
            },
        )
        assert (rebuilt, answered) == (subjects, subjects)
        assert decided.decision == "trigger", decided  # decided on the whole register, at once
        assert task.task.idempotency_key == "MPS-2026-004242/subject:U4242"
        logs = log.read_text()
        if snapshots == "snapshot":
            assert "register snapshot loaded" in logs and "does not match" not in logs
        assert stack.workers[0].poll() is None
