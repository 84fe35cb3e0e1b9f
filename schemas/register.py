"""`register-event/1`: a change to the register of children under 12 months and unborn children."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from schemas.shared import Address, ContractModel, Name, NHSNumber, UUIDString
from schemas.wire import Omittable, WireDate, WireDateTime

Ref = Annotated[str, StringConstraints(min_length=1, max_length=64)]
EventType = Literal[
    "pregnancy_registered",
    "pregnancy_ended",
    "birth_registered",
    "subject_moved",
    "subject_withdrawn",
]
Relationship = Literal["mother", "father", "parent", "carer", "partner_of_carer"]


class RegisterSubject(ContractModel):
    """The child or unborn child an event is about."""

    subject_ref: Ref
    kind: Literal["child", "unborn"]
    given_name: Name | None = None
    family_name: Name | None = None
    date_of_birth: WireDate | None = None
    expected_delivery_date: WireDate | None = None
    nhs_number: NHSNumber | None = None
    from_pregnancy_ref: Annotated[str, StringConstraints(max_length=64)] | None = None


class Carer(ContractModel):
    """A carer of the subject, identified across events by `person_ref`."""

    person_ref: Ref
    relationship: Relationship
    given_name: Name | None = None
    family_name: Name | None = None
    date_of_birth: WireDate | None = None
    nhs_number: NHSNumber | None = None


class RegisterEvent(ContractModel):
    """One register event from maternity, child health or children's services."""

    schema_: Literal["register-event/1"] = Field(alias="schema")
    event_id: UUIDString
    source: Literal["maternity", "child_health", "childrens_services"]
    local_authority: Annotated[str, StringConstraints(pattern=r"^[EWSN][0-9]{8}$")] | None = None
    recorded_at: WireDateTime
    type: EventType
    effective_date: WireDate | None = None
    subject: RegisterSubject
    carers: list[Carer] = Field(default_factory=list, max_length=10)
    address: Omittable[Address] = None
    outcome: Literal["live_birth", "loss", "termination"] | None = None
