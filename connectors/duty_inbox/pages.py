"""The duty team's pages: the inbox of open tasks, one task in full, and the two buttons."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from connectors.duty_inbox import detail
from connectors.duty_inbox.render import (
    TASK_TYPES,
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
async def inbox(request: Request) -> HTMLResponse:
    """Open tasks, then acknowledged ones: urgent before review, newest first."""
    store = _store(request)
    open_tasks = await run_in_threadpool(store.list_tasks, "open", None)
    in_hand = await run_in_threadpool(store.list_tasks, "acknowledged", None)
    now = _now(request)
    content = (
        f"<h1>Open tasks ({len(open_tasks)})</h1>"
        + task_table("Open tasks, not yet acknowledged", open_tasks, now)
        + f"<h2>Acknowledged ({len(in_hand)})</h2>"
        + task_table("Acknowledged tasks, in hand and not closed", in_hand, now)
    )
    return HTMLResponse(page("Open tasks", content, now))


def task_table(caption: str, records: list[TaskRecord], now: datetime) -> str:
    """A table of tasks, one row each, or a line saying there are none."""
    if not records:
        return f'<p class="empty">None. ({esc(caption)})</p>'
    rows = "".join(task_row(record, now) for record in records)
    caption_html = f'<caption class="visually-hidden">{esc(caption)}</caption>'
    return f'<table class="tasks">{caption_html}{_HEAD}{rows}</table>'


def task_row(record: TaskRecord, now: datetime) -> str:
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
        actions_html(record),
    ]
    body = "".join(f"<td>{cell}</td>" for cell in cells)
    return f'<tr class="{esc(task.outcome)}" id="task-{esc(record.task_id)}">{body}</tr>'


@router.get("/tasks/{task_id}", response_class=HTMLResponse)
async def task_detail(request: Request, task_id: str) -> HTMLResponse:
    """One task with its subject and the whole incident."""
    record = await run_in_threadpool(_store(request).get, task_id)
    now = _now(request)
    title = f"{TASK_TYPES[record.task.task_type]}: incident {record.task.incident_id}"
    return HTMLResponse(page(title, detail.task_page(record, now), now))


@router.post("/tasks/{task_id}/acknowledge")
async def acknowledge(request: Request, task_id: str) -> RedirectResponse:
    """The Acknowledge button; back to the inbox."""
    _same_origin(request)
    await run_in_threadpool(_store(request).acknowledge, task_id)
    return RedirectResponse("/", status_code=303)


@router.post("/tasks/{task_id}/close")
async def close(request: Request, task_id: str) -> RedirectResponse:
    """The Close button; back to the inbox."""
    _same_origin(request)
    await run_in_threadpool(_store(request).close, task_id)
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
