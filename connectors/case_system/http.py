"""A case system reached over HTTP: the duty inbox's task API, or a council's own."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from connectors.case_system.errors import parse, send
from schemas.task import RaiseTask
from streams.domain.ports.case_system import TaskList, TaskReceipt, TaskRecord, TaskStatus


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
        return parse(TaskReceipt, response)

    async def get_task(self, task_id: str) -> TaskRecord:
        """GET one task."""
        path = f"/api/tasks/{quote(task_id, safe='')}"
        return parse(TaskRecord, await self._request("GET", path))

    async def list_tasks(
        self, status: TaskStatus | None = None, limit: int = 100
    ) -> list[TaskRecord]:
        """GET tasks in duty order."""
        params: dict[str, str | int] = {"limit": limit}
        if status is not None:
            params["status"] = status
        return parse(TaskList, await self._request("GET", "/api/tasks", params=params)).tasks

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The one place this client talks HTTP and turns failures into the error tree."""
        return await send(self._client, f"{method} {path}", method, path, **kwargs)
