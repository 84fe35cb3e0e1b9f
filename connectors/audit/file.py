"""The audit log in files: one JSON-lines chain per writing process, with its head beside it.

`<chain>.jsonl` holds the records (`streams.domain.audit`), one a line, only ever
appended to; `<chain>.head` the last seq and hash, written after each append, so a
chain cut short is found; `<chain>.lock` is held (flock) for as long as a writer
has the chain open, so two processes never fork one chain. Only retention
(`purge_details`) rewrites a chain: details nulled, envelopes and hashes kept, in a
temporary file renamed over the chain, with a `retention` record appended that
accounts for the purge.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from streams.domain.audit import (
    GENESIS,
    Head,
    Located,
    Record,
    canonical,
    parse,
    purged,
    seal,
    sealed,
)
from streams.domain.ports.audit import AuditEvent

log = logging.getLogger(__name__)
SUFFIX, HEAD, LOCK = ".jsonl", ".head", ".lock"
#: How far back from the end a chain's last record is looked for, per read.
_TAIL_CHUNK = 64 * 1024


class AuditLogError(Exception):
    """The audit log cannot be written as it stands (never holds personal data)."""


class AuditLogBusy(AuditLogError):
    """Another writer holds the chain."""


class FileAuditLog:
    """A chain of audit records in `directory/<chain>.jsonl`; thread-safe; the port's adapter."""

    def __init__(self, directory: Path | str, chain: str, *, sync: bool = True) -> None:
        """Open (or start) the chain, taking its lock; `sync` False skips fsync (tests only)."""
        if not chain or not chain.replace("-", "").replace("_", "").isalnum():
            raise ValueError("chain: letters, digits, - and _ only")
        self.directory, self.chain, self._sync = Path(directory), chain, sync
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = self.directory / f"{chain}{SUFFIX}"
        self._head_path = self.directory / f"{chain}{HEAD}"
        self._mutex = threading.Lock()
        self._lock_fd = _take_lock(self.directory / f"{chain}{LOCK}")
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            self.seq, self.prev = self._recover()
        except BaseException:
            os.close(self._lock_fd)
            raise

    def __enter__(self) -> FileAuditLog:
        """The log itself."""
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close the log."""
        self.close()

    def close(self) -> None:
        """Close the chain and release its lock."""
        with self._mutex:
            if self._fd >= 0:
                os.close(self._fd)
                os.close(self._lock_fd)
                self._fd = -1

    def append(self, event: AuditEvent) -> None:
        """Append one event; durable when this returns."""
        self.append_many([event])

    def append_many(self, events: list[AuditEvent]) -> None:
        """Append events in order with one write and one fsync; then the head.

        A failed write is cut back off the file, so the chain never holds a torn line.
        """
        if not events:
            return
        with self._mutex:
            if self._fd < 0:
                raise AuditLogError("the audit log is closed")
            seq, prev, lines = self.seq, self.prev, []
            for event in events:
                seq += 1
                record, line = sealed(event, self.chain, seq, prev)
                prev = record["hash"]
                lines.append(line + b"\n")
            self._write(b"".join(lines))
            self.seq, self.prev = seq, prev
            self._write_head()

    def purge_details(
        self,
        before: datetime,
        keep_refs: set[str] | None = None,
        *,
        actor: str = "system:retention",
        origin: str | None = None,
    ) -> int:
        """Null the details of records before `before`, but those naming any of `keep_refs`.

        Envelopes and hashes stay, so the chain still verifies; a `retention` record
        (by `actor`, from `origin`) is appended in the same rewrite, saying how many
        details went. How many were purged.
        """
        keep, cutoff = keep_refs or set(), before.astimezone(UTC)
        with self._mutex:
            records, problems = parse(str(self.path), lines_of(self.path))
            if problems:
                raise AuditLogError(f"cannot purge {self.path.name}: {problems[0].what}")
            kept, count = [], 0
            for item in records:
                record = item.record
                if _purgeable(record, cutoff, keep):
                    record, count = purged(record), count + 1
                kept.append(canonical(record) + b"\n")
            if count:
                self._rewrite(kept, _retention_event(cutoff, count, actor, origin))
            return count

    def _recover(self) -> tuple[int, str]:
        """The last seq and hash, from the chain's tail; a torn last line is cut off.

        A head ahead of the chain means records were removed: the log refuses to
        go on (a person looks, `dvtrigger audit verify`). A head behind it (a crash
        before the head was written) is brought forward.
        """
        last = _last_record(self.path, cut_torn=True)
        seq, prev = (last["seq"], last["hash"]) if last else (0, GENESIS)
        head = read_head(self._head_path)
        if head is not None and (head.seq > seq or (head.seq == seq and head.hash != prev)):
            raise AuditLogError(f"{self.path.name}: the chain ends before its head (seq {seq})")
        if head is None or head.seq < seq:
            if head is not None:
                log.warning("audit chain %s: head behind at %d, now %d", self.chain, head.seq, seq)
            self.seq, self.prev = seq, prev
            self._write_head()
        return seq, prev

    def _write(self, data: bytes) -> None:
        """Write and sync; on failure the file is cut back to where it was."""
        size = os.fstat(self._fd).st_size
        try:
            _write_all(self._fd, data)
            if self._sync:
                os.fsync(self._fd)
        except BaseException:
            os.ftruncate(self._fd, size)
            raise

    def _write_head(self) -> None:
        """Write the head (temporary file, sync, rename)."""
        data = canonical({"chain": self.chain, "seq": self.seq, "hash": self.prev})
        _replace(self._head_path, data, self._sync)

    def _rewrite(self, lines: list[bytes], retention: AuditEvent) -> None:
        """Replace the chain by `lines` and a retention record, then the head."""
        record = seal(retention, self.chain, self.seq + 1, self.prev)
        _replace(self.path, b"".join([*lines, canonical(record) + b"\n"]), self._sync)
        os.close(self._fd)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND, 0o600)
        self.seq, self.prev = record["seq"], record["hash"]
        self._write_head()


def _write_all(fd: int, data: bytes) -> None:
    """Write all of `data` (os.write may write less)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _take_lock(path: Path) -> int:
    """Hold the chain's lock file (exclusive, not waiting)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise AuditLogBusy(f"{path.stem}: another process writes this audit chain") from None
    return fd


def _replace(path: Path, data: bytes, sync: bool) -> None:
    """Write `path` whole, atomically: a temporary file, synced, renamed over it."""
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        _write_all(fd, data)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)
    if sync:
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _purgeable(record: Record, cutoff: datetime, keep: set[str]) -> bool:
    """Whether retention takes this record's detail."""
    if record.get("detail") is None or record.get("kind") == "retention":
        return False
    if datetime.fromisoformat(str(record.get("at"))).astimezone(UTC) >= cutoff:
        return False
    refs = record.get("refs") or {}
    return not any(ref in keep for values in refs.values() for ref in values)


