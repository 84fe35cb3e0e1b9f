"""The duty team's pages: the inbox of open tasks, one task in full, and the two buttons.

Every page needs a signed-in person whose role may view tasks, and shows only the tasks of
their councils; each view and each action is recorded in the audit log. Forms carry the
session's CSRF token.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from connectors.duty_inbox import detail
from connectors.duty_inbox.access import councils_of, may, person_may, task_refs, view
from connectors.duty_inbox.auth import Principal, check_csrf, csrf_token, record
from connectors.duty_inbox.render import (
    TASK_TYPES,
    account_html,
    actions_html,
    due_html,
    esc,
    outcome_tag,
    page,
    reasons_html,
    revision_html,
    subject_html,
    tag,
)
from connectors.duty_inbox.store import TaskStore
from streams.domain.ports.case_system import TaskRecord

router = APIRouter()

Viewer = Annotated[Principal, Depends(person_may("view_tasks"))]
Actor = Annotated[Principal, Depends(person_may("act_on_tasks"))]

_HEAD = (
    '<thead><tr><th scope="col" class="c-task">Task</th><th scope="col" class="c-incident">'
    'Incident</th><th scope="col" class="c-due">Due by</th><th scope="col" class="c-subject">'
    'Subject</th><th scope="col" class="c-reasons">Reasons</th><th scope="col" class="c-actions">'
    "Actions</th></tr></thead>"
)


def _store(request: Request) -> TaskStore:
    store: TaskStore = request.app.state.store
    return store


def _now(request: Request) -> datetime:
    clock: Callable[[], datetime] = request.app.state.clock
    return clock()


@router.get("/", response_class=HTMLResponse)
async def inbox(request: Request, principal: Viewer) -> HTMLResponse:
    """Open tasks, then acknowledged ones, of the person's councils: urgent first, newest first."""
    store, councils = _store(request), councils_of(principal)
    open_tasks = await run_in_threadpool(store.list_tasks, "open", None, councils)
    in_hand = await run_in_threadpool(store.list_tasks, "acknowledged", None, councils)
    await run_in_threadpool(view, request, principal, open_tasks + in_hand, "viewed_list")
    now, csrf = _now(request), _csrf(request, principal)
    content = (
        f"<h1>Open tasks ({len(open_tasks)})</h1>"
        + task_table("Open tasks, not yet acknowledged", open_tasks, now, csrf)
        + f"<h2>Acknowledged ({len(in_hand)})</h2>"
        + task_table("Acknowledged tasks, in hand and not closed", in_hand, now, csrf)
    )
    account = account_html(principal.username, csrf_token(request))
    return HTMLResponse(page("Open tasks", content, now, account))


def _csrf(request: Request, principal: Principal) -> str:
    """The form token, or none for a read-only role (its pages show no buttons)."""
    return csrf_token(request) if may(principal, "act_on_tasks") else ""


def task_table(caption: str, records: list[TaskRecord], now: datetime, csrf: str) -> str:
    """A table of tasks, one row each, or a line saying there are none."""
    if not records:
        return f'<p class="empty">None. ({esc(caption)})</p>'
    rows = "".join(task_row(record, now, csrf) for record in records)
    caption_html = f'<caption class="visually-hidden">{esc(caption)}</caption>'
    return f'<table class="tasks">{caption_html}{_HEAD}{rows}</table>'


def task_row(record: TaskRecord, now: datetime, csrf: str) -> str:
    """One task: type and outcome, incident and revision, due, subject, reasons, actions."""
    task = record.task
    link = f'<a href="/tasks/{esc(record.task_id)}">{esc(TASK_TYPES[task.task_type])}</a>'
    status = "" if record.status == "open" else " " + tag(record.status, record.status)
    cells = [
        f"{outcome_tag(task)}{status}<br>{link}",
        f'<span class="nowrap">{esc(task.incident_id)}</span><br>{revision_html(record)}',
        due_html(record, now),
        subject_html(task.subject),
        reasons_html(task.reasons),
        actions_html(record, csrf) if csrf else "",
    ]
    body = "".join(f"<td>{cell}</td>" for cell in cells)
    return f'<tr class="{esc(task.outcome)}" id="task-{esc(record.task_id)}">{body}</tr>'


@router.get("/tasks/{task_id}", response_class=HTMLResponse)
async def task_detail(request: Request, principal: Viewer, task_id: str) -> HTMLResponse:
    """One task of the person's councils, with its subject and the whole incident."""
    record_ = await run_in_threadpool(_store(request).get, task_id, councils_of(principal))
    await run_in_threadpool(view, request, principal, [record_], "viewed_detail")
    now, csrf = _now(request), _csrf(request, principal)
    title = f"{TASK_TYPES[record_.task.task_type]}: incident {record_.task.incident_id}"
    account = account_html(principal.username, csrf_token(request))
    return HTMLResponse(page(title, detail.task_page(record_, now, csrf), now, account))


@router.post("/tasks/{task_id}/acknowledge")
async def acknowledge(
    request: Request, principal: Actor, task_id: str, csrf: Annotated[str, Form()] = ""
) -> RedirectResponse:
    """The Acknowledge button; back to the inbox."""
    _same_origin(request)
    check_csrf(request, csrf)
    task = await run_in_threadpool(_store(request).acknowledge, task_id, councils_of(principal))
    refs = task_refs([task])
    await run_in_threadpool(record, request, "task_action", "acknowledged", principal, refs)
    return RedirectResponse("/", status_code=303)


@router.post("/tasks/{task_id}/close")
async def close(
    request: Request,
    principal: Actor,
    task_id: str,
    csrf: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> RedirectResponse:
    """The Close button, with the reason the person gave; back to the inbox."""
    _same_origin(request)
    check_csrf(request, csrf)
    why = reason.strip()[:500]
    if not why:
        raise HTTPException(422, "a reason is needed to close a task")
    task = await run_in_threadpool(_store(request).close, task_id, councils_of(principal))
    refs = task_refs([task])
    await run_in_threadpool(record, request, "task_action", "closed", principal, refs, why)
    return RedirectResponse("/", status_code=303)


def _same_origin(request: Request) -> None:
    """Refuse a form posted from another site (the browser may hold the duty worker's login)."""
    origin = request.headers.get("origin")
    if origin and urlsplit(origin).netloc != request.headers.get("host"):
        raise HTTPException(403, "cross-site form post refused")


def error_page(status_code: int, message: str) -> str:
    """A plain page for a refused request."""
    content = f'<h1>{esc(message.capitalize())}</h1><p><a href="/">Back to open tasks</a></p>'
    return page(f"Error {status_code}", content, datetime.now().astimezone())
