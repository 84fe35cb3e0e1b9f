"""Duty inbox retention: closed tasks go after their council's period, held ones stay, open
ones stay; `dvtrigger retention` purges them and the audit details of the same age."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.audit.file import FileAuditLog, read
from connectors.cli.main import main as dvtrigger
from connectors.duty_inbox.retention import (
    expired,
    held_refs,
    holds,
    place_hold,
    purge_closed_tasks,
    release_hold,
)
from connectors.duty_inbox.store import TaskStore, UnknownTask
from streams.domain.ports.audit import HELD_REFS_FILE, AuditEvent
from tests.support.duty_inbox import close_task
from tests.support.samples import sample_raise_task

NOW = datetime(2027, 6, 1, 12, 0, tzinfo=UTC)
COUNCIL, OTHER = "E09000014", "E09000033"


class Inbox:
    """A duty inbox database whose clock a test sets before each action."""

    def __init__(self, path: Path) -> None:
        self.path, self.now = path, NOW
        self.store = TaskStore(path, clock=lambda: self.now)

    def closed(self, ref: str, days_ago: int, council: str | None = COUNCIL) -> str:
        """A task of `council` closed `days_ago` days before NOW; its id."""
        self.now = NOW - timedelta(days=days_ago + 1)
        cmd = sample_raise_task(f"MPS-2026-{ref}", subject_ref=ref, local_authority=council)
        task_id = self.store.raise_task(cmd).task_id
        self.now = NOW - timedelta(days=days_ago)
        close_task(self.store, task_id)
        self.now = NOW
        return task_id

    def ids(self) -> set[str]:
        return {task.task_id for task in self.store.list_tasks(limit=None)}


@pytest.fixture
def inbox(tmp_path: Path) -> Inbox:
    return Inbox(tmp_path / "inbox.sqlite3")


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """DATA_DIR in the test's directory: `hold` and `release` write the held refs there."""
    monkeypatch.setenv("DVTRIGGER_DATA_DIR", str(tmp_path))
    return tmp_path


def test_closed_tasks_go_after_their_councils_period(inbox: Inbox) -> None:
    short_old = inbox.closed("000001", 40, OTHER)  # OTHER keeps 30 days
    short_new = inbox.closed("000002", 20, OTHER)
    default_mid = inbox.closed("000003", 40, COUNCIL)  # COUNCIL keeps the default 365
    default_old = inbox.closed("000004", 400, COUNCIL)
    no_council = inbox.closed("000005", 400, None)
    result = purge_closed_tasks(inbox.path, NOW, 365, {OTHER: 30})
    assert sorted(result.task_ids) == sorted([short_old, default_old, no_council])
    assert result.by_council == {OTHER: 1, COUNCIL: 1, "none": 1}
    assert inbox.ids() == {short_new, default_mid}


def test_open_and_acknowledged_tasks_are_never_purged(inbox: Inbox) -> None:
    inbox.now = NOW - timedelta(days=3000)
    opened = inbox.store.raise_task(sample_raise_task("MPS-2026-000001")).task_id
    acknowledged = inbox.store.raise_task(sample_raise_task("MPS-2026-000002")).task_id
    inbox.store.acknowledge(acknowledged)
    assert purge_closed_tasks(inbox.path, NOW, 0, {}).purged == 0
    assert inbox.ids() == {opened, acknowledged}


def test_a_held_task_stays_until_its_hold_is_released(inbox: Inbox) -> None:
    held = inbox.closed("000001", 4000)
    place_hold(inbox.path, held, "subject access request 2027/014", "user:dana", NOW)
    result = purge_closed_tasks(inbox.path, NOW, 365, {COUNCIL: 0})
    assert (result.purged, result.held) == (0, 1) and inbox.ids() == {held}
    (hold,) = holds(inbox.path)
    assert (hold.task_id, hold.placed_by, hold.placed_at) == (held, "user:dana", NOW)
    assert release_hold(inbox.path, held) and not release_hold(inbox.path, held)
    assert purge_closed_tasks(inbox.path, NOW, 365, {}).task_ids == [held]


def test_a_hold_needs_a_task_and_a_reason(inbox: Inbox) -> None:
    task_id = inbox.closed("000001", 1)
    with pytest.raises(UnknownTask):
        place_hold(inbox.path, "no-such-task", "a reason", "user:dana", NOW)
    with pytest.raises(ValueError, match="reason"):
        place_hold(inbox.path, task_id, "  ", "user:dana", NOW)
    assert holds(inbox.path) == []


