"""The case system port: raise or update one task per incident and subject, over HTTP or in memory.

Semantics shared by every adapter: a `RaiseTask` is keyed by its `idempotency_key`. The first
command creates the task; one with the same key and a higher `revision` updates it (and puts it
back in front of the duty team); one with an equal or lower revision changes nothing. Errors
carry ids, refs and status codes only, never personal data.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError

from schemas.task import RaiseTask

TaskStatus = Literal["open", "acknowledged", "closed"]
ErrorKind = Literal["connect", "timeout", "5xx", "429", "409", "bad_response"]

#: The duty team reads trigger tasks before reviews, and a withdrawn task last.
OUTCOME_RANK: dict[str, int] = {"trigger": 0, "review": 1, "withdrawn": 2}


class TaskReceipt(BaseModel):
    """What the case system says it did with one RaiseTask; ids and counters only."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    task_id: str
    created: bool
    updated: bool
    revision: int


class TaskRecord(BaseModel):
    """One task as the case system holds it, with the latest command it received."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    task_id: str
    status: TaskStatus
    revision: int
    created_revision: int
    created_at: datetime
    revised_at: datetime | None = None
    acknowledged_at: datetime | None = None
    closed_at: datetime | None = None
    task: RaiseTask

    @property
    def received_at(self) -> datetime:
        """When the task was raised or last revised: the duty team's 'newest'."""
        return self.revised_at or self.created_at


class TaskList(BaseModel):
    """A page of tasks in duty order."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    tasks: list[TaskRecord]


def duty_order(record: TaskRecord) -> tuple[int, float]:
    """Sort key: trigger before review before withdrawn, then newest first."""
    return OUTCOME_RANK[record.task.outcome], -record.received_at.timestamp()


class CaseSystemError(Exception):
    """Base of every case system failure; its message carries no personal data."""


class CaseSystemUnavailable(CaseSystemError):
    """Retryable: the case system could not be reached or asked us to come back later."""

    def __init__(self, message: str, kind: ErrorKind, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.retry_after = retry_after


class CaseSystemConflict(CaseSystemUnavailable):
    """Retryable: a request with the same key is still in flight (409)."""


class CaseSystemRejected(CaseSystemError):
    """Permanent: the case system refused the request (4xx other than 409 and 429)."""

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


class TaskNotFound(CaseSystemRejected):
    """No task has this id."""


class CaseSystemBadResponse(CaseSystemUnavailable):
    """Retryable: the answer did not parse as the API's model (a proxy page, a garbled body).

    Retrying is safe because every command is idempotent, and safer than dropping the task.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, "bad_response")


class CaseSystem(Protocol):
    """The port every case system adapter implements."""

    async def raise_task(self, cmd: RaiseTask) -> TaskReceipt:
        """Create the task for `cmd`, or update it when `cmd` has a higher revision."""
        ...

    async def get_task(self, task_id: str) -> TaskRecord:
        """The task with this id; `TaskNotFound` when there is none."""
        ...

    async def list_tasks(
        self, status: TaskStatus | None = None, limit: int = 100
    ) -> list[TaskRecord]:
        """Tasks in duty order, optionally only those in one status."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


ModelT = TypeVar("ModelT", bound=BaseModel)


class HttpCaseSystem:
    """A case system reached over the duty inbox HTTP API."""

    def __init__(
        self,
        base_url: str,
        timeout: float = 10.0,
        token: SecretStr | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"Accept": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token.get_secret_value()}"
        self._client = httpx.AsyncClient(
            base_url=base_url, timeout=timeout, headers=headers, transport=transport
        )

    async def raise_task(self, cmd: RaiseTask) -> TaskReceipt:
        """POST the command with its Idempotency-Key; 201 created, 200 existing or updated."""
        response = await self._request(
            "POST",
            "/api/tasks",
            content=cmd.model_dump_json(by_alias=True),
            headers={"Idempotency-Key": cmd.idempotency_key, "Content-Type": "application/json"},
        )
        return _parse(TaskReceipt, response)

    async def get_task(self, task_id: str) -> TaskRecord:
        """GET one task."""
        path = f"/api/tasks/{quote(task_id, safe='')}"
        return _parse(TaskRecord, await self._request("GET", path))

    async def list_tasks(
        self, status: TaskStatus | None = None, limit: int = 100
    ) -> list[TaskRecord]:
        """GET tasks in duty order."""
        params: dict[str, str | int] = {"limit": limit}
        if status is not None:
            params["status"] = status
        return _parse(TaskList, await self._request("GET", "/api/tasks", params=params)).tasks

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The one place this client talks HTTP and turns failures into the error tree."""
        where = f"{method} {path}"
        try:
            response = await self._client.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise CaseSystemUnavailable(f"{where}: timed out", "timeout") from exc
        except httpx.TransportError as exc:
            raise CaseSystemUnavailable(f"{where}: {type(exc).__name__}", "connect") from exc
        except httpx.RequestError as exc:  # undecodable body, too many redirects
            raise CaseSystemBadResponse(f"{where}: {type(exc).__name__}") from exc
        _raise_for_status(where, response)
        return response


