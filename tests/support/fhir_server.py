"""A FHIR server of Task resources for tests, in memory, and one served on loopback.

It does what the FHIR adapter relies on, as a FHIR R4 server does: `POST /Task` validates the
Task with fhir.resources' R4B model (400 and an OperationOutcome when invalid) and honours
`If-None-Exist` on `identifier=system|value` (no match: 201 with Location and ETag; one: 200
with the stored Task; more: 412), atomically, under a lock; `GET /Task/{id}` (404 and an
OperationOutcome when there is none); `PUT /Task/{id}` with `If-Match` (412 on another
version; a new `meta.versionId` and `meta.lastUpdated`); and `GET /Task?identifier=system|
&status=a,b&_count=n` as a searchset Bundle, paged by `_offset` with `next` links.
A test plays the council with `set_status`, or changes a Task just after a conditional create
matched it with `after_match`.
"""

from __future__ import annotations

import copy
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import uvicorn
from fastapi import FastAPI, Request, Response
from fhir.resources.R4B.task import Task
from pydantic import ValidationError

from tests.support.loopback import loopback_socket, serve_config

FHIR_JSON = "application/fhir+json"


class FhirTaskServer:
    """Task resources in memory behind a FastAPI app (`app`) that speaks FHIR's REST API."""

    def __init__(self) -> None:
        #: Tasks by id, in the order they were created.
        self.tasks: dict[str, dict[str, Any]] = {}
        #: Every request the server answered: (method, path, headers).
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        #: Called with a Task's id when a conditional create matched it, before answering.
        self.after_match: Callable[[str], None] | None = None
        self._lock = threading.Lock()
        self.app = self._routes(FastAPI())

    def set_status(self, task_id: str, status: str) -> None:
        """Change a Task's status as a council's worker does: a new version of it."""
        with self._lock:
            self.tasks[task_id]["status"] = status
            self._bump(self.tasks[task_id])

    def _routes(self, app: FastAPI) -> FastAPI:
        app.post("/Task")(self._create)
        app.get("/Task/{task_id}")(self._read)
        app.put("/Task/{task_id}")(self._update)
        app.get("/Task")(self._search)
        return app

    async def _create(self, request: Request) -> Response:
        self._record(request)
        task, problem = _validated(await request.body())
        if problem is not None:
            return problem
        condition = parse_qs(request.headers.get("If-None-Exist", ""))
        with self._lock:
            matches = [t for t in self.tasks.values() if _matches(t, condition)]
            if len(matches) > 1:
                return _outcome(412, "duplicate", "more than one Task matches If-None-Exist")
            if not matches:
                task_id = uuid.uuid4().hex
                self.tasks[task_id] = task | {"id": task_id}
                self._bump(self.tasks[task_id])
                location = f"{request.base_url}Task/{task_id}/_history/1"
                return _resource(201, copy.deepcopy(self.tasks[task_id]), Location=location)
            answer = copy.deepcopy(matches[0])
        if self.after_match is not None:
            self.after_match(answer["id"])  # the Task changes after the answer was made
        return _resource(200, answer)

    async def _read(self, request: Request, task_id: str) -> Response:
        self._record(request)
        with self._lock:
            task = copy.deepcopy(self.tasks.get(task_id))
        if task is None:
            return _outcome(404, "not-found", "no such Task")
        return _resource(200, task)

    async def _update(self, request: Request, task_id: str) -> Response:
        self._record(request)
        task, problem = _validated(await request.body())
        if problem is not None:
            return problem
        if task.get("id") != task_id:
            return _outcome(400, "invalid", "the Task's id is not the one in the URL")
        with self._lock:
            stored = self.tasks.get(task_id)
            if stored is None:
                return _outcome(404, "not-found", "no such Task")
            if request.headers.get("If-Match") != _etag(stored):
                return _outcome(412, "conflict", "the Task has another version")
            task["meta"] = stored["meta"]
            self.tasks[task_id] = task
            self._bump(task)
            return _resource(200, copy.deepcopy(task))

    async def _search(self, request: Request) -> Response:
        self._record(request)
        params = request.query_params
        count, offset = int(params.get("_count", "20")), int(params.get("_offset", "0"))
        statuses = set(params["status"].split(",")) if "status" in params else None
        condition = {"identifier": params.getlist("identifier")}
        with self._lock:
            found = [
                copy.deepcopy(t)
                for t in self.tasks.values()
                if _matches(t, condition) and (statuses is None or t["status"] in statuses)
            ]
        page = found[offset : offset + count]
        bundle: dict[str, Any] = {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(found),
            "link": [{"relation": "self", "url": str(request.url)}],
            "entry": [{"resource": t, "search": {"mode": "match"}} for t in page],
        }
        if offset + count < len(found):
            following = request.url.include_query_params(_offset=offset + count)
            bundle["link"].append({"relation": "next", "url": str(following)})
        return Response(json.dumps(bundle), 200, media_type=FHIR_JSON)

    def _record(self, request: Request) -> None:
        self.requests.append((request.method, request.url.path, dict(request.headers)))

    @staticmethod
    def _bump(task: dict[str, Any]) -> None:
        """A new version of a Task: the next versionId, updated now."""
        version = int(task.get("meta", {}).get("versionId", "0")) + 1
        task["meta"] = {"versionId": str(version), "lastUpdated": datetime.now(UTC).isoformat()}


