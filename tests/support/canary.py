"""Canary families and incidents for the whole-system canary test, and the scan for them.

Every planted piece of personal data (names, dates of birth, expected delivery dates,
addresses, postcodes, NHS numbers, narratives) is a canary: a value that cannot occur
by chance. Identifiers (incident ids, subject and person refs) are plain, since references
are allowed in logs, receipts and the audit log's envelopes; so any "canary" found is
personal data that leaked. A hit is reported as the canary and where it was found, never
with the text around it.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

NOW = datetime.now(UTC).replace(microsecond=0)
TODAY = NOW.date()
OWN_COUNCIL, OTHER_COUNCIL = "E09000014", "E09000033"
#: A username that is a canary: a person who types a name into the username box.
CANARY_USERNAME = "Zzcanaryusername Quillby"
#: A close reason a duty worker might type: it names the family.
CANARY_CLOSE_REASON = "Spoke to Canarymum Zzcanaryvole at 17 Canaryquill Lane; safe."


@dataclass(frozen=True)
class Family:
    """A register family: a child under one or an unborn child, its mother, their home."""

    key: str
    council: str
    kind: str  # "child" or "unborn"
    subject_ref: str
    carer_ref: str
    child_given: str
    family_name: str
    mother_given: str
    mother_dob: str
    mother_nhs: str
    child_nhs: str | None
    child_dob: str | None
    due_date: str | None
    street: str
    postcode: str

    @property
    def home(self) -> dict[str, Any]:
        """Their address (the incident happens there)."""
        return {"lines": [self.street], "town": "Canarytown", "postcode": self.postcode}


def _day(days: int) -> str:
    return (TODAY + timedelta(days=days)).isoformat()


#: Where each family's incident comes in: ingress, file drop (JSONL, CSV), `dvtrigger publish`.
FAMILIES = (
    Family(
        "ingress", OWN_COUNCIL, "child", "S9700001", "H9700001", "Canaryqzx", "Zzcanaryvole",
        "Canarymum", "1994-03-17", "4010232137", "4029384757", _day(-40), None,
        "17 Canaryquill Lane", "ZZ9 9CQ",
    ),
    Family(
        "jsonl", OWN_COUNCIL, "unborn", "U9700002", "H9700002", "", "Zzcanarywren",
        "Canarypreg", "1997-08-29", "4038475611", None, None, _day(73),
        "2 Canarywren Court", "ZZ8 8CW",
    ),
    Family(
        "csv", OWN_COUNCIL, "child", "S9700003", "H9700003", "Canarybub", "Zzcanarylark",
        "Canarylarkmum", "1991-01-23", "4010232145", "4010232153", _day(-95), None,
        "5 Canarylark Rise", "ZZ7 7CL",
    ),
    Family(
        "publish", OTHER_COUNCIL, "child", "S9700004", "H9700004", "Canarymite", "Zzcanarymoth",
        "Canarymothmum", "1989-11-05", "4010232161", "4010232188", _day(-201), None,
        "9 Canarymoth Walk", "ZZ6 6CM",
    ),
)  # fmt: skip


def canaries() -> tuple[str, ...]:
    """Every planted value; "canary" (any case) covers names, streets, towns and narratives."""
    found: set[str] = {"canary", CANARY_USERNAME}
    for f in FAMILIES:
        found |= {f.postcode, f.postcode.replace(" ", ""), f.mother_nhs, f.mother_dob}
        found.add(_dmy(f.mother_dob))
        for value in (f.child_nhs, f.child_dob, f.due_date):
            if value:
                found.add(value)
        for value in (f.child_dob, f.due_date):
            if value:
                found.add(_dmy(value))
        for nhs in (f.mother_nhs, f.child_nhs):
            if nhs:
                found.add(f"{nhs[:3]} {nhs[3:6]} {nhs[6:]}")
    return tuple(sorted(found))


def _dmy(iso: str) -> str:
    return date.fromisoformat(iso).strftime("%d/%m/%Y")


CANARIES = canaries()


def canaries_in(text: str) -> list[str]:
    """The canaries `text` holds (case-insensitive)."""
    haystack = text.casefold()
    return [c for c in CANARIES if c.casefold() in haystack]


def scan_text(place: str, text: str) -> list[str]:
    """`place:line: canary` for each line of `text` holding a canary (never the line itself)."""
    return [
        f"{place}:{number}: {canary!r}"
        for number, line in enumerate(text.splitlines(), start=1)
        for canary in canaries_in(line)
    ]


def scan_files(paths: Iterable[Path], root: Path) -> list[str]:
    """`scan_text` over files, named relative to `root`."""
    hits: list[str] = []
    for path in paths:
        text = path.read_bytes().decode("utf-8", errors="replace")
        hits += scan_text(str(path.relative_to(root)), text)
    return hits


def register_event(f: Family) -> dict[str, Any]:
    """The register event that brings family `f` into scope."""
    subject: dict[str, Any] = {"subject_ref": f.subject_ref, "kind": f.kind}
    if f.kind == "child":
        subject |= {"given_name": f.child_given, "family_name": f.family_name}
        subject |= {"date_of_birth": f.child_dob, "nhs_number": f.child_nhs}
    else:
        subject["expected_delivery_date"] = f.due_date
    return {
        "schema": "register-event/1",
        "event_id": str(uuid.uuid4()),
        "source": "child_health" if f.kind == "child" else "maternity",
        "local_authority": f.council,
        "recorded_at": (NOW - timedelta(hours=2)).isoformat(),
        "type": "birth_registered" if f.kind == "child" else "pregnancy_registered",
        "effective_date": f.child_dob or _day(-120),
        "subject": subject,
        "carers": [
            {
                "person_ref": f.carer_ref,
                "relationship": "mother",
                "given_name": f.mother_given,
                "family_name": f.family_name,
                "date_of_birth": f.mother_dob,
                "nhs_number": f.mother_nhs,
            }
        ],
        "address": f.home,
    }


def incident_id(f: Family) -> str:
    """The (plain) incident id of family `f`'s incident."""
    return f"MPS-2026-97{FAMILIES.index(f):04d}"


