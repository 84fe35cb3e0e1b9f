"""The audit chain's rule, pure: each kind of tampering is found, and named where it is."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.domain.audit import (
    GENESIS,
    RETENTION,
    Head,
    Located,
    Problem,
    canonical,
    digest,
    parse,
    purged,
    record_hash,
    seal,
    sealed,
    verify,
)
from streams.domain.ports.audit import AuditEvent

FILE = "decide.jsonl"
AT = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def event(n: int, kind: str = "decision") -> AuditEvent:
    return AuditEvent(
        kind=kind,  # type: ignore[arg-type]
        at=AT + timedelta(minutes=n),
        actor="system:decide",
        action="decided",
        refs={"incident": [f"MPS-2026-{n:06d}"]},
        detail={"incident": {"persons": [{"given_name": "Imelda"}]}, "n": n},
    )


def chain(count: int = 5) -> list[dict[str, Any]]:
    records, prev = [], GENESIS
    for n in range(1, count + 1):
        record = seal(event(n), "decide", n, prev)
        records.append(record)
        prev = record["hash"]
    return records


def located(records: list[dict[str, Any]]) -> list[Located]:
    """The records as a file holds them, one a line from line 1."""
    return [Located(FILE, line, record) for line, record in enumerate(records, start=1)]


def head_of(records: list[dict[str, Any]]) -> Head:
    return Head(records[-1]["seq"], records[-1]["hash"])


def problems(records: list[dict[str, Any]], head: Head | None = None) -> list[tuple[Any, ...]]:
    return [(p.line, p.seq, p.what.split(":")[0]) for p in verify(located(records), "decide", head)]


def test_canonical_json_sorts_keys_has_no_whitespace_and_is_utf8() -> None:
    assert canonical({"b": 1, "a": ["é", None]}) == '{"a":["é",null],"b":1}'.encode()
    assert canonical({"at": AT}) == b'{"at":"2026-12-03T09:00:00Z"}'
    with pytest.raises(ValueError):
        canonical({"x": float("nan")})


def test_a_whole_chain_verifies_against_its_head() -> None:
    records = chain()
    assert problems(records, head_of(records)) == []
    assert records[0]["prev"] == GENESIS
    assert all(r["prev"] == p["hash"] for p, r in itertools.pairwise(records))


def test_a_record_s_hash_covers_prev_and_the_envelope_not_the_detail() -> None:
    record = chain(1)[0]
    assert record["hash"] == record_hash(GENESIS, record)
    assert record["detail_digest"] == digest(record["detail"])
    assert record_hash(GENESIS, {**record, "detail": None}) == record["hash"]
    assert record_hash(GENESIS, {**record, "actor": "user:mallory"}) != record["hash"]


@pytest.mark.parametrize("field", ["actor", "action", "at", "reason", "kind", "origin"])
def test_a_changed_envelope_field_is_a_hash_mismatch_at_its_line(field: str) -> None:
    records = chain()
    records[2] = {**records[2], field: "changed"}
    assert problems(records, head_of(records)) == [(3, 3, "hash mismatch")]


def test_a_changed_reference_is_a_hash_mismatch() -> None:
    records = chain()
    records[1] = {**records[1], "refs": {"incident": ["MPS-2026-999999"]}}
    assert problems(records) == [(2, 2, "hash mismatch")]


def test_a_changed_record_whose_hash_is_recomputed_breaks_the_next_prev() -> None:
    records = chain()
    forged = {**records[1], "actor": "user:mallory"}
    records[1] = {**forged, "hash": record_hash(forged["prev"], forged)}
    assert problems(records, head_of(records)) == [(3, 3, "prev mismatch")]


def test_a_changed_detail_is_a_digest_mismatch() -> None:
    records = chain()
    records[3] = {**records[3], "detail": {**records[3]["detail"], "n": 99}}
    assert problems(records, head_of(records)) == [(4, 4, "detail digest mismatch")]


def test_a_removed_middle_record_is_a_seq_gap_and_a_prev_mismatch() -> None:
    records = chain()
    del records[2]
    assert problems(records, head_of(chain())) == [(3, 4, "seq gap"), (3, 4, "prev mismatch")]


def test_a_removed_last_record_is_found_by_the_head_only() -> None:
    whole = chain()
    cut = whole[:-1]
    assert problems(cut) == []  # the chain alone cannot tell
    assert problems(cut, head_of(whole)) == [(4, 5, "records missing at the end")]


def test_a_removed_last_record_with_its_head_rewritten_is_not_found() -> None:
    """The limit of a local head: an external anchor would find this."""
    cut = chain()[:-1]
    assert problems(cut, head_of(cut)) == []


def test_an_inserted_forged_record_is_found() -> None:
    records = chain()
    forged = seal(event(42), "decide", 3, records[1]["hash"])  # well made, in the right place
    records.insert(2, forged)
    found = problems(records, head_of(chain()))
    assert (4, 3, "seq out of order") in found and (4, 3, "prev mismatch") in found
    assert all(line != 3 for line, _, _ in found)  # the forged one itself chains well


def test_two_swapped_records_are_found_where_they_are() -> None:
    records = chain()
    records[1], records[2] = records[2], records[1]
    found = problems(records, head_of(chain()))
    assert (2, 3, "seq gap") in found and (2, 3, "prev mismatch") in found
    assert (3, 2, "seq out of order") in found and (3, 2, "prev mismatch") in found


def test_a_record_moved_from_another_chain_is_a_chain_mismatch() -> None:
    records = chain()
    records[0] = {**records[0], "chain": "duty-inbox"}
    assert (1, 1, "chain mismatch") in problems(records)


def test_a_purged_detail_still_verifies_when_a_retention_record_follows() -> None:
    records = chain()
    records[1] = purged(records[1])
    retention = seal(event(6, RETENTION), "decide", 6, records[-1]["hash"])
    records.append(retention)
    assert problems(records, head_of(records)) == []


def test_a_detail_removed_without_retention_is_found() -> None:
    records = chain()
    records[1] = purged(records[1])
    assert problems(records) == [(2, 2, "purged detail with no retention record")]
    records[2] = {**records[2], "detail": None}
    assert (3, 3, "detail missing and not marked purged") in problems(records)


def test_an_extra_field_is_found() -> None:
    records = chain()
    records[0] = {**records[0], "note": "harmless?"}
    assert problems(records) == [(1, 1, "unexpected fields")]


def test_unreadable_lines_are_named_by_line() -> None:
    lines = [canonical(r).decode() for r in chain(2)]
    read, found = parse(FILE, [lines[0], "{not json", "", "[1]", lines[1]])
    assert [item.line for item in read] == [1, 5]
    assert found == [
        Problem(FILE, 2, None, "unreadable line"),
        Problem(FILE, 4, None, "unreadable line"),
    ]
    assert str(found[0]) == f"{FILE}:2: unreadable line"


def test_a_problem_names_file_line_and_seq() -> None:
    assert str(Problem(FILE, 3, 3, "hash mismatch")) == f"{FILE}:3: seq 3: hash mismatch"


@given(st.integers(0, 5), st.integers(0, 5))
def test_any_single_swap_or_removal_is_found(i: int, j: int) -> None:
    whole = chain(6)
    records = list(whole)
    if i == j:
        del records[i]
    else:
        records[i], records[j] = records[j], records[i]
    assert problems(records, head_of(whole)) != []


def test_a_sealed_line_is_the_canonical_json_of_its_record() -> None:
    tricky = AuditEvent(
        kind="override",
        at=AT,
        actor='user:"detail_digest":',
        action="overrode",
        reason='said "detail_digest": no',
        refs={"detail_digest": ["x"]},
        detail={"detail_digest": '"detail_digest":', "é": [1.5, None]},
    )
    record, line = sealed(tricky, "decide", 1, GENESIS)
    assert line == canonical(record)
    assert problems([record]) == []
