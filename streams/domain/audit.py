"""The audit chain's rule, pure: canonical JSON, how a record is sealed, and how a chain verifies.

A record is an *envelope* (`ENVELOPE`: seq, chain, kind, at, actor, action, origin,
reason, refs and `detail_digest`, the SHA-256 of the canonical detail), the hash of
the record before it (`prev`; the first record's is `GENESIS`) and its own `hash`,
SHA-256 over `prev` and the canonical envelope. The detail is stored beside the
envelope, not hashed into it directly: retention may replace it by null (and mark the
record `purged`), and the chain still verifies; a detail that is present and changed
no longer matches its digest.

The chain alone cannot tell that its last records were cut off, so each chain has a
*head* (the last seq and hash, written after each append): a chain shorter than its
head is missing records. Neither protects against someone who can rewrite both the
chain and its head and recompute every hash: only a copy of the heads kept elsewhere
(an external anchor) does.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic_core import to_jsonable_python

from streams.domain.ports.audit import AuditEvent

#: The `prev` of a chain's first record.
GENESIS = "0" * 64
#: The envelope's fields: what each record's hash covers (with `prev`).
ENVELOPE = (
    "seq",
    "chain",
    "kind",
    "at",
    "actor",
    "action",
    "origin",
    "reason",
    "refs",
    "detail_digest",
)
#: Every field a stored record may have.
FIELDS = frozenset((*ENVELOPE, "prev", "hash", "detail", "purged"))
#: The kind of record retention leaves when it purges details (it accounts for them).
RETENTION = "retention"

Record = dict[str, Any]


def canonical(value: Any) -> bytes:
    """Canonical JSON: sorted keys, no whitespace, UTF-8, no NaN (dates as ISO 8601)."""
    return _dumps(to_jsonable_python(value))


def _dumps(value: Any) -> bytes:
    """Canonical JSON of a value made of JSON's own types only."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def digest(value: Any) -> str:
    """SHA-256 (hex) of the canonical JSON of `value`."""
    return hashlib.sha256(canonical(value)).hexdigest()


def envelope(record: Record) -> Record:
    """The hashed part of a record."""
    return {name: record.get(name) for name in ENVELOPE}


def record_hash(prev: str, record: Record) -> str:
    """The hash of a record: SHA-256 over the previous hash and the canonical envelope."""
    return hashlib.sha256(prev.encode() + canonical(envelope(record))).hexdigest()


def seal(event: AuditEvent, chain: str, seq: int, prev: str) -> Record:
    """The stored record of `event`: envelope, detail, `prev` and `hash`."""
    return sealed(event, chain, seq, prev)[0]


def sealed(event: AuditEvent, chain: str, seq: int, prev: str) -> tuple[Record, bytes]:
    """The stored record of `event` and its canonical JSON, the detail serialised once.

    The detail is spliced in before `"detail_digest":`: keys are sorted, so that
    is where it goes, and the first place those bytes occur (before it are only
    `action`, `actor`, `at` and `chain`, whose quotes inside strings are escaped).
    """
    detail = to_jsonable_python(event.detail)
    detail_json = _dumps(detail)
    record: Record = {
        "seq": seq,
        "chain": chain,
        "kind": event.kind,
        "at": event.at.isoformat(),
        "actor": event.actor,
        "action": event.action,
        "origin": event.origin,
        "reason": event.reason,
        "refs": {key: list(values) for key, values in event.refs.items()},
        "detail_digest": hashlib.sha256(detail_json).hexdigest(),
    }
    record["prev"] = prev
    record["hash"] = record_hash(prev, record)
    line = _dumps(record).replace(
        b'"detail_digest":', b'"detail":' + detail_json + b',"detail_digest":', 1
    )
    record["detail"] = detail
    return record, line


