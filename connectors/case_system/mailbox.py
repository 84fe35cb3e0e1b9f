"""A case system whose front door is a mailbox: the task is stored, and a mail says it is there.

The duty inbox (`store`, usually an `HttpCaseSystem`) stays the system of record, where the duty
team reads and acts on the task; the council's secure mailbox is told, in references only
(`mail_content`), that a task or a new version of one is waiting there.

`raise_task` stores the command first, then mails its version unless the ledger says it was
mailed. Only the version the store now holds is announced: a command the store already holds
a newer version of mails nothing. A failed send raises the case system error tree's
`CaseSystemUnavailable` (retried: the store is idempotent and the ledger makes the retry mail
once) or `CaseSystemRejected` (a permanent refusal: the task is parked and alerts). Delivery is
at least once: a crash after the server accepts and before the ledger is written mails the
version again, with the same Message-ID.

Commands for one task are handled one at a time in this process (the deliver worker's
partitions keep a task's commands on one worker), so concurrent copies mail once.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Protocol

from connectors.case_system.mail_content import Envelope, Notice, message_id, notice_message
from connectors.case_system.sent_ledger import SentLedger
from schemas.task import RaiseTask
from streams.domain.ports.case_system import (
    CaseSystem,
    TaskReceipt,
    TaskRecord,
    TaskStatus,
)
from streams.domain.ports.task_updates import command_order


class Mailer(Protocol):
    """Sends one message; the port `SmtpMailer` implements and tests fake."""

    async def send(self, message: EmailMessage) -> None:
        """Send to the message's recipients; `CaseSystemUnavailable` to retry,
        `CaseSystemRejected` when the server refuses for good. Messages carry no personal data."""
        ...


class MailboxCaseSystem:
    """Stores each task in `store` and mails the council's mailbox that it is there."""

    def __init__(
        self,
        store: CaseSystem,
        mailer: Mailer,
        ledger: SentLedger,
        *,
        link_base: str,
        sender: str,
        recipients: Sequence[str],
        timezone: str = "Europe/London",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if "@" not in sender or not recipients:
            raise ValueError("a mailbox case system needs a sender address and recipients")
        self._store = store
        self._mailer = mailer
        self._ledger = ledger
        self._envelope = Envelope(sender, tuple(recipients), link_base, timezone)
        self._clock = clock
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    async def raise_task(self, cmd: RaiseTask) -> TaskReceipt:
        """Store the command, then mail its version once if the store now holds it."""
        lock = self._locks.setdefault(cmd.idempotency_key, asyncio.Lock())
        async with lock:
            receipt = await self._store.raise_task(cmd)
            notice = await self._notice(cmd, receipt)
            if notice is not None:
                await self._send(notice)
            return receipt

    async def get_task(self, task_id: str) -> TaskRecord:
        """The task as the store holds it."""
        return await self._store.get_task(task_id)

    async def list_tasks(
        self, status: TaskStatus | None = None, limit: int = 100
    ) -> list[TaskRecord]:
        """Tasks in duty order, from the store."""
        return await self._store.list_tasks(status, limit)

    async def aclose(self) -> None:
        """Release the store's connections."""
        await self._store.aclose()

    async def _notice(self, cmd: RaiseTask, receipt: TaskReceipt) -> Notice | None:
        """What to mail for `cmd`: None when mailed already or the store holds a newer version.

        An unchanged receipt is a redelivery (perhaps after a crash before the mail went) or an
        older command of the same revision; the stored task tells which.
        """
        if receipt.revision > cmd.revision:
            return None
        if await self._ledger.sent(cmd.idempotency_key, cmd.revision, cmd.amendment):
            return None
        if receipt.created or receipt.updated:
            return Notice(cmd, receipt.task_id, updated=receipt.updated)
        record = await self._store.get_task(receipt.task_id)
        if command_order(record.task) != command_order(cmd):
            return None
        return Notice(cmd, receipt.task_id, updated=record.revised_at is not None)

    async def _send(self, notice: Notice) -> None:
        """Mail the notice, then note it in the ledger."""
        cmd = notice.cmd
        now = self._clock()
        await self._mailer.send(notice_message(notice, self._envelope, now))
        mid = message_id(cmd.idempotency_key, cmd.revision, cmd.amendment, self._envelope.domain)
        await self._ledger.record(cmd.idempotency_key, cmd.revision, cmd.amendment, mid, now)
