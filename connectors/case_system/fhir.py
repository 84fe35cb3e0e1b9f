"""A case system whose front door is an HL7 FHIR R4 server: each task is a FHIR `Task`.

Idempotency is the server's: a command is a conditional create on the task's identifier
(`POST [base]/Task` with `If-None-Exist: identifier=<system>|<idempotency key>`). 201: the Task
is new. 200: it existed, and the answer is the stored Task; the one rule of
`task_updates.apply_task_command` decides from its command's (revision, amendment) whether it
changes. A newer command replaces dvtrigger's elements (`fhir_task.updated_resource`) with
`PUT [base]/Task/{id}` and `If-Match: W/"<versionId>"`, so a Task someone changed in between is
not overwritten: the 412 is a retryable `CaseSystemConflict`, and the retry reads it afresh.
More than one match is the server's 412 on the create: permanent, as retrying cannot help.

`list_tasks` searches the Tasks of this identifier system page by page (`_count`, Bundle links
`next`, only on this server) and sorts them in duty order here, as no FHIR search can. The
mapping of a task to a Task is `fhir_task`; failures map to the port's errors as for every
HTTP case system (`errors.send`), never with a response body or personal data in a message.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlencode

import httpx
from pydantic import BaseModel, Field, SecretStr

from connectors.case_system.errors import parse, send
from connectors.case_system.fhir_contained import identifier_value
from connectors.case_system.fhir_stored import StoredTask, task_record
from connectors.case_system.fhir_task import (
    TASK_KEY_SYSTEM,
    fhir_statuses,
    task_resource,
    updated_resource,
    validated_json,
)
from schemas.task import RaiseTask
from streams.domain.ports.case_system import (
    CaseSystemBadResponse,
    TaskNotFound,
    TaskReceipt,
    TaskRecord,
    TaskStatus,
    duty_order,
)
from streams.domain.ports.task_updates import TaskChange, apply_task_command

FHIR_JSON = "application/fhir+json"
#: Tasks asked for per search page, and the most pages one listing reads.
PAGE_SIZE = 100
MAX_PAGES = 1000
_TASK_ID = re.compile(r"Task/([A-Za-z0-9.-]{1,64})(?:/_history/[^/]+)?/?$")


class FhirCaseSystem:
    """A case system reached as a FHIR R4 server of Task resources."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 10.0,
        token: SecretStr | None = None,
        identifier_system: str = TASK_KEY_SYSTEM,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"Accept": FHIR_JSON}
        if token is not None:
            headers["Authorization"] = f"Bearer {token.get_secret_value()}"
        self._client = httpx.AsyncClient(
            base_url=base_url, timeout=timeout, headers=headers, transport=transport
        )
        self._system = identifier_system

    async def raise_task(self, cmd: RaiseTask) -> TaskReceipt:
        """Create the Task if none has the command's key; update it if the command is newer."""
        now = datetime.now(UTC)
        new = apply_task_command(None, cmd, now, new_task_id="")  # the server names it
        headers = {
            "Content-Type": FHIR_JSON,
            "If-None-Exist": self._key_query(cmd.idempotency_key),
            "Prefer": "return=representation",
        }
        body = validated_json(task_resource(new.record, self._system))
        response = await self._request("POST", "/Task", content=body, headers=headers)
        if response.status_code == 201:
            task_id = self._answered_id(response)
            return TaskChange("created", new.record.model_copy(update={"task_id": task_id})).receipt
        if response.status_code != 200:
            raise CaseSystemBadResponse(f"POST /Task: {response.status_code} is not 200 or 201")
        stored, resource = await self._matched(response)
        change = apply_task_command(task_record(stored), cmd, now, stored.id)
        if change.kind == "updated":
            await self._update(stored, resource, change.record)
        return change.receipt

    async def get_task(self, task_id: str) -> TaskRecord:
        """The Task with this id; `TaskNotFound` when there is none or it is not dvtrigger's."""
        path = f"/Task/{quote(task_id, safe='')}"
        stored = parse(StoredTask, await self._request("GET", path))
        if self._system not in {i.system for i in stored.identifier}:
            raise TaskNotFound(f"GET {path}: not a task of this identifier system", 404)
        return task_record(stored)

    async def list_tasks(
        self, status: TaskStatus | None = None, limit: int = 100
    ) -> list[TaskRecord]:
        """Tasks in duty order, ties in the order they were raised; optionally in one status."""
        params: dict[str, str | int] = {"identifier": f"{self._system}|", "_count": PAGE_SIZE}
        if status is not None:
            params["status"] = ",".join(fhir_statuses(status))
        records = [task_record(task) for task in await self._search(params)]
        records = [r for r in records if status is None or r.status == status]
        records.sort(key=lambda r: (duty_order(r), r.created_at))
        return records[:limit]

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()

    async def _update(
        self, stored: StoredTask, resource: dict[str, Any], record: TaskRecord
    ) -> None:
        """PUT the newer command's Task over the version read; 412 if it changed since."""
        body = validated_json(updated_resource(resource, task_resource(record, self._system)))
        headers = {"Content-Type": FHIR_JSON, "If-Match": f'W/"{stored.meta.versionId}"'}
        path = f"/Task/{quote(stored.id, safe='')}"
        await self._request("PUT", path, content=body, headers=headers, conflicts=(409, 412))

    async def _matched(self, response: httpx.Response) -> tuple[StoredTask, dict[str, Any]]:
        """The Task a conditional create matched: the answer, or read from its Location."""
        if not response.content.strip():
            path = f"/Task/{quote(self._answered_id(response), safe='')}"
            response = await self._request("GET", path)
        return parse(StoredTask, response), response.json()

    def _answered_id(self, response: httpx.Response) -> str:
        """The id of the Task an answer is about: from its Location, else from its body."""
        found = _TASK_ID.search(httpx.URL(response.headers.get("Location", "")).path)
        return found.group(1) if found else parse(_Identified, response).id

    async def _search(self, params: dict[str, str | int]) -> list[StoredTask]:
        """Every Task a search finds, following the Bundle's `next` links on this server."""
        tasks: list[StoredTask] = []
        url, kwargs = "/Task", {"params": params}
        for _ in range(MAX_PAGES):
            page = parse(_SearchPage, await self._request("GET", url, "GET /Task", **kwargs))
            tasks += [e.resource for e in page.entry if isinstance(e.resource, StoredTask)]
            following = [link.url for link in page.link if link.relation == "next"]
            if not following:
                return tasks
            url, kwargs = self._on_this_server(following[0]), {}
        raise CaseSystemBadResponse(f"GET /Task: more than {MAX_PAGES} pages")

    def _on_this_server(self, link: str) -> str:
        """A next link, made absolute; one off this server's base would get our token."""
        url = str(self._client.base_url.join(link))
        if not url.startswith(str(self._client.base_url)):
            raise CaseSystemBadResponse("GET /Task: a next link off the FHIR base")
        return url

    def _key_query(self, key: str) -> str:
        """The search for a task's key, as `If-None-Exist` takes it (a query string)."""
        value = f"{self._system}|{_token_escaped(identifier_value(key))}"
        return urlencode({"identifier": value}, safe=":/|", quote_via=quote)

    async def _request(
        self, method: str, url: str, where: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        """The one place this client talks HTTP and turns failures into the error tree."""
        return await send(self._client, where or f"{method} {url}", method, url, **kwargs)


def _token_escaped(value: str) -> str:
    """A token search value with FHIR search's special characters escaped."""
    return re.sub(r"([\\|,$])", r"\\\1", value)


class _Identified(BaseModel):
    id: str


class _Outcome(BaseModel):
    resourceType: Literal["OperationOutcome"]


class _Entry(BaseModel):
    resource: Annotated[StoredTask | _Outcome, Field(discriminator="resourceType")] | None = None


class _Link(BaseModel):
    relation: str
    url: str


class _SearchPage(BaseModel):
    """A searchset Bundle: its Tasks (and any OperationOutcome) and its links."""

    resourceType: Literal["Bundle"]
    link: list[_Link] = []
    entry: list[_Entry] = []
