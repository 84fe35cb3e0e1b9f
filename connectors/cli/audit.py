"""`dvtrigger audit`: verify the audit chains, query them, explain a decision, purge details.

What it prints is references, outcomes, reason codes and scores: never a name,
date of birth or address, even when a record's detail holds them.
"""

from __future__ import annotations

import argparse
import getpass
import json
import socket
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from connectors.audit import AuditLogError, FileAuditLog, chains, query, read, verify_directory
from streams.domain.audit import envelope
from streams.domain.audit_decisions import Reproduction, reproduce
from streams.domain.config import RULES_VERSION, RulesConfig

#: Who a purge from the command line is accounted to (`origin`: the operator's login and host).
PURGER = "system:dvtrigger-audit-purge"


def cmd_verify(args: argparse.Namespace) -> int:
    """Verify every chain: 0 when whole, 1 naming each problem."""
    checked = verify_directory(args.dir)
    for problem in checked.problems:
        print(f"problem: {problem}")
    if not checked.chains:
        print(f"no audit chain in {args.dir}: nothing to verify")
        return 1
    whole = "whole" if not checked.problems else f"{len(checked.problems)} problems"
    print(f"{checked.records} records in {checked.chains} chains checked: {whole}")
    return 1 if checked.problems else 0


def cmd_query(args: argparse.Namespace) -> int:
    """Print the envelopes of the matching records, one JSON object a line."""
    found = query(
        args.dir, person=args.person, task=args.task, user=args.user, incident=args.incident
    )
    for record in found:
        chained = {"prev": record.get("prev"), "hash": record.get("hash")}
        shown = {**envelope(record), **chained, "purged": bool(record.get("purged"))}
        print(json.dumps(shown, sort_keys=True, ensure_ascii=False))
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    """Decide each recorded decision of an incident again; say whether today's rules agree."""
    from streams.config.settings import Settings

    today = Settings().rules
    records = [
        item.record
        for item in read(args.dir)
        if item.record.get("kind") == "decision"
        and args.incident in (item.record.get("refs") or {}).get("incident", [])
    ]
    if not records:
        print(f"no decision recorded for incident {args.incident}")
        return 1
    failed = False
    for record in records:
        failed |= not _explain_one(record, today)
    return 1 if failed else 0


def _explain_one(record: dict[str, Any], today: RulesConfig) -> bool:
    """Print one decision's explanation; False when its inputs do not give it again."""
    refs = record.get("refs") or {}
    print(
        f"{record['chain']}:{record['seq']} at {record['at']} {record['action']}:"
        f" incident {_one(refs, 'incident')} revision {_one(refs, 'revision')}"
        f" -> {_one(refs, 'outcome')} (rules {_one(refs, 'rules')}, input {_one(refs, 'input')})"
    )
    if record.get("detail") is None:
        print("  detail purged by retention: the inputs are gone; the envelope above remains")
        return True
    result = reproduce(record["detail"], today, RULES_VERSION)
    for line in _report(result):
        print(f"  {line}")
    return result.reproduced


def _one(refs: dict[str, list[str]], name: str) -> str:
    """A reference, or `-`."""
    values = refs.get(name) or ["-"]
    return ",".join(values)


def _report(result: Reproduction) -> list[str]:
    """The lines explaining one reproduction: outcomes, scores and reason codes; no names."""
    lines = [f"recorded: {result.recorded.decision}"]
    for subject in result.recorded.subjects:
        who = subject.subject_ref or subject.person_ref
        lines.append(f"  {subject.basis} {subject.kind} {who}: {subject.outcome} {subject.score}")
        lines.extend(f"    {reason}" for reason in subject.reasons)
    same = "yes" if result.reproduced else "NO: the recorded inputs give another decision"
    lines.append(f"reproduced from the recorded inputs and settings: {same}")
    today = "the same" if result.same_today else f"differently: {result.today.decision}"
    lines.append(f"today's rules ({result.today_version}) would decide {today}")
    if result.recorded_version != result.today_version:
        lines.append(f"  rules version then: {result.recorded_version}")
    if result.config_changed:
        lines.append(f"  settings changed since: {', '.join(result.config_changed)}")
    if not result.same_today:
        for subject in result.today.subjects:
            who = subject.subject_ref or subject.person_ref
            lines.append(f"  today {who}: {subject.outcome} {subject.score}")
    if result.misses:
        lines.append(f"  today's rules asked the register {result.misses} questions not recorded")
    return lines


def cmd_purge(args: argparse.Namespace) -> int:
    """Null the details of records before a date in every chain (not of `--keep` refs)."""
    before = datetime.combine(args.before, datetime.min.time(), tzinfo=UTC)
    keep = set(args.keep or [])
    origin = f"{getpass.getuser()}@{socket.gethostname()}"
    total = 0
    for name in chains(args.dir):
        try:
            with FileAuditLog(args.dir, name) as log:
                count = log.purge_details(before, keep, actor=PURGER, origin=origin)
        except AuditLogError as refused:
            print(f"{name}: not purged: {refused}", file=sys.stderr)
            return 1
        print(f"{name}: {count} details purged")
        total += count
    print(f"{total} details purged before {before.date().isoformat()}")
    return 0


def parser() -> argparse.ArgumentParser:
    """The audit subcommands."""
    p = argparse.ArgumentParser(prog="dvtrigger audit", description=__doc__)
    p.add_argument("--dir", type=Path, help="the audit directory (default: DATA_DIR/audit)")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("verify", help="verify every chain").set_defaults(func=cmd_verify)
    q = sub.add_parser("query", help="envelopes by reference, as JSON lines")
    who = q.add_mutually_exclusive_group(required=True)
    who.add_argument("--person", help="a person or subject reference")
    who.add_argument("--task", help="a task reference (task id or idempotency key)")
    who.add_argument("--user", help="a user name (the actor)")
    who.add_argument("--incident", help="an incident id")
    q.set_defaults(func=cmd_query)
    e = sub.add_parser("explain", help="decide an incident's recorded decisions again")
    e.add_argument("incident", help="the incident id")
    e.set_defaults(func=cmd_explain)
    purge = sub.add_parser("purge", help="retention: null the details of older records")
    purge.add_argument("--before", required=True, type=date.fromisoformat, help="YYYY-MM-DD")
    purge.add_argument("--keep", action="append", help="a reference whose details stay")
    purge.set_defaults(func=cmd_purge)
    for name in ("verify", "query", "explain", "purge"):
        sub.choices[name].add_argument("--dir", type=Path, default=argparse.SUPPRESS)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """`dvtrigger audit verify|query|explain|purge`."""
    args = parser().parse_args(argv)
    if args.dir is None:
        from streams.config.settings import Settings

        args.dir = Settings().audit_directory()
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
