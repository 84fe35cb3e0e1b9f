"""The audit chains of a directory checked against their heads, and queried by reference."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connectors.audit.file import HEAD, SUFFIX, chains, lines_of, read, read_head
from streams.domain.audit import Head, Problem, Record, parse, verify


@dataclass
class Checked:
    """What verifying a directory found."""

    chains: int
    records: int
    problems: list[Problem]


def verify_directory(directory: Path | str) -> Checked:
    """Verify every chain of a directory against its head; a head with no chain is a problem."""
    root, checked = Path(directory), Checked(0, 0, [])
    for name in chains(root):
        path = root / f"{name}{SUFFIX}"
        records, problems = parse(str(path), lines_of(path))
        head = _head_or_problem(root, name, problems)
        checked.problems += problems + verify(records, name, head)
        checked.chains, checked.records = checked.chains + 1, checked.records + len(records)
    for orphan in root.glob(f"*{HEAD}"):
        if not (root / f"{orphan.stem}{SUFFIX}").exists():
            checked.problems.append(Problem(str(orphan), None, None, "a head with no chain"))
    return checked


def _head_or_problem(root: Path, name: str, problems: list[Problem]) -> Head | None:
    """The chain's head; a missing or unreadable one is noted in `problems`."""
    path = root / f"{name}{HEAD}"
    try:
        head = read_head(path)
    except (ValueError, KeyError):
        problems.append(Problem(str(path), None, None, "unreadable head"))
        return None
    if head is None:
        problems.append(Problem(str(path), None, None, "missing head"))
    return head


def query(
    directory: Path | str,
    *,
    person: str | None = None,
    task: str | None = None,
    user: str | None = None,
    incident: str | None = None,
) -> list[Record]:
    """The records matching every criterion given (by reference; `user` is the actor's name)."""

    def matches(record: Record) -> bool:
        refs: dict[str, Any] = record.get("refs") or {}
        people = [*refs.get("person", []), *refs.get("subject", []), *refs.get("candidate", [])]
        return (
            (person is None or person in people)
            and (task is None or task in refs.get("task", []))
            and (incident is None or incident in refs.get("incident", []))
            and (
                user is None
                or record.get("actor") == f"user:{user}"
                or user in refs.get("user", [])
            )
        )

    return [item.record for item in read(directory) if matches(item.record)]
