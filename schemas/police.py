"""`police-incident/1`: one domestic abuse incident notification on the police feed."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, StringConstraints

from schemas.shared import Address, ContractModel, NHSNumber, UUIDString

Role = Literal["victim", "suspect", "other_adult_present", "child", "witness"]
Name = Annotated[str, StringConstraints(max_length=80)]

#: Roles that bring a family into an incident (a witness alone never does).
INVOLVED_ROLES: frozenset[str] = frozenset({"victim", "suspect", "other_adult_present"})


class PolicePerson(ContractModel):
    """A person named in an incident, in one role."""

    person_ref: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    role: Role
    given_name: Name | None = None
    family_name: Name | None = None
    date_of_birth: date | None = None
    age_years: Annotated[int, Field(ge=0, le=120)] | None = None
    gender: Literal["female", "male", "other", "unknown"] | None = Field(default=None)
    address: Address | None = None
    pregnant: bool | None = None
    nhs_number: NHSNumber | None = None


class PoliceIncident(ContractModel):
    """One message on the police feed; a higher `revision` replaces an earlier one."""

    schema_: Literal["police-incident/1"] = Field(alias="schema")
    notification_id: UUIDString
    incident_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    force: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2,5}$")]
    revision: Annotated[int, Field(ge=1)]
    occurred_at: AwareDatetime
    reported_at: AwareDatetime
    location: Address
    dash_risk: Literal["standard", "medium", "high", "not_assessed"]
    children_present: bool | None = None
    persons: list[PolicePerson] = Field(min_length=1, max_length=50)
    summary: Annotated[str, StringConstraints(max_length=4000)] | None = None
