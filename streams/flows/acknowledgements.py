"""Acknowledgements: a raised task is watched until the council's duty team acknowledges it.

The watch is the receipts topic folded (`Watches`): a `task_raised` receipt opens a watch of
its task at its version (revision, amendment), a `task_acknowledged` receipt of that version
or a later one closes it. The deliver worker tails the topic (`read_new`, a consumer in no
group: `connectors/kafka/receipts_log.py`) from `receipts.ack_watch_days` ago when it
starts, then on, so a restart, a rebalance or another worker's deliveries lose no watch and
no faust table has to be recovered. (A faust table was tried first: on the embedded broker a
deliver worker restarted after a SIGKILL then hung about half the time.)

A timer (`receipts.ack_poll_interval_s`) reads what is new, then asks the case system of each
watched task for it, `receipts.ack_poll_batch` at a time, only for the tasks whose command
partition this worker is assigned (so two workers never ask after one task). Acknowledged or
closed: the `task_acknowledged` receipt is sent and acknowledged by the broker, and the
watch closes. Not yet: asked again next time. The case system down: the watch waits. Gone
from the case system, or unacknowledged past `receipts.ack_watch_days`: the watch is dropped,
counted and logged (the reconciliation shows the task raised and not acknowledged).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

import faust
from pydantic import ValidationError

from schemas.receipt import Receipt
from streams.domain import receipts
from streams.domain.ports.case_system import CaseSystemError, TaskNotFound
from streams.domain.ports.routing import Route
from streams.domain.receipts import WatchedTask
from streams.flows.deps import Deps, leaving
from streams.flows.errors import where
from streams.flows.incidents import owns
from streams.flows.receipting import ReceiptSender

log = logging.getLogger(__name__)
#: Statuses of the port that end the watch: the duty team has the task in hand.
DONE = ("acknowledged", "closed")
#: Reads the receipts written since the last read; the first read starts at the time given.
ReadNew = Callable[[datetime], Awaitable[list[bytes]]]


class Watches:
    """The tasks raised and not yet acknowledged, by task key: the receipts topic folded."""

    def __init__(self) -> None:
        self.by_key: dict[str, WatchedTask] = {}

    def fold(self, receipt: Receipt) -> None:
        """Open a watch on a newer `task_raised`; close it on a `task_acknowledged` of its
        version or a later one."""
        if receipt.stage == "task_raised":
            watched = WatchedTask.of_receipt(receipt)
            known = self.by_key.get(watched.task_key)
            if known is None or watched.version >= known.version:
                self.by_key[watched.task_key] = watched
        elif receipt.stage == "task_acknowledged" and receipt.task_key is not None:
            known = self.by_key.get(receipt.task_key)
            acknowledged = (receipt.revision or 0, receipt.amendment or 0)
            if known is not None and known.version <= acknowledged:
                del self.by_key[receipt.task_key]

    def fold_all(self, values: Iterable[bytes]) -> int:
        """Fold raw records; how many were not receipts (skipped)."""
        unreadable = 0
        for value in values:
            try:
                self.fold(Receipt.model_validate_json(value))
            except ValidationError:
                unreadable += 1
        return unreadable


class AcknowledgementFlow:
    """Watches raised tasks and sends `task_acknowledged` receipts."""

    #: The topic roles this flow consumes through faust: none (a timer drives it).
    CONSUMES: tuple[str, ...] = ()

    def __init__(
        self, deps: Deps, app: Any, task_commands: Any, receipts_topic: Any, read_new: ReadNew
    ) -> None:
        """A watcher folding what `read_new` reads of the receipts topic, acting on the tasks
        whose `task_commands` partition this worker holds, answering on `receipts_topic`."""
        self._deps = deps
        self._app = app
        self._task_commands = task_commands
        self._read_new = read_new
        self._sender = ReceiptSender(receipts_topic, deps.metrics)
        #: The poll each watched task was last asked after in, by task key (the longest
        #: unasked go first, so a batch smaller than the watches reaches every one in turn).
        self._asked: dict[str, int] = {}
        self._polls = 0
        self.watches = Watches()

    def install(self, app: faust.App) -> None:
        """Poll every `ack_poll_interval_s` on every worker; none on an app without timers."""
        timer = getattr(app, "timer", None)
        if timer is None:
            return

        async def poll_periodically() -> None:
            await self.poll()

        interval = self._deps.settings.receipts.ack_poll_interval_s
        timer(interval, on_leader=False, name="acknowledgement-poll")(poll_periodically)

    async def catch_up(self) -> None:
        """Fold what was written to the receipts topic since the last read."""
        since = self._deps.clock.now() - timedelta(days=self._deps.settings.receipts.ack_watch_days)
        unreadable = self.watches.fold_all(await self._read_new(since))
        if unreadable:
            log.warning("%d records on the receipts topic are not receipts; skipped", unreadable)

    async def poll(self) -> int:
        """Catch up, then ask after this worker's watched tasks, a slice; how many were
        acknowledged. Never raises: a failure is logged and the next poll tries again."""
        if leaving(self._app):
            return 0
        try:
            await self.catch_up()
        except Exception as exc:
            log.error(
                "reading the receipts topic failed at %s; asking after what is known", where(exc)
            )
        mine = [w for w in list(self.watches.by_key.values()) if self._owns(w.task_key)]
        self._deps.metrics.tasks_awaiting_ack.set(len(mine))
        acknowledged = 0
        for watched in self._next_batch(mine):
            if leaving(self._app):
                break
            try:
                acknowledged += await self._ask(watched)
            except Exception as exc:  # one failure must not stop the others
                log.error("acknowledgement poll failed at %s", where(exc))
        return acknowledged

    def _next_batch(self, mine: list[WatchedTask]) -> list[WatchedTask]:
        """The `ack_poll_batch` watched tasks asked after longest ago (never first, then in
        the order raised), marked as asked in this poll. Were it always the first ones
        raised, a batch of tasks nobody acknowledges would keep every later one unasked."""
        self._polls += 1
        watched = {w.task_key for w in mine}
        self._asked = {key: poll for key, poll in self._asked.items() if key in watched}
        ordered = sorted(mine, key=lambda w: self._asked.get(w.task_key, 0))  # stable
        batch = ordered[: self._deps.settings.receipts.ack_poll_batch]
        for w in batch:
            self._asked[w.task_key] = self._polls
        return batch

    async def _ask(self, watched: WatchedTask) -> int:
        """Ask after one watched task; 1 when it was acknowledged (its receipt sent)."""
        now = self._deps.clock.now()
        window = timedelta(days=self._deps.settings.receipts.ack_watch_days)
        if now - datetime.fromisoformat(watched.raised_at) > window:
            self._drop(watched, "expired")
            return 0
        route = self._route(watched.council)
        try:
            record = await route.case_system.get_task(watched.task_ref)
        except TaskNotFound:
            self._drop(watched, "not_found")
            return 0
        except CaseSystemError:
            return 0  # the case system is down or refusing: ask again next time
        if record.status not in DONE:
            return 0
        at = record.acknowledged_at or record.closed_at or now
        receipt = receipts.task_acknowledged(watched, record.status, at, record.task_type)
        await self._sender.send_all([receipt])
        self.watches.fold(receipt)
        return 1

    def _drop(self, watched: WatchedTask, why: str) -> None:
        """Stop watching a task that will not be acknowledged here; counted and logged."""
        self.watches.by_key.pop(watched.task_key, None)
        self._deps.metrics.ack_watches_dropped.labels(why).inc()
        log.warning(
            "stopped watching task %s of %s for its acknowledgement: %s",
            watched.task_ref,
            watched.council,
            why,
        )

    def _route(self, name: str) -> Route:
        """The route a task was raised on, by name; the default when it is no longer configured."""
        router = self._deps.router
        return router.councils.get(name) or router.default

    def _owns(self, task_key: str) -> bool:
        """Whether this worker holds the task-command partition of the task's key."""
        return owns(self._app, self._task_commands, task_key.encode())
