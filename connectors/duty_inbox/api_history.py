"""The JSON API's history of one task: `GET /api/tasks/{task_id}/history`.

The same caller and the same councils as reading the task itself (`api.get_task`): a task of
another council is not found (404), and only tasks of the caller's councils are listed. The
view is recorded in the audit log, the task and each task listed by reference.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from connectors.duty_inbox.access import councils_of, view
from connectors.duty_inbox.api import Reader
from connectors.duty_inbox.history import TaskHistory, history_of
from connectors.duty_inbox.openapi import READER, refusals
from connectors.duty_inbox.store import TaskStore

router = APIRouter(prefix="/api")


@router.get(
    "/tasks/{task_id}/history",
    responses={200: {"model": TaskHistory}, **refusals(401, 403, 404)},
    openapi_extra={"security": READER},
)
async def get_history(request: Request, principal: Reader, task_id: str) -> Response:
    """Other tasks of the same family or dwelling whose incident is within 365 days of this one's.

    Newest incident first; each says whether it was `earlier`, of the `same_incident` (another
    child) or `later`, what it shares (`family`, `dwelling`), its type, status and what people
    recorded on it.
    """
    store: TaskStore = request.app.state.store
    councils = councils_of(principal)
    task = await run_in_threadpool(store.get, task_id, councils)
    related = await run_in_threadpool(store.history, task_id, councils)
    seen = [task, *(r.record for r in related)]
    await run_in_threadpool(view, request, principal, seen, "viewed_api_history")
    answer = history_of(task_id, related)
    return Response(answer.model_dump_json(), media_type="application/json")
