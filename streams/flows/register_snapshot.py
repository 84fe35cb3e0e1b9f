"""The register snapshot on local disk: written atomically, memory-mapped on load.

A worker writes the register index (`streams.domain.register.snapshot`) to one
file per changelog topic in `register_snapshot_dir`, and on start reads the
changelog only after the offsets the snapshot reflects. The file holds every
subject record: personal data, kept with the same protection as the broker's
data (mode 0600 in a 0700 directory).

`SnapshotStore` is faust's in-memory table store told, for the first
recovery only, from which offset the table is already held.
"""

from __future__ import annotations

import asyncio
import logging
import mmap
import os
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from faust.stores import STORES
from faust.stores.memory import Store as MemoryStore
from faust.types import TP

from streams.domain.register.snapshot import (
    Expect,
    IndexState,
    Mark,
    Snapshot,
    UnusableSnapshot,
    decode,
    encode,
)

log = logging.getLogger(__name__)

#: The URL scheme of `SnapshotStore` in faust's store registry.
STORE_SCHEME = "register-snapshot"


def store_url() -> str:
    """The `store=` URL of a table kept in a `SnapshotStore` (registers it with faust)."""
    STORES.aliases.setdefault(STORE_SCHEME, f"{__name__}:SnapshotStore")
    return f"{STORE_SCHEME}://local/"  # an empty URL would be taken for none at all


class SnapshotStore(MemoryStore[bytes, bytes]):
    """faust's memory store, which can be told the offsets a loaded snapshot holds."""

    def __post_init__(self) -> None:
        """An empty store; `held` is set by whoever loads a snapshot into it."""
        super().__post_init__()
        self.held: dict[TP, int] = {}

    def hold(
        self, items: Iterable[tuple[bytes, bytes]], topic: str, offsets: dict[int, int]
    ) -> None:
        """Hold `items`, already read from the changelog `topic` through `offsets`."""
        self.data.update(items)
        self.held = {TP(topic, partition): offset for partition, offset in offsets.items()}

    def persisted_offset(self, tp: TP) -> int | None:
        """The offset to read the changelog after: none (from the start) but after a load."""
        return self.held.get(tp)


class RegisterSnapshots:
    """The snapshot file of one changelog topic: load, save and discard."""

    def __init__(
        self,
        directory: Path,
        topic: str,
        key_hash: list[int],
        max_age_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Snapshots of `topic` in `directory`, trusted while younger than `max_age_s`."""
        self.directory = directory
        self.topic = topic
        self.path = directory / f"{topic}.snapshot"
        self._key_hash = key_hash
        self._max_age_s = max_age_s
        self._clock = clock

    def load(self) -> Snapshot | None:
        """The snapshot on disk, memory-mapped; None when there is none or it cannot be trusted."""
        try:
            with self.path.open("rb") as file:
                mapped = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:  # an empty file cannot be mapped
            reason = type(error).__name__
            log.warning("register snapshot unreadable, rebuilding in full: %s", reason)
            return None
        expect = Expect(self.topic, self._key_hash, self._clock(), self._max_age_s)
        try:
            return decode(mapped, expect)
        except UnusableSnapshot as unusable:
            log.warning("register snapshot not used, rebuilding in full: %s", unusable)
            return None

    async def save(self, state: IndexState, marks: dict[int, Mark]) -> float:
        """Write a snapshot of `state` at `marks`, off the event loop, atomically; when made."""
        made = self._clock()
        chunks = encode(state, self.topic, marks, self._key_hash, made)
        await asyncio.to_thread(self.write, chunks)
        return made

    def due(self, made: float | None) -> bool:
        """Whether a snapshot made at `made` should be written again though nothing changed.

        A snapshot older than `max_age_s` is not trusted (a full rebuild), so one
        that reflects a quiet register is made again after a quarter of that age.
        """
        return made is None or self._clock() - made >= self._max_age_s / 4

    def write(self, chunks: Iterable[bytes | memoryview]) -> None:
        """Write `chunks` to a new file, then rename it over the snapshot (never half a file)."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = self.directory / f".{self.path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp"
        try:
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as file:
                for chunk in chunks:
                    file.write(chunk)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self.path)
        finally:
            temporary.unlink(missing_ok=True)
        directory = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def discard(self) -> None:
        """Remove the snapshot (it did not match the changelog)."""
        self.path.unlink(missing_ok=True)


def held_items(state: IndexState) -> Iterable[tuple[bytes, bytes]]:
    """The table's items of a snapshot: each live subject's key and record bytes."""
    postings = state.postings
    return (
        (ref.encode(), value)
        for ref, value in zip(postings.refs, postings.values, strict=True)
        if ref is not None and value is not None
    )


def describe(snapshot: Snapshot) -> dict[str, Any]:
    """What to log of a snapshot: counts and offsets, never a record."""
    live = sum(ref is not None for ref in snapshot.state.postings.refs)
    return {"subjects": live, "offsets": {p: m.offset for p, m in snapshot.marks.items()}}
