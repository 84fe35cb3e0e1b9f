"""Dead-lettering: a message that can never be valid keeps its bytes and gains a reason.

The original value and key are sent unchanged to the dead-letter topic; headers
say where it came from and why it was refused, so that after a fix
`dvtrigger dead-letter replay` can send it back to its source topic. Every
dead letter is sent, and counted by source role and reason class, here.
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
from streams.flows.wiring import Wiring
from streams.telemetry.labels import topic_role

log = logging.getLogger(__name__)


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


async def send_dead_letter(w: Wiring, event: Any, reason_class: str, reason: str) -> None:
    """Send the event's original key and value to the dead-letter topic with the reason."""
    message = event.message
    headers = dead_letter_headers(
        reason_class, reason, message.topic, message.partition, message.offset
    )
    await w.topics.dead_letter.send(key=event.key, value=event.value, headers=headers)
    source = topic_role(str(message.topic)) or "other"
    w.metrics.dead_letters.labels(source, reason_class).inc()
    log.warning(
        "dead-lettered %s:%s@%s: %s", message.topic, message.partition, message.offset, reason
    )


def where(exc: BaseException) -> str:
    """The exception's type and innermost code location, never its message (it may hold PD)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    place = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}" if tb else "?"
    return f"{type(exc).__name__} ({place})"


async def guarded(
    handle: Callable[[], Awaitable[None]], w: Wiring, event: Any, counter: Any
) -> None:
    """Run one event's handler; on an unexpected error dead-letter the event, never drop it.

    faust acks an event whose agent raised, so an exception must not escape:
    the event goes to the dead-letter topic (reason: the exception's type only,
    its message may carry personal data) and `counter` is incremented.
    """
    try:
        await handle()
    except Exception as exc:
        log.error("processing failed at %s; the message is dead-lettered", where(exc))
        counter.inc()
        await send_dead_letter(w, event, "processing_error", type(exc).__name__)
