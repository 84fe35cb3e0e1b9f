"""The FHIR adapter's mapping: a task record as a FHIR R4 Task, validated, and back, exactly."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.task import Task
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.case_system.fhir_contained import SD, identifier_value
from connectors.case_system.fhir_stored import StoredTask, task_record
from connectors.case_system.fhir_task import (
    FhirTaskInvalid,
    task_resource,
    updated_resource,
    validated_json,
)
from schemas.task import RaiseTask, TaskPerson
from streams.domain.ports.case_system import CaseSystemBadResponse, TaskRecord
from streams.domain.ports.task_updates import apply_task_command
from tests.support.fhir_example import example_task_json
from tests.support.samples import (
    HOSTILE_NAME,
    personal_data_in,
    sample_incident,
    sample_raise_task,
    sample_subject,
)

CREATED_AT = datetime(2026, 7, 30, 9, 23, 0, 123456, tzinfo=UTC)
DOCS = Path(__file__).parents[2] / "docs" / "case-systems.md"
PEOPLE = [
    TaskPerson(person_ref="P1", role="victim", known_as="the baby's mother", how="same name"),
    TaskPerson(person_ref="P2", role="suspect", how="no one in the family matched", score=0.1),
]
UNBORN = sample_subject(
    "U0000042",
    given_name=None,
    kind="unborn",
    family_name=None,
    date_of_birth=None,
    nhs_number=None,
    expected_delivery_date=date(2026, 10, 1),
)

#: No summary, no risk assessed, and a person known only by role, age, gender and pregnancy.
BARE_INCIDENT = sample_incident(
    dash_risk="not_assessed",
    children_present=None,
    persons=[
        {"person_ref": "P1", "role": "other_adult_present", "age_years": 31},
        {"person_ref": "P2", "role": "victim", "gender": "female", "pregnant": True},
    ],
).model_copy(update={"summary": None})


def created(cmd: RaiseTask) -> TaskRecord:
    return apply_task_command(None, cmd, CREATED_AT, "").record


def stored(resource: dict[str, Any], task_id: str = "t-1", version: str = "1") -> StoredTask:
    """A Task as a server would store it: the JSON sent, with an id and a version."""
    sent = json.loads(validated_json(resource))
    return StoredTask.model_validate(sent | {"id": task_id, "meta": {"versionId": version}})


def round_trip(record: TaskRecord) -> TaskRecord:
    return task_record(stored(task_resource(record), record.task_id or "t-1"))


COMMANDS = {
    "sample": sample_raise_task(),
    "review": sample_raise_task(outcome="review", priority="normal"),
    "withdrawn": sample_raise_task(revision=3, outcome="withdrawn", reasons=["no longer named"]),
    "needs_confirmation": sample_raise_task(
        amendment=2,
        needs_confirmation=True,
        confirmation_reason="the register now says the child was born after the incident",
        changes=["subject out of scope"],
    ),
    "unborn": sample_raise_task(subject_ref="U0000042", subject=UNBORN),
    "police_report": sample_raise_task(
        subject=sample_subject(None, basis="police_report", person_ref="P3", carers=[])
    ),
    "people": sample_raise_task(people=PEOPLE, late=True, late_reason="learned late"),
    "hostile": sample_raise_task(
        title=f"Investigation: {HOSTILE_NAME}",
        queue="emergency  duty\t",
        subject=sample_subject(given_name=HOSTILE_NAME, family_name="\x0b\u2028"),
    ),
    "empty_strings": sample_raise_task(
        title="", subject=sample_subject(given_name="", family_name=" "), local_authority=None
    ),
    "largest_counters": sample_raise_task().model_copy(
        update={"revision": 2**53 - 1, "amendment": 2**53 - 1}
    ),
    "bare_incident": sample_raise_task(incident=BARE_INCIDENT),
}


@pytest.mark.parametrize("cmd", COMMANDS.values(), ids=COMMANDS.keys())
def test_a_command_goes_to_a_valid_task_and_comes_back_exactly(cmd: RaiseTask) -> None:
    record = created(cmd)
    assert round_trip(record) == record.model_copy(update={"task_id": "t-1"})
    Task.model_validate_json(validated_json(task_resource(record)))


def test_a_revised_record_keeps_its_created_revision_and_times() -> None:
    first = created(sample_raise_task()).model_copy(update={"task_id": "t-9"})
    later = CREATED_AT + timedelta(hours=1)
    revised = apply_task_command(first, sample_raise_task(revision=4), later, "t-9").record
    back = round_trip(revised)
    assert back == revised
    assert (back.revision, back.created_revision, back.revised_at) == (4, 1, later)


@settings(max_examples=40, deadline=None)
@given(
    key=st.text(min_size=1, max_size=40),
    name=st.text(max_size=20),
    title=st.text(max_size=30),
    queue=st.text(min_size=1, max_size=20),
)
def test_no_text_makes_a_valid_command_an_invalid_task(
    key: str, name: str, title: str, queue: str
) -> None:
    subject = sample_subject(given_name=name, family_name=name)
    cmd = sample_raise_task(idempotency_key=key, title=title, queue=queue, subject=subject)
    record = created(cmd)
    assert round_trip(record).task == cmd


def test_identifier_values_are_escaped_one_to_one() -> None:
    assert identifier_value("MPS-2026-000001:C002916a") == "MPS-2026-000001:C002916a"
    keys = ["a b", "a%20b", "a\x0bb", "a%0Bb", "a\u2028b", "a\tb", "a|b,c$\\d"]
    assert len({identifier_value(k) for k in keys}) == len(keys)


def test_a_task_that_fails_validation_names_element_paths_only() -> None:
    with pytest.raises(FhirTaskInvalid) as caught:
        validated_json(task_resource(created(sample_raise_task(idempotency_key=""))))
    assert str(caught.value) == "FHIR Task invalid, not sent: Task.identifier[0].value"
    assert caught.value.status_code == 422 and caught.value.__cause__ is None
    resource = task_resource(created(sample_raise_task()))
    resource["contained"][0]["birthDate"] = "11/02/2026"
    resource["status"] = {"nested": "Quarrington"}
    with pytest.raises(FhirTaskInvalid) as caught:
        validated_json(resource)
    assert "Task.contained[0].birthDate" in str(caught.value)
    assert personal_data_in(f"{caught.value} {caught.value!r}", sample_raise_task()) == []


def _contained(cmd: RaiseTask) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in task_resource(created(cmd))["contained"]}


def _extensions(resource: dict[str, Any]) -> dict[str, Any]:
    return {
        e["url"].removeprefix(SD): next(v for k, v in e.items() if k != "url")
        for e in resource.get("extension", [])
    }


def test_an_unborn_subject_is_a_patient_with_no_birth_date_and_its_due_date() -> None:
    subject = _contained(COMMANDS["unborn"])["subject"]
    assert subject["resourceType"] == "Patient" and "birthDate" not in subject
    extensions = _extensions(subject)
    assert (extensions["subject-kind"], extensions["expected-delivery-date"]) == (
        "unborn",
        "2026-10-01",
    )


def test_carers_incident_and_people_are_contained_and_referred_to() -> None:
    task = task_resource(created(COMMANDS["people"]))
    kinds = {r["id"]: r["resourceType"] for r in task["contained"]}
    assert kinds == {
        "subject": "Patient",
        "carer-0": "RelatedPerson",
        "incident": "Communication",
        "person-0": "Person",
        "person-1": "Person",
    }
    references = set(re.findall(r'"reference": "#([\w-]+)"', json.dumps(task)))
    assert references == set(kinds)  # FHIR's dom-3: every contained resource is referred to
    contained = _contained(COMMANDS["people"])
    carer, victim = contained["carer-0"], contained["person-0"]
    assert [c["code"] for c in carer["relationship"][0]["coding"]] == ["mother", "MTH"]
    assert _extensions(victim) == {
        "incident-role": "victim",
        "known-as": "the baby's mother",
        "how-matched": "same name",
    }


@pytest.mark.parametrize(
    ("name", "code", "text"),
    [
        ("sample", "raised", None),
        ("withdrawn", "withdrawn", None),
        (
            "needs_confirmation",
            "needs-confirmation",
            COMMANDS["needs_confirmation"].confirmation_reason,
        ),
    ],
)
def test_the_business_status_says_withdrawn_or_needs_confirmation(
    name: str, code: str, text: str | None
) -> None:
    status = task_resource(created(COMMANDS[name]))["businessStatus"]
    assert (status["coding"][0]["code"], status.get("text")) == (code, text)


def test_an_update_keeps_what_the_council_added_and_an_open_status() -> None:
    theirs = {
        "note": [{"text": "Called the health visitor."}],
        "owner": {"display": "Dana, duty social worker"},
        "extension": [{"url": "https://council.example/ext/case", "valueString": "C-1"}],
        "input": [{"type": {"text": "referral"}, "valueString": "MASH-7"}],
        "status": "received",
        "meta": {"versionId": "4"},
        "id": "t-1",
    }
    before = task_resource(created(sample_raise_task()))
    stored_json = before | theirs | {"extension": before["extension"] + theirs["extension"]}
    stored_json["input"] = before["input"] + theirs["input"]
    record = created(sample_raise_task(revision=2))
    merged = updated_resource(stored_json, task_resource(record))
    assert (merged["note"], merged["owner"], merged["status"], merged["id"]) == (
        theirs["note"],
        theirs["owner"],
        "received",
        "t-1",
    )
    assert theirs["extension"][0] in merged["extension"] and theirs["input"][0] in merged["input"]
    assert task_record(stored(merged)).task.revision == 2
    assert len(merged["input"]) == len(before["input"]) + 1  # ours replaced, not added
    closed = updated_resource(stored_json | {"status": "completed"}, task_resource(record))
    assert closed["status"] == "requested"  # a newer command reopens the task


@pytest.mark.parametrize(
    "spoil",
    [
        lambda t: t.pop("input"),
        lambda t: t["input"][0]["valueAttachment"].update(data="not base64!"),
        lambda t: t["input"][0]["valueAttachment"].update(data="e30="),  # {}: not a RaiseTask
        lambda t: t.update(extension=[]),
        lambda t: t.update(status="paused"),
    ],
    ids=["no input", "not base64", "not a command", "no created revision", "unknown status"],
)
def test_a_task_without_a_readable_record_is_a_bad_response(spoil: Any) -> None:
    resource = json.loads(validated_json(task_resource(created(sample_raise_task()))))
    spoil(resource)
    task = StoredTask.model_validate(resource | {"id": "t-1", "meta": {"versionId": "1"}})
    with pytest.raises(CaseSystemBadResponse) as caught:
        task_record(task)
    assert str(caught.value).startswith("Task/t-1: ")
    assert personal_data_in(str(caught.value), sample_raise_task()) == []


def test_the_example_in_the_docs_is_the_task_sent_for_the_sample_command() -> None:
    section = DOCS.read_text(encoding="utf-8").split("## FHIR R4 Task", 1)[1]
    example = section.split("```json\n", 1)[1].split("```", 1)[0]
    assert json.loads(example) == json.loads(example_task_json())
