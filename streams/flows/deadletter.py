"""Dead-lettering: a message that can never be valid keeps its bytes and gains a reason.

The original value and key are sent unchanged to the dead-letter topic; headers
say where it came from and why it was refused, so that after a fix
`dvtrigger dead-letter replay` can send it back to its source topic. Every
dead letter is sent, and counted by source role and reason class, here. A
transient failure is never dead-lettered (`streams.flows.errors`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from streams.config.topics import (
    H_REASON,
    H_REASON_CLASS,
    H_SOURCE_OFFSET,
    H_SOURCE_PARTITION,
    H_SOURCE_TOPIC,
)
from streams.domain.parsing import dead_letter_of
from streams.flows.deps import Deps
from streams.flows.errors import DeadLetterFlood, DeadLetterGuard, is_transient, where
from streams.telemetry.labels import topic_role

log = logging.getLogger(__name__)

#: What stops the worker when the dead-letter guard trips (the composition root's).
Stop = Callable[[BaseException], Awaitable[None]]


def dead_letter_headers(
    reason_class: str, reason: str, topic: str, partition: int | None, offset: int | None
) -> list[tuple[str, bytes]]:
    """Headers that explain a dead letter; the reason must already be free of personal data."""
    return [
        (H_REASON_CLASS, reason_class.encode()),
        (H_REASON, reason.encode()[:2000]),
        (H_SOURCE_TOPIC, topic.encode()),
        (H_SOURCE_PARTITION, str(partition).encode()),
        (H_SOURCE_OFFSET, str(offset).encode()),
    ]


class DeadLetters:
    """The dead-letter topic of one worker: what is sent there, counted, and when to stop."""

    def __init__(self, deps: Deps, topic: Any, stop: Stop) -> None:
        """Dead letters go to `topic`; `stop` is called when the guard trips."""
        self._metrics = deps.metrics
        self._topic = topic
        self._stop = stop
        s = deps.settings
        self.guard = DeadLetterGuard(
            s.dead_letter_limit, s.dead_letter_window_s, s.dead_letter_ratio, deps.clock.time
        )

    async def send(self, event: Any, reason_class: str, reason: str) -> None:
        """Send the event's original key and value to the dead-letter topic with the reason;
        one too big to be sent again keeps its headers only (`dead_letter_of`)."""
        event = dead_letter_of(event)
        message = event.message
        headers = dead_letter_headers(
            reason_class, reason, message.topic, message.partition, message.offset
        )
        await self._topic.send(key=event.key, value=event.value, headers=headers)
        source = topic_role(str(message.topic)) or "other"
        self._metrics.dead_letters.labels(source, reason_class).inc()
        log.warning(
            "dead-lettered %s:%s@%s: %s", message.topic, message.partition, message.offset, reason
        )
        if self.guard.dead_lettered():
            log.critical("dead letters are most of what this worker reads: stopping it")
            await self._stop(DeadLetterFlood(f"{reason_class} from {source}"))

    async def guarded(
        self, handle: Callable[[], Awaitable[None]], event: Any, counter: Any
    ) -> None:
        """Run one event's handler; an error it raises on this message dead-letters the message.

        faust acks an event whose agent raised, so such an error must not
        escape: the event goes to the dead-letter topic (reason: the
        exception's type only, its message may carry personal data) and
        `counter` is incremented. A transient failure is raised, for the
        agent to run the work again (`streams.flows.errors.Redelivery`).
        """
        self.guard.handled()
        try:
            await handle()
            return
        except Exception as exc:
            if is_transient(exc):
                raise
            log.error("processing failed at %s; the message is dead-lettered", where(exc))
            counter.inc()
            reason = type(exc).__name__
        # Sent outside the handler: should the guard stop the worker, the crash is logged
        # with no exception in flight, whose message might name a person.
        await self.send(event, "processing_error", reason)
