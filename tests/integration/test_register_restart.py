"""A worker restarted with a register snapshot reads the changelog after it, and decides on it."""

from __future__ import annotations

import json
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from connectors.kafka.publish import producer
from connectors.kafka.topics import changelog
from connectors.simulate import simulate
from schemas.register import RegisterEvent
from streams.domain.register.codec import encode
from streams.domain.register.records import apply_event
from streams.domain.register.snapshot import MAGIC
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
        held = len(read_topic(broker, topic))
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
