"""Parse at the edge: bytes from a feed become a validated model, or a rejection with a reason.

A rejection's reason names fields, error types and byte positions only, never
the offending value: it is logged, counted and put in dead-letter headers.

What is refused, and as what (`Rejected.reason_class`):

- `empty`: no value; `oversize`: over `MAX_MESSAGE_BYTES`, refused unread (a
  dead letter too large to send carries no value: `dead_letter_of`).
- `not_json`: anything that is not one unambiguous UTF-8 JSON document:
  truncated or broken JSON, UTF-16/UTF-32 or latin-1 bytes, a UTF-8 byte order
  mark (RFC 8259 section 8.1: senders must not add one; the bytes are forwarded
  and replayed as they are, so every reader would have to strip it alike),
  NaN or Infinity, nesting past pydantic-core's parser limit (200 levels; the
  contracts nest 4 deep), and a key twice in one object: two parsers may read
  different values (first or last wins), and the police system and we must agree.
- `schema`: a JSON document the contract does not accept.

Cost: the common path is pydantic's own parse (`model_validate_json`) plus a
count of keys (over the bytes in C, and a short walk of the parsed models);
only a message that may repeat a key is parsed a second time (`_may_repeat_keys`).
"""

from __future__ import annotations

import codecs
import functools
import json
import re
import typing
from types import SimpleNamespace
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from schemas.police import PoliceIncident
from schemas.register import RegisterEvent

M = TypeVar("M", bound=BaseModel)
#: The largest message read, in bytes. A notification is a few kB (a contract-valid one
#: stays under 0.7 MB even with every character escaped). The worker must be able to
#: send again every message it reads, forwarded or dead-lettered, and faust's producer
#: sends at most 1,000,000 bytes a request: this leaves room for a key and the headers.
MAX_MESSAGE_BYTES = 900_000
#: The most of a message's key and value together that a dead letter carries: faust's
#: producer limit (1,000,000 bytes a request) less the reason headers (at most ~2.3 kB).
DEAD_LETTER_MAX_BYTES = 990_000
#: JSON's whitespace (RFC 8259 section 2).
_JSON_SPACE = b" \t\r\n"
#: pydantic-core's JSON errors: a fixed text and a place, never the input.
_JSON_ERROR = re.compile(r"Invalid JSON: ([A-Za-z0-9 ()\\-]{1,80}) at line (\d+) column (\d+)")


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
        parsed = model.model_validate_json(raw)
    except ValidationError as exc:
        raise _invalid(model, raw, exc) from None
    except RecursionError:
        raise Rejected("not_json", "nested too deeply") from None
    if _may_repeat_keys(parsed, raw):
        ambiguity = _ambiguity(model, raw)
        if ambiguity is not None:
            raise Rejected("not_json", ambiguity)
    return parsed


def dead_letter_of(event: Any) -> Any:
    """The event as its dead letter can carry it: itself, or, when key and value together
    are over `DEAD_LETTER_MAX_BYTES`, without its value (and its key, if that alone is).

    A message the producer cannot send again would fail its dead-lettering for ever and
    hold up every message behind it: such a message is kept as its headers only.
    """
    key, value = event.key, event.value
    if len(key or b"") + len(value or b"") <= DEAD_LETTER_MAX_BYTES:
        return event
    kept = key if key is not None and len(key) <= DEAD_LETTER_MAX_BYTES else None
    return SimpleNamespace(key=kept, value=None, message=event.message)


def _invalid(model: type[BaseModel], raw: bytes, exc: ValidationError) -> Rejected:
    """The rejection for a message pydantic refused: the JSON, or else the contract."""
    if exc.errors()[0]["type"] == "json_invalid":
        return Rejected("not_json", _not_json(raw, exc))
    ambiguity = _ambiguity(model, raw)  # a schema error may come of a repeated key
    if ambiguity is not None:
        return Rejected("not_json", ambiguity)
    return Rejected("schema", describe(exc))


def _not_json(raw: bytes, exc: ValidationError) -> str:
    """Why bytes are not a JSON document: encoding first, then the parser's own words."""
    if raw.startswith(codecs.BOM_UTF8):
        return "starts with a UTF-8 byte order mark: send UTF-8 without one"
    if raw[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) or b"\x00" in raw[:4]:
        return "UTF-16 or UTF-32 text: send UTF-8"
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as bad:
        return f"not UTF-8 text (byte {bad.start})"
    found = _JSON_ERROR.fullmatch(exc.errors(include_input=False)[0]["msg"])
    if found is None:
        return "not a JSON document"
    what, line, column = found.groups()
    if what == "recursion limit exceeded":
        what = "nested too deeply"
    return f"not a JSON document: {what} at line {line} column {column}"


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


# --- repeated keys and non-finite numbers ------------------------------------------------


