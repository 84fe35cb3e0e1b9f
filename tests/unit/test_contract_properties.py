"""What the contracts' JSON Schemas accept, the parser accepts; one field broken, it refuses.

Messages are generated from the schemas themselves (hypothesis-jsonschema), both
the copies the project publishes in `schemas/json/` and, when `../shared` is
present, the contracts the police forces and register feeds build against. A
refusal names the field and its error type, never the value.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import hypothesis_jsonschema._from_schema as generator
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.internal.conjecture import utils as conjecture
from hypothesis_jsonschema import from_schema
from pydantic import BaseModel

from schemas.police import PoliceIncident
from schemas.register import RegisterEvent
from streams.domain.parsing import Rejected, parse_incident, parse_register_event
from tests.support.samples import minimal_incident

ROOT = Path(__file__).parents[2]
SHARED = Path(os.environ.get("DVTRIGGER_SHARED_DIR") or ROOT.parent / "shared")
SOURCES = {"published": ROOT / "schemas" / "json", "shared": SHARED / "contracts"}
CONTRACTS: dict[str, tuple[type[BaseModel], Callable[[bytes], BaseModel]]] = {
    "police-incident.v1": (PoliceIncident, parse_incident),
    "register-event.v1": (RegisterEvent, parse_register_event),
}
NAME = "Zebedee Quuxley"
#: Values no field of either contract accepts (no float field; no field takes a list
#: holding a float or an object with a `nickname`): each names a person or a number.
WRONG = [12345.678, [NAME, 12345.678], {"nickname": NAME}]
PROPERTIES = settings(
    max_examples=20,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


class _Many:
    """hypothesis-jsonschema 0.23.1 (the latest) calls `many.more()`, which hypothesis
    6.170 no longer has: the old interface over the new `with ... for` one."""

    def __init__(self, data: Any, min_size: int, max_size: float, average_size: float) -> None:
        self._many = conjecture.many(data, min_size, max_size, average_size)
        self._many.__enter__()
        self._elements = iter(self._many)

    def more(self) -> bool:
        try:
            next(self._elements)
        except StopIteration:
            self._many.__exit__(None)
            return False
        return True

    def reject(self) -> None:
        self._many.reject()


@pytest.fixture(autouse=True, scope="module")
def _generator_runs() -> Iterator[None]:
    """Give hypothesis-jsonschema the `many` it expects, while this module runs."""
    original = generator.cu
    if not hasattr(conjecture.many, "more"):
        generator.cu = types.SimpleNamespace(many=_Many)  # type: ignore[assignment]
    yield
    generator.cu = original


def contract_schema(source: str, contract: str) -> dict[str, Any]:
    """A contract's JSON Schema as a generator must read it; skips when it is absent.

    `$id` goes (the contracts' relative `$id` would send `$ref`s off to be fetched),
    and a pattern's final `$` becomes `\\Z`: Python's `$` also matches before a final
    newline, which ECMA-262's (JSON Schema's) does not.
    """
    path = SOURCES[source] / f"{contract}.schema.json"
    if not path.is_file():
        pytest.skip(f"{path} is absent (set DVTRIGGER_SHARED_DIR to the shared dir)")
    schema = json.loads(path.read_text(encoding="utf-8"))
    schema.pop("$id", None)
    return _ecma_patterns(schema)  # type: ignore[no-any-return]


def _ecma_patterns(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: v[:-1] + r"\Z"
            if k == "pattern" and isinstance(v, str) and v.endswith("$")
            else _ecma_patterns(v)
            for k, v in node.items()
        }
    return [_ecma_patterns(v) for v in node] if isinstance(node, list) else node


@functools.cache
def messages(source: str, contract: str) -> st.SearchStrategy[Any]:
    """Messages the schema accepts. `format: uuid` is not a format hypothesis-jsonschema
    knows (it would write any string, as 2020-12 lets a validator ignore formats): given."""
    uuids = st.uuids().map(str) | st.uuids().map(lambda u: str(u).upper())
    return from_schema(contract_schema(source, contract), custom_formats={"uuid": uuids})


def encoded(message: Any, ascii_only: bool) -> bytes:
    return json.dumps(message, ensure_ascii=ascii_only).encode()


def rejection(parse: Callable[[bytes], Any], raw: bytes) -> Rejected:
    with pytest.raises(Rejected) as caught:
        parse(raw)
    return caught.value


# ------------------------------------------------------------------ paths into a message
def field_paths(node: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """The path of every key of every object in a message."""
    found: list[tuple[str | int, ...]] = []
    if not isinstance(node, dict | list):
        return found
    for key, value in node.items() if isinstance(node, dict) else enumerate(node):
        if isinstance(node, dict):
            found.append((*prefix, key))
        found.extend(field_paths(value, (*prefix, key)))
    return found


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _nested_model(arg)
        if found is not None:
            return found
    return None


def is_required(model: type[BaseModel], path: tuple[str | int, ...]) -> bool:
    """Whether the model requires the key at `path` (the model of each object on the way)."""
    current: type[BaseModel] | None = model
    for step in path[:-1]:
        if isinstance(step, str):
            assert current is not None
            current = _nested_model(_fields(current)[step].annotation)
    assert current is not None
    return _fields(current)[str(path[-1])].is_required()


def _fields(model: type[BaseModel]) -> dict[str, Any]:
    return {field.alias or name: field for name, field in model.model_fields.items()}


def dotted(path: tuple[str | int, ...]) -> str:
    return ".".join(str(step) for step in path)


def parent_of(message: Any, path: tuple[str | int, ...]) -> Any:
    node = message
    for step in path[:-1]:
        node = node[step]
    return node


# ------------------------------------------------------------------------- properties
ALL = pytest.mark.parametrize("source", sorted(SOURCES))
EACH = pytest.mark.parametrize("contract", sorted(CONTRACTS))


@ALL
@EACH
@PROPERTIES
@given(data=st.data())
def test_every_message_the_schema_accepts_is_parsed(
    source: str, contract: str, data: st.DataObject
) -> None:
    model, parse = CONTRACTS[contract]
    message = data.draw(messages(source, contract))
    parsed = parse(encoded(message, data.draw(st.booleans())))
    assert isinstance(parsed, model)
    assert parsed.model_dump(mode="json", exclude_unset=True).keys() == message.keys()


@ALL
@EACH
@PROPERTIES
@given(data=st.data())
def test_a_message_missing_a_required_field_is_refused_naming_it(
    source: str, contract: str, data: st.DataObject
) -> None:
    model, parse = CONTRACTS[contract]
    message = copy.deepcopy(data.draw(messages(source, contract)))
    required = [p for p in field_paths(message) if is_required(model, p)]
    path = data.draw(st.sampled_from(required))
    del parent_of(message, path)[path[-1]]
    exc = rejection(parse, encoded(message, False))
    assert exc.reason_class == "schema"
    assert f"{dotted(path)}: missing" in exc.detail


@ALL
@EACH
@PROPERTIES
@given(data=st.data())
def test_a_field_of_the_wrong_type_is_refused_naming_it_not_its_value(
    source: str, contract: str, data: st.DataObject
) -> None:
    _, parse = CONTRACTS[contract]
    message = copy.deepcopy(data.draw(messages(source, contract)))
    path = data.draw(st.sampled_from(field_paths(message)))
    parent_of(message, path)[path[-1]] = copy.deepcopy(data.draw(st.sampled_from(WRONG)))
    exc = rejection(parse, encoded(message, False))
    assert exc.reason_class == "schema"
    assert dotted(path) in exc.detail
    text = f"{exc} {exc.detail} {exc.args!r}"
    assert NAME not in text and "12345" not in text and "nickname" not in text


# ---------------------------------------------------------------- where they differ
@pytest.mark.xfail(
    strict=True,
    reason="RFC 3339 (section 5.6, `format: date-time`) allows a leap second, 23:59:60; "
    "the model refuses it (datetime_format): a contract-valid message is dead-lettered",
)
def test_a_leap_second_is_a_date_time() -> None:
    parse_incident(json.dumps(minimal_incident(occurred_at="2016-12-31T23:59:60Z")).encode())
