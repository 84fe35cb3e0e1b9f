"""A case system reached over HTTP: the duty inbox's task API, or a council's own."""

from __future__ import annotations

from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, SecretStr, ValidationError

from schemas.task import RaiseTask
from streams.domain.ports.case_system import (
    CaseSystemBadResponse,
    CaseSystemConflict,
    CaseSystemRejected,
    CaseSystemUnavailable,
    TaskList,
    TaskNotFound,
    TaskReceipt,
    TaskRecord,
    TaskStatus,
)

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
