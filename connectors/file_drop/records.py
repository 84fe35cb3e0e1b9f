"""A dropped file's content: its digest, its numbered lines, and each line's verdict.

Pure: bytes in, values out. A file is read whole before anything is sent, so a
file that cannot be read (too big, not UTF-8, a CSV header naming no field of
the contract) is refused as a whole with nothing published. Reasons name
fields, types, sizes and positions, never the content.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from connectors.file_drop import csv_layout
from connectors.kafka.publish import keyed
from streams.domain.parsing import MAX_MESSAGE_BYTES, Rejected

Kind = Literal["jsonl", "csv"]
#: File name endings the drop picks up, and how each is read; any other name is ignored.
KINDS: dict[str, Kind] = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}


class Unreadable(Exception):
    """A file that cannot be read as a batch; the message says why, without its content."""


@dataclass(frozen=True)
class Line:
    """One non-blank line (a CSV row: its first line) as the message it stands for."""

    number: int
    value: bytes
    problem: Rejected | None = None


@dataclass(frozen=True)
class Accepted:
    """A line that is a valid police-incident/1 message: published, keyed by incident id."""

    number: int
    value: bytes
    incident_id: str


@dataclass(frozen=True)
class Refused:
    """A line that is not: dead-lettered with its reason (never its content)."""

    number: int
    value: bytes
    reason_class: str
    reason: str


def digest(data: bytes) -> str:
    """A file's identity: the SHA-256 of its content, in hex."""
    return hashlib.sha256(data).hexdigest()


def kind_of(name: str) -> Kind | None:
    """How a file of this name is read; None: not a batch (e.g. `*.partial`, `*.tmp`)."""
    if name.startswith("."):
        return None
    for ending, kind in KINDS.items():
        if name.lower().endswith(ending):
            return kind
    return None


def read_lines(data: bytes, kind: Kind, max_bytes: int) -> list[Line]:
    """Every non-blank line of a file; raises `Unreadable` for a file that is no batch."""
    if len(data) > max_bytes:
        raise Unreadable(f"file is {len(data)} bytes, over the limit of {max_bytes}")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as bad:
        raise Unreadable(f"not UTF-8 text (byte {bad.start})") from None
    if kind == "jsonl":
        return [
            Line(number, line.strip().encode())
            for number, line in enumerate(
                text.split("\n"), start=1
            )  # not splitlines: JSON may hold U+2028
            if line.strip()
        ]
    return _csv_lines(text)


def _csv_lines(text: str) -> list[Line]:
    """The rows of a CSV file (header first) as police-incident/1 messages."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        rows = []
        start = 1
        for row in reader:
            rows.append((start, row))
            start = reader.line_num + 1
    except csv.Error:
        raise Unreadable(f"not CSV (line {reader.line_num})") from None
    rows = [(n, row) for n, row in rows if any(cell.strip() for cell in row)]
    if not rows:
        raise Unreadable("CSV file has no header row")
    try:
        layout = csv_layout.columns(rows[0][1])
    except csv_layout.BadHeader as bad:
        raise Unreadable(f"CSV header: {bad}") from None
    return [_csv_line(number, layout, row) for number, row in rows[1:]]


def _csv_line(number: int, layout: Sequence[csv_layout.Column], row: list[str]) -> Line:
    """One CSV row as a message; a row whose cells do not match the header is a problem."""
    value = json.dumps(csv_layout.message(layout, row), ensure_ascii=False).encode()
    if len(row) != len(layout):
        detail = f"row has {len(row)} cells, the header {len(layout)}"
        return Line(number, value, Rejected("csv_shape", detail))
    return Line(number, value)


def classify(line: Line) -> Accepted | Refused:
    """Validate one line against the contract, as the publisher does (`keyed`)."""
    if line.problem is not None:
        return _refused(line, line.problem)
    try:
        key = keyed("incidents", line.value)
    except Rejected as rejected:
        return _refused(line, rejected)
    return Accepted(line.number, line.value, key.decode())


def _refused(line: Line, rejected: Rejected) -> Refused:
    """A refusal; an oversize value is not kept (no broker would take it)."""
    value = b"" if len(line.value) > MAX_MESSAGE_BYTES else line.value
    return Refused(line.number, value, rejected.reason_class, rejected.detail)
