"""The task the council's case system receives: a command to raise or update one task."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from schemas.police import PoliceIncident, Role
from schemas.register import Carer
from schemas.shared import Address, Name, NHSNumber, WireModel
from schemas.wire import JsonInteger, JsonNumber, WireDate, WireDateTime

TaskType = Literal["child_protection_investigation", "match_review"]
#: By the incident's DASH risk: high is urgent, medium high, standard or not assessed normal.
Priority = Literal["urgent", "high", "normal"]
#: The queue of the duty team, which takes every task unless the emergency duty team does.
DUTY_QUEUE = "duty"
#: The largest revision or amendment: JSON's safe integers (RFC 7493), which a case system's
#: database (SQLite's INTEGER, a JavaScript number) holds exactly.
MAX_COUNTER = 2**53 - 1


class TaskSubject(WireModel):
    """The child or unborn child a task is about, as the register or the police report knows it."""

    model_config = ConfigDict(extra="forbid")

    basis: Literal["register", "police_report"]
    kind: Literal["child", "unborn"]
    subject_ref: str | None = None
    person_ref: str | None = None
    given_name: Name | None = None
    family_name: Name | None = None
    date_of_birth: WireDate | None = None
    expected_delivery_date: WireDate | None = None
    nhs_number: NHSNumber | None = None
    address: Address | None = None
    carers: list[Carer] = Field(default_factory=list)


class TaskPerson(WireModel):
    """One person in the incident, and who they are to the task's child, in words.

    "the victim P1 is the baby's mother: same name and date of birth". The match
    weights behind it are in the decision log; this says the same in plain words.
    """

    model_config = ConfigDict(extra="forbid")

    person_ref: str
    role: Role
    #: "the baby's mother", "the baby"; None when no one in the family matched.
    known_as: str | None = None
    #: How they match, in words ("same name and date of birth"), or that they do not.
    how: str
    score: JsonNumber | None = None


class RaiseTask(WireModel):
    """Command: raise (or, for a later revision, update) one task in a case system.

    `idempotency_key` is built from the incident and the subject only (a child
    born of a pregnancy keeps the pregnancy's task and key, and a register subject
    that is the baby a police-report task was raised for keeps that task), so every
    redelivery and every revision of the incident lands on the same task. A
    later police `revision`, or a later `amendment` of the same revision (the
    register learned more: a review became an investigation, the pregnancy's
    child was born, the register now knows a police-report baby, or the subject
    was found out of scope and `needs_confirmation`),
    updates it.
    `title` never carries personal data: it leaves the system in notifications.
    """

    model_config = ConfigDict(extra="forbid")

    idempotency_key: str
    task_type: TaskType
    title: str
    priority: Priority
    due_by: WireDateTime
    #: The team queue that takes the task: `duty` (the duty team), or the emergency duty
    #: team's queue, named by the council, for a task raised out of office hours.
    queue: Annotated[str, Field(min_length=1, max_length=64)] = DUTY_QUEUE
    local_authority: str | None
    incident_id: str
    revision: Annotated[int, Field(ge=1, le=MAX_COUNTER), JsonInteger]
    #: Re-decisions of this revision that changed the task (late knowledge): 0, 1, 2...
    #: A task is updated by a command with a higher (revision, amendment).
    amendment: Annotated[int, Field(ge=0, le=MAX_COUNTER), JsonInteger] = 0
    outcome: Literal["trigger", "review", "withdrawn"]
    score: JsonNumber | None = None
    reasons: list[str] = Field(default_factory=list)
    late: bool = False
    late_reason: str | None = None
    changes: list[str] = Field(default_factory=list)
    #: The register has since learned something that puts the subject out of scope on the
    #: incident day, or unmatches it: a person must confirm the task or close it. It keeps
    #: the outcome it was raised with; the machine never closes it.
    needs_confirmation: bool = False
    #: Why, in words a duty worker reads (also the last of `changes`).
    confirmation_reason: str | None = None
    #: Each person in the incident, and who they are to the child (`TaskPerson`).
    people: list[TaskPerson] = Field(default_factory=list)
    subject: TaskSubject
    incident: PoliceIncident
