"""The task notice's words and headers, and the ledger of notices sent."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from connectors.case_system.mail_content import (
    Envelope,
    Notice,
    message_id,
    notice_message,
    subject_line,
    task_key,
    task_link,
)
from connectors.case_system.sent_ledger import SentLedger
from schemas.task import RaiseTask
from tests.support.samples import HOSTILE_NAME, personal_data_in, sample_raise_task

ENVELOPE = Envelope(
    sender="dvtrigger@alerts.council.test",
    recipients=("mash-duty@council.test", "edt@council.test"),
    link_base="https://duty-inbox.council.test/",
)
NOW = datetime(2026, 12, 4, 16, 5, tzinfo=UTC)
WINTER_DUE = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)


def message(cmd: RaiseTask, task_id: str = "t-1", updated: bool = False) -> EmailMessage:
    return notice_message(Notice(cmd, task_id, updated), ENVELOPE, NOW)


def body_of(mail: EmailMessage) -> str:
    return str(mail.get_content())


def police_report_subject_task(**overrides: Any) -> RaiseTask:
    """An unborn child known only from the police report, named with a hostile name."""
    cmd = sample_raise_task(local_authority=None, **overrides)
    subject = cmd.subject.model_copy(
        update={
            "basis": "police_report",
            "kind": "unborn",
            "subject_ref": None,
            "person_ref": "P3",
            "given_name": HOSTILE_NAME,
            "date_of_birth": None,
            "expected_delivery_date": date(2026, 10, 1),
        }
    )
    return cmd.model_copy(update={"subject": subject})


def test_the_subject_says_priority_type_due_time_and_task() -> None:
    cmd = sample_raise_task(due_by=WINTER_DUE)
    assert str(message(cmd)["Subject"]) == (
        "[dvtrigger] URGENT child protection investigation due Sat 05 Dec 10:00 - task t-1"
    )


@pytest.mark.parametrize(
    ("overrides", "updated", "head"),
    [
        ({"outcome": "review"}, False, "HIGH match review due Sat 05 Dec 10:00"),
        ({"revision": 2}, True, "Updated: URGENT child protection investigation due"),
        (
            {"amendment": 1, "needs_confirmation": True},
            True,
            "Needs confirmation: URGENT child protection investigation due",
        ),
        (
            {"revision": 2, "outcome": "withdrawn"},
            True,
            "Withdrawn: child protection investigation",
        ),
    ],
)
def test_the_subject_says_what_changed(overrides: dict[str, Any], updated: bool, head: str) -> None:
    cmd = sample_raise_task(due_by=WINTER_DUE, **overrides)
    subject = subject_line(Notice(cmd, "t-1", updated), "Europe/London")
    assert subject.startswith(f"[dvtrigger] {head}") and subject.endswith(" - task t-1")


def test_the_body_lists_the_references_and_the_link() -> None:
    body = body_of(message(sample_raise_task(due_by=WINTER_DUE), task_id="task/1 x"))
    assert body.splitlines()[2:12] == [
        "Task:         Child protection investigation",
        "Priority:     Urgent",
        "Due:          Sat 05 Dec 2026, 10:00 GMT (Europe/London)",
        "Queue:        duty",
        "Council:      E09000014",
        "Police force: MPS",
        "Incident:     MPS-2026-000001",
        "Version:      revision 1, amendment 0",
        "State:        new",
        "Task id:      task/1 x",
    ]
    assert "https://duty-inbox.council.test/tasks/task%2F1%20x\n" in body


def test_due_times_are_on_the_wall_clock_of_the_council() -> None:
    summer = body_of(message(sample_raise_task()))  # 06:22 UTC on 31 Jul
    assert "Due:          Fri 31 Jul 2026, 07:22 BST (Europe/London)" in summer
    winter = body_of(message(sample_raise_task(due_by=WINTER_DUE)))
    assert "Due:          Sat 05 Dec 2026, 10:00 GMT (Europe/London)" in winter


@pytest.mark.parametrize(
    ("overrides", "state"),
    [
        ({"revision": 2, "outcome": "withdrawn"}, "updated: withdrawn, no investigation"),
        ({"amendment": 1, "needs_confirmation": True}, "updated: needs confirmation, a person"),
        ({"revision": 2}, "updated"),
    ],
)
def test_the_state_says_whether_an_update_needs_confirmation_or_withdraws(
    overrides: dict[str, Any], state: str
) -> None:
    body = body_of(message(sample_raise_task(**overrides), updated=True))
    assert f"State:        {state}" in body


def test_the_headers_identify_the_version_and_ask_for_no_auto_replies() -> None:
    cmd = sample_raise_task(revision=2, amendment=1)
    mail = message(cmd)
    assert mail["From"] == "dvtrigger@alerts.council.test"
    assert mail["To"] == "mash-duty@council.test, edt@council.test"
    assert mail["Date"] == "Fri, 04 Dec 2026 16:05:00 +0000"
    key = task_key(cmd.idempotency_key)
    assert mail["Message-ID"] == f"<{key}.r2.a1@alerts.council.test>"
    assert mail["X-dvtrigger-Task-Key"] == key
    assert mail["Auto-Submitted"] == "auto-generated"
    assert (mail.get_content_type(), mail.get_content_charset()) == ("text/plain", "utf-8")
    assert mail["Content-Transfer-Encoding"] == "7bit"


def test_the_message_id_is_one_per_version_and_names_no_reference() -> None:
    key = "MPS-2026-000001/subject:C002916a"
    same = message_id(key, 1, 0, "a.test")
    assert same == message_id(key, 1, 0, "a.test")
    others = {
        message_id(key, 2, 0, "a.test"),
        message_id(key, 1, 1, "a.test"),
        message_id("MPS-2026-000001/subject:U2", 1, 0, "a.test"),
    }
    assert same not in others and len(others) == 3
    for text in (same, task_key(key)):
        assert "MPS" not in text and "C002916a" not in text


def test_a_link_base_with_or_without_a_slash_gives_one_link() -> None:
    assert task_link("https://inbox.test", "t") == task_link("https://inbox.test/", "t")


@pytest.mark.parametrize(
    "cmd",
    [
        sample_raise_task(),
        sample_raise_task(outcome="review"),
        police_report_subject_task(),
        sample_raise_task(
            amendment=1,
            needs_confirmation=True,
            confirmation_reason="the register now has a date of birth 2025-01-02",
            changes=["date of birth corrected to 11/02/2026"],
        ),
    ],
    ids=["register child", "review", "police-report unborn, hostile name", "confirmation"],
)
def test_the_message_carries_no_personal_data(cmd: RaiseTask) -> None:
    raw = message(cmd, updated=True).as_string()
    assert personal_data_in(raw, cmd) == []
    assert HOSTILE_NAME not in raw and "script" not in raw
    for words in [cmd.confirmation_reason, *cmd.changes, cmd.incident.summary]:
        assert not words or words not in raw
    assert "2025-01-02" not in raw and "2026-10-01" not in raw


def test_a_police_report_subject_has_no_council() -> None:
    assert "Council:      not known" in body_of(message(police_report_subject_task()))


def test_control_characters_from_outside_become_question_marks() -> None:
    cmd = sample_raise_task(incident_id="MPS-1\r\nOpen: https://evil.test", queue="edt\x00")
    body = body_of(message(cmd))
    assert "Incident:     MPS-1??Open: https://evil.test" in body
    assert "Queue:        edt?" in body
    assert not any(line.startswith("Open: https://evil") for line in body.splitlines())


async def test_the_ledger_knows_each_version_it_was_told_of() -> None:
    ledger = SentLedger.memory()
    assert not await ledger.sent("k", 1, 0)
    await ledger.record("k", 1, 0, "<a@x>", NOW)
    await ledger.record("k", 1, 0, "<b@x>", NOW)  # a second note changes nothing
    assert await ledger.sent("k", 1, 0)
    assert not await ledger.sent("k", 1, 1)
    assert not await ledger.sent("k", 2, 0)
    assert not await ledger.sent("other", 1, 0)
    ledger.close()


async def test_the_ledger_file_outlives_its_process_and_runs_in_wal(tmp_path: Path) -> None:
    path = tmp_path / "mail" / "sent.sqlite3"
    ledger = SentLedger(path)
    await ledger.record("k", 3, 2, "<m@x>", NOW)
    ledger.close()
    again = SentLedger(path)
    assert await again.sent("k", 3, 2)
    again.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        rows = db.execute("SELECT * FROM sent").fetchall()
    assert rows == [("k", 3, 2, "<m@x>", NOW.isoformat())]


def test_a_withdrawal_says_so_first() -> None:
    body = body_of(message(sample_raise_task(revision=2, outcome="withdrawn"), updated=True))
    assert body.startswith("A task in the duty inbox was withdrawn.\n")
