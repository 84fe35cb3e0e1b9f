"""FhirCaseSystem on httpx.MockTransport: the requests it sends and how failures map to errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from fhir.resources.R4B.task import Task
from pydantic import SecretStr

from connectors.case_system.fhir import FhirCaseSystem
from connectors.case_system.fhir_stored import StoredTask, task_record
from connectors.case_system.fhir_task import (
    TASK_KEY_SYSTEM,
    FhirTaskInvalid,
    task_resource,
    validated_json,
)
from schemas.task import RaiseTask
from streams.domain.ports.case_system import (
    CaseSystemBadResponse,
    CaseSystemConflict,
    CaseSystemError,
    CaseSystemRejected,
    CaseSystemUnavailable,
    TaskNotFound,
)
from streams.domain.ports.task_updates import apply_task_command
from tests.support.samples import HOSTILE_NAME, personal_data_in, sample_raise_task, sample_subject

Handler = Callable[[httpx.Request], httpx.Response]
BASE = "http://fhir.test/R4"
CMD = sample_raise_task(subject=sample_subject(given_name=HOSTILE_NAME))
FHIR_JSON = "application/fhir+json"


def client(handler: Handler, token: SecretStr | None = None) -> FhirCaseSystem:
    return FhirCaseSystem(BASE, token=token, transport=httpx.MockTransport(handler))


def stored_task(cmd: RaiseTask = CMD, task_id: str = "t-1", version: str = "3") -> dict[str, Any]:
    """The Task a server holds for `cmd`, created at revision 1."""
    first = cmd.model_copy(update={"revision": 1, "amendment": 0})
    record = apply_task_command(None, first, datetime(2026, 7, 30, 9, 0, tzinfo=UTC), task_id)
    record = apply_task_command(record.record, cmd, datetime(2026, 7, 30, 10, 0, tzinfo=UTC), "")
    sent = json.loads(validated_json(task_resource(record.record)))
    return sent | {"id": task_id, "meta": {"versionId": version}}


def revised(revision: int) -> RaiseTask:
    """The sample command at a later revision."""
    return CMD.model_copy(update={"revision": revision})


def answer(status: int, body: Any = None, **headers: str) -> Handler:
    """A handler that answers every request alike; by default with the stored Task, which
    carries the command's personal data."""
    content = json.dumps(stored_task() if body is None else body)
    return lambda request: httpx.Response(status, content=content, headers=headers)


class Recorder:
    """A FHIR server by route: (method, path) -> response; it keeps every request."""

    def __init__(self, routes: dict[tuple[str, str], httpx.Response]) -> None:
        self.routes = routes
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.routes[(request.method, request.url.path)]


def fhir(status: int, body: Any = None, **headers: str) -> httpx.Response:
    content = b"" if body is None else json.dumps(body).encode()
    return httpx.Response(status, content=content, headers={"Content-Type": FHIR_JSON, **headers})


async def test_a_raise_is_a_validated_conditional_create_with_the_token() -> None:
    server = Recorder({("POST", "/R4/Task"): fhir(201, Location=f"{BASE}/Task/t-7/_history/1")})
    receipt = await client(server, SecretStr("tok")).raise_task(CMD)
    assert (receipt.task_id, receipt.created, receipt.updated, receipt.revision) == (
        "t-7",
        True,
        False,
        1,
    )
    (request,) = server.requests
    assert parse_qs(request.headers["If-None-Exist"]) == {
        "identifier": [f"{TASK_KEY_SYSTEM}|{CMD.idempotency_key}"]
    }
    assert request.headers["If-None-Exist"].startswith(f"identifier={TASK_KEY_SYSTEM}|")
    assert (request.headers["Content-Type"], request.headers["Accept"]) == (FHIR_JSON, FHIR_JSON)
    assert request.headers["Authorization"] == "Bearer tok"
    task = Task.model_validate_json(request.content)
    assert task.for_fhir is not None and task.for_fhir.reference == "#subject"
    sent = json.loads(request.content) | {"id": "t-7", "meta": {"versionId": "1"}}
    assert task_record(StoredTask.model_validate(sent)).task == CMD


async def test_a_created_task_without_a_location_is_named_by_its_body() -> None:
    server = Recorder({("POST", "/R4/Task"): fhir(201, stored_task(task_id="t-8"))})
    assert (await client(server).raise_task(CMD)).task_id == "t-8"


async def test_a_match_holding_an_older_command_is_put_over_its_version() -> None:
    newer = revised(2)
    server = Recorder(
        {("POST", "/R4/Task"): fhir(200, stored_task()), ("PUT", "/R4/Task/t-1"): fhir(200)}
    )
    receipt = await client(server).raise_task(newer)
    assert (receipt.task_id, receipt.created, receipt.updated, receipt.revision) == (
        "t-1",
        False,
        True,
        2,
    )
    _, put = server.requests
    assert put.headers["If-Match"] == 'W/"3"'
    sent = StoredTask.model_validate_json(put.content)
    assert (task_record(sent).task, task_record(sent).created_revision) == (newer, 1)


@pytest.mark.parametrize("revision", [3, 2], ids=["same", "older"])
async def test_a_match_holding_the_same_or_a_newer_command_changes_nothing(revision: int) -> None:
    server = Recorder({("POST", "/R4/Task"): fhir(200, stored_task(revised(3)))})
    receipt = await client(server).raise_task(revised(revision))
    assert (receipt.created, receipt.updated, receipt.revision) == (False, False, 3)
    assert [r.method for r in server.requests] == ["POST"]


