"""The duty inbox JSON API through httpx's ASGI transport: statuses, revisions, work flow, auth."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from connectors.duty_inbox import create_app
from schemas.task import RaiseTask
from tests.support.samples import personal_data_in, sample_raise_task


def _client(tmp_path: Path, token: SecretStr | None = None) -> httpx.AsyncClient:
    app = create_app(tmp_path / "inbox.sqlite3", token=token)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://inbox")


@pytest.fixture
async def inbox(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(tmp_path) as client:
        yield client


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
    closed = await inbox.post(f"/api/tasks/{task_id}/close")
    assert closed.json()["status"] == "closed" and closed.json()["closed_at"]
    assert (await inbox.post(f"/api/tasks/{task_id}/acknowledge")).status_code == 409
    assert (await inbox.post("/api/tasks/nope/close")).status_code == 404


async def test_a_new_revision_reopens_a_closed_task(inbox: httpx.AsyncClient) -> None:
    task_id = (await post(inbox, sample_raise_task())).json()["task_id"]
    await inbox.post(f"/api/tasks/{task_id}/close")
    await post(inbox, sample_raise_task(revision=2))
    assert (await inbox.get(f"/api/tasks/{task_id}")).json()["status"] == "open"


async def test_list_validates_its_query(inbox: httpx.AsyncClient) -> None:
    assert (await inbox.get("/api/tasks?status=lost")).status_code == 422
    assert (await inbox.get("/api/tasks?limit=0")).status_code == 422
    assert (await inbox.get("/api/tasks/unknown")).status_code == 404


async def test_token_guards_api_and_pages_but_not_healthz(tmp_path: Path) -> None:
    async with _client(tmp_path, SecretStr("tok")) as client:
        assert (await client.get("/healthz")).status_code == 200
        refused = await client.get("/api/tasks")
        assert refused.status_code == 401 and refused.headers["WWW-Authenticate"] == "Bearer"
        page = await client.get("/")
        assert page.status_code == 401 and page.headers["WWW-Authenticate"].startswith("Basic")
        bearer = {"Authorization": "Bearer tok"}
        assert (await client.get("/api/tasks", headers=bearer)).status_code == 200
        basic = {"Authorization": "Basic " + base64.b64encode(b"duty:tok").decode()}
        assert (await client.get("/", headers=basic)).status_code == 200
        wrong = {"Authorization": "Bearer nope"}
        assert (await client.get("/api/tasks", headers=wrong)).status_code == 401
