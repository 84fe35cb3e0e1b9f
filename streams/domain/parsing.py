"""Parse at the edge: bytes from a feed become a validated model, or a rejection with a reason.

A rejection's reason names fields and error types only, never the offending
value: it is logged, counted and put in dead-letter headers.
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ValidationError

from schemas.police import PoliceIncident
from schemas.register import RegisterEvent

M = TypeVar("M", bound=BaseModel)
MAX_MESSAGE_BYTES = 1_000_000


class Rejected(Exception):
    """A message that can never be valid as it stands: it goes to the dead-letter topic."""

    def __init__(self, reason_class: str, detail: str) -> None:
        super().__init__(f"{reason_class}: {detail}")
        self.reason_class = reason_class
        self.detail = detail


def parse(model: type[M], raw: bytes | None) -> M:
    """Validate one message against `model`, or raise `Rejected` with a PD-free reason."""
    if not raw:
        raise Rejected("empty", "message has no value")
    if len(raw) > MAX_MESSAGE_BYTES:
        raise Rejected("oversize", f"message is {len(raw)} bytes, over {MAX_MESSAGE_BYTES}")
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        if exc.errors()[0]["type"] == "json_invalid":
            raise Rejected("not_json", "not a JSON document") from None
        raise Rejected("schema", describe(exc)) from None
    except RecursionError:
        raise Rejected("not_json", "nested too deeply") from None


def describe(exc: ValidationError, limit: int = 5) -> str:
    """Field paths and error types of a validation error, without the input values."""
    errors = exc.errors(include_input=False, include_url=False)
    parts = [f"{_path(e['loc'], e['type'])}: {e['type']}" for e in errors]
    more = f" (+{len(parts) - limit} more)" if len(parts) > limit else ""
    return "; ".join(parts[:limit]) + more


def _path(loc: tuple[int | str, ...], error_type: str) -> str:
    """A field path; an unknown key is the sender's text (it may be a name), so it is hidden."""
    parts = [str(p) for p in loc]
    if error_type == "extra_forbidden" and parts:
        parts[-1] = "<unknown field>"
    return ".".join(parts) or "<root>"


def parse_incident(raw: bytes | None) -> PoliceIncident:
    """A police-incident/1 notification from its bytes."""
    return parse(PoliceIncident, raw)


def parse_register_event(raw: bytes | None) -> RegisterEvent:
    """A register-event/1 event from its bytes."""
    return parse(RegisterEvent, raw)
