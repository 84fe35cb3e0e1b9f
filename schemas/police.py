"""`police-incident/1`: one domestic abuse incident notification on the police feed."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from schemas.shared import Address, ContractModel, Name, NHSNumber, UUIDString
from schemas.wire import JsonInteger, Omittable, WireDate, WireDateTime

Role = Literal["victim", "suspect", "other_adult_present", "child", "witness"]
Gender = Literal["female", "male", "other", "unknown"]
Summary = Annotated[str, StringConstraints(max_length=4000)]

#: Roles that bring a family into an incident (a witness alone never does).
INVOLVED_ROLES: frozenset[str] = frozenset({"victim", "suspect", "other_adult_present"})


class PolicePerson(ContractModel):
    """A person named in an incident, in one role."""

    person_ref: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    role: Role
    given_name: Name | None = None
    family_name: Name | None = None
    date_of_birth: WireDate | None = None
    age_years: Annotated[int, Field(ge=0, le=120), JsonInteger] | None = None
    gender: Omittable[Gender] = None
    address: Address | None = None
    pregnant: bool | None = None
    nhs_number: NHSNumber | None = None


class PoliceIncident(ContractModel):
    """One message on the police feed; a higher `revision` replaces an earlier one."""

    schema_: Literal["police-incident/1"] = Field(alias="schema")
    notification_id: UUIDString
    incident_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    force: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2,5}$")]
    revision: Annotated[int, Field(ge=1), JsonInteger]
    occurred_at: WireDateTime
    reported_at: WireDateTime
    location: Address
    dash_risk: Literal["standard", "medium", "high", "not_assessed"]
    children_present: bool | None = None
    persons: list[PolicePerson] = Field(min_length=1, max_length=50)
    summary: Omittable[Summary] = None