def _raise_for_status(where: str, response: httpx.Response) -> None:
    """Map a status code to the error tree; the body is never read into a message."""
    code = response.status_code
    if code < 400:
        return
    retry_after = _retry_after(response)
    if code >= 500:
        raise CaseSystemUnavailable(f"{where}: {code}", "5xx", retry_after)
    if code == 429:
        raise CaseSystemUnavailable(f"{where}: 429", "429", retry_after)
    if code == 409:
        raise CaseSystemConflict(f"{where}: 409", "409", retry_after)
    if code == 404:
        raise TaskNotFound(f"{where}: 404", code)
    raise CaseSystemRejected(f"{where}: {code}", code)


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds from a numeric Retry-After header, if any."""
    try:
        return max(0.0, float(response.headers["Retry-After"]))
    except (KeyError, ValueError):
        return None


def _parse(model: type[ModelT], response: httpx.Response) -> ModelT:
    """Validate a response body; a failure names the model and error count, never the values."""
    try:
        return model.model_validate_json(response.content)
    except ValidationError as exc:
        message = f"{response.request.method} {response.request.url.path}: "
        message += f"{exc.error_count()} errors parsing {model.__name__}"
        raise CaseSystemBadResponse(message) from None


class InMemoryCaseSystem:
    """A fake case system with the duty inbox's semantics, for tests and demos."""

    def __init__(self, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._clock = clock
        self._by_id: dict[str, TaskRecord] = {}
        self._id_by_key: dict[str, str] = {}
        self._failures: list[CaseSystemError] = []
        self._sequence = itertools.count()
        self._order: dict[str, int] = {}

    def fail_next(self, *errors: CaseSystemError) -> None:
        """Make the next calls to `raise_task` raise these errors, in order."""
        self._failures.extend(errors)

    async def raise_task(self, cmd: RaiseTask) -> TaskReceipt:
        """Create, update (higher revision, reopening the task) or leave the task."""
        if self._failures:
            raise self._failures.pop(0)
        task_id = self._id_by_key.get(cmd.idempotency_key)
        if task_id is None:
            return self._create(cmd)
        current = self._by_id[task_id]
        if cmd.revision <= current.revision:
            return TaskReceipt(
                task_id=task_id, created=False, updated=False, revision=current.revision
            )
        now = self._clock()
        self._by_id[task_id] = current.model_copy(
            update={"task": cmd, "revision": cmd.revision, "status": "open", "revised_at": now}
        )
        self._order[task_id] = next(self._sequence)
        return TaskReceipt(task_id=task_id, created=False, updated=True, revision=cmd.revision)

    def _create(self, cmd: RaiseTask) -> TaskReceipt:
        task_id = str(uuid.uuid4())
        self._by_id[task_id] = TaskRecord(
            task_id=task_id,
            status="open",
            revision=cmd.revision,
            created_revision=cmd.revision,
            created_at=self._clock(),
            task=cmd,
        )
        self._id_by_key[cmd.idempotency_key] = task_id
        self._order[task_id] = next(self._sequence)
        return TaskReceipt(task_id=task_id, created=True, updated=False, revision=cmd.revision)

    async def get_task(self, task_id: str) -> TaskRecord:
        """The task with this id."""
        try:
            return self._by_id[task_id]
        except KeyError:
            raise TaskNotFound(f"GET /api/tasks/{task_id}: 404", 404) from None

    async def list_tasks(
        self, status: TaskStatus | None = None, limit: int = 100
    ) -> list[TaskRecord]:
        """Tasks in duty order; ties go to the most recently received."""
        records = [r for r in self._by_id.values() if status is None or r.status == status]
        records.sort(key=lambda r: (*duty_order(r), -self._order[r.task_id]))
        return records[:limit]

    async def aclose(self) -> None:
        """Nothing to release."""