def purged(record: Record) -> Record:
    """The record with its detail removed by retention: envelope, prev and hash unchanged."""
    return {**record, "detail": None, "purged": True}


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a chain: where (file, line, seq) and what."""

    file: str
    line: int | None
    seq: int | None
    what: str

    def __str__(self) -> str:
        """`file:line: seq N: what`."""
        line = f":{self.line}" if self.line is not None else ""
        seq = f" seq {self.seq}:" if self.seq is not None else ""
        return f"{self.file}{line}:{seq} {self.what}"


@dataclass(frozen=True, slots=True)
class Located:
    """A record as read, with the file and line it came from."""

    file: str
    line: int
    record: Record


@dataclass(frozen=True, slots=True)
class Head:
    """The last record of a chain as its writer last knew it."""

    seq: int
    hash: str


def parse(file: str, lines: Iterable[str]) -> tuple[list[Located], list[Problem]]:
    """The records of a chain file's lines; a line that is not a JSON object is a problem."""
    records, problems = [], []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError:
            problems.append(Problem(file, number, None, "unreadable line"))
            continue
        if not isinstance(value, dict):
            problems.append(Problem(file, number, None, "unreadable line"))
            continue
        records.append(Located(file, number, value))
    return records, problems


def verify(records: Sequence[Located], chain: str, head: Head | None = None) -> list[Problem]:
    """Every problem of one chain's records, in file order, and against its head if known.

    After a problem the check goes on from the record as it stands, so each
    change is named where it is: a changed record by its hash or detail digest,
    a removed one by a seq gap and the next record's prev, an inserted or
    reordered one by seq and prev, cut-off records by the head.
    """
    problems: list[Problem] = []
    expected_seq, prev = 1, GENESIS
    for item in records:
        problems.extend(_check(item, chain, expected_seq, prev))
        seq = item.record.get("seq")
        expected_seq = seq + 1 if isinstance(seq, int) else expected_seq + 1
        prev = str(item.record.get("hash"))
    problems.extend(_check_head(records, head))
    problems.extend(_check_purges(records))
    return problems


def _check(item: Located, chain: str, expected_seq: int, prev: str) -> list[Problem]:
    """The problems of one record, given the seq and prev that the record before it implies."""
    record, found = item.record, []
    seq = record.get("seq")
    where = partial_problem(item, seq if isinstance(seq, int) else None)
    if set(record) - FIELDS:
        found.append(where("unexpected fields"))
    if record.get("chain") != chain:
        found.append(where(f"chain mismatch: expected {chain}"))
    if not isinstance(seq, int) or seq != expected_seq:
        gap = isinstance(seq, int) and seq > expected_seq
        found.append(where(f"seq {'gap' if gap else 'out of order'}: expected {expected_seq}"))
    if record.get("prev") != prev:
        found.append(where("prev mismatch: not the hash of the record before"))
    if record_hash(str(record.get("prev")), record) != record.get("hash"):
        found.append(where("hash mismatch: the envelope was changed"))
    detail = record.get("detail")
    if detail is None:
        if not record.get("purged"):
            found.append(where("detail missing and not marked purged"))
    elif digest(detail) != record.get("detail_digest"):
        found.append(where("detail digest mismatch: the detail was changed"))
    return found


def partial_problem(item: Located, seq: int | None) -> Any:
    """A maker of problems at one record's place."""
    return lambda what: Problem(item.file, item.line, seq, what)


def _check_head(records: Sequence[Located], head: Head | None) -> list[Problem]:
    """Problems of the chain's end against its head: records cut off, or appended after it."""
    if head is None:
        return []
    file = records[-1].file if records else "(empty chain)"
    last = records[-1] if records else None
    last_seq = last.record.get("seq") if last else 0
    at_head = [r for r in records if r.record.get("seq") == head.seq]
    if not isinstance(last_seq, int) or last_seq < head.seq:
        line = last.line if last else None
        what = f"records missing at the end: the head names seq {head.seq}, the chain ends at"
        return [Problem(file, line, head.seq, f"{what} {last_seq}")]
    if not at_head or at_head[-1].record.get("hash") != head.hash:
        return [Problem(file, None, head.seq, "head mismatch: not the hash of that record")]
    if last_seq > head.seq:
        assert last is not None
        what = "records after the head (a crash before the head was written, or forged)"
        return [Problem(file, last.line, last_seq, what)]
    return []


def _check_purges(records: Sequence[Located]) -> list[Problem]:
    """A purged detail that no later retention record accounts for."""
    retained = [r.line for r in records if r.record.get("kind") == RETENTION]
    last_retention = max(retained, default=0)
    return [
        Problem(r.file, r.line, r.record.get("seq"), "purged detail with no retention record")
        for r in records
        if r.record.get("purged") and r.line > last_retention
    ]
