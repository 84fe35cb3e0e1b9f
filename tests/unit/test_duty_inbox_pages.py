"""The duty team's pages: one line a task, filters, search and pages; marks; acts and outcomes."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from connectors.duty_inbox.app import PathsOnly
from schemas.task import RaiseTask
from tests.support.duty_inbox import add_client, add_user, bearer, inbox_app, sign_in
from tests.support.samples import HOSTILE_NAME, OCCURRED_AT, sample_raise_task, sample_subject

ROW_TEXTS = [
    "Urgent",
    "Child protection investigation",
    "<strong>Wilhelmina Quarrington</strong>, born 11 Feb 2026",
    "Domestic abuse incident at the home, DASH medium, MPS-7",
    '<span class="tag open">open</span>',
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
    return re.findall(r'<tr class="[\w -]+" id="task-([^"]+)"', html)


async def test_open_tasks_are_urgent_first_then_due_soonest(inbox: httpx.AsyncClient) -> None:
    soon, late = OCCURRED_AT + timedelta(hours=2), OCCURRED_AT + timedelta(hours=20)
    high_late = await raise_task(inbox, sample_raise_task("MPS-1", priority="high", due_by=late))
    urgent_late = await raise_task(inbox, sample_raise_task("MPS-2", due_by=late))
    high_soon = await raise_task(inbox, sample_raise_task("MPS-3", priority="high", due_by=soon))
    urgent_soon = await raise_task(inbox, sample_raise_task("MPS-4", due_by=soon))
    html = (await inbox.get("/")).text
    assert row_ids(html) == [urgent_soon, urgent_late, high_soon, high_late]
    assert "4 tasks match." in html


async def test_names_are_escaped(inbox: httpx.AsyncClient) -> None:
    cmd = sample_raise_task(subject=sample_subject(given_name=HOSTILE_NAME))
    task_id = await raise_task(inbox, cmd)
    for path in ("/", f"/tasks/{task_id}", "/?q=%3Cscript%3E"):
        html = (await inbox.get(path)).text
        assert "<script>" not in html
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Ó&#x27;Brien" in html


async def test_a_task_is_one_line_and_its_evidence_is_on_its_page(inbox: httpx.AsyncClient) -> None:
    reasons = ["carer_is_party", "incident_at_home"]
    task_id = await raise_task(inbox, sample_raise_task("MPS-7", reasons=reasons))
    html = (await inbox.get("/")).text
    for text in ROW_TEXTS:
        assert text in html
    assert f'<a href="/tasks/{task_id}">Child protection investigation</a>' in html
    assert 'class="tag overdue"' not in html and "carer is party" not in html
    assert "carer is party" in (await inbox.get(f"/tasks/{task_id}")).text


async def test_an_unborn_child_is_shown_with_its_due_date(inbox: httpx.AsyncClient) -> None:
    unborn = sample_subject(
        kind="unborn", date_of_birth=None, expected_delivery_date=date(2026, 9, 3)
    )
    await raise_task(inbox, sample_raise_task(subject=unborn))
    assert "Quarrington</strong>, unborn, due 03 Sep 2026" in (await inbox.get("/")).text


async def test_revised_and_overdue_tasks_are_marked(inbox: httpx.AsyncClient) -> None:
    task_id = await raise_task(inbox, sample_raise_task("MPS-8", due_by=OCCURRED_AT))
    await raise_task(inbox, sample_raise_task("MPS-8", revision=2, due_by=OCCURRED_AT))
    await raise_task(inbox, sample_raise_task("MPS-9", subject_ref="C9"))
    html = (await inbox.get("/")).text
    assert html.count('<span class="tag overdue">overdue</span>') == 1
    assert '<span class="overdue-time">' in html
    detail = (await inbox.get(f"/tasks/{task_id}")).text
    assert "Revision 2" in detail and '<span class="tag updated">updated</span>' in detail
    overdue = (await inbox.get("/?overdue=1")).text
    assert row_ids(overdue) == [task_id] and "1 task matches." in overdue
    assert 'name="overdue" value="1" checked' in overdue


async def test_filters_and_search_are_query_parameters(inbox: httpx.AsyncClient) -> None:
    first = await raise_task(inbox, sample_raise_task("MPS-2026-004242"))
    other = sample_subject("C77", given_name="Zebedee", nhs_number="9434765919", carers=[])
    second = await raise_task(inbox, sample_raise_task("MPS-2026-000077", "C77", subject=other))
    review = await raise_task(inbox, sample_raise_task("MPS-2026-000078", "C78", outcome="review"))

    async def ids(query: str) -> list[str]:
        return row_ids((await inbox.get("/" + query)).text)

    assert await ids("?q=mps-2026-004242") == [first]
    assert await ids("?q=ZEBEDEE") == [second]
    assert await ids("?q=imelda+quarrington") == [first, review]  # a carer's name
    assert await ids("?q=943+476+5919") == [second] == await ids("?q=9434765919")
    assert await ids("?priority=high") == [review]
    assert await ids("?priority=normal") == []
    assert await ids("?council=E09000001") == []  # not one of hers
    assert await ids("?council=E09000014&status=open") == [first, second, review]
    assert await ids("?status=closed") == []
    html = (await inbox.get("/?priority=high&q=Quarr")).text
    assert '<option value="high" selected>' in html and 'value="Quarr"' in html


async def test_the_list_pages_and_says_how_many_match(inbox: httpx.AsyncClient) -> None:
    ids = [await raise_task(inbox, sample_raise_task(f"MPS-{n}", f"C{n}")) for n in range(55)]
    await sign_in(inbox)  # the test clock moved on past the session's idle time
    first = (await inbox.get("/?status=open")).text
    assert "55 tasks match; this page shows 50." in first
    assert row_ids(first) == ids[:50] and 'rel="prev"' not in first
    after = re.search(r'rel="next" href="([^"]+)"', first)
    assert after and "status=open" in after.group(1)
    second = (await inbox.get(after.group(1).replace("&amp;", "&"))).text
    assert row_ids(second) == ids[50:] and 'rel="next"' not in second
    before = re.search(r'rel="prev" href="([^"]+)"', second)
    assert before
    back = (await inbox.get(before.group(1).replace("&amp;", "&"))).text
    assert row_ids(back) == row_ids(first) and 'rel="prev"' not in back
    assert (await inbox.get("/?after=nonsense")).status_code == 422


async def test_acknowledge_then_record_no_further_action(inbox: httpx.AsyncClient) -> None:
    task_id = await raise_task(inbox, sample_raise_task())
    page = f"/tasks/{task_id}"
    assert f'action="{page}/acknowledge"' in (await inbox.get(page)).text
    response = await inbox.post(f"{page}/acknowledge", data=form(inbox))
    assert (response.status_code, response.headers["location"]) == (303, page)
    html = (await inbox.get(page)).text
    assert 'value="no_further_action"' in html and "overrides the automated trigger" in html
    assert 'name="held_on" required max="2026-07-30"' in html
    no_reason = await inbox.post(f"{page}/outcome", data=form(inbox, outcome="no_further_action"))
    assert no_reason.status_code == 422 and "A reason is needed" in no_reason.text
    data = form(inbox, outcome="no_further_action", reason="family supported")
    assert (await inbox.post(f"{page}/outcome", data=data)).status_code == 303
    html = (await inbox.get(page)).text
    assert "No further action (overrides the automated trigger)</strong> by dana" in html
    assert "Reason: family supported" in html and 'action="' + page not in html
    assert row_ids((await inbox.get("/")).text) == []
    assert row_ids((await inbox.get("/?status=closed")).text) == [task_id]


async def test_a_strategy_discussion_is_recorded_with_its_date(inbox: httpx.AsyncClient) -> None:
    task_id = await raise_task(inbox, sample_raise_task())
    page = f"/tasks/{task_id}"
    await inbox.post(f"{page}/acknowledge", data=form(inbox))
    to_come = form(inbox, outcome="strategy_discussion_held", held_on="2026-08-02")
    assert (await inbox.post(f"{page}/outcome", data=to_come)).status_code == 422
    garbled = form(inbox, outcome="strategy_discussion_held", held_on="yesterday")
    assert (await inbox.post(f"{page}/outcome", data=garbled)).status_code == 422
    held = form(inbox, outcome="strategy_discussion_held", held_on="2026-07-30")
    assert (await inbox.post(f"{page}/outcome", data=held)).status_code == 303
    assert (
        "Strategy discussion held on 30 Jul 2026</strong> by dana" in (await inbox.get(page)).text
    )


async def test_a_review_found_the_same_family_is_listed_as_an_investigation(
    inbox: httpx.AsyncClient,
) -> None:
    task_id = await raise_task(inbox, sample_raise_task(outcome="review"))
    page = f"/tasks/{task_id}"
    await inbox.post(f"{page}/acknowledge", data=form(inbox))
    html = (await inbox.get(page)).text
    assert 'value="same_family"' in html and 'value="no_further_action"' not in html
    data = form(inbox, outcome="same_family", reason="the same home")
    assert (await inbox.post(f"{page}/outcome", data=data)).status_code == 303
    listed = (await inbox.get("/")).text
    assert f'<a href="{page}">Child protection investigation</a>' in listed
    html = (await inbox.get(page)).text
    assert "Same family</strong> by dana" in html and "Reason: the same home" in html
    assert 'value="no_further_action"' in html and 'value="same_family"' not in html


async def test_cross_site_form_posts_are_refused(inbox: httpx.AsyncClient) -> None:
    task_id = await raise_task(inbox, sample_raise_task())
    path = f"/tasks/{task_id}/acknowledge"
    evil = {"Origin": "https://evil.example"}
    assert (await inbox.post(path, headers=evil, data=form(inbox))).status_code == 403
    assert (await inbox.post(path, data={"csrf": "guessed"})).status_code == 403
    assert (await inbox.post(path, data={})).status_code == 403
    outcome = f"/tasks/{task_id}/outcome"
    data = form(inbox, outcome="no_further_action", reason="r")
    assert (await inbox.post(outcome, headers=evil, data=data)).status_code == 403
    same = {"Origin": "http://inbox"}
    assert (await inbox.post(path, headers=same, data=form(inbox))).status_code == 303
    assert (await inbox.post(outcome, headers=same, data=data)).status_code == 303


async def test_detail_page_shows_the_whole_incident(inbox: httpx.AsyncClient) -> None:
    task_id = await raise_task(inbox, sample_raise_task())
    html = (await inbox.get(f"/tasks/{task_id}")).text
    for text in DETAIL_TEXTS:
        assert text in html
    missing = await inbox.get("/tasks/nope")
    assert missing.status_code == 404 and "Unknown task" in missing.text


def test_the_access_log_keeps_paths_but_not_searches() -> None:
    args = ("127.0.0.1:5000", "GET", "/?q=wilhelmina+quarrington&overdue=1", "1.1", 200)
    line = logging.LogRecord(
        "uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d', args, None
    )
    assert PathsOnly().filter(line)
    assert line.getMessage() == '127.0.0.1:5000 - "GET / HTTP/1.1" 200'
