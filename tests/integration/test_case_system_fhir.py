"""FhirCaseSystem against a FHIR Task server on loopback: the contract, and the Task it sends."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.task import Task

from connectors.case_system import fhir
from connectors.case_system.fhir import FhirCaseSystem
from connectors.case_system.fhir_task import TASK_KEY_SYSTEM
from schemas.task import Priority
from streams.domain.ports.case_system import (
    CaseSystem,
    CaseSystemConflict,
    CaseSystemRejected,
    TaskStatus,
)
from tests.contract.case_system_contract import CaseSystemContract
from tests.support.fhir_server import FhirTaskServer, serve_fhir_server
from tests.support.samples import sample_raise_task

pytestmark = pytest.mark.integration


@pytest.fixture
def served() -> Iterator[tuple[str, FhirTaskServer]]:
    """A fresh, empty FHIR Task server on loopback: its base URL and the server."""
    with serve_fhir_server() as base_and_server:
        yield base_and_server


@pytest.fixture
async def client(served: tuple[str, FhirTaskServer]) -> AsyncIterator[FhirCaseSystem]:
    system = FhirCaseSystem(served[0], timeout=5.0)
    yield system
    await system.aclose()


@pytest.fixture
def server(served: tuple[str, FhirTaskServer]) -> FhirTaskServer:
    return served[1]


class TestFhirCaseSystem(CaseSystemContract):
    @pytest.fixture
    def case_system(self, client: FhirCaseSystem) -> CaseSystem:
        return client


async def _raised(client: FhirCaseSystem, server: FhirTaskServer, **fields: Any) -> dict[str, Any]:
    """Raise the sample task with `fields`; the Task as the server stores it."""
    receipt = await client.raise_task(sample_raise_task(**fields))
    return server.tasks[receipt.task_id]


async def test_the_task_sent_is_a_valid_r4b_task(
    client: FhirCaseSystem, server: FhirTaskServer
) -> None:
    task = Task.model_validate(await _raised(client, server))
    assert (task.status, task.intent, task.description) == (
        "requested",
        "order",
        "Child protection investigation: incident MPS-2026-000001",
    )


async def test_focus_and_for_point_at_the_contained_subject(
    client: FhirCaseSystem, server: FhirTaskServer
) -> None:
    task = await _raised(client, server)
    assert task["focus"] == task["for"] == {"reference": "#subject"}
    subject = next(r for r in task["contained"] if r["id"] == "subject")
    assert subject["resourceType"] == "Patient"
    assert subject["birthDate"] == "2026-02-11"
    kinds = {r["resourceType"] for r in task["contained"]}
    assert kinds == {"Patient", "RelatedPerson", "Communication", "Person"}


@pytest.mark.parametrize(
    ("priority", "fhir_priority"), [("urgent", "asap"), ("high", "urgent"), ("normal", "routine")]
)
async def test_priority_and_the_restriction_period_carry_the_priority_and_due_time(
    client: FhirCaseSystem, server: FhirTaskServer, priority: Priority, fhir_priority: str
) -> None:
    cmd = sample_raise_task(priority=priority)
    receipt = await client.raise_task(cmd)
    task = Task.model_validate(server.tasks[receipt.task_id])
    assert task.priority == fhir_priority
    assert task.restriction is not None and task.restriction.period is not None
    assert task.restriction.period.end == cmd.due_by


async def test_a_raise_is_a_conditional_create_on_the_task_key(
    client: FhirCaseSystem, server: FhirTaskServer
) -> None:
    cmd = sample_raise_task()
    await client.raise_task(cmd)
    await client.raise_task(cmd)
    posts = [headers for method, path, headers in server.requests if method == "POST"]
    assert len(posts) == 2 and len(server.tasks) == 1
    for headers in posts:
        assert parse_qs(headers["if-none-exist"]) == {
            "identifier": [f"{TASK_KEY_SYSTEM}|{cmd.idempotency_key}"]
        }
        assert headers["content-type"] == "application/fhir+json"
    assert [m for m, _, _ in server.requests] == ["POST", "POST"]  # equal: no PUT


async def test_a_key_with_search_characters_finds_its_own_task(
    client: FhirCaseSystem, server: FhirTaskServer
) -> None:
    cmd = sample_raise_task(idempotency_key="MPS|2026,1$ \\ x%:C1")
    first = await client.raise_task(cmd)
    again = await client.raise_task(cmd.model_copy(update={"revision": 2}))
    other = await client.raise_task(sample_raise_task(idempotency_key="MPS|2026,1$ \\ x%:C2"))
    assert (again.task_id, again.updated) == (first.task_id, True)
    assert other.created and len(server.tasks) == 2
    assert (await client.get_task(first.task_id)).task.revision == 2


@pytest.mark.parametrize(
    ("fhir_status", "status"),
    [
        ("received", "open"),
        ("accepted", "acknowledged"),
        ("in-progress", "acknowledged"),
        ("completed", "closed"),
        ("cancelled", "closed"),
    ],
)
async def test_a_council_working_the_task_changes_its_status(
    client: FhirCaseSystem, server: FhirTaskServer, fhir_status: str, status: TaskStatus
) -> None:
    receipt = await client.raise_task(sample_raise_task())
    server.set_status(receipt.task_id, fhir_status)
    assert (await client.get_task(receipt.task_id)).status == status
    assert [r.task_id for r in await client.list_tasks(status=status)] == [receipt.task_id]


async def test_a_newer_command_reopens_an_acknowledged_task_and_keeps_the_councils_notes(
    client: FhirCaseSystem, server: FhirTaskServer
) -> None:
    receipt = await client.raise_task(sample_raise_task(outcome="review"))
    server.set_status(receipt.task_id, "accepted")
    server.tasks[receipt.task_id]["note"] = [{"text": "Called the health visitor."}]
    revised = sample_raise_task(revision=2, outcome="trigger")
    assert (await client.raise_task(revised)).updated
    task = server.tasks[receipt.task_id]
    assert (task["status"], task["note"], task["meta"]["versionId"]) == (
        "requested",
        [{"text": "Called the health visitor."}],
        "3",
    )
    assert task["businessStatus"]["coding"][0]["code"] == "revised"
    record = await client.get_task(receipt.task_id)
    assert (record.task, record.status, record.created_revision) == (revised, "open", 1)


async def test_a_task_changed_between_read_and_update_is_a_conflict_then_retried(
    client: FhirCaseSystem, server: FhirTaskServer
) -> None:
    first = await client.raise_task(sample_raise_task(outcome="review"))
    server.after_match = lambda task_id: server.set_status(task_id, "in-progress")
    revised = sample_raise_task(revision=2)
    with pytest.raises(CaseSystemConflict) as caught:
        await client.raise_task(revised)
    assert str(caught.value) == f"PUT /Task/{first.task_id}: 412"
    assert (await client.get_task(first.task_id)).task.revision == 1
    server.after_match = None
    retried = await client.raise_task(revised)  # as the deliver flow retries a conflict
    assert (retried.task_id, retried.updated, retried.revision) == (first.task_id, True, 2)
    assert (await client.get_task(first.task_id)).status == "open"


async def test_a_listing_follows_the_next_links(
    client: FhirCaseSystem, server: FhirTaskServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fhir, "PAGE_SIZE", 2)
    ids = [(await client.raise_task(sample_raise_task(f"MPS-2026-{n}"))).task_id for n in "ABCDE"]
    assert [r.task_id for r in await client.list_tasks()] == ids
    searches = [path for method, path, _ in server.requests if method == "GET"]
    assert searches == ["/Task"] * 3


async def test_two_tasks_with_one_key_refuse_the_create(
    client: FhirCaseSystem, server: FhirTaskServer
) -> None:
    first = await client.raise_task(sample_raise_task())
    server.tasks["copy"] = server.tasks[first.task_id] | {"id": "copy"}
    with pytest.raises(CaseSystemRejected) as caught:
        await client.raise_task(sample_raise_task(revision=2))
    assert (str(caught.value), caught.value.status_code) == ("POST /Task: 412", 412)


async def test_the_server_refuses_an_invalid_task_with_an_operation_outcome(
    served: tuple[str, FhirTaskServer],
) -> None:
    async with httpx.AsyncClient(base_url=served[0]) as http:
        response = await http.post("/Task", content=b'{"resourceType": "Task"}')
    assert response.status_code == 400
    outcome = OperationOutcome.model_validate_json(response.content)
    assert outcome.issue[0].expression == ["intent", "status"]
