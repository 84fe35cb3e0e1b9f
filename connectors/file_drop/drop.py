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
from schemas.receipt import Receipt as NotificationReceipt
from streams.domain import receipts
from streams.domain.parsing import Rejected, parse_incident
from streams.flows.deadletter import dead_letter_headers
from streams.flows.receipting import H_CHANNEL, H_RECEIVED_AT, encode

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Topics:
    """Where valid lines go, where refused ones go, and where a refused line's receipt goes
    (a valid line's is sent by the worker that reads it; None: no receipts, as in old tests)."""

    police: str
    dead_letter: str
    receipts: str | None = None

    def both(self) -> list[str]:
        """The topics a line's records go to, as the checkpoint's offsets name them."""
        return [self.police, self.dead_letter] + ([self.receipts] if self.receipts else [])


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
            landed: set[tuple[str, int]] = set()
        else:
            landed = self._landed(progress)
        if progress.finished is None:
            self._publish(progress, verdicts, landed)
        return self._finish(path, progress, verdicts)

    def _landed(self, progress: Progress) -> set[tuple[str, int]]:
        """On a restart: the records of the unfinished batch that the topics already hold, as
        (topic, line): a refused line has two (its dead letter and its receipt), and only the
        one missing is sent again."""
        if progress.finished is not None:
            return set()
        landed = {
            (topic, line)
            for topic, offsets in progress.offsets.items()
            for line in self.feed.landed({topic: offsets}, progress.digest)
        }
        found = len({n for _, n in landed if n >= progress.next_line})
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
        self, progress: Progress, verdicts: list[Accepted | Refused], landed: set[tuple[str, int]]
    ) -> None:
        """Send the lines after the checkpoint, a batch at a time, checkpointing each."""
        pending = [v for v in verdicts if v.number >= progress.next_line]
        for start in range(0, len(pending), self.batch_size):
            batch = pending[start : start + self.batch_size]
            sending: list[Accepted | Refused] = []
            records: list[Outgoing] = []
            for verdict in batch:
                mine = self._records(verdict, progress)
                missing = [r for r in mine if (r.topic, verdict.number) not in landed]
                records += missing
                if len(missing) == len(mine):
                    sending.append(verdict)  # none of it had landed: count it as sent now
            self.feed.publish(records)
            for verdict in sending:
                self._count(verdict)
            progress.next_line = batch[-1].number + 1
            progress.offsets = self.feed.end_offsets(self.topics.both())
            self.folder.save(progress)
            self.metrics.heartbeat.set(self.now().timestamp())
        progress.finished = self.now()
        self.folder.save(progress)

    def _records(self, verdict: Accepted | Refused, progress: Progress) -> list[Outgoing]:
        """The records a line becomes: the incident, tagged with when the drop took it in (the
        worker receipts it); or a dead letter with its reason, and its rejected receipt."""
        file_digest = progress.digest
        tags = [(H_FILE_DIGEST, file_digest.encode()), (H_FILE_LINE, str(verdict.number).encode())]
        if isinstance(verdict, Accepted):
            door = [(H_CHANNEL, b"file_drop"), (H_RECEIVED_AT, _at(progress).encode())]
            incident_key = verdict.incident_id.encode()
            return [Outgoing(self.topics.police, incident_key, verdict.value, tags + door)]
        headers = dead_letter_headers(
            verdict.reason_class, verdict.reason, self.topics.police, None, None
        )
        records = [Outgoing(self.topics.dead_letter, None, verdict.value, headers + tags)]
        if self.topics.receipts is not None:
            receipt_key, value = encode(rejected_receipt(verdict, progress))
            records.append(Outgoing(self.topics.receipts, receipt_key, value, tags))
        return records

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
        receipt = published_receipt(progress, verdicts, notification_receipts(progress, verdicts))
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


def _at(progress: Progress) -> str:
    """When the drop took the file's notifications in: the file's start, the same on a restart."""
    return progress.started.isoformat()


def rejected_receipt(verdict: Refused, progress: Progress) -> NotificationReceipt:
    """The receipt of a refused line, as the receipts topic and the file's receipt hold it."""
    refusal = Rejected(verdict.reason_class, verdict.reason)
    return receipts.rejected(verdict.value, refusal, progress.started, "file_drop")


def notification_receipts(
    progress: Progress, verdicts: list[Accepted | Refused]
) -> list[NotificationReceipt]:
    """Each line's receipt, as the receipts topic has (or, for a valid line, will have) it."""
    found: list[NotificationReceipt] = []
    for verdict in verdicts:
        if isinstance(verdict, Refused):
            found.append(rejected_receipt(verdict, progress))
            continue
        incident = parse_incident(verdict.value)
        found.append(receipts.received(incident, progress.started, "file_drop", verdict.value))
    return found
