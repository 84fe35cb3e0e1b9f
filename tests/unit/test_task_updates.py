"""The one rule for task commands (create, update with a newer (revision, amendment), or not),
and the one rule for what a person records on a task."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.task import RaiseTask
from streams.domain.ports.case_system import TaskReceipt, TaskRecord
from streams.domain.ports.task_outcomes import (
    Outcome,
    OutcomeRefused,
    apply_outcome,
    audit_action,
    is_override,
)
from streams.domain.ports.task_updates import apply_task_command
from tests.support.samples import sample_raise_task

CREATED_AT = datetime(2026, 7, 30, 9, 0, tzinfo=UTC)
LATER = CREATED_AT + timedelta(hours=2)
BASE = sample_raise_task()


def command(revision: int = 1, amendment: int = 0, **fields: object) -> RaiseTask:
    """The sample command at this (revision, amendment), without building it again."""
    return BASE.model_copy(update={"revision": revision, "amendment": amendment, **fields})


def stored(revision: int = 1, amendment: int = 0, **fields: object) -> TaskRecord:
    """A task created at revision 1 that now holds the command at (revision, amendment)."""
    record = apply_task_command(None, command(), CREATED_AT, "task-1").record
    return record.model_copy(
        update={"revision": revision, "task": command(revision, amendment), **fields}
    )


def test_the_first_command_creates_an_open_task() -> None:
    cmd = command(revision=2)
    change = apply_task_command(None, cmd, CREATED_AT, "task-1")
    assert change.kind == "created"
    assert change.record == TaskRecord(
        task_id="task-1",
        status="open",
        revision=2,
        created_revision=2,
        created_at=CREATED_AT,
        task=cmd,
    )
    assert change.receipt == TaskReceipt(task_id="task-1", created=True, updated=False, revision=2)


@pytest.mark.parametrize(
    ("revision", "amendment"), [(2, 0), (1, 1), (3, 7)], ids=["revision", "amendment", "both"]
)
def test_a_newer_command_updates_the_task(revision: int, amendment: int) -> None:
    cmd = command(revision, amendment, outcome="review", changes=["what changed"])
    change = apply_task_command(stored(), cmd, LATER, "unused")
    assert change.kind == "updated"
    record = change.record
    assert (record.task_id, record.task, record.revision) == ("task-1", cmd, revision)
    assert (record.created_revision, record.created_at) == (1, CREATED_AT)
    assert (record.status, record.revised_at, record.received_at) == ("open", LATER, LATER)
    assert change.receipt == TaskReceipt(
        task_id="task-1", created=False, updated=True, revision=revision
    )


@pytest.mark.parametrize(
    ("revision", "amendment"), [(2, 1), (2, 0), (1, 5)], ids=["equal", "lower", "older-revision"]
)
def test_an_equal_or_older_command_changes_nothing(revision: int, amendment: int) -> None:
    before = stored(revision=2, amendment=1)
    change = apply_task_command(before, command(revision, amendment), LATER, "unused")
    assert change.kind == "unchanged"
    assert change.record is before
    assert change.receipt == TaskReceipt(task_id="task-1", created=False, updated=False, revision=2)


def test_a_withdrawal_follows_the_same_rule() -> None:
    withdrawal = command(revision=2, outcome="withdrawn")
    change = apply_task_command(stored(), withdrawal, LATER, "unused")
    assert (change.kind, change.record.task) == ("updated", withdrawal)
    late_trigger = command(revision=1, amendment=1)
    again = apply_task_command(change.record, late_trigger, LATER, "unused")
    assert (again.kind, again.record.task.outcome) == ("unchanged", "withdrawn")


@pytest.mark.parametrize("status", ["acknowledged", "closed"])
def test_an_update_reopens_a_task_the_duty_team_had_worked(status: str) -> None:
    worked = stored(status=status, acknowledged_at=CREATED_AT, closed_at=CREATED_AT)
    change = apply_task_command(worked, command(amendment=1), LATER, "unused")
    assert change.record.status == "open"  # a person must look at what changed
    assert (change.record.acknowledged_at, change.record.closed_at) == (CREATED_AT, CREATED_AT)
    unchanged = apply_task_command(worked, command(), LATER, "unused")
    assert unchanged.record.status == status


#: A run of commands for one task, each told apart by its `changes`.
orders = st.lists(st.tuples(st.integers(1, 4), st.integers(0, 3)), min_size=1, max_size=12)


@given(orders)
def test_the_task_ends_with_the_newest_command_first_seen(order: list[tuple[int, int]]) -> None:
    commands = [command(r, a, changes=[f"command {i}"]) for i, (r, a) in enumerate(order)]
    record: TaskRecord | None = None
    kinds: list[str] = []
    for minute, cmd in enumerate(commands):
        change = apply_task_command(record, cmd, CREATED_AT + timedelta(minutes=minute), "task-1")
        record = change.record
        kinds.append(change.kind)
        assert change.receipt.revision == record.revision == record.task.revision
    newest = max(order)
    assert record is not None
    assert record.task == commands[order.index(newest)]
    assert (record.task_id, record.created_revision) == ("task-1", order[0][0])
    newer = [order[i] > max(order[:i]) for i in range(1, len(order))]
    assert kinds == ["created", *("updated" if n else "unchanged" for n in newer)]


# --- what a person records: `task_outcomes.apply_outcome` ------------------------------------

NOW = LATER + timedelta(hours=1)


def in_hand(outcome: str = "trigger") -> TaskRecord:
    """An acknowledged task holding a trigger (an investigation) or a review."""
    task_type = "match_review" if outcome == "review" else "child_protection_investigation"
    return stored(task=command(outcome=outcome, task_type=task_type)).model_copy(
        update={"status": "acknowledged", "acknowledged_at": LATER}
    )


@pytest.mark.parametrize(
    ("record", "outcome", "why"),
    [
        (stored(), Outcome("no_further_action", "known"), "not_acknowledged"),
        (stored(status="closed"), Outcome("no_further_action", "known"), "closed"),
        (in_hand(), Outcome("no_further_action"), "reason_needed"),
        (in_hand(), Outcome("no_further_action", " \t"), "reason_needed"),
        (in_hand(), Outcome("strategy_discussion_held"), "date_needed"),
        (
            in_hand(),
            Outcome("strategy_discussion_held", held_on=NOW.date() + timedelta(1)),
            "date_needed",
        ),
        (in_hand(), Outcome("same_family", "same home"), "wrong_task_type"),
        (in_hand("review"), Outcome("no_further_action", "known"), "wrong_task_type"),
        (in_hand("review"), Outcome("not_this_family"), "reason_needed"),
    ],
)
def test_an_outcome_that_does_not_fit_is_refused(
    record: TaskRecord, outcome: Outcome, why: str
) -> None:
    with pytest.raises(OutcomeRefused) as refused:
        apply_outcome(record, outcome, "dana", NOW)
    assert refused.value.why == why and str(refused.value) == why


def test_a_strategy_discussion_closes_an_investigation_with_who_and_when() -> None:
    held = apply_outcome(
        in_hand(), Outcome("strategy_discussion_held", held_on=NOW.date()), "dana", NOW
    )
    assert (held.status, held.closed_at, held.resolution) == (
        "closed",
        NOW,
        "strategy_discussion_held",
    )
    assert (held.strategy_discussion_on, held.resolved_by, held.resolved_at) == (
        NOW.date(),
        "dana",
        NOW,
    )
    assert not is_override(held)


def test_no_further_action_on_a_trigger_is_a_recorded_override() -> None:
    closed = apply_outcome(in_hand(), Outcome("no_further_action", "known, supported"), "dana", NOW)
    assert (closed.status, closed.resolution_reason) == ("closed", "known, supported")
    assert is_override(closed) and audit_action(closed, "no_further_action") == "overrode_trigger"


def test_a_review_of_the_same_family_is_an_investigation_until_a_revision_reopens_it() -> None:
    same = apply_outcome(in_hand("review"), Outcome("same_family", "same home"), "dana", NOW)
    assert (same.status, same.task_type, same.review_reason) == (
        "acknowledged",
        "child_protection_investigation",
        "same home",
    )
    closed = apply_outcome(same, Outcome("no_further_action", "supported"), "erin", NOW)
    assert (closed.review_result, closed.reviewed_by, closed.resolved_by) == (
        "same_family",
        "dana",
        "erin",
    )
    assert not is_override(closed)  # a review a person confirmed: no automated trigger overridden
    newer = command(revision=2, outcome="review", task_type="match_review")
    reopened = apply_task_command(closed, newer, NOW + timedelta(hours=1), "unused").record
    assert (reopened.status, reopened.task_type) == ("open", "match_review")
    assert (reopened.review_result, reopened.resolution) == ("same_family", "no_further_action")
    assert not reopened.in_force(reopened.resolved_at)  # kept as history, no longer holding


def test_a_review_not_of_this_family_is_closed() -> None:
    closed = apply_outcome(
        in_hand("review"), Outcome("not_this_family", "another family"), "dana", NOW
    )
    assert (closed.status, closed.closed_at, closed.review_result) == (
        "closed",
        NOW,
        "not_this_family",
    )
    assert closed.resolution is None


@given(orders)
def test_no_command_ever_closes_a_task(order: list[tuple[int, int]]) -> None:
    record = None
    for n, (revision, amendment) in enumerate(order):
        outcome = ("trigger", "review", "withdrawn")[n % 3]
        cmd = command(revision, amendment, outcome=outcome)
        record = apply_task_command(record, cmd, CREATED_AT + timedelta(minutes=n), "t").record
        assert record.status == "open" and record.closed_at is None
