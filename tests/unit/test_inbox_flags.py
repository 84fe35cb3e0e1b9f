"""What the stream marks on a task, in the duty inbox: needs confirmation, queue, late, people."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.duty_inbox.listing import task_line, what_happened
from connectors.duty_inbox.query import TaskQuery
from connectors.duty_inbox.render import child_name, subject_html
from connectors.duty_inbox.store import TaskStore
from schemas.task import RaiseTask, TaskPerson
from streams.domain.ports.case_system import TaskRecord
from tests.support.duty_inbox import add_client, add_user, bearer, inbox_app, sign_in
from tests.support.samples import OCCURRED_AT, sample_raise_task, sample_subject

NOW = OCCURRED_AT + timedelta(hours=1)

DOUBT = "the register now records the child's date of birth as 11 Feb 2025"
MOTHER = TaskPerson(
    person_ref="P1", role="victim", known_as="the baby's mother", how="same name and date of birth"
)
STRANGER = TaskPerson(person_ref="P2", role="suspect", how="not matched to the family")


def in_doubt(incident_id: str = "MPS-2026-000002", **fields: Any) -> RaiseTask:
    """A task the register has since put in doubt."""
    marks = {"needs_confirmation": True, "confirmation_reason": DOUBT, "changes": [DOUBT]}
    return sample_raise_task(incident_id, f"C{incident_id[-1]}", **(marks | fields))


def at_night(incident_id: str = "MPS-2026-000003") -> RaiseTask:
    """A task raised out of hours into the emergency duty team's queue."""
    return sample_raise_task(incident_id, f"C{incident_id[-1]}", queue="edt")


def _ids(store: TaskStore, query: TaskQuery) -> list[str]:
    return [record.task.incident_id for record in store.page(query, None).tasks]


def test_the_store_filters_by_needs_confirmation_and_by_queue(tmp_path: Path) -> None:
    store = TaskStore(tmp_path / "inbox.sqlite3")
    for cmd in (sample_raise_task(), in_doubt(), at_night()):
        store.raise_task(cmd)
    assert _ids(store, TaskQuery(needs_confirmation=True)) == ["MPS-2026-000002"]
    assert _ids(store, TaskQuery(queue="emergency")) == ["MPS-2026-000003"]
    assert _ids(store, TaskQuery(queue="duty")) == ["MPS-2026-000001", "MPS-2026-000002"]
    store.raise_task(in_doubt(amendment=1, needs_confirmation=False))  # confirmed by the register
    assert _ids(store, TaskQuery(needs_confirmation=True)) == []


def test_a_database_from_before_the_marks_is_filled_from_each_body(tmp_path: Path) -> None:
    path = tmp_path / "inbox.sqlite3"
    store = TaskStore(path)
    store.raise_task(in_doubt())
    store.raise_task(at_night())
    with sqlite3.connect(path) as db:
        for column in ("needs_confirmation", "queue"):
            db.execute(f"ALTER TABLE tasks DROP COLUMN {column}")
    migrated = TaskStore(path)
    assert _ids(migrated, TaskQuery(needs_confirmation=True)) == ["MPS-2026-000002"]
    assert _ids(migrated, TaskQuery(queue="emergency")) == ["MPS-2026-000003"]


def _record(cmd: RaiseTask) -> TaskRecord:
    return TaskRecord(
        task_id="t1",
        status="open",
        revision=1,
        created_revision=1,
        created_at=OCCURRED_AT,
        task=cmd,
    )


def test_what_happened_says_who_the_people_are_in_a_few_words() -> None:
    cmd = sample_raise_task("MPS-7", people=[MOTHER, STRANGER], incident=_high())
    assert what_happened(_record(cmd)) == (
        "Victim is the baby's mother; at the home; DASH high; MPS-7"
    )
    nobody = sample_raise_task("MPS-8", people=[STRANGER], reasons=["carer_is_party"])
    assert what_happened(_record(nobody)) == "No adult matched to the family; DASH medium; MPS-8"
    old = sample_raise_task("MPS-9")  # raised before tasks said who people are
    assert what_happened(_record(old)) == "Domestic abuse incident at the home, DASH medium, MPS-9"


def _high() -> Any:
    incident = sample_raise_task("MPS-7").incident
    return incident.model_copy(update={"dash_risk": "high"})


@pytest.fixture
async def inbox(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A duty worker signed in, and the deliver worker's token."""
    db = tmp_path / "inbox.sqlite3"
    app = inbox_app(db, clock=lambda: OCCURRED_AT + timedelta(hours=4))
    add_user(db)
    add_client(db)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://inbox") as client:
        await sign_in(client)
        for cmd in (sample_raise_task(), in_doubt(), at_night()):
            headers = {"Idempotency-Key": cmd.idempotency_key, **bearer()}
            await client.post("/api/tasks", content=cmd.model_dump_json(), headers=headers)
        yield client


async def test_the_list_marks_and_filters_the_flags_in_words(inbox: httpx.AsyncClient) -> None:
    html = (await inbox.get("/")).text
    assert html.count('<span class="tag confirm">needs confirmation</span>') == 1
    assert html.count('<span class="tag edt">emergency duty team (edt)</span>') == 1
    confirm = (await inbox.get("/?confirm=1")).text
    assert "1 task matches." in confirm and 'name="confirm" value="1" checked' in confirm
    assert "MPS-2026-000002" in confirm and "MPS-2026-000003" not in confirm
    night = (await inbox.get("/?queue=emergency")).text
    assert "1 task matches." in night and '<option value="emergency" selected>' in night
    assert "3 tasks match." in (await inbox.get("/?queue=nonsense")).text


async def test_the_api_filters_by_the_flags(inbox: httpx.AsyncClient) -> None:
    async def found(query: str) -> list[str]:
        answer = await inbox.get("/api/tasks" + query, headers=bearer())
        return [t["task"]["incident_id"] for t in answer.json()["tasks"]]

    assert await found("?needs_confirmation=true") == ["MPS-2026-000002"]
    assert await found("?queue=emergency") == ["MPS-2026-000003"]
    assert (await inbox.get("/api/tasks?queue=night", headers=bearer())).status_code == 422


def test_a_child_with_no_name_yet_is_listed_as_its_first_carers_baby() -> None:
    unborn = sample_subject(
        "U1", given_name=None, family_name=None, kind="unborn", date_of_birth=None
    )
    assert child_name(unborn) == "Baby of Imelda Quarrington (mother)"
    assert "<strong>Baby of Imelda Quarrington (mother)</strong>" in subject_html(unborn)
    assert child_name(sample_subject()) == "Wilhelmina Quarrington"
    assert child_name(sample_subject(given_name=None, family_name=None, carers=[])) == (
        "name not known"
    )


def test_the_list_line_colours_by_priority_and_names_only_reviews_and_withdrawals() -> None:
    normal = sample_raise_task(priority="normal")
    record = TaskRecord(
        task_id="t1", status="open", revision=1, created_revision=1, created_at=NOW, task=normal
    )
    line = task_line(record, NOW)
    assert '<tr class="trigger priority-normal"' in line
    assert '<span class="tag priority-normal">Normal</span>' in line
    assert "Investigation</span>" not in line  # the link says what it is
    review = record.model_copy(update={"task": sample_raise_task(outcome="review")})
    assert '<span class="tag review">Match review</span>' in task_line(review, NOW)
