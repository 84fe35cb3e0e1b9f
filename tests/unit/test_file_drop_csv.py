"""File drop reading: CSV columns as dotted paths into the contract, JSON lines, what is refused."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest

from connectors.file_drop.csv_layout import BadHeader, columns, convert, message
from connectors.file_drop.records import (
    Accepted,
    Refused,
    Unreadable,
    classify,
    kind_of,
    read_lines,
)
from schemas.police import PoliceIncident
from tests.support.samples import sample_incident

NAME, NHS = "Quarrington", "9434765919"
BIG = 1_000_000


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    """A message as dotted paths to its scalars (what a force's CSV export holds)."""
    if isinstance(node, dict):
        items = node.items()
    elif isinstance(node, list):
        items = enumerate(node)  # type: ignore[assignment]
    else:
        return {prefix: node}
    flat: dict[str, Any] = {}
    for key, value in items:
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def csv_file(header: list[str], *rows: list[str]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def sample_json(incident_id: str = "MPS-2026-000001") -> dict[str, Any]:
    return json.loads(sample_incident(incident_id).model_dump_json(by_alias=True))  # type: ignore[no-any-return]


def one_row(flat: dict[str, Any]) -> Accepted | Refused:
    data = csv_file(list(flat), [cell(v) for v in flat.values()])
    (line,) = read_lines(data, "csv", BIG)
    return classify(line)


@pytest.mark.parametrize("incident_id", ["MPS-2026-000001", "WMP-2026-000777"])
def test_a_flattened_incident_reads_back_as_the_same_incident(incident_id: str) -> None:
    original = sample_json(incident_id)
    verdict = one_row(flatten(original))
    assert isinstance(verdict, Accepted), verdict
    assert verdict.incident_id == incident_id
    assert PoliceIncident.model_validate_json(verdict.value) == sample_incident(incident_id)


def test_cells_take_the_type_of_their_field() -> None:
    (age,) = columns(["persons.0.age_years"])
    assert convert("31", age.types) == 31
    (present,) = columns(["children_present"])
    assert convert("TRUE", present.types) is True and convert("false", present.types) is False
    (ref,) = columns(["persons.0.person_ref"])
    assert convert("31", ref.types) == "31"  # a text field keeps digits as text


def test_empty_cells_are_null_where_allowed_and_empty_objects_are_absent() -> None:
    header = [
        "incident_id",
        "location.lines.0",
        "location.postcode",
        "persons.0.person_ref",
        "persons.0.role",
        "persons.0.given_name",
        "persons.1.person_ref",
        "persons.1.role",
        "persons.1.address.lines.0",
        "persons.1.address.postcode",
        "summary",
    ]
    layout = columns(header)
    row = ["X-1", "1 Mill Lane", "", "P1", "victim", "", "", "", "", "", ""]
    built = message(layout, row)
    assert built["location"] == {"lines": ["1 Mill Lane"], "postcode": None}
    assert built["persons"] == [{"person_ref": "P1", "role": "victim", "given_name": None}]
    assert "summary" not in built  # not nullable: left out
    assert built["schema"] == "police-incident/1"  # no schema column: the contract's


def test_list_elements_close_up_over_empty_ones() -> None:
    layout = columns(["persons.0.person_ref", "persons.1.person_ref", "persons.2.person_ref"])
    assert message(layout, ["P1", "", "P3"])["persons"] == [
        {"person_ref": "P1"},
        {"person_ref": "P3"},
    ]


@pytest.mark.parametrize(
    "header",
    [
        ["incident_id", NAME],
        ["incident_id", "persons.0"],  # an object, not a field
        ["incident_id", "persons.x.role"],
        ["incident_id", "persons.50.role"],  # over maxItems
        ["incident_id", "location.lines.0.x"],
    ],
)
def test_a_header_naming_no_field_of_the_contract_is_refused_by_column_number(
    header: list[str],
) -> None:
    with pytest.raises(BadHeader, match="column 2 is not a field") as raised:
        columns(header)
    assert NAME not in str(raised.value)
    with pytest.raises(Unreadable, match="CSV header: column 2"):
        read_lines(csv_file(header, ["1", "2"]), "csv", BIG)


def test_a_repeated_column_is_refused() -> None:
    with pytest.raises(BadHeader, match="column 2 repeats"):
        columns(["incident_id", "incident_id"])


def test_a_wrongly_typed_cell_is_refused_by_field_never_echoed() -> None:
    flat = flatten(sample_json())
    flat["persons.0.age_years"] = f"thirty {NAME}"
    verdict = one_row(flat)
    assert isinstance(verdict, Refused)
    assert verdict.reason_class == "schema" and "persons.0.age_years" in verdict.reason
    assert NAME not in verdict.reason


def test_a_row_whose_cells_do_not_match_the_header_is_refused() -> None:
    flat = flatten(sample_json())
    data = csv_file(list(flat), [cell(v) for v in flat.values()] + [NAME])
    (line,) = read_lines(data, "csv", BIG)
    verdict = classify(line)
    assert isinstance(verdict, Refused) and verdict.reason_class == "csv_shape"
    assert NAME not in verdict.reason


def test_csv_line_numbers_are_where_each_row_starts() -> None:
    flat = flatten(sample_json())
    flat["summary"] = "two\nlines"
    row = [cell(v) for v in flat.values()]
    data = csv_file(list(flat), row, [], row)  # a quoted newline, a blank row
    assert [line.number for line in read_lines(data, "csv", BIG)] == [2, 5]


def test_a_byte_order_mark_is_not_part_of_the_first_column() -> None:
    flat = flatten(sample_json())
    data = b"\xef\xbb\xbf" + csv_file(list(flat), [cell(v) for v in flat.values()])
    (line,) = read_lines(data, "csv", BIG)
    assert isinstance(classify(line), Accepted)


def test_a_csv_file_without_a_header_or_broken_quoting_is_unreadable() -> None:
    with pytest.raises(Unreadable, match="no header"):
        read_lines(b"\n\n", "csv", BIG)
    with pytest.raises(Unreadable, match="not CSV"):
        read_lines(b'incident_id\n"X"Y\n', "csv", BIG)


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("batch.jsonl", "jsonl"),
        ("batch.NDJSON", "jsonl"),
        ("batch.csv", "csv"),
        ("batch.jsonl.partial", None),
        ("batch.csv.tmp", None),
        (".batch.jsonl", None),
        ("batch.json", None),
        ("batch.jsonl.receipt.json", None),
    ],
)
def test_only_complete_batch_names_are_picked_up(name: str, kind: str | None) -> None:
    assert kind_of(name) == kind


