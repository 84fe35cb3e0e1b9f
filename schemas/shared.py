"""Types shared by the police feed and the register feed."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, WithJsonSchema

UPRN = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,12}$")]
NHSNumber = Annotated[str, StringConstraints(pattern=r"^[0-9]{10}$")]
#: JSON Schema `format: uuid`: the RFC 9562 string form, hex digits in either case.
UUIDString = Annotated[
    str,
    StringConstraints(
        pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    ),
    WithJsonSchema({"type": "string", "format": "uuid"}),
]
AddressLine = Annotated[str, StringConstraints(min_length=1, max_length=120)]
Name = Annotated[str, StringConstraints(max_length=80)]


class WireModel(BaseModel):
    """Base of every wire model: strict types, immutable, `schema_` written as `schema`."""

    model_config = ConfigDict(strict=True, frozen=True, serialize_by_alias=True)


class ContractModel(WireModel):
    """Base of the inbound contract models: as `WireModel`, and no unknown fields."""

    model_config = ConfigDict(extra="forbid")


class Address(ContractModel):
    """A UK postal address as the feeds write it (`#/$defs/address`)."""

    uprn: UPRN | None = None
    lines: list[AddressLine] = Field(min_length=1, max_length=6)
    town: Annotated[str, StringConstraints(max_length=60)] | None = None
    postcode: Annotated[str, StringConstraints(max_length=10)] | None
