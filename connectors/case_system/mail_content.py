"""The email that tells a council's mailbox a task is waiting in the duty inbox; pure.

The message leaves the council's systems' protection (a mailbox, a phone, a forward), so it
carries references only: the task's id and link, its type, priority, due time and queue, the
council's code, the police force's code and its incident reference, and the version. Never a
name, a date of birth, an address, an NHS number, the incident's narrative, the people in it,
or the words of `changes` and `confirmation_reason` (they can carry a date of birth): the duty
team reads those in the duty inbox, behind sign-in.

The `Message-ID` is made from the task's key and version, so a message sent again after a
crash (the ledger is written after the server accepts) is the same message to a mail system
or a person.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from urllib.parse import quote
from zoneinfo import ZoneInfo

from schemas.task import RaiseTask

TASK_TYPES = {
    "child_protection_investigation": "child protection investigation",
    "match_review": "match review",
}
#: The duty inbox's page of one task (`connectors.duty_inbox.pages.task_detail`).
TASK_PAGE = "/tasks/{task_id}"


@dataclass(frozen=True, slots=True)
class Envelope:
    """Who a notice is from and to, where the duty inbox is, and its wall clock's time zone."""

    sender: str
    recipients: tuple[str, ...]
    link_base: str
    timezone: str = "Europe/London"

    @property
    def domain(self) -> str:
        """The sender's domain: the right-hand side of every Message-ID."""
        return self.sender.rpartition("@")[2]


@dataclass(frozen=True, slots=True)
class Notice:
    """One task version to announce: the command the store holds, and the store's task id."""

    cmd: RaiseTask
    task_id: str
    #: Whether the store had the task before this version (a revision or amendment).
    updated: bool


def task_key(idempotency_key: str) -> str:
    """A short digest of a task's key: the same for every version, and not the key's words."""
    return hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]


def message_id(idempotency_key: str, revision: int, amendment: int, domain: str) -> str:
    """The one Message-ID of one version of one task: '<digest.r2.a0@domain>'."""
    return f"<{task_key(idempotency_key)}.r{revision}.a{amendment}@{domain}>"


def task_link(link_base: str, task_id: str) -> str:
    """The task's page in the duty inbox."""
    return link_base.rstrip("/") + TASK_PAGE.format(task_id=quote(task_id, safe=""))


def state(notice: Notice) -> str:
    """New, or what an update asks of the duty team."""
    cmd = notice.cmd
    if cmd.outcome == "withdrawn":
        return "updated: withdrawn, no investigation is needed"
    if cmd.needs_confirmation:
        return "updated: needs confirmation, a person must confirm the task or close it"
    return "updated" if notice.updated else "new"


def subject_line(notice: Notice, timezone: str) -> str:
    """'[dvtrigger] URGENT child protection investigation due Fri 31 Jul 07:22 - task …'."""
    cmd = notice.cmd
    what = TASK_TYPES[cmd.task_type]
    due = _local(cmd.due_by, timezone).strftime("%a %d %b %H:%M")
    if cmd.outcome == "withdrawn":
        head = f"Withdrawn: {what}"
    else:
        head = f"{cmd.priority.upper()} {what} due {due}"
        if cmd.needs_confirmation:
            head = f"Needs confirmation: {head}"
        elif notice.updated:
            head = f"Updated: {head}"
    return f"[dvtrigger] {head} - task {printable(notice.task_id)}"


def body(notice: Notice, envelope: Envelope) -> str:
    """The plain text: references, priority, due time, state and the link; nothing personal."""
    cmd = notice.cmd
    due = _local(cmd.due_by, envelope.timezone)
    rows = [
        ("Task", TASK_TYPES[cmd.task_type].capitalize()),
        ("Priority", cmd.priority.capitalize()),
        ("Due", f"{due.strftime('%a %d %b %Y, %H:%M %Z')} ({envelope.timezone})"),
        ("Queue", printable(cmd.queue)),
        ("Council", printable(cmd.local_authority or "not known (a police-report subject)")),
        ("Police force", cmd.incident.force),
        ("Incident", printable(cmd.incident_id)),
        ("Version", f"revision {cmd.revision}, amendment {cmd.amendment}"),
        ("State", state(notice)),
        ("Task id", printable(notice.task_id)),
    ]
    width = max(len(name) for name, _ in rows) + 2
    lines = [f"{name + ':':<{width}}{value}" for name, value in rows]
    withdrawn = cmd.outcome == "withdrawn"
    return "\n".join(
        [
            "A task in the duty inbox was withdrawn."
            if withdrawn
            else "A task is waiting for the duty team in the duty inbox.",
            "",
            *lines,
            "",
            "Open the task in the duty inbox:",
            task_link(envelope.link_base, notice.task_id),
            "",
            "This message carries references only: who the task is about and what",
            "happened are in the duty inbox, after signing in.",
            "dvtrigger does not read replies: act on the task in the duty inbox.",
            "",
        ]
    )


def notice_message(notice: Notice, envelope: Envelope, now: datetime) -> EmailMessage:
    """The whole message, text/plain in UTF-8, dated `now`."""
    cmd = notice.cmd
    message = EmailMessage()
    message["From"] = envelope.sender
    message["To"] = ", ".join(envelope.recipients)
    message["Subject"] = subject_line(notice, envelope.timezone)
    message["Date"] = format_datetime(_aware(now))
    message["Message-ID"] = message_id(
        cmd.idempotency_key, cmd.revision, cmd.amendment, envelope.domain
    )
    message["X-dvtrigger-Task-Key"] = task_key(cmd.idempotency_key)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies, please
    text = body(notice, envelope)
    # 7bit keeps the link whole on its line (RFC 5322 allows 998 characters); else QP or base64.
    message.set_content(text, charset="utf-8", cte="7bit" if text.isascii() else None)
    return message


def printable(value: str) -> str:
    """A value from outside as one line of text: a control character becomes '?'."""
    return "".join(char if char.isprintable() else "?" for char in value)


def _aware(moment: datetime) -> datetime:
    """A naive time (a clock without a zone) is taken as UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _local(moment: datetime, timezone: str) -> datetime:
    """`moment` on the council's wall clock."""
    return _aware(moment).astimezone(ZoneInfo(timezone))
