"""A file's progress (the checkpoint) and its receipt: what was read, published and refused.

Both hold references only: the file's name and digest, line numbers, reason
classes and reasons (which name fields, never values), incident ids. No line's
content is ever kept here.

The checkpoint's `offsets` are the end offsets of the police and dead-letter
topics taken when the batch starting at `next_line` began: every record of
that batch lands at or after them, so a restart reads the topics back from
there to find the lines that landed before the crash.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from connectors.file_drop.records import Accepted, Refused
from schemas.receipt import Receipt as NotificationReceipt

#: End offsets by topic name, then partition (as text: JSON object keys).
Offsets = dict[str, dict[str, int]]
Outcome = Literal["published", "duplicate", "failed"]


class Refusal(BaseModel):
    """One refused line: its number and why (never its content)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    line: int
    reason_class: str
    reason: str


class Resumption(BaseModel):
    """A restart part-way through a file: where, and how many lines were found on the topics."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    from_line: int
    already_on_topics: int


class Progress(BaseModel):
    """How far one file (by digest) has got; written durably after every acknowledged batch.

    Counts are not kept: the file cannot change (its digest is its name here), so
    what its lines were is worked out again from the file whenever it is needed.
    """

    model_config = ConfigDict(extra="forbid")

    digest: str
    name: str
    started: datetime
    next_line: int = Field(1, description="First line not yet published or dead-lettered.")
    offsets: Offsets = Field(default_factory=dict)
    resumed: list[Resumption] = Field(default_factory=list)
    finished: datetime | None = None
    receipt: str | None = Field(None, description="File name of the receipt, once written.")
    settled: bool = Field(False, description="The file is done: a file with its digest is a copy.")


class Receipt(BaseModel):
    """What became of one dropped file, written next to it in receipts/."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    file: str
    digest: str | None
    outcome: Outcome
    reason: str | None = None
    started: datetime
    finished: datetime
    lines_read: int = 0
    published: int = 0
    refused: list[Refusal] = Field(default_factory=list)
    incident_ids: list[str] = Field(default_factory=list)
    resumed: list[Resumption] = Field(default_factory=list)
    first_receipt: str | None = None
    #: Each line's receipt/1, as the receipts topic holds it: `received` (sent by the worker
    #: that reads the line) or `rejected` (sent by the drop with the dead letter).
    notifications: list[NotificationReceipt] = Field(default_factory=list)


def published_receipt(
    progress: Progress,
    verdicts: Sequence[Accepted | Refused],
    notifications: Sequence[NotificationReceipt] = (),
) -> Receipt:
    """The receipt of a file published in full (refused lines dead-lettered)."""
    assert progress.finished is not None
    accepted = [v for v in verdicts if isinstance(v, Accepted)]
    refused = [
        Refusal(line=v.number, reason_class=v.reason_class, reason=v.reason)
        for v in verdicts
        if isinstance(v, Refused)
    ]
    return Receipt(
        file=progress.name,
        digest=progress.digest,
        outcome="published",
        started=progress.started,
        finished=progress.finished,
        lines_read=len(verdicts),
        published=len(accepted),
        refused=refused,
        incident_ids=list(dict.fromkeys(v.incident_id for v in accepted)),
        resumed=progress.resumed,
        notifications=list(notifications),
    )


def duplicate_receipt(name: str, first: Progress, started: datetime, finished: datetime) -> Receipt:
    """The receipt of a file whose identical content was published before: nothing sent."""
    return Receipt(
        file=name,
        digest=first.digest,
        outcome="duplicate",
        reason=f"identical to {first.name}, published before; nothing was published again",
        started=started,
        finished=finished,
        first_receipt=first.receipt,
    )


def failed_receipt(
    name: str, digest: str | None, reason: str, started: datetime, finished: datetime
) -> Receipt:
    """The receipt of a file that could not be read: nothing was published."""
    return Receipt(
        file=name,
        digest=digest,
        outcome="failed",
        reason=f"{reason}; nothing was published",
        started=started,
        finished=finished,
    )
