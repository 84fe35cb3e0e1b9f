"""Late knowledge on a real broker: a pregnancy booked after an incident still raises one task,
and a baby already on a task (a pregnancy's, a police report's) never gets a second one."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors.cli.replay import replay
from schemas.decision import Decision
from streams.domain.decision_log import latest_by_incident, read_log
from streams.domain.tasks import subject_key
from tests.support.fakes import FATHER, MOTHER, NEW_HOME, STRANGER, register_body
from tests.support.samples import sample_incident
from tests.support.stack import Stack, wait_for

pytestmark = pytest.mark.integration

#: Days before now the incident happened: well within the 90-day window.
DAYS_AGO = 5


def incident() -> dict[str, Any]:
    """An incident days ago whose suspect is, unknown yet to the register, an expectant father."""
    occurred = datetime.now(UTC).replace(microsecond=0) - timedelta(days=DAYS_AGO)
    notification = sample_incident(
        "MPS-2026-004242",
        occurred_at=occurred.isoformat(),
        reported_at=(occurred + timedelta(hours=2)).isoformat(),
    )
    data: dict[str, Any] = json.loads(notification.model_dump_json())
    return data


def pregnancy_booked(incident_day: datetime) -> dict[str, Any]:
    """The pregnancy, booked today, began long before the incident (EDD 100 days after it)."""
    edd = (incident_day + timedelta(days=100)).date().isoformat()
    return register_body(
        "U4242",
        "pregnancy_registered",
        "unborn",
        source="maternity",
        recorded_at=datetime.now(UTC).replace(microsecond=0).isoformat(),
        subject={"expected_delivery_date": edd},
        carers=[FATHER],
        address={"lines": ["3 Elm Row"], "town": "London", "postcode": "E8 1AA"},
    )


def _latest_logged(stack: Stack) -> Decision:
    """The decision of the one incident on the decision log: its latest, copies dropped."""
    (decision,) = latest_by_incident(
        read_log(r.value for r in stack.read_topic("decisions"))
    ).values()
    return decision


def _replayed(tmp_path: Path, register: list[dict[str, Any]], incidents: list[Any]) -> Decision:
    """What replay, folding the whole register first, decides for the same messages."""
    for name, lines in (("register", register), ("incidents", incidents)):
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(m) + "\n" for m in lines))
    out = tmp_path / "replay.jsonl"
    replay(tmp_path / "register.jsonl", tmp_path / "incidents.jsonl", out)
    (line,) = out.read_text().splitlines()
    return Decision.model_validate_json(line)


def _redecided(stack: Stack) -> float:
    return sum(
        stack.metric("dvtrigger_incidents_redecided_total", result=r)
        for r in ("late_task", "decision_only", "unchanged")
    )


async def test_a_pregnancy_booked_after_the_incident_raises_one_late_task(
    stack: Stack, tmp_path: Path
) -> None:
    notification = incident()
    stack.publish("incidents", [notification])
    wait_for(
        "the incident decided no_action",
        lambda: stack.metric("dvtrigger_decisions_total", decision="no_action") == 1,
    )
    assert await stack.inbox_tasks() == []

    booked = pregnancy_booked(datetime.fromisoformat(notification["occurred_at"]))
    stack.publish("register", [booked])
    task = await stack.the_task_created("the late task in the duty inbox")
    assert task.task.idempotency_key == "MPS-2026-004242/subject:U4242"
    assert (task.task.outcome, task.task.late) == ("trigger", True)
    assert task.task.late_reason is not None
    assert task.task.late_reason.startswith(
        "the register learned of the pregnancy after the incident"
    )
    assert stack.metric("dvtrigger_incidents_redecided_total", result="late_task") == 1

    # The same booking again, as a second message: re-decided, and nothing new is raised.
    stack.publish("register", [{**booked, "event_id": str(uuid.uuid4())}])
    wait_for("the second re-decision", lambda: _redecided(stack) == 2)
    assert stack.metric("dvtrigger_incidents_redecided_total", result="unchanged") == 1
    assert [t.task_id for t in await stack.inbox_tasks()] == [task.task_id]
    assert len(stack.read_topic("task-commands")) == 1

    # The decision log now ends where replay, knowing the whole register, begins.
    logged, replayed = _latest_logged(stack), _replayed(tmp_path, [booked], [notification])
    assert logged.decision == replayed.decision == "trigger"
    assert {subject_key(s): s.outcome for s in logged.subjects} == {
        subject_key(s): s.outcome for s in replayed.subjects
    }


# --- register and police events interleaved, the register running behind ---------------------

INCIDENT_HOME = {"lines": ["Flat 7", "231 West Green Road"], "town": "London", "postcode": "N8 7DW"}


def _at(moment: datetime) -> str:
    return moment.replace(microsecond=0).isoformat()


def booked_before(incident_at: datetime, **kw: Any) -> dict[str, Any]:
    """The pregnancy as the register knew it in time: booked 60 days before the incident."""
    booked = incident_at - timedelta(days=60)
    return register_body(
        "U4242",
        "pregnancy_registered",
        "unborn",
        source="maternity",
        recorded_at=_at(booked),
        effective_date=booked.date().isoformat(),
        subject={"expected_delivery_date": (incident_at + timedelta(days=10)).date().isoformat()},
        carers=kw.pop("carers", [FATHER]),
        address=kw.pop("address", {"lines": ["3 Elm Row"], "town": "London", "postcode": "E8 1AA"}),
    )


def told_late(
    ref: str, type_: str, on: datetime, kind: str = "unborn", **kw: Any
) -> dict[str, Any]:
    """A register change effective `on` (before the incident), recorded only now."""
    return register_body(
        ref,
        type_,
        kind,
        recorded_at=_at(datetime.now(UTC)),
        effective_date=on.date().isoformat(),
        **kw,
    )


async def _in_order_then_told_late(
    stack: Stack, booked: dict[str, Any], late: dict[str, Any]
) -> tuple[Any, Any]:
    """The booking, then the incident (its task raised), then the late change: the task first
    created, and the task once updated, as the duty inbox holds them."""
    stack.publish("register", [booked])
    wait_for("the booking applied", lambda: stack.register_size() == 1)
    stack.publish("incidents", [incident()])
    raised = await stack.the_task_created("the task raised at the incident")
    stack.publish("register", [late])
    wait_for(
        "the task updated by the late change",
        lambda: stack.metric("dvtrigger_tasks_total", result="updated") == 1,
    )
    (updated,) = await stack.inbox_tasks()
    return raised, updated


def _occurred() -> datetime:
    return datetime.fromisoformat(incident()["occurred_at"])


async def test_a_birth_registered_late_updates_the_pregnancys_task(stack: Stack) -> None:
    at = _occurred()
    birth = told_late(
        "C4242",
        "birth_registered",
        at - timedelta(days=2),
        kind="child",
        subject={
            "from_pregnancy_ref": "U4242",
            "date_of_birth": (at - timedelta(days=2)).date().isoformat(),
        },
    )
    raised, updated = await _in_order_then_told_late(stack, booked_before(at), birth)
    assert updated.task_id == raised.task_id
    assert updated.task.idempotency_key == "MPS-2026-004242/subject:U4242"
    assert (updated.task.amendment, updated.task.outcome, updated.status) == (1, "trigger", "open")
    assert updated.task.subject.subject_ref == "C4242"
    born_on = (at - timedelta(days=2)).date().isoformat()
    assert f"born on {born_on}, now child record C4242" in updated.task.changes
    assert "C4242" not in updated.task.title
    assert stack.metric("dvtrigger_tasks_total", result="created") == 1
    keys = {r.key for r in stack.read_topic("task-commands")}
    assert keys == {b"MPS-2026-004242/subject:U4242"}


async def test_a_birth_after_the_incident_updates_the_pregnancys_task_once(stack: Stack) -> None:
    at = _occurred()
    born_on = (at + timedelta(days=2)).date().isoformat()  # after the incident day
    birth = register_body(
        "C4242",
        "birth_registered",
        recorded_at=_at(datetime.now(UTC)),
        effective_date=born_on,
        subject={"from_pregnancy_ref": "U4242", "date_of_birth": born_on},
    )
    raised, updated = await _in_order_then_told_late(stack, booked_before(at), birth)
    assert updated.task_id == raised.task_id and updated.status == "open"
    task = updated.task
    assert task.idempotency_key == "MPS-2026-004242/subject:U4242"
    assert (task.amendment, task.outcome, task.task_type) == (1, "trigger", raised.task.task_type)
    assert (task.subject.subject_ref, task.subject.kind) == ("C4242", "child")
    assert task.changes[-1] == f"born on {born_on}, now child record C4242"
    assert task.title == raised.task.title
    # The birth again (a redelivery): re-decided, nothing sent.
    stack.publish("register", [birth])
    wait_for(
        "the repeat re-decided",
        lambda: stack.metric("dvtrigger_incidents_redecided_total", result="unchanged") >= 1,
    )
    assert len(stack.read_topic("task-commands")) == 2
    assert stack.metric("dvtrigger_tasks_total", result="created") == 1
    assert [t.task_id for t in await stack.inbox_tasks()] == [raised.task_id]


def reported_pregnant(revision: int = 1) -> dict[str, Any]:
    """The incident with its victim (the register's MOTHER, to be) reported pregnant."""
    data = incident()
    data["persons"][0]["pregnant"] = True
    if revision > 1:
        data |= {"revision": revision, "notification_id": str(uuid.uuid4())}
    return data


async def test_a_pregnancy_booked_after_a_police_report_task_is_that_one_task(
    stack: Stack,
) -> None:
    notification = reported_pregnant()
    stack.publish("incidents", [notification])
    raised = await stack.the_task_created("the police-report task")
    assert raised.task.idempotency_key == "MPS-2026-004242/person:P1"
    booked = {
        **pregnancy_booked(datetime.fromisoformat(notification["occurred_at"])),
        "carers": [MOTHER],
    }
    stack.publish("register", [booked])
    wait_for(
        "the task updated with the register's record",
        lambda: stack.metric("dvtrigger_tasks_total", result="updated") == 1,
    )
    (updated,) = await stack.inbox_tasks()
    assert updated.task_id == raised.task_id
    task = updated.task
    assert (task.idempotency_key, task.amendment, task.outcome) == (
        "MPS-2026-004242/person:P1",
        1,
        "trigger",
    )
    assert (task.subject.basis, task.subject.subject_ref) == ("register", "U4242")
    assert task.changes[-1] == "the register now knows this pregnancy: record U4242"
    # A police revision after the link: the same task, neither withdrawn nor doubled.
    stack.publish("incidents", [reported_pregnant(2)])
    wait_for(
        "the revision's update",
        lambda: stack.metric("dvtrigger_tasks_total", result="updated") == 2,
    )
    (revised,) = await stack.inbox_tasks()
    assert revised.task_id == raised.task_id
    assert (revised.task.revision, revised.task.outcome) == (2, "trigger")
    keys = {r.key for r in stack.read_topic("task-commands")}
    assert keys == {b"MPS-2026-004242/person:P1"}
    assert stack.metric("dvtrigger_tasks_total", result="created") == 1


async def _flagged(stack: Stack, booked: dict[str, Any], late: dict[str, Any], reason: str) -> Any:
    """The task marked for confirmation by a late change, once, as the duty inbox holds it.

    The change is then sent again (a redelivery), and the booking again under a new event id:
    two re-decisions that change nothing.
    """
    raised, updated = await _in_order_then_told_late(stack, booked, late)
    assert updated.task_id == raised.task_id and updated.status == "open"
    task = updated.task
    assert (task.outcome, task.amendment, task.needs_confirmation) == ("trigger", 1, True)
    assert task.confirmation_reason is not None and task.changes == [task.confirmation_reason]
    assert stack.metric("dvtrigger_tasks_flagged_total", reason=reason) == 1
    # The same event again (a redelivery), then the booking again: nothing more sent or counted.
    stack.publish("register", [late, {**booked, "event_id": str(uuid.uuid4())}])
    wait_for(
        "the repeats re-decided",
        lambda: stack.metric("dvtrigger_incidents_redecided_total", result="unchanged") >= 2,
    )
    assert stack.metric("dvtrigger_incidents_redecided_total", result="unchanged") == 2
    assert len(stack.read_topic("task-commands")) == 2
    assert stack.metric("dvtrigger_tasks_flagged_total", reason=reason) == 1
    return task


async def test_a_loss_recorded_late_marks_the_task_for_a_person(stack: Stack) -> None:
    at = _occurred()
    loss = told_late("U4242", "pregnancy_ended", at - timedelta(days=3), outcome="loss")
    task = await _flagged(stack, booked_before(at), loss, "pregnancy_ended")
    assert "this pregnancy ended on" in task.confirmation_reason


async def test_a_move_recorded_late_marks_the_task_for_a_person(stack: Stack) -> None:
    at = _occurred()
    booked = booked_before(at, carers=[STRANGER], address=INCIDENT_HOME)  # matched by home alone
    move = told_late("U4242", "subject_moved", at - timedelta(days=10), address=NEW_HOME)
    task = await _flagged(stack, booked, move, "moved")
    assert "the family moved home on" in task.confirmation_reason


async def test_a_withdrawal_recorded_late_marks_the_task_for_a_person(stack: Stack) -> None:
    at = _occurred()
    withdrawn = told_late("U4242", "subject_withdrawn", at - timedelta(days=1))
    task = await _flagged(stack, booked_before(at), withdrawn, "withdrawn")
    assert "The register has withdrawn this record" in task.confirmation_reason
