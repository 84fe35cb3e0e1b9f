"""The duty inbox JSON API through httpx's ASGI transport: statuses, revisions, work flow.

The client sends the deliver worker's bearer token and is signed in as a duty worker, whose
CSRF token it sends when it acknowledges or closes (a person's acts). Sign-in and
authorisation themselves are tested in test_inbox_auth*.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from schemas.task import RaiseTask
from tests.support.duty_inbox import add_client, add_user, bearer, inbox_app, sign_in
from tests.support.samples import personal_data_in, sample_raise_task


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


def close_body() -> dict[str, str]:
    return {"reason": "seen by the duty team"}


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
    assert (await inbox.get("/api/tasks")).json() == {"tasks": []}


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


async def test_acknowledge_then_close(inbox: httpx.AsyncClient) -> None:
    task_id = (await post(inbox, sample_raise_task())).json()["task_id"]
    acknowledged = await inbox.post(f"/api/tasks/{task_id}/acknowledge")
    assert acknowledged.json()["status"] == "acknowledged"
    assert [t["task_id"] for t in (await inbox.get("/api/tasks?status=open")).json()["tasks"]] == []
    closed = await inbox.post(f"/api/tasks/{task_id}/close", json=close_body())
    assert closed.json()["status"] == "closed" and closed.json()["closed_at"]
    assert (await inbox.post(f"/api/tasks/{task_id}/acknowledge")).status_code == 409
    assert (await inbox.post("/api/tasks/nope/close", json=close_body())).status_code == 404


async def test_a_new_revision_reopens_a_closed_task(inbox: httpx.AsyncClient) -> None:
    task_id = (await post(inbox, sample_raise_task())).json()["task_id"]
    await inbox.post(f"/api/tasks/{task_id}/close", json=close_body())
    await post(inbox, sample_raise_task(revision=2))
    assert (await inbox.get(f"/api/tasks/{task_id}")).json()["status"] == "open"


async def test_list_validates_its_query(inbox: httpx.AsyncClient) -> None:
    assert (await inbox.get("/api/tasks?status=lost")).status_code == 422
    assert (await inbox.get("/api/tasks?limit=0")).status_code == 422
    assert (await inbox.get("/api/tasks/unknown")).status_code == 404


async def test_closing_needs_a_reason(inbox: httpx.AsyncClient) -> None:
    task_id = (await post(inbox, sample_raise_task())).json()["task_id"]
    blank = await inbox.post(f"/api/tasks/{task_id}/close", json={"reason": "  "})
    missing = await inbox.post(f"/api/tasks/{task_id}/close")
    assert (blank.status_code, missing.status_code) == (422, 422)
    assert (await inbox.get(f"/api/tasks/{task_id}")).json()["status"] == "open"
