"""A Task as a FHIR server stores it, read back into the task record it holds.

Only the elements the port needs are read: the id and version, the status, when it was
authored, the identifier, dvtrigger's extensions, and the command in its `raise-task` input.
Anything else a council keeps on the Task is not looked at. A Task that holds no readable
command is a `CaseSystemBadResponse` naming its id, never its content.
"""

from __future__ import annotations

import base64
import binascii
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError

from connectors.case_system.fhir_contained import CS, SD
from connectors.case_system.fhir_task import COMMAND_INPUT, PORT_STATUS
from schemas.task import RaiseTask
from streams.domain.ports.case_system import CaseSystemBadResponse, TaskRecord


class _Coding(BaseModel):
    system: str | None = None
    code: str | None = None


class _Concept(BaseModel):
    coding: list[_Coding] = []


class _Attachment(BaseModel):
    contentType: str | None = None
    data: str | None = None


class _Input(BaseModel):
    type: _Concept
    valueAttachment: _Attachment | None = None


class _Extension(BaseModel):
    url: str
    valueDecimal: int | None = None
    valueDateTime: AwareDatetime | None = None


class _Identifier(BaseModel):
    system: str | None = None
    value: str | None = None


class _Meta(BaseModel):
    versionId: str


class StoredTask(BaseModel):
    """The elements of a stored Task the adapter reads; the rest is not looked at."""

    model_config = ConfigDict(extra="ignore")

    resourceType: Literal["Task"]
    id: str
    meta: _Meta
    status: str
    authoredOn: AwareDatetime
    identifier: list[_Identifier] = []
    extension: list[_Extension] = []
    input: list[_Input] = []


def task_record(stored: StoredTask) -> TaskRecord:
    """The task record a stored Task holds; `CaseSystemBadResponse` when it holds none."""
    extensions = {e.url.removeprefix(SD): e for e in stored.extension if e.url.startswith(SD)}
    created = extensions.get("created-revision")
    revised = extensions.get("revised-at")
    if created is None or created.valueDecimal is None:
        raise CaseSystemBadResponse(f"Task/{stored.id}: no created-revision extension")
    if stored.status not in PORT_STATUS:
        raise CaseSystemBadResponse(f"Task/{stored.id}: status is not a FHIR R4 Task status")
    return TaskRecord(
        task_id=stored.id,
        status=PORT_STATUS[stored.status],
        revision=(cmd := _command(stored)).revision,
        created_revision=created.valueDecimal,
        created_at=stored.authoredOn,
        revised_at=revised.valueDateTime if revised else None,
        task=cmd,
    )


def _command(stored: StoredTask) -> RaiseTask:
    """The command in a stored Task's `raise-task` input."""
    for task_input in stored.input:
        codes = {(c.system, c.code) for c in task_input.type.coding}
        attachment = task_input.valueAttachment
        if (f"{CS}task-input", COMMAND_INPUT) in codes and attachment and attachment.data:
            try:
                return RaiseTask.model_validate_json(
                    base64.b64decode(attachment.data, validate=True)
                )
            except (binascii.Error, ValidationError):
                break
    raise CaseSystemBadResponse(f"Task/{stored.id}: no readable raise-task input")
