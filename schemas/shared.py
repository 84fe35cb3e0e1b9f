"""Types shared by the police feed and the register feed."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

UPRN = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,12}$")]
NHSNumber = Annotated[str, StringConstraints(pattern=r"^[0-9]{10}$")]
UUIDString = Annotated[
    str,
    StringConstraints(
        pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    ),
]
AddressLine = Annotated[str, StringConstraints(min_length=1, max_length=120)]


class ContractModel(BaseModel):
    """Base of the inbound contract models: strict types, no unknown fields, immutable."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Address(ContractModel):
    """A UK postal address as the feeds write it (`#/$defs/address`)."""

    uprn: UPRN | None = None
    lines: list[AddressLine] = Field(min_length=1, max_length=6)
    town: Annotated[str, StringConstraints(max_length=60)] | None = None
    postcode: Annotated[str, StringConstraints(max_length=10)] | None
