"""The duty inbox JSON API: the case system API that `HttpCaseSystem` talks to.

Every route needs a caller (`auth.caller`): raising and revising tasks need a client
credential that may raise tasks; reading needs a client credential or a person's session;
acknowledging a task and recording its outcome are a person's acts, so they need a session
and its CSRF token in the `X-CSRF-Token` header. A caller reaches the tasks of their
councils only, and every view and action is recorded in the audit log.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, Header, HTTPException, Query, Request, Response
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from connectors.duty_inbox.access import (
    caller_may,
    councils_of,
    outcome_recorded,
    person_may,
    task_refs,
    view,
)
from connectors.duty_inbox.auth import Principal, check_csrf, record
from connectors.duty_inbox.openapi import ACTOR, CLIENT, READER, json_body, refusals
from connectors.duty_inbox.query import Priority, Queue, TaskQuery, narrowed
from connectors.duty_inbox.store import TaskStore
from connectors.duty_inbox.task_rows import council_of
from schemas.task import RaiseTask
from streams.domain.ports.case_system import TaskList, TaskReceipt, TaskRecord, TaskStatus
from streams.domain.ports.task_outcomes import Outcome

router = APIRouter(prefix="/api")

Raiser = Annotated[Principal, Depends(caller_may("raise_tasks"))]
Reader = Annotated[Principal, Depends(caller_may("view_tasks"))]
Actor = Annotated[Principal, Depends(person_may("act_on_tasks"))]
#: The session's CSRF token: declared as the `csrf` security scheme, not as a parameter.
Csrf = Annotated[str, Header(alias="X-CSRF-Token", include_in_schema=False)]

#: The largest command body read; a task command is a few kilobytes.
MAX_BODY = 1_000_000


def _store(request: Request) -> TaskStore:
    store: TaskStore = request.app.state.store
    return store


def _json(model: BaseModel, status_code: int = 200) -> Response:
    """Serialise by alias, so the incident keeps its `schema` field."""
    return Response(
        model.model_dump_json(by_alias=True), status_code, media_type="application/json"
    )


async def _command(
    request: Request, principal: Principal, idempotency_key: str | None = None
) -> RaiseTask:
    """Parse the body at the edge; errors name fields and types, never the values sent."""
    try:
        cmd = RaiseTask.model_validate_json(await _body(request))
    except ValidationError as exc:
        detail = [
            {"loc": ["body", *error["loc"]], "msg": error["msg"], "type": error["type"]}
            for error in exc.errors(include_url=False, include_input=False)
        ]
        raise HTTPException(422, detail) from None
    if idempotency_key is not None and cmd.idempotency_key != idempotency_key:
        raise HTTPException(422, "Idempotency-Key header does not match the command")
    councils = councils_of(principal)
    if councils is not None and council_of(cmd.local_authority) not in councils:
        refs = {"incident": [cmd.incident_id], "council": [council_of(cmd.local_authority)]}
        record(request, "denied", "raise_for_other_council", principal, refs)
        raise HTTPException(403, "this client may not raise tasks of that council")
    return cmd


async def _body(request: Request) -> bytes:
    """The request's body, refused (413) past `MAX_BODY` bytes without reading it all."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise HTTPException(413, "the body is too large")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise HTTPException(413, "the body is too large")
    return bytes(body)


@router.post(
    "/tasks",
    status_code=201,
    responses={
        201: {"model": TaskReceipt, "description": "A new task."},
        200: {"model": TaskReceipt, "description": "The key's task: updated, or unchanged."},
        **refusals(401, 403, 413, 422),
    },
    openapi_extra={**json_body(RaiseTask), "security": CLIENT},
)
async def post_task(
    request: Request,
    principal: Raiser,
    idempotency_key: Annotated[
        str,
        Header(
            alias="Idempotency-Key",
            description="The command's `idempotency_key` again; a different one is refused (422).",
        ),
    ],
) -> Response:
    """Raise a task: 201 when new, 200 when the key exists (updated if the revision is higher)."""
    cmd = await _command(request, principal, idempotency_key)
    receipt = await run_in_threadpool(_store(request).raise_task, cmd)
    action = "created" if receipt.created else "updated" if receipt.updated else "unchanged"
    await run_in_threadpool(_received, request, principal, receipt.task_id, cmd, action)
    return _json(receipt, 201 if receipt.created else 200)


def _received(
    request: Request, principal: Principal, task_id: str, cmd: RaiseTask, action: str
) -> None:
    refs = {
        "task": [task_id, cmd.idempotency_key],
        "incident": [cmd.incident_id],
        "council": [council_of(cmd.local_authority)],
    }
    record(request, "task_command", f"task_{action}", principal, refs)


