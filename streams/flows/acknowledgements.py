"""Acknowledgements: a raised task is watched until the council's duty team acknowledges it.

The deliver worker writes a watch (`WatchedTask`: references only) to the `tasks-awaiting-ack`
table, keyed by the task's idempotency key, each time a task is raised or updated. A timer
(`receipts.ack_poll_interval_s`) asks each watched task's case system for it, a slice at a time
(`receipts.ack_poll_batch`). Acknowledged or closed: the `task_acknowledged` receipt is sent
and acknowledged by the broker, then the watch is removed. Not yet: it is asked again next
time. The case system down: the watch waits. Gone from the case system, or unacknowledged
past `receipts.ack_watch_days`: the watch is dropped, counted and logged (the reconciliation
report shows the task raised and not acknowledged).

Asking works for every adapter (`CaseSystem.get_task`), whatever the case system: the duty
inbox, a council's FHIR server, or the inbox behind the secure-email adapter. A council that
acknowledges in its own system is seen within one poll interval.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import faust

from schemas.task import RaiseTask
from streams.domain import receipts
from streams.domain.ports.case_system import CaseSystemError, TaskNotFound, TaskReceipt
from streams.domain.ports.routing import Route
from streams.domain.receipts import WatchedTask
from streams.flows.deps import Deps, leaving
from streams.flows.errors import where
from streams.flows.incidents import owns
from streams.flows.receipting import ReceiptSender

log = logging.getLogger(__name__)
#: Statuses of the port that end the watch: the duty team has the task in hand.
DONE = ("acknowledged", "closed")


class AcknowledgementFlow:
    """Watches raised tasks and sends `task_acknowledged` receipts."""

    #: The topic roles this flow consumes: none (a timer drives it).
    CONSUMES: tuple[str, ...] = ()

    def __init__(self, deps: Deps, app: Any, table: Any, task_commands: Any, receipts: Any) -> None:
        """A watcher over `table`, partitioned as `task_commands` (whose partitions say which
        watches are this worker's), sending to the `receipts` topic."""
        self._deps = deps
        self._app = app
        self.table = table
        self._task_commands = task_commands
        self._sender = ReceiptSender(receipts, deps.metrics)

    def install(self, app: faust.App) -> None:
        """Poll every `ack_poll_interval_s` on every worker; none on an app without timers."""
        timer = getattr(app, "timer", None)
        if timer is None:
            return

        async def poll_periodically() -> None:
            await self.poll()

        interval = self._deps.settings.receipts.ack_poll_interval_s
        timer(interval, on_leader=False, name="acknowledgement-poll")(poll_periodically)

    def watch(self, command: RaiseTask, route: Route, receipt: TaskReceipt) -> None:
        """Watch a task the case system now holds at this command's revision (from the agent)."""
        if receipt.revision != command.revision:
            return  # a later revision is there; its own delivery watches it
        watched = WatchedTask.of(command, receipt.task_id, route.name, self._deps.clock.now())
        self.table[command.idempotency_key.encode()] = watched.dumps()

    async def poll(self) -> int:
        """Ask after this worker's watched tasks, a slice; how many were acknowledged."""
        settings = self._deps.settings.receipts
        if leaving(self._app):
            return 0
        acknowledged = 0
        mine = [key for key in list(self.table.keys()) if self._owns(key)]
        self._deps.metrics.tasks_awaiting_ack.set(len(mine))
        for key in mine[: settings.ack_poll_batch]:
            if leaving(self._app):
                break
            try:
                acknowledged += await self._ask(key)
            except Exception as exc:  # one failure must not stop the others
                log.error("acknowledgement poll failed at %s", where(exc))
        return acknowledged

    async def _ask(self, key: bytes) -> int:
        """Ask after one watched task; 1 when it was acknowledged (its receipt sent)."""
        raw = self.table.get(key)
        if raw is None:
            return 0
        watched = WatchedTask.loads(raw)
        now = self._deps.clock.now()
        if now - datetime.fromisoformat(watched.raised_at) > timedelta(
            days=self._deps.settings.receipts.ack_watch_days
        ):
            self._drop(key, "expired")
            return 0
        route = self._route(watched.council)
        try:
            record = await route.case_system.get_task(watched.task_ref)
        except TaskNotFound:
            self._drop(key, "not_found")
            return 0
        except CaseSystemError:
            return 0  # the case system is down or refusing: ask again next time
        if record.status not in DONE:
            return 0
        at = record.acknowledged_at or record.closed_at or now
        receipt = receipts.task_acknowledged(watched, record.status, at, record.task_type)
        await self._sender.send_all([receipt])
        if self.table.get(key) == raw:  # not re-watched by a newer delivery meanwhile
            del self.table[key]
        return 1

    def _drop(self, key: bytes, why: str) -> None:
        """Stop watching a task that will not be acknowledged here; counted and logged."""
        del self.table[key]
        self._deps.metrics.ack_watches_dropped.labels(why).inc()
        log.warning("stopped watching a task for its acknowledgement: %s", why)

    def _route(self, name: str) -> Route:
        """The route a task was raised on, by name; the default when it is no longer configured."""
        router = self._deps.router
        return router.councils.get(name) or router.default

    def _owns(self, key: bytes) -> bool:
        """Whether this worker holds the partition of the watch (as of the task command)."""
        return owns(self._app, self._task_commands, key)
