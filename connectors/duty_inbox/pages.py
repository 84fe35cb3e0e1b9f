"""The duty team's pages: the list of tasks, one task in full, acknowledging and outcomes.

Every page needs a signed-in person whose role may view tasks, and shows only the tasks of
their councils; each view and each action is recorded in the audit log. Forms carry the
session's CSRF token.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, cast, get_args
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from connectors.duty_inbox import detail
from connectors.duty_inbox.access import (
    councils_of,
    may,
    outcome_recorded,
    person_may,
    task_refs,
    view,
)
from connectors.duty_inbox.auth import Principal, check_csrf, csrf_token, record
from connectors.duty_inbox.listing import PAGE_SIZE, Filters, filter_form, task_list
from connectors.duty_inbox.render import TASK_TYPES, account_html, esc, page
from connectors.duty_inbox.store import TaskStore
from streams.domain.ports.task_outcomes import Outcome, OutcomeName

router = APIRouter()

Viewer = Annotated[Principal, Depends(person_may("view_tasks"))]
Actor = Annotated[Principal, Depends(person_may("act_on_tasks"))]


def _store(request: Request) -> TaskStore:
    store: TaskStore = request.app.state.store
    return store


def _now(request: Request) -> datetime:
    clock: Callable[[], datetime] = request.app.state.clock
    return clock()


@router.get("/", response_class=HTMLResponse)
async def inbox(request: Request, principal: Viewer) -> HTMLResponse:
    """The tasks of the person's councils, one a line, filtered and searched, a page at a time.

    By default every task not closed, urgent first, then the task due soonest;
    `after`/`before` page on.
    """
    params = request.query_params
    filters, councils, now = Filters.of(params), councils_of(principal), _now(request)
    query, store = filters.query(councils, now), _store(request)
    after, before = params.get("after") or None, params.get("before") or None
    page_ = await run_in_threadpool(store.page, query, PAGE_SIZE, after, before)
    total = await run_in_threadpool(store.count, query)
    await run_in_threadpool(view, request, principal, page_.tasks, "viewed_list")
    content = (
        "<h1>Tasks</h1>" + filter_form(filters, councils) + task_list(page_, total, filters, now)
    )
    account = account_html(principal.username, csrf_token(request))
    return HTMLResponse(page("Tasks", content, now, account))


def _csrf(request: Request, principal: Principal) -> str:
    """The form token, or none for a read-only role (its pages show no buttons)."""
    return csrf_token(request) if may(principal, "act_on_tasks") else ""


@router.get("/tasks/{task_id}", response_class=HTMLResponse)
async def task_detail(request: Request, principal: Viewer, task_id: str) -> HTMLResponse:
    """One task of the person's councils: what it is for, who, the incident, and its history."""
    store, councils = _store(request), councils_of(principal)
    record_ = await run_in_threadpool(store.get, task_id, councils)
    related = await run_in_threadpool(store.history, task_id, councils)
    await run_in_threadpool(view, request, principal, [record_], "viewed_detail")
    if related:
        others = [r.record for r in related]
        await run_in_threadpool(view, request, principal, others, "viewed_history")
    now, csrf = _now(request), _csrf(request, principal)
    title = f"{TASK_TYPES[record_.task_type]}: incident {record_.task.incident_id}"
    account = account_html(principal.username, csrf_token(request))
    content = detail.task_page(record_, now, csrf, related)
    return HTMLResponse(page(title, content, now, account))


@router.post("/tasks/{task_id}/acknowledge")
async def acknowledge(
    request: Request, principal: Actor, task_id: str, csrf: Annotated[str, Form()] = ""
) -> RedirectResponse:
    """The Acknowledge button; back to the task's page, where its outcome is recorded."""
    _same_origin(request)
    check_csrf(request, csrf)
    task = await run_in_threadpool(_store(request).acknowledge, task_id, councils_of(principal))
    refs = task_refs([task])
    await run_in_threadpool(record, request, "task_action", "acknowledged", principal, refs)
    return RedirectResponse(f"/tasks/{quote(task_id)}", status_code=303)


@router.post("/tasks/{task_id}/outcome")
async def record_outcome(
    request: Request,
    principal: Actor,
    task_id: str,
    csrf: Annotated[str, Form()] = "",
    outcome: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    held_on: Annotated[str, Form()] = "",
) -> RedirectResponse:
    """An outcome form of the task page, with the reason the person gave; back to the task."""
    _same_origin(request)
    check_csrf(request, csrf)
    recorded = Outcome(_outcome_name(outcome), reason.strip()[:500] or None, _date(held_on))
    task = await run_in_threadpool(
        _store(request).record_outcome,
        task_id,
        recorded,
        principal.username,
        councils_of(principal),
    )
    await run_in_threadpool(outcome_recorded, request, principal, task, recorded)
    return RedirectResponse(f"/tasks/{quote(task_id)}", status_code=303)


def _outcome_name(text: str) -> OutcomeName:
    """The outcome a form names; 422 for any other."""
    for name in get_args(OutcomeName):
        if text == name:
            return cast(OutcomeName, name)
    raise HTTPException(422, "choose one of the outcomes")


def _date(text: str) -> date | None:
    """A date field (YYYY-MM-DD), or None when empty; 422 when it is not a date."""
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise HTTPException(422, "the date is not a date (YYYY-MM-DD)") from None


def _same_origin(request: Request) -> None:
    """Refuse a form posted from another site (the browser may hold the duty worker's login)."""
    origin = request.headers.get("origin")
    if origin and urlsplit(origin).netloc != request.headers.get("host"):
        raise HTTPException(403, "cross-site form post refused")


def error_page(status_code: int, message: str) -> str:
    """A plain page for a refused request."""
    content = f'<h1>{esc(message.capitalize())}</h1><p><a href="/">Back to the tasks</a></p>'
    return page(f"Error {status_code}", content, datetime.now().astimezone())
