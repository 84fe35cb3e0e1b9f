"""Who may see and do what in the duty inbox: the role matrix, councils, clients, the audit
trail of every view and action, and markup planted in a task shown as text everywhere."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from connectors.duty_inbox.access import ROLE_MATRIX, Action, may
from connectors.duty_inbox.auth import TYPED_REASON, Principal
from connectors.duty_inbox.store import TaskStore
from connectors.duty_inbox.task_rows import NO_COUNCIL
from connectors.duty_inbox.users import ROLES, Role, UserStore
from schemas.task import RaiseTask
from tests.support.duty_inbox import (
    COUNCIL,
    FAST_HASHER,
    PASSWORD,
    MemoryAudit,
    add_client,
    add_user,
    bearer,
    hidden_csrf,
    inbox_app,
    sign_in,
)
from tests.support.samples import (
    personal_data_in,
    sample_incident,
    sample_raise_task,
    sample_subject,
)

OTHER = "E06000001"
ACTIONS: tuple[Action, ...] = ("view_tasks", "act_on_tasks", "raise_tasks", "manage_users")

#: The matrix as the issue states it, written out again so the code's table is checked.
EXPECTED: dict[Role, set[Action]] = {
    "duty_worker": {"view_tasks", "act_on_tasks"},
    "team_manager": {"view_tasks", "act_on_tasks"},
    "auditor": {"view_tasks"},
    "administrator": {"manage_users"},
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", ACTIONS)
def test_each_cell_of_the_role_matrix(role: Role, action: Action) -> None:
    principal = Principal("p", frozenset({role}), frozenset({COUNCIL}), "password")
    assert may(principal, action) is (action in EXPECTED[role])
    assert (action in ROLE_MATRIX[role]) is (action in EXPECTED[role])


@pytest.mark.parametrize("may_raise", [True, False])
@pytest.mark.parametrize("action", ACTIONS)
def test_each_cell_for_an_api_client(action: Action, may_raise: bool) -> None:
    client = Principal("deliver", frozenset(), frozenset({"*"}), "token")
    expected = action == "view_tasks" or (action == "raise_tasks" and may_raise)
    assert may(client, action, may_raise) is expected


class Inbox:
    """An inbox with one user per role for COUNCIL, and tasks of COUNCIL, OTHER and none."""

    def __init__(self, tmp_path: Path) -> None:
        self.db = tmp_path / "inbox.sqlite3"
        self.audit = MemoryAudit()
        self.app = inbox_app(self.db, audit=self.audit)
        add_client(self.db)
        for role in ROLES:
            add_user(self.db, role, [role])
        add_user(self.db, "both", ["duty_worker"], [COUNCIL, OTHER, NO_COUNCIL])
        store = TaskStore(self.db)
        self.ours = store.raise_task(sample_raise_task("MPS-1")).task_id
        self.theirs = store.raise_task(sample_raise_task("MPS-2", local_authority=OTHER)).task_id
        self.nobodys = store.raise_task(sample_raise_task("MPS-3", local_authority=None)).task_id

    def browser(self) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app, client=("127.0.0.9", 4000))
        return httpx.AsyncClient(transport=transport, base_url="http://inbox")


@pytest.fixture
def inbox(tmp_path: Path) -> Inbox:
    return Inbox(tmp_path)


@pytest.fixture
async def browser(inbox: Inbox) -> AsyncIterator[httpx.AsyncClient]:
    async with inbox.browser() as client:
        yield client


async def _session_csrf(browser: httpx.AsyncClient) -> str:
    """The session's CSRF token, from the sign-out form of a page anyone signed in gets."""
    for path in ("/", "/admin/users"):
        response = await browser.get(path)
        if response.status_code == 200:
            return hidden_csrf(response.text)
    raise AssertionError("no page with a form")


#: (view inbox, view task page, view task by API, acknowledge, admin page) for each role.
STATUSES: dict[Role, tuple[int, int, int, int, int]] = {
    "duty_worker": (200, 200, 200, 303, 403),
    "team_manager": (200, 200, 200, 303, 403),
    "auditor": (200, 200, 200, 403, 403),
    "administrator": (403, 403, 403, 403, 200),
}


