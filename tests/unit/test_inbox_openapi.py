"""The duty inbox's OpenAPI document is served and says what the API really does: statuses,
bodies, security; and the edges it documents (413, 405's Allow, bounded counters) hold."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.audit import FileAuditLog
from connectors.duty_inbox.__main__ import AUDIT_CHAIN, main
from connectors.duty_inbox.api import MAX_BODY
from tests.support.duty_inbox import add_client, bearer, inbox_app
from tests.support.samples import sample_raise_task

#: Every operation of the document and the statuses it answers.
STATUSES = {
    ("post", "/api/tasks"): {"200", "201", "401", "403", "413", "422"},
    ("get", "/api/tasks"): {"200", "401", "403", "422"},
    ("get", "/api/tasks/{task_id}"): {"200", "401", "403", "404"},
    ("get", "/api/tasks/{task_id}/history"): {"200", "401", "403", "404"},
    ("patch", "/api/tasks/{task_id}"): {"200", "401", "403", "404", "413", "422"},
    ("post", "/api/tasks/{task_id}/acknowledge"): {"200", "401", "403", "404", "409"},
    ("post", "/api/tasks/{task_id}/outcome"): {"200", "400", "401", "403", "404", "409", "422"},
    ("get", "/api/audit"): {"200", "401", "403", "422"},
    ("get", "/healthz"): {"200"},
    ("get", "/metrics"): {"200", "401"},
}


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    db = tmp_path / "inbox.sqlite3"
    with FileAuditLog(tmp_path / "audit", "inbox", sync=False) as audit:
        app = inbox_app(db, audit=audit)
        add_client(db)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://inbox") as http:
            yield http


async def _document(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


async def test_every_operation_lists_the_statuses_it_answers(client: httpx.AsyncClient) -> None:
    paths = (await _document(client))["paths"]
    found = {
        (method, path): set(op["responses"])
        for path, ops in paths.items()
        for method, op in ops.items()
    }
    assert found == STATUSES  # the pages people use are not part of it


async def test_the_bodies_parsed_by_hand_are_declared(client: httpx.AsyncClient) -> None:
    document = await _document(client)
    for method in ("post", "patch"):
        path = "/api/tasks" if method == "post" else "/api/tasks/{task_id}"
        body = document["paths"][path][method]["requestBody"]
        assert body["required"] is True
        assert body["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/RaiseTask"
        }
    raise_task = document["components"]["schemas"]["RaiseTask"]
    assert raise_task["properties"]["revision"]["maximum"] == 2**53 - 1
    assert raise_task["additionalProperties"] is False


async def test_security_says_who_may_call_what(client: httpx.AsyncClient) -> None:
    document = await _document(client)
    schemes = document["components"]["securitySchemes"]
    assert schemes["clientToken"] == {**schemes["clientToken"], "type": "http", "scheme": "bearer"}
    assert (schemes["session"]["in"], schemes["session"]["name"]) == ("cookie", "dvt_session")
    assert (schemes["csrf"]["in"], schemes["csrf"]["name"]) == ("header", "X-CSRF-Token")
    paths = document["paths"]
    assert paths["/api/tasks"]["post"]["security"] == [{"clientToken": []}]
    assert paths["/api/tasks"]["get"]["security"] == [{"clientToken": []}, {"session": []}]
    outcome = paths["/api/tasks/{task_id}/outcome"]["post"]
    assert outcome["security"] == [{"session": [], "csrf": []}]
    assert all(p["name"] != "X-CSRF-Token" for p in outcome.get("parameters", []))


async def test_a_body_too_large_is_413_before_it_is_read(client: httpx.AsyncClient) -> None:
    cmd = sample_raise_task()
    headers = {**bearer(), "Idempotency-Key": cmd.idempotency_key}
    response = await client.post("/api/tasks", content=b" " * (MAX_BODY + 1), headers=headers)
    assert response.status_code == 413


async def test_a_revision_past_json_safe_integers_is_422(client: httpx.AsyncClient) -> None:
    cmd = sample_raise_task()
    body = cmd.model_dump_json(by_alias=True).replace('"amendment":0', f'"amendment":{2**70}')
    headers = {**bearer(), "Idempotency-Key": cmd.idempotency_key}
    response = await client.post("/api/tasks", content=body, headers=headers)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "amendment"]


async def test_405_allows_every_method_of_the_path(client: httpx.AsyncClient) -> None:
    response = await client.delete("/api/tasks/some-task", headers=bearer())
    assert response.status_code == 405
    assert set(response.headers["allow"].split(", ")) == {"GET", "PATCH"}


def test_main_writes_the_inbox_chain_beside_the_decide_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served: list[Any] = []
    monkeypatch.setenv("DVTRIGGER_DATA_DIR", str(tmp_path))
    monkeypatch.setattr("connectors.duty_inbox.__main__.serve", lambda *args: served.append(args))
    main(["--db", str(tmp_path / "inbox.sqlite3")])
    (_, _, app) = served[0]
    assert app.state.audit_dir == tmp_path / "audit"
    assert (tmp_path / "audit" / f"{AUDIT_CHAIN}.jsonl").exists() and AUDIT_CHAIN == "inbox"
