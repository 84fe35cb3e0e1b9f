"""Signed-in sessions of the duty inbox, kept server side in its SQLite file.

The browser holds only a random session id (signed, in an HttpOnly cookie); the database
holds its SHA-256 with who signed in, their CSRF token and when the session started and was
last used. So signing out, disabling a user or a timeout ends a session for good: an old
cookie finds no row.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from connectors.duty_inbox import sqlite

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    sid_sha256 TEXT PRIMARY KEY,
    username   TEXT NOT NULL,
    roles      TEXT NOT NULL,
    councils   TEXT NOT NULL,
    via        TEXT NOT NULL,
    csrf       TEXT NOT NULL,
    started_at TEXT NOT NULL,
    seen_at    TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class StoredSession:
    """One live session: who, with which roles and councils, and its CSRF token."""

    username: str
    roles: tuple[str, ...]
    councils: tuple[str, ...]
    via: str
    csrf: str


@dataclass(frozen=True)
class Timeouts:
    """A session ends after `idle` without a request, and `absolute` after it started."""

    idle: timedelta = timedelta(minutes=30)
    absolute: timedelta = timedelta(hours=10)


class SessionStore:
    """Sessions by the digest of their id."""

    def __init__(self, path: str | Path, timeouts: Timeouts) -> None:
        """Open the sessions table; the users table (`UserStore`) must exist already."""
        self._path = Path(path)
        self.timeouts = timeouts
        with closing(self._connect()) as db:
            db.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return sqlite.connect(self._path)

    def start(self, session: StoredSession, now: datetime, previous: str | None) -> str:
        """Store a new session (ending `previous`, if any) and return its new random id."""
        sid = secrets.token_urlsafe(32)
        at = now.astimezone(UTC).isoformat()
        with closing(self._connect()) as db:
            if previous:
                db.execute("DELETE FROM sessions WHERE sid_sha256 = ?", (_digest(previous),))
            db.execute(
                "INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    _digest(sid),
                    session.username,
                    json.dumps(session.roles),
                    json.dumps(session.councils),
                    session.via,
                    session.csrf,
                    at,
                    at,
                ),
            )
        return sid

    def load(self, sid: str, now: datetime) -> StoredSession | None:
        """The live session with this id, marked as used now; None when ended or timed out.

        A session of a local user who has since been disabled has ended too.
        """
        with closing(self._connect()) as db:
            row = db.execute(
                "SELECT s.*, u.disabled FROM sessions s LEFT JOIN users u"
                " ON u.username = s.username AND s.via = 'password' WHERE s.sid_sha256 = ?",
                (_digest(sid),),
            ).fetchone()
            if row is None:
                return None
            idle = now - _at(row["seen_at"]) > self.timeouts.idle
            old = now - _at(row["started_at"]) > self.timeouts.absolute
            if idle or old or row["disabled"]:
                db.execute("DELETE FROM sessions WHERE sid_sha256 = ?", (_digest(sid),))
                return None
            db.execute(
                "UPDATE sessions SET seen_at = ? WHERE sid_sha256 = ?",
                (now.astimezone(UTC).isoformat(), _digest(sid)),
            )
        return StoredSession(
            username=str(row["username"]),
            roles=tuple(json.loads(row["roles"])),
            councils=tuple(json.loads(row["councils"])),
            via=str(row["via"]),
            csrf=str(row["csrf"]),
        )

    def end(self, sid: str) -> None:
        """End a session (sign-out)."""
        with closing(self._connect()) as db:
            db.execute("DELETE FROM sessions WHERE sid_sha256 = ?", (_digest(sid),))

    def purge(self, now: datetime) -> int:
        """Delete sessions past either timeout; returns how many."""
        idle = (now - self.timeouts.idle).astimezone(UTC).isoformat()
        old = (now - self.timeouts.absolute).astimezone(UTC).isoformat()
        with closing(self._connect()) as db:
            return db.execute(
                "DELETE FROM sessions WHERE seen_at < ? OR started_at < ?", (idle, old)
            ).rowcount


def _digest(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


def _at(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
