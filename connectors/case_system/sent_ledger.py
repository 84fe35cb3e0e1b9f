"""Which task versions have been mailed: a small SQLite file beside the deliver worker.

One row per (idempotency_key, revision, amendment) whose notice an SMTP server accepted, with
the notice's Message-ID and when it was accepted. The row is written after the server accepts,
so a crash in between mails that version again on redelivery (at least once, never lost); the
repeat has the same Message-ID. The keys are references (incident and subject refs), never
personal data. Calls run in a worker thread (`asyncio.to_thread`) on one connection.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from datetime import datetime
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS sent (
    idempotency_key TEXT NOT NULL,
    revision INTEGER NOT NULL,
    amendment INTEGER NOT NULL,
    message_id TEXT NOT NULL,
    sent_at TEXT NOT NULL,
    PRIMARY KEY (idempotency_key, revision, amendment)
) WITHOUT ROWID;
"""

MEMORY = ":memory:"


class SentLedger:
    """The task versions whose notice a mail server accepted."""

    def __init__(self, path: str | Path) -> None:
        if str(path) != MEMORY:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            str(path), timeout=30.0, isolation_level=None, check_same_thread=False
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)

    @classmethod
    def memory(cls) -> SentLedger:
        """A ledger that lives as long as this object: for tests."""
        return cls(MEMORY)

    async def sent(self, idempotency_key: str, revision: int, amendment: int) -> bool:
        """Whether this version's notice was accepted by a mail server."""
        return await asyncio.to_thread(self._sent, idempotency_key, revision, amendment)

    async def record(
        self,
        idempotency_key: str,
        revision: int,
        amendment: int,
        message_id: str,
        sent_at: datetime,
    ) -> None:
        """Note that this version's notice was accepted; a second note of it changes nothing."""
        row = (idempotency_key, revision, amendment, message_id, sent_at.isoformat())
        await asyncio.to_thread(self._record, row)

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._db.close()

    def _sent(self, idempotency_key: str, revision: int, amendment: int) -> bool:
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM sent WHERE idempotency_key = ? AND revision = ? AND amendment = ?",
                (idempotency_key, revision, amendment),
            ).fetchone()
        return row is not None

    def _record(self, row: tuple[str, int, int, str, str]) -> None:
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO sent VALUES (?, ?, ?, ?, ?)", row)
