"""Field types that mean on the wire what JSON Schema 2020-12 means by them.

Pydantic is more lenient than the contracts in places that matter at the edge:
it reads `"1704067200"` as a date, `"2024-01-01 10:00"` as a date-time and
`"0.5"` as a number, and rejects `1.0` where JSON Schema's `integer` accepts
it. The types here close those gaps; a model built from them accepts exactly
what its contract accepts, whether it is fed JSON text or `json.loads` output.
Python callers may still pass `date` and aware `datetime` values.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Annotated, Any, TypeVar

from pydantic import AwareDatetime, BeforeValidator, Field, ValidationInfo
from pydantic_core import PydanticCustomError

_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
# RFC 3339 section 5.6 `date-time`; `T` and `Z` may be lower case (its note).
_DATE_TIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([01][0-9]|2[0-3]):([0-5][0-9]):([0-5][0-9])"
    r"(?:\.([0-9]+))?(?:[Zz]|([+-])([01][0-9]|2[0-3]):([0-5][0-9]))"
)


def _integer(value: object) -> object:
    """Read a float with no fractional part as the integer JSON Schema says it is."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _date(value: object, info: ValidationInfo) -> object:
    """Parse an RFC 3339 `full-date` string; let a Python `date` through in Python mode."""
    if isinstance(value, str):
        if _DATE.fullmatch(value):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        raise PydanticCustomError("date_format", "Input should be a date as YYYY-MM-DD")
    if info.mode == "json" or isinstance(value, datetime):
        raise PydanticCustomError("date_type", "Input should be a date string")
    return value


def _date_time(value: object, info: ValidationInfo) -> object:
    """Parse an RFC 3339 `date-time` string (offset required); let a `datetime` through."""
    if isinstance(value, str):
        parsed = _parse_date_time(value)
        if parsed is None:
            raise PydanticCustomError(
                "datetime_format", "Input should be an RFC 3339 date-time with a UTC offset"
            )
        return parsed
    if info.mode == "json":
        raise PydanticCustomError("datetime_type", "Input should be a date-time string")
    offset = value.utcoffset() if isinstance(value, datetime) else None
    if offset is not None and offset % timedelta(minutes=1):
        raise PydanticCustomError("datetime_offset", "The UTC offset should be whole minutes")
    return value


def _parse_date_time(text: str) -> datetime | None:
    """The instant an RFC 3339 `date-time` names, or None; fractions past microseconds drop."""
    match = _DATE_TIME.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, sign, off_h, off_m = match.groups()
    offset = timedelta(hours=int(off_h or 0), minutes=int(off_m or 0))
    tz = timezone(-offset if sign == "-" else offset) if offset else UTC
    micro = int((fraction or "").ljust(6, "0")[:6])
    try:
        return datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tz
        )
    except ValueError:
        return None


def _not_null(value: object) -> object:
    """Refuse an explicit null for a field the contract lets be absent but not null."""
    if value is None:
        raise PydanticCustomError("not_null", "Input may be left out but may not be null")
    return value


def _drop_null_branch(schema: dict[str, Any]) -> None:
    """Publish an omittable field as its non-null type, with no default."""
    branches = [branch for branch in schema.pop("anyOf") if branch != {"type": "null"}]
    (branch,) = branches
    schema.pop("default", None)
    schema.update(branch)


def _is_none(value: object) -> bool:
    """Whether a value is None (an omittable field left out)."""
    return value is None


#: Marker for `Annotated[int, <constraints>, JsonInteger]`: JSON Schema `integer`, an int
#: or a number with a zero fractional part, never a bool. Put it after the constraints,
#: so that they stay native and are published as `minimum` and `maximum`.
JsonInteger = BeforeValidator(_integer)
#: JSON Schema `number`: an int or a float, finite; never a bool or a string.
JsonNumber = Annotated[float, Field(allow_inf_nan=False)]
#: JSON Schema `format: date`: `YYYY-MM-DD`, a real calendar day.
WireDate = Annotated[date, BeforeValidator(_date)]
#: JSON Schema `format: date-time`: RFC 3339 with seconds and a UTC offset.
WireDateTime = Annotated[AwareDatetime, BeforeValidator(_date_time)]
T = TypeVar("T")
#: `field: Omittable[T] = None`: may be absent, never null; None is left out when
#: the model is dumped, so that a dump is still valid against its contract.
Omittable = Annotated[
    T | None,
    BeforeValidator(_not_null),
    Field(exclude_if=_is_none, json_schema_extra=_drop_null_branch),
]
