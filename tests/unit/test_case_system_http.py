"""HttpCaseSystem on httpx.MockTransport: the request it sends and how failures map to errors."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest
from pydantic import SecretStr

from connectors.case_system.http import HttpCaseSystem
from schemas.task import RaiseTask
from streams.domain.ports.case_system import (
    CaseSystemBadResponse,
    CaseSystemConflict,
    CaseSystemError,
    CaseSystemRejected,
    CaseSystemUnavailable,
    TaskNotFound,
)
from tests.support.samples import HOSTILE_NAME, personal_data_in, sample_raise_task

Handler = Callable[[httpx.Request], httpx.Response]
CMD = sample_raise_task()
RECEIPT = {"task_id": "t-1", "created": True, "updated": False, "revision": 1}


def client(handler: Handler, token: SecretStr | None = None) -> HttpCaseSystem:
    return HttpCaseSystem("http://case.test", token=token, transport=httpx.MockTransport(handler))


def answer(status: int, body: object = None, **headers: str) -> Handler:
    """A handler that answers every request alike; the body echoes the command's personal data."""
    echoed = body if body is not None else {"detail": [{"input": CMD.model_dump(mode="json")}]}
    return lambda request: httpx.Response(status, json=echoed, headers=headers)


async def test_raise_posts_the_command_with_its_key_and_token() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json=RECEIPT)

    receipt = await client(handler, SecretStr("tok")).raise_task(CMD)
    assert receipt.task_id == "t-1" and receipt.created
    (request,) = seen
    assert (request.method, request.url.path) == ("POST", "/api/tasks")
    assert request.headers["Idempotency-Key"] == CMD.idempotency_key
    assert request.headers["Authorization"] == "Bearer tok"
    assert json.loads(request.content)["incident"]["schema"] == "police-incident/1"
    assert RaiseTask.model_validate_json(request.content) == CMD


async def test_list_sends_status_and_limit() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"tasks": []})

    assert await client(handler).list_tasks(status="open", limit=5) == []
    assert dict(seen[0].url.params) == {"status": "open", "limit": "5"}


async def test_409_is_a_retryable_conflict() -> None:
    with pytest.raises(CaseSystemConflict) as caught:
        await client(answer(409)).raise_task(CMD)
    assert isinstance(caught.value, CaseSystemUnavailable)


@pytest.mark.parametrize("status", [400, 401, 403, 413, 422])
async def test_other_4xx_is_rejected(status: int) -> None:
    with pytest.raises(CaseSystemRejected) as caught:
        await client(answer(status)).raise_task(CMD)
    assert caught.value.status_code == status
    assert not isinstance(caught.value, CaseSystemUnavailable)


async def test_404_on_get_is_task_not_found() -> None:
    with pytest.raises(TaskNotFound):
        await client(answer(404, {"detail": "unknown task"})).get_task("t-404")


async def test_a_body_that_does_not_parse_is_a_retryable_bad_response() -> None:
    with pytest.raises(CaseSystemBadResponse) as caught:
        await client(answer(200, {"task_id": HOSTILE_NAME})).raise_task(CMD)
    assert isinstance(caught.value, CaseSystemUnavailable) and caught.value.kind == "bad_response"
    with pytest.raises(CaseSystemBadResponse):
        await client(lambda r: httpx.Response(200, text="<html>proxy</html>")).get_task("t-1")


def _failures() -> list[Handler]:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    bad_record = {"task_id": "t-1", "status": "open", "task": CMD.model_dump(mode="json")}
    return [answer(s) for s in (400, 404, 409, 422, 429, 500, 503)] + [
        timeout,
        answer(200, bad_record),
    ]


@pytest.mark.parametrize("handler", _failures())
async def test_errors_carry_no_personal_data(handler: Handler) -> None:
    system = client(handler)
    for call in (system.raise_task(CMD), system.get_task("t-1")):
        with pytest.raises(CaseSystemError) as caught:
            await call
        text = f"{caught.value} {caught.value!r} {caught.value.__cause__!r}"
        assert personal_data_in(text, CMD) == []
        assert "t-1" in text or "/api/tasks" in text


def test_personal_data_check_can_fail() -> None:
    leaky = sample_raise_task(title="Investigation for Wilhelmina Quarrington, born 11/02/2026")
    assert personal_data_in(leaky.title, leaky) == ["11/02/2026", "Quarrington", "Wilhelmina"]


async def test_an_undecodable_body_is_a_bad_response() -> None:
    garbled = answer(200, {}, **{"Content-Encoding": "gzip"})
    with pytest.raises(CaseSystemBadResponse):
        await client(garbled).get_task("t-1")


async def test_task_ids_are_quoted_into_the_path() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(404)

    with pytest.raises(TaskNotFound):
        await client(handler).get_task("../healthz")
    assert seen[0].url.raw_path == b"/api/tasks/..%2Fhealthz"
