"""Receipts onto the receipts topic: keyed by the force's incident reference, counted by stage.

Sends are at least once: a batch whose receipts were not all acknowledged sends them all
again, and the repeats carry the same `receipt_id` (the reader drops them by it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from schemas.receipt import Channel, Receipt
from streams.telemetry.metrics import Metrics

#: Set by a door (the ingress, the file drop) on each notification it publishes: when it took
#: the notification in (ISO 8601), so the worker's `received` receipt says that time.
H_RECEIVED_AT = "dvtrigger-received-at"
#: Which door a notification came through (`ingress`, `file_drop`); absent: the police topic.
H_CHANNEL = "dvtrigger-channel"


def encode(receipt: Receipt) -> tuple[bytes | None, bytes]:
    """The key (the force's incident reference) and value of a receipt's record."""
    key = receipt.incident_id.encode() if receipt.incident_id is not None else None
    return key, receipt.model_dump_json(exclude_none=True).encode()


@dataclass
class Sending:
    """Receipts sent and the acknowledgements to await (None: the sends themselves failed)."""

    receipts: list[Receipt]
    acks: list[Any] | None


class ReceiptSender:
    """Sends receipts to the receipts topic and counts them by stage."""

    def __init__(self, topic: Any, metrics: Metrics) -> None:
        self._topic = topic
        self._metrics = metrics

    async def send(self, receipt: Receipt) -> Any:
        """Send one receipt now; returns the acknowledgement to await."""
        key, value = encode(receipt)
        return await self._topic.send(key=key, value=value)

    async def send_all(self, receipts: Iterable[Receipt]) -> None:
        """Send receipts and wait for every acknowledgement; then count them."""
        await self.confirm(await self.start(receipts))

    async def start(self, receipts: Iterable[Receipt]) -> Sending:
        """Send receipts without waiting: their acknowledgements come with the next flush, so
        a caller may do its own sends meanwhile and `confirm` after (one round trip, not two)."""
        kept = list({receipt.receipt_id: receipt for receipt in receipts}.values())
        try:
            acks = [await self.send(receipt) for receipt in kept]
        except Exception:  # not taken: `confirm` sends them all again
            acks = None
        return Sending(kept, acks)

    async def confirm(self, sending: Sending) -> None:
        """Wait for the acknowledgements of what `start` sent; any failure sends them all
        again (same ids) and waits, raising if the broker still will not take them."""
        try:
            if sending.acks is None:
                raise ConnectionError("receipts not sent")
            await asyncio.gather(*sending.acks)
        except Exception:
            acks = [await self.send(receipt) for receipt in sending.receipts]
            await asyncio.gather(*acks)
        for receipt in sending.receipts:
            self.counted(receipt)

    def counted(self, receipt: Receipt) -> None:
        """Count one receipt sent (once acknowledged)."""
        self._metrics.receipts.labels(receipt.stage).inc()


def door_of(headers: Any) -> tuple[Channel, datetime | None]:
    """Which door a notification came through, and when the door took it, from its headers."""
    found = dict(headers.items() if isinstance(headers, Mapping) else headers or ())
    channel: Channel = "kafka"
    raw_channel = found.get(H_CHANNEL)
    if raw_channel in (b"ingress", b"file_drop"):
        channel = "ingress" if raw_channel == b"ingress" else "file_drop"
    at = None
    raw_at = found.get(H_RECEIVED_AT)
    if raw_at:
        try:
            at = datetime.fromisoformat(raw_at.decode())
        except (UnicodeDecodeError, ValueError):
            at = None
        if at is not None and at.tzinfo is None:
            at = None
    return channel, at