async def test_a_match_answered_without_a_body_is_read_from_its_location() -> None:
    server = Recorder(
        {
            ("POST", "/R4/Task"): fhir(200, Location=f"{BASE}/Task/t-1/_history/3"),
            ("GET", "/R4/Task/t-1"): fhir(200, stored_task()),
        }
    )
    assert (await client(server).raise_task(CMD)).task_id == "t-1"
    assert [r.method for r in server.requests] == ["POST", "GET"]


async def test_an_invalid_task_is_refused_before_any_request() -> None:
    server = Recorder({})
    with pytest.raises(FhirTaskInvalid) as caught:
        await client(server).raise_task(sample_raise_task(idempotency_key=""))
    assert isinstance(caught.value, CaseSystemRejected)
    assert not isinstance(caught.value, CaseSystemUnavailable)
    assert server.requests == []


async def test_get_reads_one_task_and_refuses_another_systems() -> None:
    system = client(answer(200))
    assert (await system.get_task("t-1")).task == CMD
    others = stored_task() | {"identifier": [{"system": "https://council.example", "value": "1"}]}
    with pytest.raises(TaskNotFound):
        await client(answer(200, others)).get_task("t-1")


async def test_a_listing_searches_this_system_page_by_page_in_duty_order() -> None:
    high = stored_task(sample_raise_task("MPS-2026-B", priority="high"), task_id="t-2")
    urgent = stored_task(sample_raise_task("MPS-2026-A"), task_id="t-1")
    pages = {
        None: {"resourceType": "Bundle", "entry": [{"resource": high}]}
        | {"link": [{"relation": "next", "url": f"{BASE}/Task?page=2"}]},
        "2": {"resourceType": "Bundle", "entry": [{"resource": urgent}]}
        | {"link": [{"relation": "self", "url": f"{BASE}/Task?page=2"}]},
    }
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return fhir(200, pages[request.url.params.get("page")])

    records = await client(handler).list_tasks(status="open", limit=5)
    assert [r.task_id for r in records] == ["t-1", "t-2"]
    assert dict(seen[0].url.params) == {
        "identifier": f"{TASK_KEY_SYSTEM}|",
        "_count": "100",
        "status": "draft,requested,received",
    }
    assert [r.task_id for r in await client(handler).list_tasks(limit=1)] == ["t-1"]


async def test_a_next_link_off_the_base_is_not_followed() -> None:
    bundle = {"resourceType": "Bundle", "link": [{"relation": "next", "url": "http://evil.test/"}]}
    server = Recorder({("GET", "/R4/Task"): fhir(200, bundle)})
    with pytest.raises(CaseSystemBadResponse):
        await client(server, SecretStr("tok")).list_tasks()
    assert len(server.requests) == 1


async def test_412_on_an_update_is_a_retryable_conflict_on_a_create_a_refusal() -> None:
    newer = revised(2)
    server = Recorder(
        {("POST", "/R4/Task"): fhir(200, stored_task()), ("PUT", "/R4/Task/t-1"): fhir(412)}
    )
    with pytest.raises(CaseSystemConflict) as conflict:
        await client(server).raise_task(newer)
    assert str(conflict.value) == "PUT /Task/t-1: 412"
    with pytest.raises(CaseSystemRejected) as refused:  # more than one Task has the key
        await client(answer(412)).raise_task(CMD)
    assert not isinstance(refused.value, CaseSystemUnavailable)


@pytest.mark.parametrize("status", [400, 401, 403, 422])
async def test_other_4xx_is_rejected(status: int) -> None:
    outcome = {"resourceType": "OperationOutcome", "issue": [{"diagnostics": HOSTILE_NAME}]}
    with pytest.raises(CaseSystemRejected) as caught:
        await client(answer(status, outcome)).raise_task(CMD)
    assert caught.value.status_code == status
    assert not isinstance(caught.value, CaseSystemUnavailable)


async def test_404_on_get_is_task_not_found() -> None:
    with pytest.raises(TaskNotFound) as caught:
        await client(answer(404, {"resourceType": "OperationOutcome"})).get_task("../healthz")
    assert str(caught.value) == "GET /Task/..%2Fhealthz: 404"


GARBLED: dict[str, Handler] = {
    "html": lambda r: httpx.Response(200, text="<html>proxy</html>"),
    "not a task": answer(200, {"resourceType": "Patient", "id": "t-1", "name": HOSTILE_NAME}),
    "no version": answer(200, stored_task() | {"meta": {}}),
    "no command": answer(200, stored_task() | {"input": []}),
    "gzip that is not": answer(200, {}, **{"Content-Encoding": "gzip"}),
    "201 with no id": lambda r: httpx.Response(201),
    "202": answer(202),
}


@pytest.mark.parametrize("handler", GARBLED.values(), ids=GARBLED.keys())
async def test_an_answer_that_does_not_parse_is_a_retryable_bad_response(handler: Handler) -> None:
    with pytest.raises(CaseSystemBadResponse) as caught:
        await client(handler).raise_task(CMD)
    assert isinstance(caught.value, CaseSystemUnavailable) and caught.value.kind == "bad_response"


def _failures() -> list[Handler]:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    garbled = [handler for name, handler in GARBLED.items() if name != "202"]  # GET may 202
    return [*(answer(s) for s in (400, 404, 409, 412, 422, 429, 500, 503)), timeout, *garbled]


@pytest.mark.parametrize("handler", _failures())
async def test_errors_carry_no_personal_data(handler: Handler) -> None:
    system = client(handler)
    for call in (system.raise_task(CMD), system.get_task("t-1"), system.list_tasks()):
        with pytest.raises(CaseSystemError) as caught:
            await call
        text = f"{caught.value} {caught.value!r} {caught.value.__cause__!r}"
        assert personal_data_in(text, CMD) == []
        assert HOSTILE_NAME not in text
        assert "Task" in text  # what failed is named: the request, or the Task's id