def test_json_lines_are_numbered_as_in_the_file_blank_ones_skipped() -> None:
    good = sample_incident().model_dump_json(by_alias=True).encode()
    data = good + b"\n\n  \r\n" + good.replace(b"Verbal", b"Verbal\xe2\x80\xa8") + b"\r\n"
    lines = read_lines(data, "jsonl", BIG)
    assert [line.number for line in lines] == [1, 4]  # U+2028 inside a string splits nothing
    assert all(isinstance(classify(line), Accepted) for line in lines)


def test_malformed_json_lines_are_refused_without_their_content() -> None:
    data = f"victim {NAME} NHS {NHS}\n{{}}\n".encode()
    verdicts = [classify(line) for line in read_lines(data, "jsonl", BIG)]
    assert [(v.number, getattr(v, "reason_class", None)) for v in verdicts] == [
        (1, "not_json"),
        (2, "schema"),
    ]
    for verdict in verdicts:
        assert isinstance(verdict, Refused)
        assert NAME not in verdict.reason and NHS not in verdict.reason


@pytest.mark.parametrize("kind", ["jsonl", "csv"])
def test_a_file_that_is_not_utf8_or_too_big_is_unreadable(kind: Any) -> None:
    with pytest.raises(Unreadable, match=r"not UTF-8 text \(byte 3\)"):
        read_lines(b"abc\xff\n", kind, BIG)
    with pytest.raises(Unreadable, match="over the limit of 3"):
        read_lines(b"abcd", kind, 3)