def _validated(body: bytes) -> tuple[dict[str, Any], Response | None]:
    """The Task in a request body, or the 400 that refuses it (element paths only)."""
    try:
        Task.model_validate_json(body)
    except ValidationError as exc:
        paths = sorted({".".join(map(str, e["loc"])) for e in exc.errors()})
        return {}, _outcome(400, "invalid", "invalid Task", paths)
    return json.loads(body), None


def _matches(task: dict[str, Any], condition: dict[str, list[str]]) -> bool:
    """Whether a Task has an identifier each `identifier` token (system|value, system|) names."""
    return all(_has_identifier(task, token) for token in condition.get("identifier", []))


def _has_identifier(task: dict[str, Any], token: str) -> bool:
    system, value = _split_token(token)
    return any(
        i.get("system") == system and (value is None or i.get("value") == value)
        for i in task.get("identifier", [])
    )


def _split_token(token: str) -> tuple[str, str | None]:
    """`system|value` (value unescaped; None when empty) from a token search value."""
    chars, system, current = iter(token), None, []
    for ch in chars:
        if ch == "\\":
            current.append(next(chars, ""))
        elif ch == "|" and system is None:
            system, current = "".join(current), []
        else:
            current.append(ch)
    return system or "", "".join(current) or None


def _etag(task: dict[str, Any]) -> str:
    return f'W/"{task["meta"]["versionId"]}"'


def _resource(status: int, task: dict[str, Any], **headers: str) -> Response:
    headers["ETag"] = _etag(task)
    return Response(json.dumps(task), status, headers=headers, media_type=FHIR_JSON)


def _outcome(status: int, code: str, text: str, expression: list[str] | None = None) -> Response:
    issue: dict[str, Any] = {"severity": "error", "code": code, "diagnostics": text}
    if expression:
        issue["expression"] = expression
    body = {"resourceType": "OperationOutcome", "issue": [issue]}
    return Response(json.dumps(body), status, media_type=FHIR_JSON)


@contextmanager
def serve_fhir_server(server: FhirTaskServer | None = None) -> Iterator[tuple[str, FhirTaskServer]]:
    """Serve a FHIR Task server on 127.0.0.1; yield its base URL and the server."""
    server = server or FhirTaskServer()
    config = uvicorn.Config(server.app, log_level="warning", lifespan="off")
    with serve_config(config, loopback_socket(), what="FHIR server") as url:
        yield url, server