@pytest.mark.parametrize("role", ROLES)
async def test_each_role_over_http(inbox: Inbox, browser: httpx.AsyncClient, role: Role) -> None:
    await sign_in(browser, role)
    csrf = await _session_csrf(browser)
    got = (
        (await browser.get("/")).status_code,
        (await browser.get(f"/tasks/{inbox.ours}")).status_code,
        (await browser.get(f"/api/tasks/{inbox.ours}")).status_code,
        (await browser.post(f"/tasks/{inbox.ours}/acknowledge", data={"csrf": csrf})).status_code,
        (await browser.get("/admin/users")).status_code,
    )
    assert got == STATUSES[role]
    if STATUSES[role][3] == 403:
        assert any(
            e.kind == "denied" and e.action.startswith("not_allowed") for e in inbox.audit.events
        )
        assert TaskStore(inbox.db).get(inbox.ours).status == "open"


async def test_an_auditor_sees_no_buttons(inbox: Inbox, browser: httpx.AsyncClient) -> None:
    await sign_in(browser, "auditor")
    for path in ("/", f"/tasks/{inbox.ours}"):
        html = (await browser.get(path)).text
        assert "/acknowledge" not in html and "/outcome" not in html


async def test_another_councils_task_is_not_found(inbox: Inbox, browser: httpx.AsyncClient) -> None:
    await sign_in(browser, "duty_worker")
    csrf = await _session_csrf(browser)
    listed = (await browser.get("/")).text
    assert inbox.ours in listed and inbox.theirs not in listed and inbox.nobodys not in listed
    api = (await browser.get("/api/tasks")).json()["tasks"]
    assert [t["task_id"] for t in api] == [inbox.ours]
    for response in (
        await browser.get(f"/tasks/{inbox.theirs}"),
        await browser.get(f"/api/tasks/{inbox.theirs}"),
        await browser.get(f"/tasks/{inbox.nobodys}"),
        await browser.post(f"/tasks/{inbox.theirs}/acknowledge", data={"csrf": csrf}),
        await browser.post(
            f"/tasks/{inbox.theirs}/outcome",
            data={"csrf": csrf, "outcome": "no_further_action", "reason": "not ours"},
        ),
    ):
        assert response.status_code == 404 and "nknown task" in response.text
    assert TaskStore(inbox.db).get(inbox.theirs).status == "open"
    denied = [e for e in inbox.audit.events if e.action == "task_not_found"]
    assert len(denied) == 5 and denied[0].actor == "user:duty_worker"


async def test_a_worker_of_several_councils_sees_them_all(
    inbox: Inbox, browser: httpx.AsyncClient
) -> None:
    await sign_in(browser, "both")
    html = (await browser.get("/")).text
    assert all(task in html for task in (inbox.ours, inbox.theirs, inbox.nobodys))


def test_the_store_filters_by_council_in_sql(inbox: Inbox) -> None:
    store = TaskStore(inbox.db)
    assert [r.task_id for r in store.list_tasks(councils=frozenset({OTHER}))] == [inbox.theirs]
    assert [r.task_id for r in store.list_tasks(councils=frozenset())] == []
    assert len(store.list_tasks(councils=None)) == 3
    assert store.get(inbox.nobodys, frozenset({NO_COUNCIL})).task_id == inbox.nobodys


async def test_a_person_cannot_raise_tasks_and_a_client_cannot_act(
    inbox: Inbox, browser: httpx.AsyncClient
) -> None:
    await sign_in(browser, "duty_worker")
    csrf = await _session_csrf(browser)
    cmd = sample_raise_task("MPS-9")
    headers = {"Idempotency-Key": cmd.idempotency_key, "X-CSRF-Token": csrf}
    assert (
        await browser.post("/api/tasks", content=cmd.model_dump_json(), headers=headers)
    ).status_code == 401
    async with inbox.browser() as machine:
        ack = await machine.post(f"/api/tasks/{inbox.ours}/acknowledge", headers=bearer())
        assert ack.status_code == 401
    acted = await browser.post(
        f"/api/tasks/{inbox.ours}/acknowledge", headers={"X-CSRF-Token": csrf}
    )
    assert acted.status_code == 200 and acted.json()["status"] == "acknowledged"
    body = {"outcome": "no_further_action", "reason": "r"}
    no_csrf = await browser.post(f"/api/tasks/{inbox.ours}/outcome", json=body)
    assert no_csrf.status_code == 403


async def _raise(client: httpx.AsyncClient, cmd: RaiseTask, token: str) -> httpx.Response:
    headers = {"Idempotency-Key": cmd.idempotency_key, **bearer(token)}
    return await client.post("/api/tasks", content=cmd.model_dump_json(), headers=headers)


