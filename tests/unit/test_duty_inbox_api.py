"""The duty inbox JSON API through httpx's ASGI transport: statuses, revisions, work flow.

The client sends the deliver worker's bearer token and is signed in as a duty worker, whose
CSRF token it sends when it acknowledges a task or records its outcome (a person's acts).
Sign-in and authorisation themselves are tested in test_inbox_auth*.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from connectors.duty_inbox import sqlite
from schemas.task import RaiseTask
from tests.support.duty_inbox import add_client, add_user, bearer, inbox_app, sign_in
from tests.support.samples import personal_data_in, sample_raise_task
from tests.support.worker_faults import InjectedFull


@pytest.fixture
async def inbox(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    db = tmp_path / "inbox.sqlite3"
    app = inbox_app(db)
    add_user(db)
    add_client(db)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://inbox") as client:
        csrf = await sign_in(client)
        client.headers.update({**bearer(), "X-CSRF-Token": csrf})
        yield client


def no_action() -> dict[str, str]:
    return {"outcome": "no_further_action", "reason": "seen by the duty team"}


async def post(client: httpx.AsyncClient, cmd: RaiseTask, key: str | None = None) -> httpx.Response:
    headers = {"Idempotency-Key": key or cmd.idempotency_key}
    return await client.post("/api/tasks", content=cmd.model_dump_json(), headers=headers)


async def test_post_is_201_then_200(inbox: httpx.AsyncClient) -> None:
    first = await post(inbox, sample_raise_task())
    again = await post(inbox, sample_raise_task())
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["task_id"] == again.json()["task_id"]
    expected = {"task_id": first.json()["task_id"], "created": False, "updated": False}
    assert again.json() == expected | {"revision": 1}


async def test_a_post_the_database_cannot_store_is_503_and_stores_nothing(
    inbox: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    full = InjectedFull(Path("."))
    monkeypatch.setattr(sqlite, "write", full.write)
    full.fill()
    refused = await post(inbox, sample_raise_task())
    assert refused.status_code == 503 and "task_id" not in refused.json()
    assert (await inbox.get("/api/tasks")).json()["tasks"] == []
    full.free()
    assert (await post(inbox, sample_raise_task())).status_code == 201


async def test_post_with_a_higher_revision_updates(inbox: httpx.AsyncClient) -> None:
    await post(inbox, sample_raise_task())
    response = await post(inbox, sample_raise_task(revision=2))
    assert response.status_code == 200
    assert response.json()["updated"] is True and response.json()["revision"] == 2


async def test_post_needs_a_matching_idempotency_key(inbox: httpx.AsyncClient) -> None:
    cmd = sample_raise_task()
    missing = await inbox.post("/api/tasks", content=cmd.model_dump_json())
    wrong = await post(inbox, cmd, key="MPS-2026-000001:someone-else")
    assert (missing.status_code, wrong.status_code) == (422, 422)
    assert (await inbox.get("/api/tasks")).json() == {"tasks": [], "next_cursor": None, "total": 0}


async def test_invalid_command_is_422_without_echoing_it(inbox: httpx.AsyncClient) -> None:
    body = sample_raise_task().model_dump(mode="json") | {"revision": 0}
    response = await inbox.post(
        "/api/tasks", json=body, headers={"Idempotency-Key": body["idempotency_key"]}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "revision"]
    assert personal_data_in(response.text, sample_raise_task()) == []


async def test_patch_applies_only_a_higher_revision(inbox: httpx.AsyncClient) -> None:
    task_id = (await post(inbox, sample_raise_task(revision=2))).json()["task_id"]
    older = await inbox.patch(
        f"/api/tasks/{task_id}", content=sample_raise_task().model_dump_json()
    )
    assert older.status_code == 200 and older.json()["updated"] is False
    newer = sample_raise_task(revision=3, outcome="withdrawn")
    response = await inbox.patch(f"/api/tasks/{task_id}", content=newer.model_dump_json())
    assert response.json() == {"task_id": task_id, "created": False, "updated": True, "revision": 3}
    record = (await inbox.get(f"/api/tasks/{task_id}")).json()
    assert record["task"]["outcome"] == "withdrawn" and record["created_revision"] == 2


async def test_patch_refuses_another_tasks_command(inbox: httpx.AsyncClient) -> None:
    task_id = (await post(inbox, sample_raise_task())).json()["task_id"]
    other = sample_raise_task(subject_ref="U999", revision=2).model_dump_json()
    assert (await inbox.patch(f"/api/tasks/{task_id}", content=other)).status_code == 422
    assert (await inbox.patch("/api/tasks/nope", content=other)).status_code == 404


async def test_acknowledge_then_record_no_further_action(inbox: httpx.AsyncClient) -> None:
    task_id = (await post(inbox, sample_raise_task())).json()["task_id"]
    too_soon = await inbox.post(f"/api/tasks/{task_id}/outcome", json=no_action())
    assert too_soon.status_code == 409 and "acknowledge" in too_soon.json()["detail"]
    acknowledged = await inbox.post(f"/api/tasks/{task_id}/acknowledge")
    assert acknowledged.json()["status"] == "acknowledged"
    assert [t["task_id"] for t in (await inbox.get("/api/tasks?status=open")).json()["tasks"]] == []
    closed = (await inbox.post(f"/api/tasks/{task_id}/outcome", json=no_action())).json()
    assert (closed["status"], closed["resolution"]) == ("closed", "no_further_action")
    assert (closed["resolution_reason"], closed["resolved_by"]) == ("seen by the duty team", "dana")
    assert closed["closed_at"] == closed["resolved_at"]
    assert (await inbox.post(f"/api/tasks/{task_id}/acknowledge")).status_code == 409
    again = await inbox.post(f"/api/tasks/{task_id}/outcome", json=no_action())
    assert again.status_code == 409
    assert (await inbox.post("/api/tasks/nope/outcome", json=no_action())).status_code == 404


async def test_a_strategy_discussion_needs_a_date_not_to_come(inbox: httpx.AsyncClient) -> None:
    task_id = (await post(inbox, sample_raise_task())).json()["task_id"]
    await inbox.post(f"/api/tasks/{task_id}/acknowledge")
    path = f"/api/tasks/{task_id}/outcome"
    today = datetime.now(UTC).date()
    missing = await inbox.post(path, json={"outcome": "strategy_discussion_held"})
    as_number = await inbox.post(path, json={"outcome": "strategy_discussion_held", "held_on": 0})
    assert missing.status_code == as_number.status_code == 422
    to_come = {"outcome": "strategy_discussion_held", "held_on": str(today + timedelta(days=2))}
    refused = await inbox.post(path, json=to_come)
    assert refused.status_code == 422 and "date" in refused.json()["detail"]
    body = {
        "outcome": "strategy_discussion_held",
        "held_on": (today - timedelta(days=1)).isoformat(),
    }
    held = (await inbox.post(path, json=body)).json()
    assert (held["status"], held["resolution"]) == ("closed", "strategy_discussion_held")
    assert held["strategy_discussion_on"] == body["held_on"] and held["resolution_reason"] is None


async def test_a_review_found_the_same_family_becomes_an_investigation(
    inbox: httpx.AsyncClient,
) -> None:
    task_id = (await post(inbox, sample_raise_task(outcome="review"))).json()["task_id"]
    await inbox.post(f"/api/tasks/{task_id}/acknowledge")
    path = f"/api/tasks/{task_id}/outcome"
    assert (await inbox.post(path, json=no_action())).status_code == 409  # a review's, first
    no_reason = await inbox.post(path, json={"outcome": "same_family"})
    assert no_reason.status_code == 422
    same = (await inbox.post(path, json={"outcome": "same_family", "reason": "same home"})).json()
    assert (same["status"], same["review_result"], same["review_reason"]) == (
        "acknowledged",
        "same_family",
        "same home",
    )
    assert (
        await inbox.post(path, json={"outcome": "not_this_family", "reason": "r"})
    ).status_code == 409
    closed = (await inbox.post(path, json=no_action())).json()
    assert (closed["status"], closed["review_result"], closed["resolution"]) == (
        "closed",
        "same_family",
        "no_further_action",
    )


async def test_a_review_not_of_this_family_is_closed_with_its_reason(
    inbox: httpx.AsyncClient,
) -> None:
    task_id = (await post(inbox, sample_raise_task(outcome="review"))).json()["task_id"]
    await inbox.post(f"/api/tasks/{task_id}/acknowledge")
    body = {"outcome": "not_this_family", "reason": "another Quarrington family"}
    closed = (await inbox.post(f"/api/tasks/{task_id}/outcome", json=body)).json()
    assert (closed["status"], closed["review_result"], closed["reviewed_by"]) == (
        "closed",
        "not_this_family",
        "dana",
    )


async def test_a_new_revision_reopens_a_closed_task(inbox: httpx.AsyncClient) -> None:
    task_id = (await post(inbox, sample_raise_task())).json()["task_id"]
    await inbox.post(f"/api/tasks/{task_id}/acknowledge")
    await inbox.post(f"/api/tasks/{task_id}/outcome", json=no_action())
    await post(inbox, sample_raise_task(revision=2))
    reopened = (await inbox.get(f"/api/tasks/{task_id}")).json()
    assert reopened["status"] == "open" and reopened["resolution"] == "no_further_action"


async def test_list_validates_its_query(inbox: httpx.AsyncClient) -> None:
    assert (await inbox.get("/api/tasks?status=lost")).status_code == 422
    assert (await inbox.get("/api/tasks?limit=0")).status_code == 422
    assert (await inbox.get("/api/tasks?priority=low")).status_code == 422
    assert (await inbox.get("/api/tasks?cursor=not-a-cursor")).status_code == 422
    assert (await inbox.get("/api/tasks?priority=normal")).status_code == 200
    assert (await inbox.get("/api/tasks/unknown")).status_code == 404


async def test_an_outcome_needs_its_reason(inbox: httpx.AsyncClient) -> None:
    task_id = (await post(inbox, sample_raise_task())).json()["task_id"]
    await inbox.post(f"/api/tasks/{task_id}/acknowledge")
    path = f"/api/tasks/{task_id}/outcome"
    blank = await inbox.post(path, json={"outcome": "no_further_action", "reason": "  "})
    none = await inbox.post(path, json={"outcome": "no_further_action"})
    missing = await inbox.post(path)
    other = await inbox.post(path, json={"outcome": "closed", "reason": "r"})
    assert [r.status_code for r in (blank, none, missing, other)] == [422] * 4
    assert (await inbox.get(f"/api/tasks/{task_id}")).json()["status"] == "acknowledged"


async def test_the_list_pages_with_a_cursor_and_filters(inbox: httpx.AsyncClient) -> None:
    for n in range(5):
        await post(inbox, sample_raise_task(f"MPS-{n}", subject_ref=f"C{n}"))
    await post(inbox, sample_raise_task("MPS-9", subject_ref="C9", outcome="review"))
    seen, cursor, pages = [], None, 0
    while True:
        query = f"/api/tasks?limit=2&status=open{'&cursor=' + cursor if cursor else ''}"
        page = (await inbox.get(query)).json()
        assert page["total"] == 6
        seen += [t["task"]["incident_id"] for t in page["tasks"]]
        pages, cursor = pages + 1, page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and seen == ["MPS-0", "MPS-1", "MPS-2", "MPS-3", "MPS-4", "MPS-9"]
    high = (await inbox.get("/api/tasks?priority=high")).json()
    assert [t["task"]["incident_id"] for t in high["tasks"]] == ["MPS-9"]
    found = (await inbox.get("/api/tasks", params={"q": "mps-3"})).json()
    assert [t["task"]["incident_id"] for t in found["tasks"]] == ["MPS-3"]
    assert (await inbox.get("/api/tasks?council=E09000001")).json()["total"] == 0