@router.get(
    "/tasks",
    responses={200: {"model": TaskList}, **refusals(401, 403, 422)},
    openapi_extra={"security": READER},
)
async def list_tasks(
    request: Request,
    principal: Reader,
    status: TaskStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[
        str | None, Query(max_length=200, description="`next_cursor` of the page before.")
    ] = None,
    council: Annotated[str | None, Query(max_length=64)] = None,
    priority: Priority | None = None,
    overdue: Annotated[bool, Query(description="Only tasks not closed and past due.")] = False,
    q: Annotated[
        str | None,
        Query(max_length=200, description="Incident reference, name, or NHS number."),
    ] = None,
    needs_confirmation: Annotated[
        bool, Query(description="Only tasks the register has since put in doubt.")
    ] = False,
    queue: Annotated[
        Queue | None,
        Query(description="`duty`: the duty team's; `emergency`: the emergency duty team's."),
    ] = None,
) -> Response:
    """Tasks of the caller's councils in duty order: by priority, withdrawn last; due soonest first.

    A page holds `limit` tasks; `next_cursor` is the `cursor` of the next (None: the last).
    A task raised between two pages is not shown on the next; none is shown twice or skipped.
    """
    query = TaskQuery(
        narrowed(councils_of(principal), council),
        None if status is None else frozenset({status}),
        priority,
        _now(request) if overdue else None,
        q or "",
        needs_confirmation,
        queue,
    )
    store = _store(request)
    page = await run_in_threadpool(store.page, query, limit, cursor)
    total = await run_in_threadpool(store.count, query)
    await run_in_threadpool(view, request, principal, page.tasks, "viewed_api_list")
    return _json(TaskList(tasks=page.tasks, next_cursor=page.next_cursor, total=total))


def _now(request: Request) -> datetime:
    clock: Callable[[], datetime] = request.app.state.clock
    return clock()


@router.get(
    "/tasks/{task_id}",
    responses={200: {"model": TaskRecord}, **refusals(401, 403, 404)},
    openapi_extra={"security": READER},
)
async def get_task(request: Request, principal: Reader, task_id: str) -> Response:
    """One task with the latest command it received."""
    task = await run_in_threadpool(_store(request).get, task_id, councils_of(principal))
    await run_in_threadpool(view, request, principal, [task], "viewed_api_detail")
    return _json(task)


@router.patch(
    "/tasks/{task_id}",
    responses={200: {"model": TaskReceipt}, **refusals(401, 403, 404, 413, 422)},
    openapi_extra={**json_body(RaiseTask), "security": CLIENT},
)
async def patch_task(request: Request, principal: Raiser, task_id: str) -> Response:
    """Update a task with a higher revision of its command; an older or equal one is a no-op.

    The command's `idempotency_key` must be the task's: another task's is refused (422).
    """
    cmd = await _command(request, principal)
    receipt = await run_in_threadpool(_store(request).revise, task_id, cmd, councils_of(principal))
    action = "updated" if receipt.updated else "unchanged"
    await run_in_threadpool(_received, request, principal, task_id, cmd, action)
    return _json(receipt)


@router.post(
    "/tasks/{task_id}/acknowledge",
    responses={200: {"model": TaskRecord}, **refusals(401, 403, 404, 409)},
    openapi_extra={"security": ACTOR},
)
async def acknowledge_task(
    request: Request, principal: Actor, task_id: str, csrf: Csrf = ""
) -> Response:
    """Mark a task as in hand; 409 when it is closed."""
    check_csrf(request, csrf)
    task = await run_in_threadpool(_store(request).acknowledge, task_id, councils_of(principal))
    await run_in_threadpool(
        record, request, "task_action", "acknowledged", principal, task_refs([task])
    )
    return _json(task)


#: What `str.isspace` counts as white space (a regular expression's `\s` differs by engine),
#: so a reason the pattern lets through still has words once stripped.
_SPACE = r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
Reason = Annotated[str, Field(min_length=1, max_length=500, pattern=f"[^{_SPACE}]")]


def _date_text(value: object) -> object:
    """A date arrives as JSON text, YYYY-MM-DD; not as a number of seconds."""
    if not isinstance(value, str):
        raise ValueError("a date is written YYYY-MM-DD")
    return value


HeldOn = Annotated[date, BeforeValidator(_date_text)]


class StrategyDiscussionBody(BaseModel):
    """A strategy discussion was held: the day (not in the future), and a note if any."""

    model_config = ConfigDict(extra="forbid")

    outcome: Literal["strategy_discussion_held"]
    held_on: HeldOn
    reason: Reason | None = None


class ReasonedOutcomeBody(BaseModel):
    """No further action, same family, or not this family: each with its reason."""

    model_config = ConfigDict(extra="forbid")

    outcome: Literal["no_further_action", "same_family", "not_this_family"]
    reason: Reason


@router.post(
    "/tasks/{task_id}/outcome",
    responses={200: {"model": TaskRecord}, **refusals(400, 401, 403, 404, 409, 422)},
    openapi_extra={"security": ACTOR},
)
async def record_outcome(
    request: Request,
    principal: Actor,
    task_id: str,
    body: Annotated[StrategyDiscussionBody | ReasonedOutcomeBody, Body(discriminator="outcome")],
    csrf: Csrf = "",
) -> Response:
    """Record a task's outcome: a review's result, or what closes an investigation.

    The task must be acknowledged (409 if not, or if the outcome is not one for its type, or it
    is closed). "not_this_family", "strategy_discussion_held" and "no_further_action" close it;
    "same_family" makes a review an investigation, still in hand.
    """
    check_csrf(request, csrf)
    reason = body.reason.strip() if body.reason else None
    held_on = body.held_on if isinstance(body, StrategyDiscussionBody) else None
    outcome = Outcome(body.outcome, reason, held_on)
    task = await run_in_threadpool(
        _store(request).record_outcome, task_id, outcome, principal.username, councils_of(principal)
    )
    await run_in_threadpool(outcome_recorded, request, principal, task, outcome)
    return _json(task)
