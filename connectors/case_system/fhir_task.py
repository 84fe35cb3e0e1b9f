"""A task record as an HL7 FHIR R4 `Task` resource and back: the FHIR adapter's pure mapping.

The Task says what a duty worker reads (`description` is the title, free of personal data;
`code` the task type; `businessStatus` raised, revised, needs confirmation or withdrawn;
`priority`; `restriction.period.end` the due time; `performerType` the queue) and carries the
command itself, exactly, as an `input` whose `valueAttachment` is the `RaiseTask` JSON
(`application/json`, base64), so the case system gives back the very command it was sent.
Revision, amendment, created revision and revised-at are extensions under `FHIR_BASE`.

Priority (FHIR's request-priority, routine < urgent < asap < stat): urgent is `asap`, high
`urgent`, normal `routine`. `stat` (an emergency, act immediately) is never sent: a
notification is not an emergency call, and the due time says how soon.

Status: FHIR's Task status to the port's, in `PORT_STATUS`. draft, requested and received
are open; accepted, ready, in-progress and on-hold acknowledged; completed, cancelled,
rejected, failed and entered-in-error closed. dvtrigger writes `requested`, and on a newer
command reopens a task only if the council's status is not already an open one.

The subject, the carers, the incident and its people are contained resources, the Task's
`focus` and `for` pointing at `#subject`; which resource each is, and why, is `fhir_contained`'s.

Every Task is validated with `fhir.resources`' R4B model before it is sent (`validated_json`).
The library ships R4B (4.3.0) and R5, not R4 (4.0.1). R4B changed only a few modules of R4
(medication definitions, evidence-based medicine, subscriptions), and the elements used here
were checked: compared element by element (name, type, cardinality, required, reference
targets, required codes) with fhir.resources' generated R4 4.0.1 models (its
`fhir/resources/R4`, commit d580f5aa), R4B's Task, Patient, RelatedPerson, Person,
Communication, Bundle, OperationOutcome and the data types used are the same but for three
value types of Extension (R4B adds valueCodeableReference and valueRatioRange, drops
valueMeta), none of which is used. The library checks structure and types, not terminology.
"""

from __future__ import annotations

import base64
from typing import Any

from fhir.resources.R4B.task import Task
from pydantic import ValidationError

from connectors.case_system.fhir_contained import (
    CS,
    NS,
    SD,
    SUBJECT_REF,
    carer_inputs,
    concept,
    contained,
    extension,
    fhir_code,
    fhir_string,
    identifier_value,
    pruned,
)
from schemas.task import Priority, RaiseTask
from streams.domain.ports.case_system import (
    CaseSystemRejected,
    TaskRecord,
    TaskStatus,
)

#: The identifier system of the task keys: `identifier.value` is the command's idempotency key.
TASK_KEY_SYSTEM = f"{NS}task-key"
#: The port's status of each FHIR Task status.
PORT_STATUS: dict[str, TaskStatus] = {
    "draft": "open",
    "requested": "open",
    "received": "open",
    "accepted": "acknowledged",
    "ready": "acknowledged",
    "in-progress": "acknowledged",
    "on-hold": "acknowledged",
    "completed": "closed",
    "cancelled": "closed",
    "rejected": "closed",
    "failed": "closed",
    "entered-in-error": "closed",
}


def fhir_statuses(status: TaskStatus) -> list[str]:
    """The FHIR statuses that are one of the port's."""
    return [fhir for fhir, port in PORT_STATUS.items() if port == status]


#: The status dvtrigger writes for each of the port's.
FHIR_STATUS: dict[TaskStatus, str] = {
    "open": "requested",
    "acknowledged": "accepted",
    "closed": "completed",
}
PRIORITY: dict[Priority, str] = {"urgent": "asap", "high": "urgent", "normal": "routine"}
#: The `input` type of the command; `carer_inputs` are the other inputs dvtrigger writes.
COMMAND_INPUT = "raise-task"
COMMAND_MEDIA_TYPE = "application/json"
#: The Task's elements dvtrigger writes; a PUT keeps every other element the council set.
OWN_ELEMENTS = frozenset(
    [
        "resourceType",
        "contained",
        "identifier",
        "status",
        "businessStatus",
        "intent",
        "priority",
        "code",
        "description",
        "focus",
        "for",
        "authoredOn",
        "lastModified",
        "performerType",
        "reasonReference",
        "restriction",
    ]
)


