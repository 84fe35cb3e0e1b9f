"""`register-event/1`: one change to the register of children under 12 months and unborn children."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, StringConstraints

from schemas.shared import Address, ContractModel, NHSNumber, UUIDString

Name = Annotated[str, StringConstraints(max_length=80)]
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
    date_of_birth: date | None = None
    expected_delivery_date: date | None = None
    nhs_number: NHSNumber | None = None
    from_pregnancy_ref: Annotated[str, StringConstraints(max_length=64)] | None = None


class Carer(ContractModel):
    """A carer of the subject, identified across events by `person_ref`."""

    person_ref: Ref
    relationship: Relationship
    given_name: Name | None = None
    family_name: Name | None = None
    date_of_birth: date | None = None
    nhs_number: NHSNumber | None = None


class RegisterEvent(ContractModel):
    """One register event from maternity, child health or children's services."""

    schema_: Literal["register-event/1"] = Field(alias="schema")
    event_id: UUIDString
    source: Literal["maternity", "child_health", "childrens_services"]
    local_authority: Annotated[str, StringConstraints(pattern=r"^[EWSN][0-9]{8}$")] | None = None
    recorded_at: AwareDatetime
    type: EventType
    effective_date: date | None = None
    subject: RegisterSubject
    carers: list[Carer] = Field(default_factory=list, max_length=10)
    address: Address | None = None
    outcome: Literal["live_birth", "loss", "termination"] | None = None

    @property
    def effective_on(self) -> date:
        """When the change happened in the world: `effective_date`, else the date of `recorded_at`."""
        return self.effective_date or self.recorded_at.date()