def _may_repeat_keys(parsed: BaseModel, raw: bytes) -> bool:
    """False only when `raw` cannot repeat a key nor hold NaN or Infinity (checked in C).

    Every key in `raw` ends with `"`, JSON whitespace and `:`, so with the whitespace
    taken out `":` occurs at least once a key. Every field a model holds in its
    `model_fields_set` was a key of the object it came from, each model from its own
    object: their sum is at most the number of distinct keys. When the first is not
    above the second, no key was repeated. (A `":` inside a string only errs to safety.)
    """
    if b"NaN" in raw or b"Infinity" in raw:
        return True
    return raw.translate(None, _JSON_SPACE).count(b'":') > _distinct_keys(parsed)


def _distinct_keys(model: BaseModel) -> int:
    """Keys the JSON objects behind a parsed model held at least: the fields set, all models.

    A model held in anything but a field, a list or a model (a dict) counts nothing:
    the message is then read again. On the hot path: no isinstance on leaf fields.
    """
    fields_set = model.__pydantic_fields_set__
    count = len(fields_set)
    for name in _object_fields(type(model)):
        if name in fields_set:
            value = getattr(model, name)
            for item in value if type(value) is list else (value,):
                if isinstance(item, BaseModel):
                    count += _distinct_keys(item)
    return count


_OBJECT_FIELDS: dict[type[BaseModel], tuple[str, ...]] = {}


def _object_fields(model: type[BaseModel]) -> tuple[str, ...]:
    """The fields of `model` whose type holds a model (the only ones worth walking)."""
    names = _OBJECT_FIELDS.get(model)
    if names is None:
        fields = model.model_fields.items()
        names = _OBJECT_FIELDS[model] = tuple(n for n, f in fields if _holds_model(f.annotation))
    return names


def _holds_model(annotation: Any) -> bool:
    """Whether a type is, or contains, a pydantic model."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    return any(_holds_model(arg) for arg in typing.get_args(annotation))


class _Repeated(dict[str, Any]):
    """A JSON object in which a key occurred twice (which one: `key`)."""

    key = ""


class _NotFinite(ValueError):
    """NaN, Infinity or -Infinity, which JSON does not have."""


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """`json`'s object hook: the object, marked when a key repeats."""
    found = dict(pairs)
    if len(found) == len(pairs):
        return found
    repeated = _Repeated(found)
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            repeated.key = key
            break
        seen.add(key)
    return repeated


def _constant(name: str) -> Any:
    """`json`'s hook for NaN and the infinities: refuse them."""
    raise _NotFinite


def _ambiguity(model: type[BaseModel], raw: bytes) -> str | None:
    """Why `raw` (JSON pydantic could read) could be read two ways, or None when it cannot."""
    repeats: list[dict[str, Any]] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        found = _pairs(items)
        if type(found) is _Repeated:
            repeats.append(found)
        return found

    try:
        tree = json.loads(raw, object_pairs_hook=pairs, parse_constant=_constant)
        where = _find_repeated(tree, (), _field_names(model)) if repeats else None
    except _NotFinite:
        return "NaN or Infinity, which JSON does not have"
    except RecursionError:
        return "nested too deeply"
    except ValueError:  # read by pydantic, not by json: the keys cannot be checked
        return "not a JSON document Python's json module reads (keys unchecked)"
    return None if where is None else f"duplicate key {where}: readers may differ on its value"


def _find_repeated(node: Any, path: tuple[str, ...], known: frozenset[str]) -> str | None:
    """The path of the first repeated key under `node`; unknown keys (sender's text) hidden."""
    if isinstance(node, _Repeated):
        return ".".join((*path, _shown(node.key, known)))
    if not isinstance(node, dict | list):
        return None
    children = node.items() if isinstance(node, dict) else enumerate(node)
    for key, child in children:
        step = str(key) if isinstance(key, int) else _shown(key, known)
        found = _find_repeated(child, (*path, step), known)
        if found is not None:
            return found
    return None


def _shown(key: str, known: frozenset[str]) -> str:
    """A key as a reason may show it: a field name of the contract, else hidden."""
    return key if key in known else "<unknown field>"


@functools.cache
def _field_names(model: type[BaseModel]) -> frozenset[str]:
    """Every field name and alias of `model` and the models inside it."""
    names: set[str] = set()
    for name, field in model.model_fields.items():
        names.update(n for n in (name, field.alias) if n)
        names.update(_field_names_in(field.annotation))
    return frozenset(names)


def _field_names_in(annotation: Any) -> frozenset[str]:
    """The field names of the models a type holds."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _field_names(annotation)
    return frozenset().union(*(_field_names_in(a) for a in typing.get_args(annotation)))


def parse_incident(raw: bytes | None) -> PoliceIncident:
    """A police-incident/1 notification from its bytes."""
    return parse(PoliceIncident, raw)


def parse_register_event(raw: bytes | None) -> RegisterEvent:
    """A register-event/1 event from its bytes."""
    return parse(RegisterEvent, raw)
