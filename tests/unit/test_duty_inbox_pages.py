"""The duty team's pages: order, escaping, overdue and updated marks, and the two buttons."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from schemas.task import RaiseTask
from tests.support.duty_inbox import add_client, add_user, bearer, inbox_app, sign_in
from tests.support.samples import HOSTILE_NAME, OCCURRED_AT, sample_raise_task, sample_subject

ROW_TEXTS = [
    "Child protection investigation",
    "MPS-7",
    "Revision 1",
    "Wilhelmina Quarrington",
    "born 11 Feb 2026",
    "NHS 485 777 3456",
    "carer is party",
    "Acknowledge",
]
DETAIL_TEXTS = [
    "Imelda Quarrington",
    "Barnaby Ulverstone",
    "suspect",
    "N8 7DW",
    "medium",
    "Parties separated",
    "E09000014",
    "MPS-2026-000001:C002916a",
]


class Clock:
    """A clock that moves a minute each time it is read."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now


@pytest.fixture
async def inbox(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A browser signed in as a duty worker of the sample tasks' council."""
    db = tmp_path / "inbox.sqlite3"
    app = inbox_app(db, clock=Clock(OCCURRED_AT + timedelta(hours=4)))
    add_user(db)
    add_client(db)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://inbox") as client:
        client.csrf = await sign_in(client)  # type: ignore[attr-defined]
        yield client


def form(client: httpx.AsyncClient, **fields: str) -> dict[str, str]:
    return {"csrf": client.csrf, **fields}  # type: ignore[attr-defined]


async def raise_task(client: httpx.AsyncClient, cmd: RaiseTask) -> str:
    headers = {"Idempotency-Key": cmd.idempotency_key, **bearer()}
    response = await client.post("/api/tasks", content=cmd.model_dump_json(), headers=headers)
    return str(response.json()["task_id"])


def row_ids(html: str) -> list[str]:
    return re.findall(r'<tr class="\w+" id="task-([^"]+)"', html)


async def test_open_tasks_are_urgent_first_then_newest(inbox: httpx.AsyncClient) -> None:
    old_review = await raise_task(inbox, sample_raise_task("MPS-1", outcome="review"))
    old_trigger = await raise_task(inbox, sample_raise_task("MPS-2"))
    new_review = await raise_task(inbox, sample_raise_task("MPS-3", outcome="review"))
    new_trigger = await raise_task(inbox, sample_raise_task("MPS-4"))
    html = (await inbox.get("/")).text
    assert row_ids(html) == [new_trigger, old_trigger, new_review, old_review]
    assert "Open tasks (4)" in html and "Acknowledged (0)" in html


async def test_names_are_escaped(inbox: httpx.AsyncClient) -> None:
    cmd = sample_raise_task(subject=sample_subject(given_name=HOSTILE_NAME))
    task_id = await raise_task(inbox, cmd)
    for path in ("/", f"/tasks/{task_id}"):
        html = (await inbox.get(path)).text
        assert "<script>" not in html
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Ó&#x27;Brien" in html


async def test_row_shows_what_the_duty_worker_needs(inbox: httpx.AsyncClient) -> None:
    await raise_task(inbox, sample_raise_task("MPS-7", reasons=["carer_is_party"]))
    html = (await inbox.get("/")).text
    for text in ROW_TEXTS:
        assert text in html
    assert 'class="tag updated"' not in html and 'class="tag overdue"' not in html


async def test_revised_and_overdue_tasks_are_marked(inbox: httpx.AsyncClient) -> None:
    await raise_task(inbox, sample_raise_task("MPS-8", due_by=OCCURRED_AT))
    await raise_task(inbox, sample_raise_task("MPS-8", revision=2, due_by=OCCURRED_AT))
    html = (await inbox.get("/")).text
    assert "Revision 2" in html and '<span class="tag updated">updated</span>' in html
    assert '<span class="tag overdue">overdue</span>' in html


async def test_buttons_acknowledge_then_close(inbox: httpx.AsyncClient) -> None:
    task_id = await raise_task(inbox, sample_raise_task())
    assert f'action="/tasks/{task_id}/acknowledge"' in (await inbox.get("/")).text
    response = await inbox.post(f"/tasks/{task_id}/acknowledge", data=form(inbox))
    assert (response.status_code, response.headers["location"]) == (303, "/")
    html = (await inbox.get("/")).text
    assert "Open tasks (0)" in html and "Acknowledged (1)" in html
    no_reason = await inbox.post(f"/tasks/{task_id}/close", data=form(inbox))
    assert no_reason.status_code == 422 and "A reason is needed" in no_reason.text
    assert f'action="/tasks/{task_id}/close"' in html and 'name="reason" required' in html
    await inbox.post(f"/tasks/{task_id}/close", data=form(inbox, reason="family supported"))
    assert row_ids((await inbox.get("/")).text) == []


async def test_cross_site_form_posts_are_refused(inbox: httpx.AsyncClient) -> None:
    task_id = await raise_task(inbox, sample_raise_task())
    evil = {"Origin": "https://evil.example"}
    data = form(inbox, reason="r")
    assert (await inbox.post(f"/tasks/{task_id}/close", headers=evil, data=data)).status_code == 403
    forged = {"csrf": "guessed", "reason": "r"}
    assert (await inbox.post(f"/tasks/{task_id}/close", data=forged)).status_code == 403
    assert (await inbox.post(f"/tasks/{task_id}/close", data={"reason": "r"})).status_code == 403
    same = {"Origin": "http://inbox"}
    assert (await inbox.post(f"/tasks/{task_id}/close", headers=same, data=data)).status_code == 303


async def test_detail_page_shows_the_whole_incident(inbox: httpx.AsyncClient) -> None:
    task_id = await raise_task(inbox, sample_raise_task())
    html = (await inbox.get(f"/tasks/{task_id}")).text
    for text in DETAIL_TEXTS:
        assert text in html
    missing = await inbox.get("/tasks/nope")
    assert missing.status_code == 404 and "Unknown task" in missing.text
