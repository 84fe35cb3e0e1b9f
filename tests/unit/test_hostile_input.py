"""Hostile bytes at the edge: the parser refuses them with a reason, never raises, never echoes.

Named cases first (oversize, deep, wrong encoding, truncated, repeated keys, NaN),
then fuzzing: arbitrary bytes, every truncation of one message, bit flips and
splices of valid messages, and repeated keys planted anywhere in generated ones.
"""

from __future__ import annotations

import codecs
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, field_validator

from schemas.police import PoliceIncident
from schemas.register import RegisterEvent
from streams.domain import parsing
from streams.domain.parsing import (
    MAX_MESSAGE_BYTES,
    Rejected,
    parse,
    parse_incident,
    parse_register_event,
)

CORPUS = Path(__file__).parents[2] / "tests" / "data" / "contracts"
#: Every reason class the parser gives (docs/operations.md lists them for operators).
REASON_CLASSES = {"empty", "oversize", "not_json", "schema"}
#: Personal data in the samples below; none may reach a reason.
CANARIES = ("Imelda", "Quarrington", "1996-03-14", "9990001234", "Larkspur", "QQ1 2AB", "Zebedee")
FUZZ = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def valid_messages(contract: str) -> list[dict[str, Any]]:
    """The valid messages of the contract corpus."""
    rows = [json.loads(line) for line in (CORPUS / f"{contract}.jsonl").read_text().splitlines()]
    return [row["message"] for row in rows if row["valid"]]


INCIDENTS = valid_messages("police-incident.v1")
EVENTS = valid_messages("register-event.v1")
INCIDENT = INCIDENTS[0]  # "full": every field, names and an NHS number
INCIDENT_RAW = json.dumps(INCIDENT).encode()
PARSERS = {"incident": parse_incident, "register": parse_register_event}


def outcome(parse_one: Any, raw: bytes) -> BaseModel | Rejected:
    """The model, or the rejection; anything else raised fails the test."""
    try:
        return parse_one(raw)  # type: ignore[no-any-return]
    except Rejected as rejected:
        assert_clean(rejected)
        return rejected


def assert_clean(rejected: Rejected) -> None:
    """A known reason class, a reason, no personal data, no chained exception."""
    assert rejected.reason_class in REASON_CLASSES
    assert rejected.detail
    text = f"{rejected} {rejected.detail} {rejected.args!r}"
    assert [c for c in CANARIES if c in text] == []
    assert rejected.__cause__ is None


def refused(parse_one: Any, raw: bytes) -> Rejected:
    result = outcome(parse_one, raw)
    assert isinstance(result, Rejected), "a hostile message was accepted"
    return result


# --------------------------------------------------------------- writing repeated keys
class Pairs(list[tuple[str, Any]]):
    """A JSON object written as its pairs, so a key may occur twice."""


def dumps(node: Any) -> str:
    """JSON text of a value in which `Pairs` are objects."""
    if isinstance(node, Pairs):
        return "{" + ", ".join(f"{json.dumps(k)}: {dumps(v)}" for k, v in node) + "}"
    if isinstance(node, dict):
        return dumps(Pairs(node.items()))
    if isinstance(node, list):
        return "[" + ", ".join(dumps(v) for v in node) + "]"
    return json.dumps(node)


def with_repeat(message: Any, path: tuple[Any, ...], key: str, value: Any) -> str:
    """The message with `key` written a second time, holding `value`, in the object at `path`."""
    if not path:
        return dumps(Pairs([*message.items(), (key, value)]))
    step, rest = path[0], path[1:]
    copy: Any = dict(message) if isinstance(message, dict) else list(message)
    copy[step] = json.loads(with_repeat(message[step], rest, key, value), object_pairs_hook=Pairs)
    return dumps(copy)


