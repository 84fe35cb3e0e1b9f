"""The duty inbox's one way into its SQLite file: a connection, and a write transaction.

Every table of the inbox (tasks, users, clients, sessions, legal holds) lives in one file. A
write runs in its own connection inside `BEGIN IMMEDIATE`, which takes SQLite's write lock
before the first read, so two requests cannot both act on what they read before the other wrote.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path


def connect(path: Path) -> sqlite3.Connection:
    """A connection in autocommit mode whose rows read by column name."""
    db = sqlite3.connect(path, timeout=30.0, isolation_level=None)
    db.row_factory = sqlite3.Row
    return db


@contextmanager
def write(path: Path) -> Iterator[sqlite3.Connection]:
    """One write transaction holding the database's write lock from its first read."""
    with closing(connect(path)) as db:
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