def incident(f: Family) -> dict[str, Any]:
    """An incident at family `f`'s home: the mother a victim, with a canary narrative."""
    reported = NOW - timedelta(seconds=30)
    mother = {
        "person_ref": "P1",
        "role": "victim",
        "given_name": f.mother_given,
        "family_name": f.family_name,
        "date_of_birth": f.mother_dob,
        "address": f.home,
        "nhs_number": f.mother_nhs,
    }
    suspect = {"person_ref": "P2", "role": "suspect", "given_name": "Canarydad"}
    return {
        "schema": "police-incident/1",
        "notification_id": str(uuid.uuid4()),
        "incident_id": incident_id(f),
        "force": "MPS",
        "revision": 1,
        "occurred_at": (reported - timedelta(minutes=20)).isoformat(),
        "reported_at": reported.isoformat(),
        "location": f.home,
        "dash_risk": "high",
        "persons": [mother, suspect],
        "summary": f"Canarynarrative: {f.mother_given} {f.family_name} hurt at {f.street}.",
    }


def family(key: str) -> Family:
    """The family whose incident comes in by `key`."""
    return next(f for f in FAMILIES if f.key == key)


def jsonl(messages: Iterable[dict[str, Any] | str]) -> str:
    """JSON lines; a str is written as it is (a malformed line)."""
    return "".join((m if isinstance(m, str) else json.dumps(m)) + "\n" for m in messages)


def _flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted paths to leaves, as the CSV layout's header names them."""
    if isinstance(node, dict):
        items: Iterable[tuple[str, Any]] = node.items()
    elif isinstance(node, list):
        items = ((str(i), v) for i, v in enumerate(node))
    else:
        return {prefix: node}
    out: dict[str, Any] = {}
    for key, value in items:
        out |= _flatten(value, f"{prefix}.{key}" if prefix else key)
    return out


def csv_text(messages: list[dict[str, Any]]) -> str:
    """The messages as CSV, one row each, with dotted-path headers."""
    rows = [_flatten(m) for m in messages]
    header = sorted({k for row in rows for k in row})
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        cells = [row.get(k) for k in header]
        writer.writerow(
            ["" if c is None else str(c).lower() if isinstance(c, bool) else c for c in cells]
        )
    return out.getvalue()
