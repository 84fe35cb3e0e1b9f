"""The broker as the file drop sees it: a port, its records, and an in-memory fake.

Every record the drop produces carries two headers naming the file's digest
and the line it came from. That is what lets a restart find, on the topics
themselves, the lines of a batch that landed before a crash and were never
checkpointed (`Feed.landed`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from connectors.file_drop.state import Offsets

H_FILE_DIGEST = "dvtrigger-file-digest"
H_FILE_LINE = "dvtrigger-file-line"

Headers = list[tuple[str, bytes]]


class FeedUnavailable(Exception):
    """The broker did not take or acknowledge a batch, or could not be read: try again later."""


@dataclass(frozen=True)
class Outgoing:
    """One record to produce."""

    topic: str
    key: bytes | None
    value: bytes
    headers: Headers


def file_line(headers: Iterable[tuple[str, bytes]], digest: str) -> int | None:
    """The line number a record came from, if it came from the file with `digest`."""
    found = dict(headers)
    if found.get(H_FILE_DIGEST) != digest.encode():
        return None
    line = found.get(H_FILE_LINE, b"")
    return int(line) if line.isdigit() else None


class Feed(Protocol):
    """Where the drop publishes, and what it reads back on a restart."""

    def publish(self, records: list[Outgoing]) -> None:
        """Produce `records` and return once the broker has acknowledged every one."""

    def end_offsets(self, topics: list[str]) -> Offsets:
        """The end offset of every partition of `topics` now."""

    def landed(self, since: Offsets, digest: str) -> set[int]:
        """Lines of the file `digest` on the topics of `since`, at or after its offsets."""


@dataclass
class FakeFeed:
    """A broker in memory, with partitions; `fail_after` records are taken, then it fails."""

    partitions: int = 3
    log: dict[str, dict[int, list[Outgoing]]] = field(default_factory=dict)
    fail_after: int | None = None

    def publish(self, records: list[Outgoing]) -> None:
        """Append each record to its key's partition; fail mid-batch if told to."""
        for record in records:
            if self.fail_after is not None:
                if self.fail_after <= 0:
                    raise FeedUnavailable("broker went away")
                self.fail_after -= 1
            partition = hash(record.key) % self.partitions if record.key else 0
            self.topic(record.topic)[partition].append(record)

    def topic(self, name: str) -> dict[int, list[Outgoing]]:
        """The partitions of one topic."""
        return self.log.setdefault(name, {p: [] for p in range(self.partitions)})

    def end_offsets(self, topics: list[str]) -> Offsets:
        """How many records each partition holds."""
        return {t: {str(p): len(r) for p, r in self.topic(t).items()} for t in topics}

    def landed(self, since: Offsets, digest: str) -> set[int]:
        """Lines of `digest` at or after `since`."""
        lines: set[int] = set()
        for topic, offsets in since.items():
            for partition, records in self.topic(topic).items():
                for record in records[_start(offsets, partition) :]:
                    line = file_line(record.headers, digest)
                    if line is not None:
                        lines.add(line)
        return lines

    def values(self, topic: str) -> list[Outgoing]:
        """Every record of a topic (tests)."""
        return [r for records in self.topic(topic).values() for r in records]


def _start(offsets: Mapping[str, int], partition: int) -> int:
    """Where to read a partition from; one the checkpoint did not know of, from its start."""
    return offsets.get(str(partition), 0)
