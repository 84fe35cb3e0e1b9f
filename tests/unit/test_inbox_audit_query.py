"""Auditors' queries of the audit log in the duty inbox: who may ask, what they see (their
councils' envelopes, never a detail), the join with the decide worker's chain by task key,
and the query itself recorded."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from connectors.audit import FileAuditLog, read
from connectors.duty_inbox.users import ROLES
from streams.domain.audit_decisions import command_event
from tests.support.duty_inbox import COUNCIL, add_client, add_user, bearer, inbox_app, sign_in
from tests.support.samples import personal_data_in, sample_raise_task

OTHER = "E06000001"


class Audited:
    """An inbox writing the "inbox" chain beside a decide worker's "decide" chain."""

    def __init__(self, tmp_path: Path) -> None:
        self.db, self.dir = tmp_path / "inbox.sqlite3", tmp_path / "audit"
        self.log = FileAuditLog(self.dir, "inbox", sync=False)
        self.app = inbox_app(self.db, audit=self.log)
        add_client(self.db)
        for role in ROLES:
            add_user(self.db, role, [role])
        add_user(self.db, "other_auditor", ["auditor"], [OTHER])
        add_user(self.db, "both_auditor", ["auditor"], [COUNCIL, OTHER])
        self.ours = sample_raise_task("MPS-1")
        self.theirs = sample_raise_task("MPS-2", local_authority=OTHER)
        at = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
        with FileAuditLog(self.dir, "decide", sync=False) as decide:
            for cmd in (self.ours, self.theirs):
                decide.append(command_event(cmd, at, actor="system:decide"))

    def browser(self) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app, client=("127.0.0.9", 4000))
        return httpx.AsyncClient(transport=transport, base_url="http://inbox")


@pytest.fixture
async def audited(tmp_path: Path) -> AsyncIterator[Audited]:
    inbox = Audited(tmp_path)
    async with inbox.browser() as client:
        for cmd in (inbox.ours, inbox.theirs):
            body = cmd.model_dump_json(by_alias=True)
            headers = {**bearer(), "Idempotency-Key": cmd.idempotency_key}
            response = await client.post("/api/tasks", content=body, headers=headers)
            assert response.status_code == 201, response.text
    yield inbox
    inbox.log.close()


async def test_a_task_key_finds_the_decision_side_and_the_inbox_side(audited: Audited) -> None:
    async with audited.browser() as browser:
        await sign_in(browser, "auditor")
        response = await browser.get("/api/audit", params={"task": audited.ours.idempotency_key})
    assert response.status_code == 200
    records = response.json()["records"]
    assert [(r["chain"], r["kind"], r["action"]) for r in records] == [
        ("decide", "task_command", "raise"),
        ("inbox", "task_command", "task_created"),
        ("inbox", "view", "viewed_list"),  # signing in shows the auditor the inbox
    ]
    assert all("detail" not in r and r["detail_digest"] for r in records)
    assert personal_data_in(response.text, audited.ours) == []


async def test_an_auditor_sees_only_records_of_their_councils(audited: Audited) -> None:
    async with audited.browser() as browser:
        await sign_in(browser, "other_auditor")
        ours = await browser.get("/api/audit", params={"incident": audited.ours.incident_id})
        theirs = await browser.get("/api/audit", params={"incident": audited.theirs.incident_id})
        everything = await browser.get("/api/audit")
    assert ours.json()["records"] == []
    assert {r["chain"] for r in theirs.json()["records"]} == {"decide", "inbox"}
    councils = {c for r in everything.json()["records"] for c in r["refs"]["council"]}
    assert councils == {OTHER}


async def test_an_auditor_of_two_councils_sees_both(audited: Audited) -> None:
    async with audited.browser() as browser:
        await sign_in(browser, "both_auditor")
        response = await browser.get("/api/audit", params={"limit": 1000})
    councils = {c for r in response.json()["records"] for c in r["refs"]["council"]}
    assert councils == {COUNCIL, OTHER}


@pytest.mark.parametrize("role", [r for r in ROLES if r != "auditor"])
async def test_other_roles_are_refused(audited: Audited, role: str) -> None:
    async with audited.browser() as browser:
        await sign_in(browser, role)
        api = await browser.get("/api/audit")
        page = await browser.get("/audit")
    assert (api.status_code, page.status_code) == (403, 403)


async def test_clients_are_refused_and_strangers_sent_to_sign_in(audited: Audited) -> None:
    async with audited.browser() as browser:
        client = await browser.get("/api/audit", headers=bearer())
        stranger = await browser.get("/api/audit")
        page = await browser.get("/audit")
    assert (client.status_code, stranger.status_code) == (403, 401)
    assert (page.status_code, page.headers["location"]) == (303, "/sign-in")


async def test_the_query_is_recorded(audited: Audited) -> None:
    async with audited.browser() as browser:
        await sign_in(browser, "auditor")
        await browser.get("/api/audit", params={"person": "H0000257", "task": ""})
    last = read(audited.dir, "inbox")[-1].record
    assert (last["kind"], last["action"]) == ("view", "queried audit")
    assert last["actor"] == "user:auditor"
    assert last["refs"] == {"person": ["H0000257"], "council": [COUNCIL]}


async def test_limit_keeps_the_newest_and_says_so(audited: Audited) -> None:
    async with audited.browser() as browser:
        await sign_in(browser, "auditor")
        response = await browser.get("/api/audit", params={"limit": 1})
    body = response.json()
    assert body["truncated"] is True and len(body["records"]) == 1


async def test_the_page_shows_the_filters_and_the_records(audited: Audited) -> None:
    key = audited.ours.idempotency_key
    async with audited.browser() as browser:
        await sign_in(browser, "auditor")
        page = await browser.get("/audit", params={"task": key})
    assert page.status_code == 200
    assert f'name="task" maxlength="200" value="{key}"' in page.text
    assert "task_command: raise" in page.text and "decide #1" in page.text
    assert personal_data_in(page.text, audited.ours) == []


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": "x"}, {"task": "k" * 201}])
async def test_bad_filters_are_422(audited: Audited, params: dict[str, object]) -> None:
    async with audited.browser() as browser:
        await sign_in(browser, "auditor")
        response = await browser.get("/api/audit", params=params)
    assert response.status_code == 422


async def test_without_an_audit_directory_there_is_no_query(tmp_path: Path) -> None:
    db = tmp_path / "inbox.sqlite3"
    add_user(db, "auditor", ["auditor"])
    transport = httpx.ASGITransport(app=inbox_app(db))
    async with httpx.AsyncClient(transport=transport, base_url="http://inbox") as browser:
        await sign_in(browser, "auditor")
        assert (await browser.get("/api/audit")).status_code == 404
