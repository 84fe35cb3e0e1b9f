"""Parse at the edge: bytes become a model, or a rejection whose reason holds no personal data."""

from __future__ import annotations

import json
from typing import Any

import pytest

from schemas.police import PoliceIncident
from schemas.register import RegisterEvent
from streams.domain.parsing import MAX_MESSAGE_BYTES, Rejected, parse_incident, parse_register_event
from tests.support.fakes import register_body
from tests.support.samples import sample_incident

NAME, GIVEN, FAMILY = "Zebedee Quuxley", "Zebedee", "Quuxley"
DOB, BAD_DOB = "2026-02-11", "2026-02-30"
NHS, BAD_NHS = "4857773456", "485777345X"
POSTCODE = "ZZ9 9ZQ"
#: Personal data planted in invalid messages; none of it may reach a reason.
CANARIES = (NAME, GIVEN, FAMILY, DOB, BAD_DOB, NHS, BAD_NHS, POSTCODE, "Quarry Mews")


def incident_body(**person: Any) -> dict[str, Any]:
    """The sample incident as JSON, its victim carrying the canaries (with `person` overrides)."""
    body: dict[str, Any] = json.loads(sample_incident().model_dump_json())
    body["persons"][0].update(
        {
            "given_name": GIVEN,
            "family_name": FAMILY,
            "date_of_birth": DOB,
            "nhs_number": NHS,
            "address": {"lines": ["Flat 2", "14 Quarry Mews"], "postcode": POSTCODE},
            **person,
        }
    )
    return body


def rejection(parse: Any, raw: bytes | None) -> Rejected:
    with pytest.raises(Rejected) as caught:
        parse(raw)
    return caught.value


def assert_no_canary(exc: Rejected) -> None:
    text = " ".join([str(exc), exc.detail, exc.reason_class, repr(exc.args)]).casefold()
    leaked = [c for c in CANARIES if c.casefold() in text]
    assert leaked == [], f"personal data in the reason: {leaked}"


def test_valid_incident_bytes_parse_to_the_model() -> None:
    raw = json.dumps(incident_body()).encode()
    incident = parse_incident(raw)
    assert isinstance(incident, PoliceIncident)
    assert incident.persons[0].given_name == GIVEN
    assert incident.incident_id == "MPS-2026-000001"


def test_valid_register_event_bytes_parse_to_the_model() -> None:
    raw = json.dumps(register_body("C1", "birth_registered")).encode()
    event = parse_register_event(raw)
    assert isinstance(event, RegisterEvent)
    assert (event.subject.subject_ref, event.type) == ("C1", "birth_registered")


@pytest.mark.parametrize("raw", [None, b""])
def test_no_value_is_empty(raw: bytes | None) -> None:
    for parse in (parse_incident, parse_register_event):
        assert rejection(parse, raw).reason_class == "empty"


def test_a_message_over_the_limit_is_oversize_and_its_content_unread() -> None:
    raw = json.dumps(incident_body(summary=NAME * 80_000)).encode()
    assert len(raw) > MAX_MESSAGE_BYTES
    exc = rejection(parse_incident, raw)
    assert exc.reason_class == "oversize"
    assert str(len(raw)) in exc.detail
    assert_no_canary(exc)


def test_a_message_at_the_limit_is_still_read() -> None:
    raw = json.dumps(incident_body()).encode()
    padded = raw + b" " * (MAX_MESSAGE_BYTES - len(raw))
    assert len(padded) == MAX_MESSAGE_BYTES
    assert parse_incident(padded).persons[0].family_name == FAMILY


@pytest.mark.parametrize(
    "raw",
    [
        json.dumps(incident_body()).encode()[:-40],  # truncated mid-message
        f"victim {NAME} born {DOB}, NHS {NHS}, {POSTCODE}".encode(),
        f'{{"given_name": "{NAME}", "nhs_number": {NHS}x}}'.encode(),
        NAME.encode("utf-16-le")[:-1] + b"\xff\xfe",  # not text at all
        b"\xff\xfe\xfa" + NAME.encode(),
    ],
    ids=["truncated", "free_text", "broken_json", "utf16_fragment", "invalid_utf8"],
)
def test_not_json(raw: bytes) -> None:
    for parse in (parse_incident, parse_register_event):
        exc = rejection(parse, raw)
        assert exc.reason_class == "not_json"
        assert_no_canary(exc)


@pytest.mark.parametrize(
    ("person", "field", "error"),
    [
        ({"date_of_birth": BAD_DOB}, "persons.0.date_of_birth", "date"),
        ({"nhs_number": BAD_NHS}, "persons.0.nhs_number", "string_pattern_mismatch"),
        ({"given_name": NAME * 10}, "persons.0.given_name", "string_too_long"),
        ({"role": NAME}, "persons.0.role", "literal_error"),
        ({"pregnant": NAME}, "persons.0.pregnant", "bool"),
        ({"address": {"lines": [], "postcode": POSTCODE}}, "persons.0.address.lines", "too_short"),
        ({"address": {"lines": ["x"], "postcode": POSTCODE * 3}}, "postcode", "too_long"),
        ({"nickname": NAME}, "persons.0.", "extra_forbidden"),
    ],
)
def test_schema_reason_names_field_and_error_type_only(
    person: dict[str, Any], field: str, error: str
) -> None:
    exc = rejection(parse_incident, json.dumps(incident_body(**person)).encode())
    assert exc.reason_class == "schema"
    assert field in exc.detail and error in exc.detail
    assert_no_canary(exc)


def test_schema_reason_of_a_register_event_holds_no_personal_data() -> None:
    subject = {"given_name": NAME, "date_of_birth": BAD_DOB, "nhs_number": BAD_NHS}
    body = register_body(
        "C1", "birth_registered", subject=subject, address={"lines": [NAME], "postcode": 7}
    )
    exc = rejection(parse_register_event, json.dumps(body).encode())
    assert exc.reason_class == "schema"
    assert "subject.date_of_birth" in exc.detail and "subject.nhs_number" in exc.detail
    assert "address.postcode" in exc.detail
    assert_no_canary(exc)


def test_a_schema_rejection_does_not_chain_the_validation_error() -> None:
    """A logged traceback would print the ValidationError, which quotes the input."""
    exc = rejection(parse_incident, json.dumps(incident_body(nhs_number=BAD_NHS)).encode())
    assert exc.__cause__ is None and exc.__suppress_context__


def test_the_wrong_feed_is_a_schema_rejection() -> None:
    raw = json.dumps(incident_body()).encode()
    exc = rejection(parse_register_event, raw)
    assert exc.reason_class == "schema"
    assert_no_canary(exc)


def test_many_errors_are_cut_short() -> None:
    body = incident_body()
    body["persons"] = [{"person_ref": f"P{i}", "role": NAME} for i in range(9)]
    exc = rejection(parse_incident, json.dumps(body).encode())
    assert "(+4 more)" in exc.detail
    assert exc.detail.count("literal_error") == 5
    assert_no_canary(exc)


def test_an_unknown_key_made_of_personal_data_stays_out_of_the_reason() -> None:
    body = incident_body()
    body["persons"][0][NAME] = "victim"
    exc = rejection(parse_incident, json.dumps(body).encode())
    assert exc.reason_class == "schema"
    assert_no_canary(exc)


def test_deeply_nested_json_is_rejected_not_raised() -> None:
    raw = b"[" * 200_000
    assert len(raw) < MAX_MESSAGE_BYTES
    assert rejection(parse_incident, raw).reason_class in ("not_json", "schema")
