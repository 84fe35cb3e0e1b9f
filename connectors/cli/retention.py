"""`dvtrigger retention`: purge the duty inbox's closed tasks and old audit details; legal holds.

- `inbox [--db PATH] [--audit-dir DIR]`: delete the tasks closed longer ago than
  their council's period (`DVTRIGGER_RETENTION__INBOX_TASK_DAYS`, `…_BY_COUNCIL`)
  and not under a legal hold, then null the audit details older than
  `DVTRIGGER_RETENTION__AUDIT_DETAIL_DAYS`, except those naming a held task or its
  incident. Prints counts only. The running inbox does this itself every
  `purge_interval_s` (`connectors.duty_inbox.retention.InboxRetention`); this
  command is for an inbox run with `DVTRIGGER_RETENTION__INBOX_PURGE=false`, or
  for chains whose writer is stopped.
- `hold TASK_ID --reason TEXT [--by WHO]`: keep a task, whatever its age, until released.
- `release TASK_ID`, `holds`: release a hold; list them.

Each of these rewrites the held references (task and incident ids) beside the
audit chains (`held-refs.txt` in DATA_DIR/audit), which the decide worker's purge
keeps (a worker on another volume: `DVTRIGGER_RETENTION__HELD_REFS`, which
`hold` prints). The worker's register and incident state, and the details of its own
chain, purge themselves (`streams.flows.retention`).
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from connectors.duty_inbox import retention as inbox
from connectors.duty_inbox.store import UnknownTask
from streams.config.settings import Settings


def cmd_inbox(args: argparse.Namespace, settings: Settings, now: datetime) -> int:
    """Purge the inbox's closed tasks past their period, then old audit details."""
    periods = settings.retention
    result = inbox.purge_closed_tasks(
        args.db, now, periods.inbox_task_days, periods.inbox_task_days_by_council
    )
    by_council = ", ".join(f"{c} {n}" for c, n in sorted(result.by_council.items())) or "none"
    print(f"duty inbox: purged {result.purged} closed tasks ({by_council}); {result.held} on hold")
    audit_dir = args.audit_dir or settings.audit_directory()
    before = now - timedelta(days=periods.audit_detail_days)
    return purge_audit(audit_dir, before, publish_holds(args.db, audit_dir))


def publish_holds(db: Path, audit_dir: Path) -> set[str]:
    """The held references, written beside the audit chains (if there are any) for the worker."""
    keep = inbox.held_refs(db)
    if audit_dir.is_dir():
        inbox.write_held_refs(audit_dir, keep)
    return keep


def purge_audit(directory: Path, before: datetime, keep: set[str]) -> int:
    """Null the audit details of every chain in `directory` older than `before`, but `keep`'s.

    A chain whose writer is running is locked: it is skipped and said so (exit code 0).
    """
    from connectors.audit.file import AuditLogBusy, FileAuditLog, chains

    if not directory.is_dir():
        print(f"audit log: no directory {directory}; nothing to purge")
        return 0
    for chain in chains(directory):
        try:
            with FileAuditLog(directory, chain) as log:
                count = log.purge_details(before, keep)
        except AuditLogBusy:
            print(f"audit log {chain}: skipped, its writer is running; run again while it is not")
            continue
        print(f"audit log {chain}: purged {count} details before {before.date().isoformat()}")
    return 0


def cmd_hold(args: argparse.Namespace, settings: Settings, now: datetime) -> int:
    """Place a legal hold on one task."""
    try:
        hold = inbox.place_hold(args.db, args.task_id, args.reason, args.by, now)
    except UnknownTask:
        print(f"dvtrigger: no task {args.task_id} in {args.db}", file=sys.stderr)
        return 1
    keep = publish_holds(args.db, settings.audit_directory())
    print(f"held {hold.task_id} (placed by {hold.placed_by} at {hold.placed_at.isoformat()})")
    print(f"for a decide worker on another volume: DVTRIGGER_RETENTION__HELD_REFS='{_json(keep)}'")
    return 0


def cmd_release(args: argparse.Namespace, settings: Settings, now: datetime) -> int:
    """Release one task's legal hold."""
    if not inbox.release_hold(args.db, args.task_id):
        print(f"dvtrigger: {args.task_id} is not on hold", file=sys.stderr)
        return 1
    publish_holds(args.db, settings.audit_directory())
    print(f"released {args.task_id}: it is purged with the other closed tasks of its council")
    return 0


def cmd_holds(args: argparse.Namespace, settings: Settings, now: datetime) -> int:
    """List the legal holds."""
    for hold in inbox.holds(args.db):
        print(f"{hold.task_id}\t{hold.placed_at.isoformat()}\t{hold.placed_by}\t{hold.reason}")
    return 0


def _json(refs: set[str]) -> str:
    """Held references as the `held_refs` setting reads them."""
    return json.dumps(sorted(refs))


def _who() -> str:
    """The person running the command, as the audit log names actors."""
    try:
        return f"user:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name (a container with no user entry)
        return "user:unknown"


def parser(settings: Settings) -> argparse.ArgumentParser:
    """The parser of `dvtrigger retention`."""
    p = argparse.ArgumentParser(prog="dvtrigger retention", description=__doc__)
    sub = p.add_subparsers(dest="action", required=True)
    purge = sub.add_parser("inbox", help="purge closed tasks and audit details past their time")
    purge.add_argument(
        "--audit-dir", type=Path, help="audit log directory (default DATA_DIR/audit)"
    )
    purge.set_defaults(func=cmd_inbox)
    hold = sub.add_parser("hold", help="place a legal hold on a task")
    hold.add_argument("task_id")
    hold.add_argument("--reason", required=True, help="why (a case reference, a request)")
    hold.add_argument("--by", default=_who(), help="who places it (default: user:<login>)")
    hold.set_defaults(func=cmd_hold)
    release = sub.add_parser("release", help="release a task's legal hold")
    release.add_argument("task_id")
    release.set_defaults(func=cmd_release)
    sub.add_parser("holds", help="list the legal holds").set_defaults(func=cmd_holds)
    for action in sub.choices.values():
        action.add_argument(
            "--db", type=Path, default=settings.duty_inbox_db, help="the duty inbox database"
        )
    return p


def main(argv: Sequence[str] | None = None, now: datetime | None = None) -> int:
    """`dvtrigger retention inbox|hold|release|holds`."""
    settings = Settings()
    args = parser(settings).parse_args(argv)
    try:
        return int(args.func(args, settings, now or datetime.now(UTC)))
    except (FileNotFoundError, ValueError) as refused:
        print(f"dvtrigger: {refused}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
