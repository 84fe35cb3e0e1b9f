"""The compact form of subject records: every record reads back equal, and bad bytes say so."""

from __future__ import annotations

import zlib
from datetime import UTC, date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.domain.register.codec import (
    COMPRESSED,
    DICTIONARY,
    FORMAT,
    UnreadableRecord,
    decode,
    encode,
)
from streams.domain.register.records import (
    AddressSpan,
    CarerRecord,
    Place,
    PregnancyEnd,
    SubjectRecord,
)
from tests.support.fakes import birth, moved, register_event, register_of

TEXT = st.text(max_size=12)
MAYBE = st.none() | TEXT
DAYS = st.dates(date(1900, 1, 1), date(2100, 12, 31))
TEXTS = st.lists(TEXT, max_size=3).map(tuple)

places = st.builds(Place, uprn=MAYBE, lines=TEXTS, town=MAYBE, postcode=MAYBE)
carers = st.builds(
    CarerRecord,
    person_ref=TEXT,
    relationships=TEXTS,
    given_names=TEXTS,
    family_names=TEXTS,
    dates_of_birth=st.lists(DAYS, max_size=2).map(tuple),
    nhs_numbers=TEXTS,
)
records = st.builds(
    SubjectRecord,
    subject_ref=TEXT,
    kind=st.sampled_from(["child", "unborn"]),
    local_authority=MAYBE,
    given_name=MAYBE,
    family_name=MAYBE,
    date_of_birth=st.none() | DAYS,
    expected_delivery_date=st.none() | DAYS,
    nhs_number=MAYBE,
    from_pregnancy_ref=MAYBE,
    registered_on=st.none() | DAYS,
    pregnancy_end=st.none()
    | st.builds(PregnancyEnd, on=DAYS, outcome=st.sampled_from([None, "live_birth", "loss"])),
    withdrawn_on=st.none() | DAYS,
    addresses=st.lists(st.builds(AddressSpan, effective_from=DAYS, address=places), max_size=3).map(
        tuple
    ),
    carers=st.lists(carers, max_size=3).map(tuple),
    event_ids=TEXTS,
    last_event_id=MAYBE,
    last_recorded_at=st.none() | st.datetimes(timezones=st.just(UTC)),
)


@given(records)
def test_every_record_reads_back_equal(record: SubjectRecord) -> None:
    assert decode(encode(record)) == record


def test_a_folded_record_reads_back_equal_and_is_smaller_than_its_json_object() -> None:
    register = register_of(birth("C1"), moved("C1", "2026-05-01"))
    record = register.get("C1")
    assert record is not None and len(record.addresses) == 2
    assert decode(encode(record)) == record
    assert len(encode(record)) < 0.5 * len(record.model_dump_json())


def test_an_uncompressed_row_is_read_too() -> None:
    record = register_of(birth("C1")).get("C1")
    assert record is not None
    inflate = zlib.decompressobj(-15, DICTIONARY)
    row = inflate.decompress(encode(record)[1:]) + inflate.flush()
    assert row.startswith(b"[%d," % FORMAT)
    assert decode(row) == record


def test_the_older_json_object_form_is_still_read() -> None:
    record = register_of(register_event("U1", "pregnancy_registered", "unborn")).get("U1")
    assert record is not None
    assert decode(record.model_dump_json().encode()) == record


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not json",
        b"[]",
        b'[9, "C1"]',
        b'[2, "C1", "adult"]',
        b'{"subject_ref": "C1"}',
        encode(SubjectRecord(subject_ref="C1", kind="child"))[:-5],
        COMPRESSED + b"not deflate",
    ],
)
def test_bytes_that_are_no_record_raise_unreadable(data: bytes) -> None:
    with pytest.raises(UnreadableRecord):
        decode(data)


def test_the_error_names_no_value_of_the_record() -> None:
    row = b'[2,"C1","martian",null,"Zebedee"' + b",null" * 8 + b",[],[],[],null,null]"
    with pytest.raises(UnreadableRecord) as raised:
        decode(row)
    assert "Zebedee" not in str(raised.value) and "martian" not in str(raised.value)


def test_the_compact_form_leads_with_its_marker_byte() -> None:
    assert encode(SubjectRecord(subject_ref="C1", kind="child")).startswith(COMPRESSED)