class FhirTaskInvalid(CaseSystemRejected):
    """A Task dvtrigger built fails FHIR validation: a programming error, never sent.

    The message names the element paths only; 422 stands for "not processable", as no
    request was made.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, 422)


def task_resource(record: TaskRecord, identifier_system: str = TASK_KEY_SYSTEM) -> dict[str, Any]:
    """The FHIR Task of a record: what a duty worker reads, and the command to rebuild it."""
    cmd = record.task
    code = cmd.task_type.replace("_", "-")  # child-protection-investigation, match-review
    task: dict[str, Any] = {
        "resourceType": "Task",
        "id": record.task_id or None,
        "contained": contained(cmd),
        "extension": _extensions(record),
        "identifier": [
            {"system": identifier_system, "value": identifier_value(cmd.idempotency_key)}
        ],
        "status": FHIR_STATUS[record.status],
        "businessStatus": _business_status(record),
        "intent": "order",
        "priority": PRIORITY[cmd.priority],
        "code": concept("task-type", code, code.replace("-", " ").capitalize()),
        "description": fhir_string(cmd.title),
        "focus": SUBJECT_REF,
        "for": SUBJECT_REF,
        "authoredOn": record.created_at.isoformat(),
        "lastModified": record.received_at.isoformat(),
        "performerType": [concept("queue", fhir_code(cmd.queue), None, fhir_string(cmd.queue))],
        "reasonReference": {"reference": "#incident"},
        "restriction": {"period": {"end": cmd.due_by.isoformat()}},
        "input": [_command_input(cmd), *carer_inputs(cmd)],
    }
    return pruned(task)


def _extensions(record: TaskRecord) -> list[dict[str, Any] | None]:
    """The counters and times the port needs back, and the council the task is for."""
    cmd = record.task
    revised_at = record.revised_at.isoformat() if record.revised_at else None
    # Decimal, not integer: FHIR's integer is 32-bit and a counter may reach 2**53 - 1.
    return [
        extension("revision", valueDecimal=cmd.revision),
        extension("amendment", valueDecimal=cmd.amendment),
        extension("created-revision", valueDecimal=record.created_revision),
        extension("revised-at", valueDateTime=revised_at),
        extension("local-authority", valueString=fhir_string(cmd.local_authority)),
    ]


def _business_status(record: TaskRecord) -> dict[str, Any]:
    """Withdrawn, needs confirmation (with why), revised or raised: what the duty team sees."""
    cmd = record.task
    if cmd.outcome == "withdrawn":
        return concept("business-status", "withdrawn", "Withdrawn: the duty team closes it")
    if cmd.needs_confirmation:
        why = fhir_string(cmd.confirmation_reason)
        return concept("business-status", "needs-confirmation", "Needs confirmation", text=why)
    if record.revised_at is not None:
        return concept("business-status", "revised", "Revised: look at what changed")
    return concept("business-status", "raised", "Raised")


def _command_input(cmd: RaiseTask) -> dict[str, Any]:
    """The command itself, as JSON in an attachment: the case system's copy of it."""
    data = base64.b64encode(cmd.model_dump_json(by_alias=True).encode()).decode("ascii")
    return {
        "type": concept("task-input", COMMAND_INPUT, "dvtrigger RaiseTask command"),
        "valueAttachment": {"contentType": COMMAND_MEDIA_TYPE, "data": data},
    }


def validated_json(resource: dict[str, Any]) -> str:
    """The Task as JSON once fhir.resources' R4B model accepts it; else `FhirTaskInvalid`."""
    try:
        return Task.model_validate(resource).model_dump_json()
    except ValidationError as exc:
        paths = sorted({_path(error["loc"]) for error in exc.errors()})
        raise FhirTaskInvalid(f"FHIR Task invalid, not sent: {', '.join(paths)}") from None


def _path(loc: tuple[int | str, ...]) -> str:
    """An error location as a FHIR path: ("contained", 0, "name") is Task.contained[0].name."""
    return "Task" + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)


def updated_resource(stored: dict[str, Any], ours: dict[str, Any]) -> dict[str, Any]:
    """The stored Task with dvtrigger's elements replaced by `ours`; the council's stay.

    Other elements (notes, owner, output...), other extensions and other inputs are kept. An
    open status the council set (received) is kept; any other becomes `requested` again.
    """
    kept = {k: v for k, v in stored.items() if k not in OWN_ELEMENTS}
    merged = {**kept, **ours, "id": stored.get("id"), "meta": stored.get("meta")}
    their_extensions = [e for e in stored.get("extension", []) if not _ours(e.get("url"))]
    merged["extension"] = their_extensions + ours.get("extension", [])
    their_inputs = [i for i in stored.get("input", []) if not _ours(_system(i))]
    merged["input"] = their_inputs + ours.get("input", [])
    if stored.get("status") in fhir_statuses(PORT_STATUS[ours["status"]]):
        merged["status"] = stored["status"]
    return pruned(merged)


def _ours(url: object) -> bool:
    """Whether an extension URL or a code system is one of dvtrigger's."""
    return isinstance(url, str) and url.startswith((SD, CS))


def _system(task_input: dict[str, Any]) -> object:
    """The code system of an input's type."""
    codings = task_input.get("type", {}).get("coding") or [{}]
    return codings[0].get("system")
