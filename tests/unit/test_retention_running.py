"""Retention run by the services themselves: the duty inbox purges its closed tasks and its
audit chain's old details while it serves, the decide worker its own chain's details; what is
held stays, and each chain still verifies."""

from __future__ import annotations

import asyncio
import logging
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from connectors.audit.checks import verify_directory
from connectors.audit.file import FileAuditLog, read
from connectors.duty_inbox.app import create_app
from connectors.duty_inbox.retention import InboxRetention, place_hold
from connectors.duty_inbox.store import TaskStore
from streams.config.settings import RetentionSettings, Settings
from streams.domain.ports.audit import HELD_REFS_FILE, AuditEvent, NoAudit, PurgeableAuditLog
from tests.support.duty_inbox import close_task
from tests.support.fakes import FakeClock, make_worker, sample_value
from tests.support.samples import sample_raise_task

NOW = datetime(2027, 6, 1, 12, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=400)  # past the default 365 days of tasks and audit details
RECENT = NOW - timedelta(days=1)


class Clock:
    """The inbox's clock: stands where a test sets it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Pauses:
    """Stands in for `asyncio.sleep`: lets `passes` passes run at once, then waits to be
    cancelled (the app stopping); `idle` is set when it does."""

    def __init__(self, passes: int) -> None:
        self.passes, self.asked, self.idle = passes, list[float](), threading.Event()

    async def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)
        if len(self.asked) <= self.passes:
            return
        self.idle.set()
        await asyncio.Event().wait()


def view(at: datetime, **refs: str) -> AuditEvent:
    """A view of something, with a detail retention may purge."""
    return AuditEvent(
        kind="view",
        at=at,
        actor="user:dana",
        action="viewed",
        refs={kind: [ref] for kind, ref in refs.items()},
        detail={"shown": "the task page"},
    )


def details(directory: Path, chain: str, kind: str) -> list[tuple[dict[str, Any], Any]]:
    """The refs and detail of each record of one kind, in chain order."""
    records = [item.record for item in read(directory, chain)]
    return [(r["refs"], r["detail"]) for r in records if r["kind"] == kind]


# --- the duty inbox --------------------------------------------------------------------------


def test_the_running_inbox_purges_old_closed_tasks_and_details_but_what_is_held(
    tmp_path: Path,
) -> None:
    db, audit_dir, clock = tmp_path / "inbox.sqlite3", tmp_path / "audit", Clock(OLD)
    store = TaskStore(db, clock)
    old, held, still_open = (
        store.raise_task(sample_raise_task(f"MPS-2026-00000{n}")).task_id for n in (1, 2, 3)
    )
    close_task(store, old)
    close_task(store, held)
    place_hold(db, held, "complaint 2027/014", "user:dana", NOW)
    shown = {"shown": "the task page"}
    with FileAuditLog(audit_dir, "inbox", sync=False) as audit:
        audit.append_many(
            [
                view(OLD, task=old),
                view(OLD, task=held),
                view(OLD, incident="MPS-2026-000002"),  # the held task's incident
                view(RECENT, task=old),
            ]
        )
        clock.now = NOW
        pauses = Pauses(passes=1)
        app = create_app(
            db,
            clock,
            audit=audit,
            retention=RetentionSettings(),
            retention_pause=pauses,
        )
        with TestClient(app) as client:
            assert pauses.idle.wait(timeout=30), "the first pass never finished"
            assert client.get("/healthz").status_code == 200
            audit.append(view(NOW, task=still_open))  # the writer goes on after the rewrite
        assert pauses.asked == [60.0, 3600.0]  # shortly after start, then every interval

    assert {task.task_id for task in store.list_tasks(limit=None)} == {held, still_open}
    assert details(audit_dir, "inbox", "view") == [
        ({"task": [old]}, None),
        ({"task": [held]}, shown),
        ({"incident": ["MPS-2026-000002"]}, shown),
        ({"task": [old]}, shown),
        ({"task": [still_open]}, shown),
    ]
    purges = [(r["action"], r["detail"]) for r in (i.record for i in read(audit_dir, "inbox"))]
    assert ("purged tasks", {"tasks": 1, "by_council": {"E09000014": 1}}) in purges
    assert ("purged details", {"purged": 1}) in purges
    assert verify_directory(audit_dir).problems == []
    held_refs = (audit_dir / HELD_REFS_FILE).read_text().splitlines()
    assert held_refs == sorted([held, "MPS-2026-000002"])


def test_the_inbox_purges_nothing_itself_unless_asked(tmp_path: Path) -> None:
    db = tmp_path / "inbox.sqlite3"
    assert create_app(db).state.retention is None
    off = RetentionSettings(inbox_purge=False)
    assert create_app(db, retention=off).state.retention is None
    assert create_app(db, retention=RetentionSettings()).state.retention is not None


async def test_a_failed_pass_is_logged_without_detail_and_the_next_one_runs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pauses = Pauses(passes=2)
    retention = InboxRetention(
        tmp_path / "absent.sqlite3", RetentionSettings(), Clock(NOW), NoAudit(), pause=pauses
    )
    with caplog.at_level(logging.ERROR, "connectors.duty_inbox.retention"):
        retention.start()
        await asyncio.to_thread(pauses.idle.wait, 30)
        await retention.stop()
    assert len(pauses.asked) == 3  # the first delay, then a pause after each of two passes
    failures = [r.getMessage() for r in caplog.records]
    assert failures == ["duty inbox retention failed: FileNotFoundError"] * 2
    assert not (tmp_path / "absent.sqlite3").exists()


def test_a_purge_on_the_open_chain_and_appends_from_other_threads_interleave_safely(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "audit"
    with FileAuditLog(directory, "inbox", sync=False) as audit:
        audit.append_many([view(OLD, task=f"T-{n}") for n in range(200)])
        start = threading.Barrier(5)

        def append() -> None:
            start.wait()
            for n in range(50):
                audit.append(view(OLD, task=f"U-{n}"))

        def purge() -> None:
            start.wait()
            for _ in range(5):
                audit.purge_details(NOW)

        threads = [threading.Thread(target=append) for _ in range(4)]
        threads.append(threading.Thread(target=purge))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert verify_directory(directory).problems == []
    assert len(details(directory, "inbox", "view")) == 200 + 4 * 50  # no append lost


# --- the decide worker -----------------------------------------------------------------------


def decision(at: datetime, incident: str) -> AuditEvent:
    """A decision about an incident, with its inputs as the detail."""
    return AuditEvent(
        kind="decision",
        at=at,
        actor="system:decide",
        action="decided",
        refs={"incident": [incident]},
        detail={"inputs": "what the register showed"},
    )


def decide_chain(tmp_path: Path) -> FileAuditLog:
    """The decide chain, with two old decisions and a recent one."""
    audit = FileAuditLog(tmp_path / "audit", "decide", sync=False)
    audit.append_many(
        [
            decision(OLD, "MPS-2026-000001"),
            decision(OLD, "MPS-2026-000002"),
            decision(RECENT, "MPS-2026-000001"),
        ]
    )
    return audit


async def test_the_decide_worker_purges_its_chains_old_details_but_the_held(
    tmp_path: Path,
) -> None:
    with decide_chain(tmp_path) as audit:
        assert isinstance(audit, PurgeableAuditLog)
        (tmp_path / "audit" / HELD_REFS_FILE).write_text("MPS-2026-000002\nT-1\n")
        w = make_worker(Settings(data_dir=tmp_path), clock=FakeClock(NOW), audit=audit)
        swept = await w.retention.sweep()  # type: ignore[union-attr]
        audit.append(decision(NOW, "MPS-2026-000003"))  # the chain goes on after the rewrite
    assert swept.details == 1
    inputs = {"inputs": "what the register showed"}
    assert [detail for _, detail in details(tmp_path / "audit", "decide", "decision")] == [
        None,
        inputs,
        inputs,
        inputs,
    ]
    assert sample_value(w, "dvtrigger_retention_purged_total", kind="audit_detail") == 1
    assert verify_directory(tmp_path / "audit").problems == []


async def test_the_decide_worker_holds_nothing_without_a_held_refs_file(tmp_path: Path) -> None:
    with decide_chain(tmp_path) as audit:
        w = make_worker(Settings(data_dir=tmp_path), clock=FakeClock(NOW), audit=audit)
        assert (await w.retention.sweep()).details == 2  # type: ignore[union-attr]
    assert verify_directory(tmp_path / "audit").problems == []


async def test_the_held_refs_setting_holds_for_a_worker_on_another_volume(
    tmp_path: Path,
) -> None:
    held = RetentionSettings(held_refs=frozenset({"MPS-2026-000001"}))
    with decide_chain(tmp_path) as audit:
        settings = Settings(data_dir=tmp_path, retention=held)
        w = make_worker(settings, clock=FakeClock(NOW), audit=audit)
        assert (await w.retention.sweep()).details == 1  # type: ignore[union-attr]
    kept = [
        (r["incident"], d is not None) for r, d in details(tmp_path / "audit", "decide", "decision")
    ]
    assert kept[:2] == [(["MPS-2026-000001"], True), (["MPS-2026-000002"], False)]


async def test_an_unreadable_held_refs_file_stops_the_purge(tmp_path: Path) -> None:
    with decide_chain(tmp_path) as audit:
        (tmp_path / "audit" / HELD_REFS_FILE).mkdir()  # cannot be read as a file
        w = make_worker(Settings(data_dir=tmp_path), clock=FakeClock(NOW), audit=audit)
        assert (await w.retention.sweep()).details == 0  # type: ignore[union-attr]
    assert all(
        detail is not None for _, detail in details(tmp_path / "audit", "decide", "decision")
    )


async def test_a_log_that_cannot_purge_is_left_alone(tmp_path: Path) -> None:
    assert not isinstance(NoAudit(), PurgeableAuditLog)
    w = make_worker(Settings(data_dir=tmp_path), clock=FakeClock(NOW), audit=NoAudit())
    assert (await w.retention.sweep()).details == 0  # type: ignore[union-attr]