async def test_a_client_reaches_its_councils_only(inbox: Inbox, browser: httpx.AsyncClient) -> None:
    token = add_client(inbox.db, "haringey", [COUNCIL], token=None)
    reader = add_client(inbox.db, "reader", [COUNCIL], may_raise_tasks=False, token=None)
    assert (await _raise(browser, sample_raise_task("MPS-5"), token)).status_code == 201
    other = sample_raise_task("MPS-6", local_authority=OTHER)
    assert (await _raise(browser, other, token)).status_code == 403
    assert (await _raise(browser, sample_raise_task("MPS-7"), reader)).status_code == 403
    listed = (await browser.get("/api/tasks", headers=bearer(reader))).json()["tasks"]
    assert inbox.theirs not in {t["task_id"] for t in listed} and len(listed) == 2
    theirs = await browser.get(f"/api/tasks/{inbox.theirs}", headers=bearer(token))
    assert theirs.status_code == 404
    patch = sample_raise_task("MPS-2", revision=2, local_authority=OTHER).model_dump_json()
    assert (
        await browser.patch(f"/api/tasks/{inbox.theirs}", content=patch, headers=bearer(token))
    ).status_code == 403
    bad = await browser.get("/api/tasks", headers=bearer("no-such-token"))
    assert bad.status_code == 401
    assert ("denied", "bad_token") in inbox.audit.kinds()


async def test_every_view_and_action_is_recorded_by_reference(
    inbox: Inbox, browser: httpx.AsyncClient
) -> None:
    await sign_in(browser, "duty_worker")
    csrf = await _session_csrf(browser)
    inbox.audit.events.clear()
    await browser.get("/")
    await browser.get(f"/tasks/{inbox.ours}")
    await browser.get(f"/api/tasks/{inbox.ours}")
    await browser.get("/api/tasks")
    await browser.post(f"/tasks/{inbox.ours}/acknowledge", data={"csrf": csrf})
    outcome = {"csrf": csrf, "outcome": "no_further_action", "reason": "no concerns"}
    await browser.post(f"/tasks/{inbox.ours}/outcome", data=outcome)
    assert inbox.audit.kinds() == [
        ("view", "viewed_list"),
        ("view", "viewed_detail"),
        ("view", "viewed_api_detail"),
        ("view", "viewed_api_list"),
        ("task_action", "acknowledged"),
        ("task_action", "overrode_trigger"),
    ]
    listed, detail = inbox.audit.events[0], inbox.audit.events[1]
    key = sample_raise_task("MPS-1").idempotency_key
    assert listed.refs["task"] == [inbox.ours, key] and listed.refs["council"] == [COUNCIL]
    assert listed.refs["subject"] == ["C002916a"] and listed.refs["person"] == ["H0000257"]
    assert detail.refs["person"] == ["H0000257", "P1", "P2"]
    closed = inbox.audit.events[-1]  # the typed reason is purgeable detail, not the envelope
    assert closed.reason == TYPED_REASON and closed.detail["reason"] == "no concerns"
    assert {(e.actor, e.origin) for e in inbox.audit.events} == {("user:duty_worker", "127.0.0.9")}
    cmd = sample_raise_task()
    for event in inbox.audit.events:
        assert personal_data_in(event.model_dump_json(), cmd) == []


async def test_client_commands_and_views_are_recorded(
    inbox: Inbox, browser: httpx.AsyncClient
) -> None:
    cmd = sample_raise_task("MPS-8")
    from tests.support.duty_inbox import TEST_CLIENT_TOKEN

    await _raise(browser, cmd, TEST_CLIENT_TOKEN)
    await browser.get("/api/tasks", headers=bearer())
    (raised, viewed) = inbox.audit.events[-2:]
    assert (raised.kind, raised.action, raised.actor) == (
        "task_command",
        "task_created",
        "system:deliver",
    )
    assert raised.refs["incident"] == ["MPS-8"]
    assert (viewed.kind, viewed.actor) == ("view", "system:deliver")


HOSTILE = '"><img src=x onerror=alert(1)><script>alert(1)</script>'


def _hostile_task() -> RaiseTask:
    incident = sample_incident(
        "MPS-66",
        summary=f"Narrative {HOSTILE}",
        location={"lines": [f"1 {HOSTILE} Road"], "town": HOSTILE, "postcode": "N8 7DW"},
    )
    subject = sample_subject(given_name=HOSTILE, family_name=HOSTILE)
    return sample_raise_task("MPS-66", subject=subject, incident=incident, late_reason=HOSTILE)


def _no_live_markup(html: str) -> None:
    assert "<script" not in html and "<img" not in html and "onerror=alert(1)>" not in html
    assert re.search(r"<[^>]*\sonerror=", html) is None


