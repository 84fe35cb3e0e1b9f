"""The duty inbox's people and callers in its SQLite file: users, API clients, failed sign-ins.

A user signs in with a password, kept only as an Argon2 hash (rehashed when the hasher's
parameters change). An API client (the deliver worker) sends a high-entropy bearer token,
kept only as its SHA-256 digest. Failed sign-ins are counted per username and address; too
many within the window lock that pair out for the window, whatever the password.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal, get_args

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from connectors.duty_inbox import sqlite

Role = Literal["duty_worker", "team_manager", "auditor", "administrator"]
ROLES: tuple[Role, ...] = get_args(Role)

#: An API client's council set meaning every council (the integrator's own deliver worker).
ALL_COUNCILS = "*"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    username      TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    roles         TEXT NOT NULL,
    councils      TEXT NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL,
    last_sign_in  TEXT
);
CREATE TABLE IF NOT EXISTS clients (
    name            TEXT PRIMARY KEY,
    token_sha256    TEXT NOT NULL UNIQUE,
    councils        TEXT NOT NULL,
    may_raise_tasks INTEGER NOT NULL,
    disabled        INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sign_in_failures (
    key          TEXT PRIMARY KEY,
    failures     INTEGER NOT NULL,
    first_at     TEXT NOT NULL,
    locked_until TEXT
);
"""


@dataclass(frozen=True)
class User:
    """A local user, without their password hash."""

    username: str
    roles: frozenset[Role]
    councils: frozenset[str]
    disabled: bool
    created_at: datetime
    last_sign_in: datetime | None


@dataclass(frozen=True)
class Client:
    """An API caller known by its token."""

    name: str
    councils: frozenset[str]
    may_raise_tasks: bool


class UserError(ValueError):
    """A refused change to users or clients; the message names no password or token."""


