"""Retention on a real broker: a subject past its time is purged by the worker's timer, and its
key gets a tombstone on the register changelog; a subject in scope keeps its record."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors.kafka.topics import changelog
from tests.support.duty_inbox import serve_duty_inbox
from tests.support.fakes import HOME, MOTHER, register_body
from tests.support.stack import Stack, running_stack, wait_for
from tests.support.topics import read_topic

pytestmark = pytest.mark.integration


def birth(ref: str, born: date) -> dict[str, Any]:
    """A birth registered on its day, as the child health feed sends it."""
    return register_body(
        ref,
        "birth_registered",
        recorded_at=datetime(born.year, born.month, born.day, 9, tzinfo=UTC).isoformat(),
        effective_date=born.isoformat(),
        subject={
            "given_name": "Zebedee",
            "family_name": "Quuxley",
            "date_of_birth": born.isoformat(),
        },
        carers=[MOTHER],
        address=HOME,
    )


def changelog_records(stack: Stack, table: str) -> list[Any]:
    """Every record now on a table's changelog, from the beginning."""
    return read_topic(stack.bootstrap, changelog(stack.settings, table))


def test_a_subject_past_its_time_is_tombstoned_on_the_register_changelog(
    broker: str, tmp_path: Path
) -> None:
    today = datetime.now(UTC).date()
    long_ago = today - timedelta(days=366 + 200)  # first birthday + 180 days: past
    recent = today - timedelta(days=30)
    with (
        serve_duty_inbox(tmp_path / "inbox.sqlite3") as inbox,
        running_stack(broker, inbox, tmp_path, DVTRIGGER_RETENTION__PURGE_INTERVAL_S="1") as stack,
    ):
        stack.publish("register", [birth("C-OLD", long_ago), birth("C-NEW", recent)])
        wait_for(
            "the old subject's purge",
            lambda: stack.metric("dvtrigger_retention_purged_total", kind="register_subject") >= 1,
        )
        wait_for("the register to hold one subject", lambda: stack.register_size() == 1)
        records = changelog_records(stack, "register-subjects")
        purged = stack.metric("dvtrigger_retention_purged_total", kind="register_subject")
    last = {bytes(r.key): r.value for r in records}
    assert last[b"C-OLD"] is None  # the tombstone: compaction drops the key
    assert any(bytes(r.key) == b"C-OLD" and r.value is not None for r in records)
    assert last[b"C-NEW"] is not None
    assert purged == 1
