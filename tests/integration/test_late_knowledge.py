"""Late knowledge on a real broker: a pregnancy booked after an incident still raises one task."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors.cli.replay import replay
from schemas.decision import Decision
from streams.domain.tasks import subject_key
from tests.support.fakes import FATHER, register_body
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
    """The last decision record on the decision log (one incident: the latest)."""
    records = [Decision.model_validate_json(r.value) for r in stack.read_topic("decisions")]
    return max(enumerate(records), key=lambda pair: (pair[1].revision, pair[0]))[1]


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
