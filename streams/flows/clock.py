"""The one clock of a worker: the time now, wall-clock seconds, and a sleep; tests pass a fake.

`SystemClock` is production's; `FileClock` is the time-compressed soak's (`DVTRIGGER_CLOCK_FILE`).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol


class Clock(Protocol):
    """What the flows ask of time; the domain is given the time as a value instead."""

    def now(self) -> datetime:
        """The time now, aware (decisions are dated and recent incidents judged by it)."""
        ...

    def time(self) -> float:
        """Wall-clock seconds since the epoch (retry headers are read by other processes)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds`."""
        ...


class SystemClock:
    """The machine's clock."""

    def now(self) -> datetime:
        """The time now, in UTC."""
        return datetime.now(UTC)

    def time(self) -> float:
        """Wall-clock seconds since the epoch."""
        return time.time()

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` on the event loop."""
        await asyncio.sleep(seconds)


class FileClock:
    """A clock read from a file holding the time now as Unix seconds: the soak bench's.

    The bench (`tests/bench/soak.py`) writes the simulated time there, month by
    month, and every worker process reads the same file, so the decide and
    deliver processes agree on the day. The file is read at most every
    `refresh_s` (monotonic), so `now()` on every event stays cheap; a file that
    cannot be read (mid-rename, or not yet written) keeps the last time read,
    and is an error only before any was. `sleep` waits real seconds: only the
    date moves.
    """

    def __init__(self, path: Path, refresh_s: float = 0.1) -> None:
        self._path = path
        self._refresh_s = refresh_s
        self._read_at = -float("inf")
        self._seconds: float | None = None

    def time(self) -> float:
        """The file's Unix seconds, re-read when the last read is `refresh_s` old."""
        tick = time.monotonic()
        if tick - self._read_at >= self._refresh_s:
            try:
                self._seconds = float(self._path.read_text(encoding="ascii").strip())
                self._read_at = tick
            except (OSError, ValueError):
                if self._seconds is None:
                    raise
        assert self._seconds is not None
        return self._seconds

    def now(self) -> datetime:
        """The file's time, in UTC."""
        return datetime.fromtimestamp(self.time(), UTC)

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` of real time on the event loop."""
        await asyncio.sleep(seconds)
