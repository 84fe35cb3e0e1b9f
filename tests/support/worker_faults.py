"""Support of the worker fault tests (issue 16, faults 5 to 7).

What the offline replay expects of a scenario, incident by incident; a disk for the duty
inbox that fills up and is freed (a real tmpfs when this process may mount one, else the same
SQLite error injected); and a wall clock of worker processes that the test steps (libfaketime,
its offset in a file the test rewrites).
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from connectors.cli.replay import replay
from connectors.duty_inbox import sqlite
from connectors.simulate import write_scenario
from schemas.decision import Decision
from streams.domain.tasks import idempotency_key, subject_key

#: Debian's libfaketime (package faketime), of whichever architecture is installed.
FAKETIME_LIB = next(
    iter(sorted(Path("/usr/lib").glob("*/faketime/libfaketime.so.1"))),
    Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"),
)
#: The `sitecustomize` a faked worker loads (see its docstring).
FAKETIME_SHIM = Path(__file__).resolve().parent / "faketime"
DISK_FULL = "database or disk is full"  # SQLite's own words for SQLITE_FULL


def expected_by_incident(scenario: Any, data_dir: Path) -> dict[str, set[str]]:
    """The idempotency keys of the tasks the replay's latest decisions raise, by incident."""
    write_scenario(scenario, data_dir / "data")
    out = data_dir / "replay.jsonl"
    replay(data_dir / "data" / "register.jsonl", data_dir / "data" / "incidents.jsonl", out)
    latest: dict[str, Decision] = {}
    for line in out.read_text().splitlines():
        decision = Decision.model_validate_json(line)
        latest[decision.incident_id] = decision
    return {
        d.incident_id: {
            idempotency_key(d.incident_id, subject_key(s)) for s in d.subjects if s.outcome
        }
        for d in latest.values()
    }


# -- 5. the duty inbox's disk -------------------------------------------------------------------


class SmallDisk:
    """A tmpfs mounted for the test: filled up with a filler file, freed by deleting it."""

    kind = "tmpfs full (ENOSPC)"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._filler = path / "filler"

    def fill(self) -> int:
        """Write the filler until the file system is full; how many bytes it took."""
        written = 0
        chunk = b"\0" * 65536
        with self._filler.open("wb", buffering=0) as out:
            while True:
                try:
                    written += out.write(chunk)
                except OSError as full:
                    if full.errno != errno.ENOSPC:
                        raise
                    break
            with contextlib.suppress(OSError):  # a last few bytes, to the very end
                while out.write(b"\0" * 512):
                    written += 512
        return written

    def free(self) -> None:
        """Delete the filler: the disk is back."""
        self._filler.unlink()


class InjectedFull:
    """The same fault where nothing may be mounted: while on, every write transaction of a duty
    inbox served in this process raises SQLite's own disk-full error (nothing is written)."""

    kind = "SQLite disk-full error injected"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.on = False
        self._write = sqlite.write

    def fill(self) -> int:
        self.on = True
        return 0

    def free(self) -> None:
        self.on = False

    def write(self, path: Path) -> AbstractContextManager[sqlite3.Connection]:
        @contextmanager
        def transaction() -> Iterator[sqlite3.Connection]:
            with self._write(path) as db:
                if self.on:
                    full = sqlite3.OperationalError(DISK_FULL)
                    full.sqlite_errorcode, full.sqlite_errorname = 13, "SQLITE_FULL"
                    raise full
                yield db

        return transaction()


@contextmanager
def small_disk(
    path: Path, monkeypatch: Any, size: str = "16m"
) -> Iterator[SmallDisk | InjectedFull]:
    """A disk for the inbox's database at `path`: a tmpfs of `size` if this process may mount
    one (root, or CAP_SYS_ADMIN), else the injected error; unmounted on exit."""
    path.mkdir(parents=True)
    mount = ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)]
    try:
        mounted = os.geteuid() == 0 and subprocess.run(mount, capture_output=True).returncode == 0
    except OSError:
        mounted = False
    if not mounted:
        injected = InjectedFull(path)
        monkeypatch.setattr(sqlite, "write", injected.write)
        yield injected
        return
    try:
        yield SmallDisk(path)
    finally:
        subprocess.run(["umount", "--lazy", str(path)], capture_output=True, check=False)


# -- 6. a worker's wall clock -------------------------------------------------------------------


class SteppedClock:
    """The wall clock of the worker processes started with `env()`: real, plus an offset the
    test steps. Their monotonic clock stays real, as under a real clock step (NTP, an operator,
    a virtual machine resumed), so asyncio's timers are untouched."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset_s = 0
        self._write()

    @staticmethod
    def available() -> bool:
        return FAKETIME_LIB.exists()

    def env(self) -> dict[str, str]:
        """Environment overrides for a worker process (never for the test process)."""
        return {
            "LD_PRELOAD": str(FAKETIME_LIB),
            "FAKETIME_TIMESTAMP_FILE": str(self.path),
            "FAKETIME_NO_CACHE": "1",  # read on every call: a step is seen at once
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",
            "PYTHONPATH": str(FAKETIME_SHIM),
            # libfaketime and jemalloc cannot both be preloaded: each calls the other while it
            # starts ("unexpected recursive calls to clock_gettime()"), and the worker's clock
            # is broken. These workers run on the system allocator.
            "DVTRIGGER_ALLOCATOR": "system",
        }

    def step(self, seconds: int) -> None:
        """Step the workers' wall clock by `seconds` (back when negative), at once."""
        self.offset_s += seconds
        self._write()

    def _write(self) -> None:
        partial = self.path.with_suffix(".partial")
        partial.write_text(f"{self.offset_s:+d}\n")
        partial.replace(self.path)  # whole: libfaketime never reads half a line


def clock_offset(url: str) -> float:
    """How far a worker's wall clock is ahead of ours: the Date header of its /healthz."""
    with urllib.request.urlopen(f"{url}/healthz", timeout=5) as response:
        date = response.headers["Date"]
    return parsedate_to_datetime(date).timestamp() - time.time()
