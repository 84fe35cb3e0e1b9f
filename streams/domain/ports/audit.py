"""The audit log port: who did or decided what, when, from where, and why.

Every decision, task command, task action, override, sign-in and view of a task is appended
here. The adapter (`connectors.audit`) chains the records by hash, so a changed, removed,
inserted or reordered record is found by `dvtrigger audit verify`. A record has two parts:

- its *envelope* (kind, actor, time, origin, reason and references), kept as long as the
  log is, so the chain and who-did-what stay whole; references are identifiers only
  (incident id, task id, subject and person refs), never names, dates or addresses;
- its *detail*, which may hold personal data (a decision's inputs, so that it can be
  explained later) and which retention may purge: the chain holds the detail's digest, so
  a purged detail leaves the chain verifiable.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

AuditKind = Literal[
    "decision",  # the decide worker decided an incident revision
    "task_command",  # the decide worker asked for a task to be raised, revised or withdrawn
    "task_action",  # a person acted on a task: acknowledged, closed, reopened...
    "override",  # a person overrode an automated decision (e.g. a review's outcome)
    "view",  # a person looked at a task or a list of tasks
    "sign_in",  # a person signed in (or failed to: detail.result)
    "sign_out",
    "denied",  # a person or system was refused (not signed in, wrong role or council)
    "user_admin",  # a local user was added, disabled, or had their roles changed
    "retention",  # retention purged data (counts and references only)
]


class AuditEvent(BaseModel):
    """One thing to account for, before the log chains it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: AuditKind
    at: datetime
    actor: str = Field(
        description="Who: `user:<username>`, `system:<process>` or `force:<force code>`."
    )
    action: str = Field(description="What, in a word or two: `decided`, `viewed`, `closed`.")
    origin: str | None = Field(None, description="From where: client address, or host.")
    reason: str | None = Field(
        None,
        description="Why, as a fixed phrase or code: free text a person typed may name people"
        " and places, so it goes in the detail, and this says that one was given.",
    )
    refs: dict[str, list[str]] = Field(
        default_factory=dict,
        description="What it was about, by reference only: incident, task, subject, person,"
        " council. Queries by person, task or user read these.",
    )
    detail: dict[str, Any] = Field(
        default_factory=dict,
        description="What retention may purge: a decision's inputs and evidence.",
    )


class AuditLog(Protocol):
    """Where audit events are appended; an append is durable when it returns."""

    def append(self, event: AuditEvent) -> None:
        """Append one event to the chain."""
        ...

    def append_many(self, events: list[AuditEvent]) -> None:
        """Append events in order, with one write to durable storage."""
        ...


#: The file, in the audit directory, naming the references under legal hold (one a line):
#: written by the duty inbox's retention, read by the decide worker's, whose purge keeps them.
HELD_REFS_FILE = "held-refs.txt"


@runtime_checkable
class PurgeableAuditLog(Protocol):
    """An audit log whose old details retention may purge (a capability, not every log's)."""

    def purge_details(self, before: datetime, keep_refs: set[str] | None = None) -> int:
        """Null the details of records before `before`, but those naming any of `keep_refs`;
        the envelopes and the chain stay. How many were purged."""
        ...


class NoAudit:
    """An audit log that keeps nothing: for tests and tools that decide nothing for real."""

    def append(self, event: AuditEvent) -> None:
        """Drop the event."""

    def append_many(self, events: list[AuditEvent]) -> None:
        """Drop the events."""
