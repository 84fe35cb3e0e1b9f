"""The duty inbox JSON API: the case system API that `HttpCaseSystem` talks to."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Query, Request, Response
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from connectors.duty_inbox.store import TaskStore
from schemas.task import RaiseTask
from streams.domain.ports.case_system import TaskList, TaskStatus

router = APIRouter(prefix="/api")


def _store(request: Request) -> TaskStore:
    store: TaskStore = request.app.state.store
    return store


def _json(model: BaseModel, status_code: int = 200) -> Response:
    """Serialise by alias, so the incident keeps its `schema` field."""
    return Response(
        model.model_dump_json(by_alias=True), status_code, media_type="application/json"
    )


async def _command(request: Request, idempotency_key: str | None = None) -> RaiseTask:
    """Parse the body at the edge; errors name fields and types, never the values sent."""
    try:
        cmd = RaiseTask.model_validate_json(await request.body())
    except ValidationError as exc:
        detail = [
            {"loc": ["body", *error["loc"]], "msg": error["msg"], "type": error["type"]}
            for error in exc.errors(include_url=False, include_input=False)
        ]
        raise HTTPException(422, detail) from None
    if idempotency_key is not None and cmd.idempotency_key != idempotency_key:
        raise HTTPException(422, "Idempotency-Key header does not match the command")
    return cmd


@router.post("/tasks", status_code=201)
async def post_task(
    request: Request, idempotency_key: Annotated[str, Header(alias="Idempotency-Key")]
) -> Response:
    """Raise a task: 201 when new, 200 when the key exists (updated if the revision is higher)."""
    cmd = await _command(request, idempotency_key)
    receipt = await run_in_threadpool(_store(request).raise_task, cmd)
    return _json(receipt, 201 if receipt.created else 200)


@router.get("/tasks")
async def list_tasks(
    request: Request,
    status: TaskStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    """Tasks in duty order: trigger before review before withdrawn, then newest first."""
    tasks = await run_in_threadpool(_store(request).list_tasks, status, limit)
    return _json(TaskList(tasks=tasks))


@router.get("/tasks/{task_id}")
async def get_task(request: Request, task_id: str) -> Response:
    """One task with the latest command it received."""
    return _json(await run_in_threadpool(_store(request).get, task_id))


@router.patch("/tasks/{task_id}")
async def patch_task(request: Request, task_id: str) -> Response:
    """Update a task with a higher revision of its command; an older or equal one is a no-op."""
    cmd = await _command(request)
    return _json(await run_in_threadpool(_store(request).revise, task_id, cmd))


@router.post("/tasks/{task_id}/acknowledge")
async def acknowledge_task(request: Request, task_id: str) -> Response:
    """Mark a task as in hand; 409 when it is closed."""
    return _json(await run_in_threadpool(_store(request).acknowledge, task_id))


@router.post("/tasks/{task_id}/close")
async def close_task(request: Request, task_id: str) -> Response:
    """Close a task."""
    return _json(await run_in_threadpool(_store(request).close, task_id))