def objects(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    """Every object in a message, with its path."""
    found = [(path, node)] if isinstance(node, dict) else []
    if isinstance(node, dict | list):
        for key, child in node.items() if isinstance(node, dict) else enumerate(node):
            found.extend(objects(child, (*path, key)))
    return found


# ------------------------------------------------------------------------ named cases
def _utf16(raw: bytes, codec: str) -> bytes:
    return raw.decode().encode(codec)


def _deep(levels: int, opener: bytes = b"[", closer: bytes = b"]") -> bytes:
    return b'{"schema": ' + opener * levels + closer * levels + b"}"


NAMED: list[tuple[str, bytes, str, str]] = [
    # (case, raw, reason class, words in the reason)
    ("oversize", INCIDENT_RAW.replace(b"Imelda", b"Imelda" * 200_000), "oversize", "bytes"),
    ("oversize_garbage", b"\xff" * (MAX_MESSAGE_BYTES + 1), "oversize", "bytes"),
    ("deep_arrays", _deep(10_000), "not_json", "nested too deeply"),
    ("deep_arrays_unclosed", b"[" * 900_000, "not_json", "nested too deeply"),
    ("deep_objects", b'{"a":' * 150_000, "not_json", "nested too deeply"),
    ("deep_in_a_field", INCIDENT_RAW[:-1] + b', "x": ' + b"[" * 300 + b"]" * 300 + b"}", "not_json",
     "nested too deeply"),
    ("nested_within_limit", _deep(150), "schema", "schema: "),
    ("utf16_bom", _utf16(INCIDENT_RAW, "utf-16"), "not_json", "UTF-16"),
    ("utf16_le", _utf16(INCIDENT_RAW, "utf-16-le"), "not_json", "UTF-16"),
    ("utf16_be", _utf16(INCIDENT_RAW, "utf-16-be"), "not_json", "UTF-16"),
    ("utf32", _utf16(INCIDENT_RAW, "utf-32"), "not_json", "UTF-16 or UTF-32"),
    ("utf8_bom", codecs.BOM_UTF8 + INCIDENT_RAW, "not_json", "byte order mark"),
    ("latin1", json.dumps(INCIDENT, ensure_ascii=False).replace("Imelda", "Zoë").encode(
        "latin-1"), "not_json", "not UTF-8"),
    ("cp1252_quote", INCIDENT_RAW.replace(b"Argument", b"\x93Argument\x94"), "not_json",
     "not UTF-8"),
    ("overlong_utf8", INCIDENT_RAW.replace(b"Imelda", b"\xc1\x89melda"), "not_json", "not UTF-8"),
    ("truncated", INCIDENT_RAW[: len(INCIDENT_RAW) // 2], "not_json", "EOF"),
    ("truncated_in_escape", b'{"schema": "police-incident/1", "incident_id": "\\u00', "not_json",
     "line 1"),
    ("trailing_garbage", INCIDENT_RAW + b" Imelda", "not_json", "trailing"),
    ("two_documents", INCIDENT_RAW + INCIDENT_RAW, "not_json", "trailing"),
    ("lone_surrogate", INCIDENT_RAW.replace(b'"Imelda"', b'"\\udc00"'), "not_json", "line 1"),
    ("control_character", INCIDENT_RAW.replace(b"Imelda", b"Ime\x07lda"), "not_json",
     "control character"),
    ("nan", INCIDENT_RAW.replace(b'"revision": 1', b'"revision": NaN'), "not_json", "NaN"),
    ("infinity", INCIDENT_RAW.replace(b'"age_years": null', b'"age_years": Infinity'),
     "not_json", "Infinity"),
    ("minus_infinity", INCIDENT_RAW.replace(b'"revision": 1', b'"revision": -Infinity'),
     "not_json", "Infinity"),
    ("huge_exponent", INCIDENT_RAW.replace(b'"revision": 1', b'"revision": 1e999'), "schema",
     "revision"),
    ("huge_integer", INCIDENT_RAW.replace(b'"revision": 1', b'"revision": 1' + b"0" * 5000),
     "not_json", "number"),
    ("duplicate_top", with_repeat(INCIDENT, (), "revision", 9).encode(), "not_json",
     "duplicate key revision"),
    ("duplicate_same_value", with_repeat(INCIDENT, (), "force", INCIDENT["force"]).encode(),
     "not_json", "duplicate key force"),
    ("duplicate_in_person", with_repeat(INCIDENT, ("persons", 1), "role", "witness").encode(),
     "not_json", "duplicate key persons.1.role"),
    ("duplicate_in_address", with_repeat(INCIDENT, ("location",), "postcode", "ZZ9 9ZQ").encode(),
     "not_json", "duplicate key location.postcode"),
    ("duplicate_escaped", INCIDENT_RAW.replace(b'"role": "victim"',
     b'"role": "witness", "r\\u006fle": "victim"'), "not_json", "duplicate key persons.0.role"),
    ("duplicate_unknown_key", with_repeat(
        json.loads(with_repeat(INCIDENT, (), "Zebedee", 1)), (), "Zebedee", 2).encode(),
     "not_json", "<unknown field>"),
    ("duplicate_and_schema_error", with_repeat(INCIDENT, (), "revision", "Zebedee").encode(),
     "not_json", "duplicate key revision"),
    ("top_level_array", b"[" + INCIDENT_RAW + b"]", "schema", "model_type"),
    ("bare_string", b'"Imelda Quarrington"', "schema", "<root>"),
    ("null", b"null", "schema", "<root>"),
    ("whitespace_only", b" \n\t ", "not_json", "EOF"),
    ("nul_bytes", b"\x00" * 64, "not_json", "UTF-16 or UTF-32"),
]  # fmt: skip


@pytest.mark.parametrize(("raw", "reason_class", "words"), [c[1:] for c in NAMED],
                         ids=[c[0] for c in NAMED])  # fmt: skip
def test_a_hostile_message_is_refused_with_its_reason(
    raw: bytes, reason_class: str, words: str
) -> None:
    rejected = refused(parse_incident, raw)
    assert (rejected.reason_class, words in rejected.detail) == (reason_class, True), rejected


@pytest.mark.parametrize(
    "raw",
    [
        json.dumps(EVENTS[0], indent=2).encode(),
        with_repeat(EVENTS[0], ("subject",), "kind", "child").encode(),
        with_repeat(EVENTS[0], ("carers", 0), "person_ref", "H9").encode(),
        codecs.BOM_UTF8 + json.dumps(EVENTS[0]).encode(),
        json.dumps(EVENTS[0]).encode("utf-16"),
    ],
    ids=["valid_pretty", "duplicate_subject_kind", "duplicate_carer_ref", "utf8_bom", "utf16"],
)
def test_register_events_are_held_to_the_same_rules(raw: bytes) -> None:
    result = outcome(parse_register_event, raw)
    assert isinstance(result, RegisterEvent) is raw.startswith(b"{\n")


@pytest.mark.parametrize(
    "raw",
    [
        json.dumps(INCIDENT, indent=4).encode(),
        json.dumps(INCIDENT, separators=(",", ":")).encode(),
        json.dumps(INCIDENT, separators=(" , ", " : ")).encode(),
        json.dumps(INCIDENT | {"summary": 'She said "stop": NaN, Infinity'}).encode(),
        json.dumps(INCIDENT | {"summary": "Zoë \u2028 \U0001f600 \\ \" \x00"}).encode(),
        json.dumps(INCIDENT, ensure_ascii=False).encode(),
        b"\r\n\t " + INCIDENT_RAW + b"\r\n\t ",
    ],
    ids=["indented", "compact", "space_before_colon", "quote_colon_and_nan_in_text",
         "awkward_text", "raw_utf8", "surrounding_whitespace"],
)  # fmt: skip
def test_awkward_but_valid_messages_are_read(raw: bytes) -> None:
    incident = outcome(parse_incident, raw)
    assert isinstance(incident, PoliceIncident)
    assert incident.incident_id == INCIDENT["incident_id"]


def test_a_recursion_error_becomes_a_rejection(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whichever parser recurses too deeply, the message is refused, not crashed on."""

    class Recursing(BaseModel):
        x: int

        @field_validator("x")
        @classmethod
        def recurse(cls, value: int) -> int:
            raise RecursionError

    assert refused(lambda raw: parse(Recursing, raw), b'{"x": 1}').detail == "nested too deeply"

    def recursing_loads(*args: Any, **kwargs: Any) -> Any:
        raise RecursionError

    monkeypatch.setattr(parsing.json, "loads", recursing_loads)
    raw = json.dumps(INCIDENT | {"summary": "NaN"}).encode()  # read a second time
    assert refused(parse_incident, raw).detail == "nested too deeply"


# ---------------------------------------------------------------------------- fuzzing
@FUZZ
@given(raw=st.binary(max_size=4096))
def test_arbitrary_bytes_are_never_more_than_a_rejection(raw: bytes) -> None:
    for parse_one in PARSERS.values():
        outcome(parse_one, raw)


def test_every_truncation_of_a_message_is_refused() -> None:
    for parse_one in PARSERS.values():
        for end in range(len(INCIDENT_RAW)):
            refused(parse_one, INCIDENT_RAW[:end])


@FUZZ
@given(data=st.data())
def test_bit_flips_in_a_valid_message_are_read_or_refused(data: st.DataObject) -> None:
    raw = bytearray(json.dumps(data.draw(st.sampled_from(INCIDENTS))).encode())
    for _ in range(data.draw(st.integers(1, 8))):
        raw[data.draw(st.integers(0, len(raw) - 1))] ^= 1 << data.draw(st.integers(0, 7))
    outcome(parse_incident, bytes(raw))


@FUZZ
@given(data=st.data())
def test_splices_of_valid_messages_are_read_or_refused(data: st.DataObject) -> None:
    first, second = (json.dumps(data.draw(st.sampled_from(INCIDENTS + EVENTS))) for _ in "ab")
    cut_a = data.draw(st.integers(0, len(first)))
    cut_b = data.draw(st.integers(0, len(second)))
    raw = (first[:cut_a] + second[cut_b:]).encode()
    for parse_one in PARSERS.values():
        outcome(parse_one, raw)


@FUZZ
@given(data=st.data())
def test_a_key_written_twice_anywhere_is_never_accepted(data: st.DataObject) -> None:
    contract, messages = data.draw(st.sampled_from([("incident", INCIDENTS), ("register", EVENTS)]))
    message = data.draw(st.sampled_from(messages))
    path, target = data.draw(st.sampled_from(objects(message)))
    key = data.draw(st.sampled_from(sorted(target)))
    value = data.draw(st.sampled_from([target[key], None, 1, "x", [], {}]))
    raw = with_repeat(message, path, key, value).encode()
    rejected = refused(PARSERS[contract], raw)
    assert rejected.reason_class == "not_json"
    assert rejected.detail.startswith(f"duplicate key {'.'.join(map(str, (*path, key)))}")
