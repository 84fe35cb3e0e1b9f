"""`dvtrigger users`: the duty inbox's local users and API client credentials.

    dvtrigger users add NAME --role duty_worker --council E09000014 [--password-file F]
    dvtrigger users list
    dvtrigger users disable NAME
    dvtrigger users add-client NAME --council '*' --may-raise-tasks

A password is read from a prompt, a file or standard input, never from the command line
(where `ps` and shell history would keep it). A client's token is printed once, at creation.
"""

from __future__ import annotations

import argparse
import getpass
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path

from connectors.duty_inbox.task_rows import NO_COUNCIL
from connectors.duty_inbox.users import ROLES, UserError, UserStore
from streams.config.settings import Settings

DEMO_USER = "demo"
DEMO_CLIENT = "demo-deliver"


def _password(args: argparse.Namespace) -> str:
    """The new password: from --password-file, --password-stdin, or asked twice."""
    if args.password_file is not None:
        return Path(args.password_file).read_text("utf-8").rstrip("\r\n")
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        raise UserError("the two passwords differ")
    return first


def cmd_add(args: argparse.Namespace, store: UserStore) -> int:
    """Add a user."""
    user = store.add_user(args.username, _password(args), args.role, args.council)
    print(f"added {user.username}: {', '.join(sorted(user.roles))}")
    return 0


def cmd_list(args: argparse.Namespace, store: UserStore) -> int:
    """List the users, without anything secret."""
    for user in store.users():
        state = "disabled" if user.disabled else "enabled"
        seen = user.last_sign_in.isoformat() if user.last_sign_in else "never"
        roles, councils = ",".join(sorted(user.roles)), ",".join(sorted(user.councils))
        print(f"{user.username}\t{state}\t{roles}\t{councils}\tlast sign-in {seen}")
    return 0


def cmd_disable(args: argparse.Namespace, store: UserStore) -> int:
    """Disable a user; their sessions end at their next request."""
    store.disable(args.username)
    print(f"disabled {args.username}")
    return 0


def cmd_add_client(args: argparse.Namespace, store: UserStore) -> int:
    """Add an API client credential and print its token, once."""
    token = store.add_client(args.name, args.council, args.may_raise_tasks, replace=args.replace)
    print(f"client {args.name}: token (shown once; keep it as a secret):", file=sys.stderr)
    print(token)
    return 0


def parser() -> argparse.ArgumentParser:
    """The `dvtrigger users` argument parser."""
    p = argparse.ArgumentParser(prog="dvtrigger users", description=__doc__)
    p.add_argument("--db", type=Path, help="duty inbox SQLite (default DVTRIGGER_DUTY_INBOX_DB)")
    sub = p.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", help="add a user")
    add.add_argument("username")
    add.add_argument("--role", action="append", required=True, choices=ROLES)
    add.add_argument("--council", action="append", default=[], help="council code; repeat")
    where = add.add_mutually_exclusive_group()
    where.add_argument("--password-file", help="read the password from this file")
    where.add_argument("--password-stdin", action="store_true", help="read it from stdin")
    add.set_defaults(func=cmd_add)
    sub.add_parser("list", help="list the users").set_defaults(func=cmd_list)
    disable = sub.add_parser("disable", help="disable a user")
    disable.add_argument("username")
    disable.set_defaults(func=cmd_disable)
    client = sub.add_parser("add-client", help="add an API client credential; prints its token")
    client.add_argument("name")
    client.add_argument(
        "--council", action="append", required=True, help="council code, or '*' for all"
    )
    client.add_argument("--may-raise-tasks", action="store_true", help="may POST/PATCH tasks")
    client.add_argument("--replace", action="store_true", help="re-issue an existing client")
    client.set_defaults(func=cmd_add_client)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `dvtrigger users`."""
    args = parser().parse_args(argv)
    store = UserStore(args.db or Settings().duty_inbox_db)
    try:
        return int(args.func(args, store))
    except UserError as refused:
        print(f"dvtrigger users: {refused}", file=sys.stderr)
        return 1


def demo_councils(seed: int = 7) -> list[str]:
    """The councils of the demo feed's invented towns, and tasks of no council."""
    from connectors.simulate.addresses import Gazetteer
    from connectors.simulate.scenario import seeded

    towns = Gazetteer(seeded(seed, "towns"), streets=1).towns
    return [*sorted({town.local_authority for town in towns}), NO_COUNCIL]


def demo_credentials(db_path: Path) -> tuple[str, str, str]:
    """For `make run`: the demo user with a new random password, and a new token for the
    deliver worker; returns (username, password, token)."""
    store = UserStore(db_path)
    password = secrets.token_urlsafe(12)
    try:
        store.add_user(DEMO_USER, password, ["duty_worker", "team_manager"], demo_councils())
    except UserError:  # made by an earlier run
        store.set_password(DEMO_USER, password)
    token = store.add_client(DEMO_CLIENT, ["*"], may_raise_tasks=True, replace=True)
    return DEMO_USER, password, token
