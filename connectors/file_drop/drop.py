"""One dropped file, read exactly once: batches, checkpoints, read-back on restart, receipt.

The order of writes is what makes it exactly once:

1. A new file's checkpoint is written with the topics' end offsets before
   anything is sent.
2. Each batch of lines is produced, valid lines to the police topic and
   refused ones to the dead-letter topic, each record tagged with the file's
   digest and its line number; the broker acknowledges all of them (acks=all).
3. The checkpoint moves past the batch, with the topics' end offsets now.

A crash between 2 and 3 leaves lines on the topics that the checkpoint does
not know of. On restart those topics are read back from the checkpoint's
offsets and every line found there with this file's digest is accounted for
but not sent again. A finished file's checkpoint stays: an identical file
dropped later has the same digest, and its receipt says it was a duplicate.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from connectors.file_drop.feed import H_FILE_DIGEST, H_FILE_LINE, Feed, Outgoing
from connectors.file_drop.folder import Folder
from connectors.file_drop.metrics import DropMetrics
from connectors.file_drop.records import (
    Accepted,
    Refused,
    Unreadable,
    classify,
    digest,
    kind_of,
    read_lines,
)
from connectors.file_drop.state import (
    Progress,
    Receipt,
    Resumption,
    duplicate_receipt,
    failed_receipt,
    published_receipt,
)
from streams.flows.deadletter import dead_letter_headers

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Topics:
    """Where valid lines go, and where refused ones go."""

    police: str
    dead_letter: str

    def both(self) -> list[str]:
        """The two topics, as the checkpoint's offsets name them."""
        return [self.police, self.dead_letter]


@dataclass(frozen=True)
class Drop:
    """What reading a file needs: the folder, the feed, the topics, sizes, metrics, a clock."""

    folder: Folder
    feed: Feed
    topics: Topics
    batch_size: int
    max_file_bytes: int
    metrics: DropMetrics
    now: Callable[[], datetime]

    def process(self, path: Path) -> Receipt:
        """Read one file through to its receipt; raises `FeedUnavailable` to be tried later."""
        started = self.now()
        identity = None
        try:
            data = self.folder.read(path, self.max_file_bytes)
            identity = digest(data)
            lines = read_lines(data, kind_of(path.name) or "jsonl", self.max_file_bytes)
        except Unreadable as why:
            failed = failed_receipt(path.name, identity, str(why), started, self.now())
            return self._settle(path, failed)
        progress = self.folder.load(identity)
        if progress is not None and progress.settled:
            return self._settle(path, duplicate_receipt(path.name, progress, started, self.now()))
        verdicts = [classify(line) for line in lines]
        if progress is None:
            progress = Progress(digest=identity, name=path.name, started=started)
            progress.offsets = self.feed.end_offsets(self.topics.both())
            self.folder.save(progress)
            landed: set[int] = set()
        else:
            landed = self._landed(progress)
        if progress.finished is None:
            self._publish(progress, verdicts, landed)
        return self._finish(path, progress, verdicts)

    def _landed(self, progress: Progress) -> set[int]:
        """On a restart: the lines of the unfinished batch that the topics already hold."""
        if progress.finished is not None:
            return set()
        landed = self.feed.landed(progress.offsets, progress.digest)
        found = len({n for n in landed if n >= progress.next_line})
        progress.resumed.append(Resumption(from_line=progress.next_line, already_on_topics=found))
        log.info(
            "resuming %s (%s) at line %d; %d lines of it already on the topics",
            progress.name,
            progress.digest[:12],
            progress.next_line,
            found,
        )
        return landed

    def _publish(
        self, progress: Progress, verdicts: list[Accepted | Refused], landed: set[int]
    ) -> None:
        """Send the lines after the checkpoint, a batch at a time, checkpointing each."""
        pending = [v for v in verdicts if v.number >= progress.next_line]
        for start in range(0, len(pending), self.batch_size):
            batch = pending[start : start + self.batch_size]
            sending = [v for v in batch if v.number not in landed]
            self.feed.publish([self._record(v, progress.digest) for v in sending])
            for verdict in sending:
                self._count(verdict)
            progress.next_line = batch[-1].number + 1
            progress.offsets = self.feed.end_offsets(self.topics.both())
            self.folder.save(progress)
            self.metrics.heartbeat.set(self.now().timestamp())
        progress.finished = self.now()
        self.folder.save(progress)

    def _record(self, verdict: Accepted | Refused, file_digest: str) -> Outgoing:
        """The record a line becomes: the incident, or a dead letter with its reason."""
        tags = [(H_FILE_DIGEST, file_digest.encode()), (H_FILE_LINE, str(verdict.number).encode())]
        if isinstance(verdict, Accepted):
            key = verdict.incident_id.encode()
            return Outgoing(self.topics.police, key, verdict.value, tags)
        headers = dead_letter_headers(
            verdict.reason_class, verdict.reason, self.topics.police, None, None
        )
        return Outgoing(self.topics.dead_letter, None, verdict.value, headers + tags)

    def _count(self, verdict: Accepted | Refused) -> None:
        """Metrics of one line this process sent."""
        if isinstance(verdict, Accepted):
            self.metrics.lines_published.inc()
        else:
            self.metrics.lines_refused.labels(verdict.reason_class).inc()

    def _finish(
        self, path: Path, progress: Progress, verdicts: list[Accepted | Refused]
    ) -> Receipt:
        """Write the receipt of a finished file once, then move the file to done/."""
        receipt = published_receipt(progress, verdicts)
        if progress.receipt is None:
            progress.receipt = self.folder.write_receipt(receipt)
            self.folder.save(progress)
        progress.settled = True  # before the move: a crash between the two leaves a duplicate
        self.folder.save(progress)
        self.folder.move(path, self.folder.done)
        self.metrics.files.labels(receipt.outcome).inc()
        log.info(
            "%s (%s): %d lines read, %d published, %d refused",
            path.name,
            progress.digest[:12],
            receipt.lines_read,
            receipt.published,
            len(receipt.refused),
        )
        return receipt

    def _settle(self, path: Path, receipt: Receipt) -> Receipt:
        """Write the receipt of a duplicate or unreadable file and move it away."""
        self.folder.write_receipt(receipt)
        self.folder.move(
            path, self.folder.failed if receipt.outcome == "failed" else self.folder.done
        )
        self.metrics.files.labels(receipt.outcome).inc()
        log.warning("%s: %s: %s", path.name, receipt.outcome, receipt.reason)
        return receipt