def _retention_event(cutoff: datetime, count: int, actor: str, origin: str | None) -> AuditEvent:
    """The record of one purge: when, up to when, how many (no references to what)."""
    return AuditEvent(
        kind="retention",
        at=datetime.now(UTC),
        actor=actor,
        origin=origin,
        action="purged details",
        reason=f"details of records before {cutoff.isoformat()}",
        refs={"before": [cutoff.isoformat()]},
        detail={"purged": count},
    )


def lines_of(path: Path) -> Iterator[str]:
    """The lines of a chain file (none when it does not exist)."""
    if not path.exists():
        return iter(())
    with path.open(encoding="utf-8") as f:
        return iter(f.readlines())


def _last_record(path: Path, cut_torn: bool = False) -> Record | None:
    """The chain's last record, read from its end; `cut_torn`: cut off a torn last line."""
    with path.open("rb+" if cut_torn else "rb") as f:
        size = f.seek(0, os.SEEK_END)
        start = max(0, size - _TAIL_CHUNK)
        while True:
            f.seek(start)
            tail = f.read(size - start)
            if cut_torn and tail and not tail.endswith(b"\n"):
                cut = tail.rfind(b"\n") + 1
                log.warning("audit chain %s: a torn last line cut off", path.stem)
                f.truncate(start + cut)
                size, tail = start + cut, tail[:cut]
            lines = tail.splitlines()
            if len(lines) > 1 or start == 0:
                break
            start = max(0, start - _TAIL_CHUNK)
    for line in reversed(lines):
        if line.strip():
            value = json.loads(line)
            return value if isinstance(value, dict) else None
    return None


def read_head(path: Path) -> Head | None:
    """A chain's head, or None when it has none."""
    if not path.exists():
        return None
    value = json.loads(path.read_bytes())
    return Head(int(value["seq"]), str(value["hash"]))


def chains(directory: Path | str) -> list[str]:
    """The names of the chains in a directory."""
    return sorted(p.name[: -len(SUFFIX)] for p in Path(directory).glob(f"*{SUFFIX}"))


def read(directory: Path | str, chain: str | None = None) -> list[Located]:
    """Every record of every chain (or of one), in file order, as read."""
    out: list[Located] = []
    for name in [chain] if chain else chains(directory):
        path = Path(directory) / f"{name}{SUFFIX}"
        out.extend(parse(str(path), lines_of(path))[0])
    return out