class UserStore:
    """Users, API clients and failed sign-ins in the inbox's SQLite file."""

    def __init__(
        self,
        path: str | Path,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        hasher: PasswordHasher | None = None,
        max_failures: int = 5,
        lockout: timedelta = timedelta(minutes=15),
    ) -> None:
        self._path = Path(path)
        self._clock = clock
        self._hasher = hasher or PasswordHasher()
        self._max_failures = max_failures
        self._lockout = lockout
        #: Verified against when the user is unknown, so both cases take the same time.
        self._decoy = self._hasher.hash(secrets.token_urlsafe(16))
        self._path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as db:
            db.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return sqlite.connect(self._path)

    def _write(self) -> AbstractContextManager[sqlite3.Connection]:
        """One write transaction holding the database's write lock from its first read."""
        return sqlite.write(self._path)

    def add_user(
        self, username: str, password: str, roles: Iterable[str], councils: Iterable[str]
    ) -> User:
        """Add a user; `UserError` when the name is taken or a role or council is invalid."""
        role_set, council_set = _roles(roles), _councils(councils, allow_all=False)
        if not username or len(username) > 64 or not username.isprintable() or "/" in username:
            raise UserError("a username is 1 to 64 printable characters, without '/'")
        if len(password) < 12:
            raise UserError("a password is at least 12 characters")
        row = {
            "username": username,
            "password_hash": self._hasher.hash(password),
            "roles": json.dumps(sorted(role_set)),
            "councils": json.dumps(sorted(council_set)),
            "created_at": self._clock().astimezone(UTC).isoformat(),
        }
        try:
            with self._write() as db:
                db.execute(
                    "INSERT INTO users (username, password_hash, roles, councils, created_at)"
                    " VALUES (:username, :password_hash, :roles, :councils, :created_at)",
                    row,
                )
        except sqlite3.IntegrityError:
            raise UserError(f"user {username!r} exists") from None
        return self.user(username)

    def set_password(self, username: str, password: str) -> None:
        """Replace a user's password (and enable them)."""
        if len(password) < 12:
            raise UserError("a password is at least 12 characters")
        with self._write() as db:
            changed = db.execute(
                "UPDATE users SET password_hash = ?, disabled = 0 WHERE username = ?",
                (self._hasher.hash(password), username),
            ).rowcount
        if not changed:
            raise UserError(f"no user {username!r}")

    def user(self, username: str) -> User:
        """One user; `UserError` when there is none."""
        with closing(self._connect()) as db:
            row = db.execute("SELECT * FROM users WHERE username = ?", (username,)).fetchone()
        if row is None:
            raise UserError(f"no user {username!r}")
        return _user(row)

    def users(self) -> list[User]:
        """Every user, by name."""
        with closing(self._connect()) as db:
            rows = db.execute("SELECT * FROM users ORDER BY username").fetchall()
        return [_user(row) for row in rows]

    def disable(self, username: str) -> None:
        """Stop a user signing in; their sessions end at their next request."""
        with self._write() as db:
            if not db.execute(
                "UPDATE users SET disabled = 1 WHERE username = ?", (username,)
            ).rowcount:
                raise UserError(f"no user {username!r}")

    def verify(self, username: str, password: str, address: str) -> User | None:
        """The user when the password is theirs, they are enabled and the pair is not locked.

        Every refusal looks the same to the caller, so none says whether the user exists.
        """
        key = _failure_key(username, address)
        if self._locked(key):
            return None
        with closing(self._connect()) as db:
            row = db.execute("SELECT * FROM users WHERE username = ?", (username,)).fetchone()
        stored = self._decoy if row is None else str(row["password_hash"])
        try:
            self._hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            self._fail(key)
            return None
        if row is None or row["disabled"]:
            self._fail(key)
            return None
        self._signed_in(username, password, stored, key)
        return self.user(username)

    def _signed_in(self, username: str, password: str, stored: str, key: str) -> None:
        """Record the sign-in, clear failures and rehash a hash of older parameters."""
        new_hash = self._hasher.hash(password) if self._hasher.check_needs_rehash(stored) else None
        with self._write() as db:
            db.execute("DELETE FROM sign_in_failures WHERE key = ?", (key,))
            db.execute(
                "UPDATE users SET last_sign_in = ?, password_hash = coalesce(?, password_hash)"
                " WHERE username = ?",
                (self._clock().astimezone(UTC).isoformat(), new_hash, username),
            )

    def _locked(self, key: str) -> bool:
        with closing(self._connect()) as db:
            row = db.execute(
                "SELECT locked_until FROM sign_in_failures WHERE key = ?", (key,)
            ).fetchone()
        return bool(row and row["locked_until"] and _at(row["locked_until"]) > self._clock())

    def _fail(self, key: str) -> None:
        """Count a failure; the `max_failures`-th within the window locks the pair out."""
        now = self._clock()
        with self._write() as db:
            row = db.execute("SELECT * FROM sign_in_failures WHERE key = ?", (key,)).fetchone()
            failures, first = 1, now
            if row is not None and _at(row["first_at"]) + self._lockout > now:
                failures, first = int(row["failures"]) + 1, _at(row["first_at"])
            locked = now + self._lockout if failures >= self._max_failures else None
            db.execute(
                "INSERT OR REPLACE INTO sign_in_failures VALUES (?, ?, ?, ?)",
                (key, failures, first.isoformat(), locked and locked.isoformat()),
            )

    def add_client(
        self,
        name: str,
        councils: Iterable[str],
        may_raise_tasks: bool,
        replace: bool = False,
        token: str | None = None,
    ) -> str:
        """Add (or with `replace`, re-issue) an API client; the token is returned only here.

        `token`: one the operator already holds (at least 32 characters), else a random one.
        """
        council_set = _councils(councils, allow_all=True)
        if token is not None and len(token) < 32:
            raise UserError("a client token is at least 32 characters")
        token = token or secrets.token_urlsafe(32)
        if not name or len(name) > 64 or not name.isprintable() or not council_set:
            raise UserError("a client has a name of 1 to 64 characters and one or more councils")
        verb = "INSERT OR REPLACE" if replace else "INSERT"
        try:
            with self._write() as db:
                db.execute(
                    f"{verb} INTO clients (name, token_sha256, councils, may_raise_tasks,"
                    " created_at) VALUES (?, ?, ?, ?, ?)",
                    (
                        name,
                        token_digest(token),
                        json.dumps(sorted(council_set)),
                        int(may_raise_tasks),
                        self._clock().astimezone(UTC).isoformat(),
                    ),
                )
        except sqlite3.IntegrityError:
            raise UserError(f"client {name!r} exists") from None
        return token

    def client(self, token: str) -> Client | None:
        """The enabled client whose token this is, if any."""
        with closing(self._connect()) as db:
            row = db.execute(
                "SELECT * FROM clients WHERE token_sha256 = ? AND disabled = 0",
                (token_digest(token),),
            ).fetchone()
        if row is None:
            return None
        councils = frozenset(json.loads(row["councils"]))
        return Client(str(row["name"]), councils, bool(row["may_raise_tasks"]))


def token_digest(token: str) -> str:
    """The SHA-256 of a token, as stored: a token is random enough not to need a slow hash."""
    return hashlib.sha256(token.encode()).hexdigest()


def _failure_key(username: str, address: str) -> str:
    return hashlib.sha256(f"{username.casefold()}\0{address}".encode()).hexdigest()


def _roles(roles: Iterable[str]) -> frozenset[Role]:
    chosen = frozenset(roles)
    unknown = chosen - set(ROLES)
    if not chosen or unknown:
        raise UserError(f"roles are one or more of {', '.join(ROLES)}")
    return frozenset(role for role in ROLES if role in chosen)


def _councils(councils: Iterable[str], allow_all: bool) -> frozenset[str]:
    chosen = frozenset(councils)
    if ALL_COUNCILS in chosen and not allow_all:
        raise UserError("a person's councils are named one by one")
    if any(not c or len(c) > 32 or not c.isprintable() for c in chosen):
        raise UserError("a council code is 1 to 32 printable characters")
    return chosen


def _at(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _user(row: sqlite3.Row) -> User:
    return User(
        username=str(row["username"]),
        roles=_roles(json.loads(row["roles"])),
        councils=frozenset(json.loads(row["councils"])),
        disabled=bool(row["disabled"]),
        created_at=_at(row["created_at"]),
        last_sign_in=_at(row["last_sign_in"]) if row["last_sign_in"] else None,
    )