async def test_planted_markup_is_text_on_every_page(
    inbox: Inbox, browser: httpx.AsyncClient
) -> None:
    task_id = TaskStore(inbox.db).raise_task(_hostile_task()).task_id
    hostile_user = HOSTILE.replace("/", "")
    UserStore(inbox.db, hasher=FAST_HASHER).add_user(hostile_user, PASSWORD, ["auditor"], ["E1"])
    await sign_in(browser, "duty_worker")
    escaped = "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;&lt;script&gt;alert(1)&lt;/script&gt;"
    pages = {
        "list": await browser.get("/"),
        "detail": await browser.get(f"/tasks/{task_id}"),
        "unknown": await browser.get(f"/tasks/{HOSTILE}"),
        "no route": await browser.get(f"/{HOSTILE}"),
    }
    for name, response in pages.items():
        _no_live_markup(response.text)
        if name in ("list", "detail"):
            assert escaped in response.text, name
    assert pages["detail"].text.count(escaped) >= 4  # name, address, town, narrative
    async with inbox.browser() as stranger:
        failed = await stranger.post("/sign-in", data={"username": HOSTILE, "csrf": "x"})
        _no_live_markup(failed.text)
        form = await stranger.get("/sign-in")
        data = {"username": HOSTILE, "password": "x", "csrf": hidden_csrf(form.text)}
        _no_live_markup((await stranger.post("/sign-in", data=data)).text)
    async with inbox.browser() as admin:
        await sign_in(admin, "administrator")
        users = await admin.get("/admin/users")
        _no_live_markup(users.text)
        assert "&lt;script&gt;" in users.text


async def test_an_administrator_disables_a_user(inbox: Inbox, browser: httpx.AsyncClient) -> None:
    await sign_in(browser, "administrator")
    csrf = await _session_csrf(browser)
    response = await browser.post("/admin/users/duty_worker/disable", data={"csrf": csrf})
    assert response.status_code == 303
    assert UserStore(inbox.db, hasher=FAST_HASHER).user("duty_worker").disabled
    assert ("user_admin", "disabled") in inbox.audit.kinds()
    unknown = await browser.post("/admin/users/nobody/disable", data={"csrf": csrf})
    assert unknown.status_code == 404


async def test_a_strategy_discussion_is_audited_with_its_date(
    inbox: Inbox, browser: httpx.AsyncClient
) -> None:
    await sign_in(browser, "duty_worker")
    csrf = await _session_csrf(browser)
    await browser.post(f"/tasks/{inbox.ours}/acknowledge", data={"csrf": csrf})
    held = {"csrf": csrf, "outcome": "strategy_discussion_held", "held_on": "2026-07-30"}
    assert (await browser.post(f"/tasks/{inbox.ours}/outcome", data=held)).status_code == 303
    event = inbox.audit.events[-1]
    assert (event.kind, event.action, event.actor) == (
        "task_action",
        "strategy_discussion_held",
        "user:duty_worker",
    )
    assert event.detail == {"held_on": "2026-07-30"} and event.reason is None


async def test_a_tasks_history_is_of_the_callers_councils_only(
    inbox: Inbox, browser: httpx.AsyncClient
) -> None:
    """The three tasks are of one family: each caller sees only its councils' in the history."""
    await sign_in(browser, "duty_worker")
    answer = await browser.get(f"/api/tasks/{inbox.ours}/history")
    assert answer.json() == {"task_id": inbox.ours, "days": 365, "tasks": []}
    assert "No earlier incidents" in (await browser.get(f"/tasks/{inbox.ours}")).text
    theirs = await browser.get(f"/api/tasks/{inbox.theirs}/history")
    assert theirs.status_code == 404 and "nknown task" in theirs.text
    await sign_in(browser, "both")
    inbox.audit.events.clear()
    listed = (await browser.get(f"/api/tasks/{inbox.ours}/history")).json()["tasks"]
    assert {t["task_id"] for t in listed} == {inbox.theirs, inbox.nobodys}
    assert {tuple(t["ties"]) for t in listed} == {("family", "dwelling")}
    page = (await browser.get(f"/tasks/{inbox.ours}")).text
    assert f'href="/tasks/{inbox.theirs}"' in page and f'href="/tasks/{inbox.nobodys}"' in page
    assert inbox.audit.kinds() == [
        ("view", "viewed_api_history"),
        ("view", "viewed_detail"),
        ("view", "viewed_history"),
    ]
    assert set(inbox.audit.events[0].refs["task"]) >= {inbox.ours, inbox.theirs, inbox.nobodys}
    machine = await browser.get(f"/api/tasks/{inbox.ours}/history", headers=bearer())
    assert machine.status_code == 200
    for event in inbox.audit.events:
        assert personal_data_in(event.model_dump_json(), sample_raise_task()) == []