def test_held_refs_name_the_task_and_its_incident(inbox: Inbox) -> None:
    task_id = inbox.closed("000007", 1)
    place_hold(inbox.path, task_id, "complaint", "user:dana", NOW)
    assert held_refs(inbox.path) == {task_id, "MPS-2026-000007"}


def test_the_period_is_counted_from_the_close() -> None:
    closed = NOW - timedelta(days=30)
    assert not expired(closed, OTHER, NOW, 365, {OTHER: 30})
    assert expired(closed - timedelta(seconds=1), OTHER, NOW, 365, {OTHER: 30})
    assert not expired(closed - timedelta(days=1), COUNCIL, NOW, 365, {OTHER: 30})


def test_a_missing_database_is_refused_not_created(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        purge_closed_tasks(tmp_path / "absent.sqlite3", NOW, 365)
    assert not (tmp_path / "absent.sqlite3").exists()


# --- the command line -----------------------------------------------------------------------


def audited(directory: Path, refs: dict[str, list[str]], days_ago: int) -> None:
    """Append one view of a task, with a detail, `days_ago` days before now."""
    with FileAuditLog(directory, "inbox", sync=False) as log:
        log.append(
            AuditEvent(
                kind="view",
                at=datetime.now(UTC) - timedelta(days=days_ago),
                actor="user:dana",
                action="viewed",
                refs=refs,
                detail={"shown": "the task page"},
            )
        )


def test_the_command_purges_tasks_and_audit_details_but_what_is_held(
    inbox: Inbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old, held = inbox.closed("000001", 4000), inbox.closed("000002", 4000)
    db, audit = str(inbox.path), tmp_path / "audit"
    assert dvtrigger(["retention", "hold", held, "--reason", "complaint", "--db", db]) == 0
    for task_id in (old, held):
        audited(audit, {"task": [task_id]}, days_ago=800)
    audited(audit, {"task": [old]}, days_ago=1)
    assert dvtrigger(["retention", "inbox", "--db", db, "--audit-dir", str(audit)]) == 0
    out = capsys.readouterr().out
    assert "purged 1 closed tasks (E09000014 1); 1 on hold" in out
    assert "audit log inbox: purged 1 details" in out
    assert inbox.ids() == {held}
    views = [r.record for r in read(audit, "inbox") if r.record["kind"] == "view"]
    assert [(v["refs"]["task"], v["detail"]) for v in views] == [
        ([old], None),
        ([held], {"shown": "the task page"}),
        ([old], {"shown": "the task page"}),
    ]


def test_a_running_audit_writer_is_skipped_and_said_so(
    inbox: Inbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    audit = tmp_path / "audit"
    audited(audit, {"task": ["t-1"]}, days_ago=800)
    with FileAuditLog(audit, "inbox", sync=False):
        code = dvtrigger(["retention", "inbox", "--db", str(inbox.path), "--audit-dir", str(audit)])
    assert code == 0
    assert "audit log inbox: skipped, its writer is running" in capsys.readouterr().out


def test_holding_an_unknown_task_fails(inbox: Inbox, capsys: pytest.CaptureFixture[str]) -> None:
    code = dvtrigger(["retention", "hold", "nope", "--reason", "x", "--db", str(inbox.path)])
    assert code == 1 and "no task nope" in capsys.readouterr().err
    assert dvtrigger(["retention", "release", "nope", "--db", str(inbox.path)]) == 1


def test_hold_and_release_rewrite_the_held_refs_beside_the_chains(
    inbox: Inbox, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    task_id, db = inbox.closed("000001", 1), str(inbox.path)
    refs = data_dir / "audit" / HELD_REFS_FILE
    audited(data_dir / "audit", {"task": [task_id]}, days_ago=1)  # the directory exists
    assert dvtrigger(["retention", "hold", task_id, "--reason", "complaint", "--db", db]) == 0
    assert refs.read_text().splitlines() == sorted([task_id, "MPS-2026-000001"])
    setting = f"DVTRIGGER_RETENTION__HELD_REFS='{json.dumps(sorted([task_id, 'MPS-2026-000001']))}'"
    assert setting in capsys.readouterr().out
    assert dvtrigger(["retention", "release", task_id, "--db", db]) == 0
    assert refs.read_text() == ""


def test_no_held_refs_are_written_where_there_is_no_audit_log(inbox: Inbox, data_dir: Path) -> None:
    task_id = inbox.closed("000001", 1)
    assert dvtrigger(["retention", "hold", task_id, "--reason", "x", "--db", str(inbox.path)]) == 0
    assert not (data_dir / "audit").exists()
