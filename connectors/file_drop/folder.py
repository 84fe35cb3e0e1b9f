"""The drop folder on disk: files ready to read, durable checkpoints, receipts, done/ and failed/.

Layout of the folder (`FileDropSettings.directory`):

    <dir>/*.jsonl, *.ndjson, *.csv    batches ready to read (any other name is ignored)
    <dir>/receipts/<name>.receipt.json what became of each file (no personal data)
    <dir>/done/, <dir>/failed/        files read, or refused whole (kept `keep_days`)
    <dir>/state/<sha256>.json         each file's checkpoint, kept to recognise a re-drop

A file is picked up only under one of the names above, so a sender writes it
under another (`name.jsonl.partial`, `name.csv.tmp`) and renames it when
complete; a rename within one filesystem is atomic. Every write here goes to a
temporary file that is fsynced and renamed over the old one, then the folder
is fsynced: a crash leaves the old version or the new one, never half of one.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from stat import S_ISREG
from typing import IO

from connectors.file_drop.records import Unreadable, kind_of
from connectors.file_drop.state import Progress, Receipt


def write_durably(path: Path, data: bytes) -> None:
    """Replace `path` by `data` atomically and durably (fsync, rename, fsync the folder)."""
    temporary = path.with_name(f".{path.name}.writing")
    with temporary.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    """Make a rename in `directory` durable."""
    handle = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def _unique(directory: Path, name: str, ending: str = "") -> Path:
    """`directory/name+ending`, or `name.2+ending`, `name.3+ending`… if taken."""
    path = directory / f"{name}{ending}"
    number = 2
    while path.exists():
        path = directory / f"{name}.{number}{ending}"
        number += 1
    return path


class Folder:
    """One drop folder and its subfolders."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.receipts = root / "receipts"
        self.done = root / "done"
        self.failed = root / "failed"
        self.state = root / "state"
        for directory in (root, self.receipts, self.done, self.failed, self.state):
            directory.mkdir(parents=True, exist_ok=True)

    def ready(self) -> list[Path]:
        """Files ready to read, oldest first; a symbolic link is never followed."""
        found = []
        for path in self.root.iterdir():
            if not kind_of(path.name):
                continue
            try:
                stat = path.lstat()
            except FileNotFoundError:
                continue  # renamed away since the listing
            if S_ISREG(stat.st_mode):
                found.append((stat.st_mtime, path.name, path))
        return [path for *_, path in sorted(found)]

    def read(self, path: Path, max_bytes: int) -> bytes:
        """A ready file's bytes; one over `max_bytes` is not read, a link is not followed."""
        with os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW), "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > max_bytes:
                raise Unreadable(f"file is {size} bytes, over the limit of {max_bytes}")
            return handle.read()

    def load(self, digest: str) -> Progress | None:
        """The checkpoint of the file with `digest`, if it was seen before."""
        path = self.state / f"{digest}.json"
        return Progress.model_validate_json(path.read_bytes()) if path.exists() else None

    def save(self, progress: Progress) -> None:
        """Write a file's checkpoint durably."""
        data = progress.model_dump_json(indent=1).encode()
        write_durably(self.state / f"{progress.digest}.json", data)

    def write_receipt(self, receipt: Receipt) -> str:
        """Write a receipt under a name of its own; return that name."""
        path = _unique(self.receipts, receipt.file, ".receipt.json")
        write_durably(path, receipt.model_dump_json(indent=1).encode() + b"\n")
        return path.name

    def move(self, path: Path, to: Path) -> Path:
        """Move a file read (or refused) out of the folder, keeping its name if free."""
        target = _unique(to, path.name)
        os.replace(path, target)
        os.utime(target)  # kept `keep_days` from now, not from when it was written
        _fsync_dir(to)
        _fsync_dir(self.root)
        return target

    def prune(self, keep_days: float, now: float | None = None) -> int:
        """Delete files in done/ and failed/ older than `keep_days`; return how many."""
        cutoff = (time.time() if now is None else now) - keep_days * 86_400
        removed = 0
        for directory in (self.done, self.failed):
            for path in directory.iterdir():
                if path.is_file() and path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
        return removed

    def lock(self) -> IO[bytes]:
        """Hold the folder's lock: a second drop on the same folder fails instead of racing."""
        handle = (self.state / ".lock").open("wb")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise RuntimeError(f"another file drop is reading {self.root}") from None
        return handle
