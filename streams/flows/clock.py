"""The one clock of a worker: the time now, wall-clock seconds, and a sleep; tests pass a fake."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
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
