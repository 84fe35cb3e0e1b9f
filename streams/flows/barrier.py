"""A table recovery reads its changelog to the end: a barrier record marks where the end is.

faust recovers a table by reading its changelog up to the partition's high
watermark, which it asks the broker for (ListOffsets) just before reading.
Tansu answers with one past the first offset of the partition's last record
batch, not with the log end: 1,000 records sent in batches gave 860. So a
recovery stopped short of the last batch and the worker decided on a register
missing its last subjects (2 of 127,142, for 31 s after a restart; one of
379k, for 71 s), and an incident-state partition was left without its last
states until the next rebalance.

So before faust asks, `BarrierRecovery` sends one record of its own, alone, to
each changelog partition it is about to read, and waits until the broker has
it (acks=all). The broker's answer gives the barrier's offset: the log holds
everything sent before the recovery below that offset, whatever ListOffsets
says. faust reads up to the record before the barrier (further, if the broker
reports records after it), so a recovery, at start and at each rebalance,
reads every record written before it began, and a table is ready only then
(`RegisterFlow.complete`). The barrier itself is not waited for: at a first
start, with nothing before it, no changelog is read, as without it (a recovery
that reads starts faust's fetcher early, which on Tansu was seen to lose
stream records already waiting). Only the active partitions get a barrier: a
standby's high watermark says when it has caught up, which nothing waits for.
On a broker that answers ListOffsets exactly, the barrier changes nothing but
one record per partition and recovery.

The barrier is a tombstone of `BARRIER_KEY`, which no table ever holds: a
key longer than any subject ref or incident id (64 characters at most by the
contracts), so a tombstone of it deletes nothing, and compaction drops it in
time. Readers of a changelog beside faust (`RegisterFlow.on_changelog`) skip it.

A barrier the broker does not take fails the recovery: the worker stops and
its supervisor starts it again, rather than decide on a table it cannot prove
complete.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Iterable
from typing import Any

from faust.tables.manager import TableManager
from faust.tables.recovery import Recovery
from faust.types import TP

log = logging.getLogger(__name__)

#: The key of the barrier record: never a subject ref nor an incident id (both 64 characters
#: at most), so no table holds it.
BARRIER_KEY = (
    b"dvtrigger.changelog-barrier: the log end before a recovery; never a subject or incident"
)


def is_barrier(key: Any) -> bool:
    """Whether a changelog record's key is the barrier's."""
    return key is not None and bytes(key) == BARRIER_KEY


async def send_barriers(producer: Any, tps: Iterable[TP]) -> dict[TP, int]:
    """Send a barrier to each partition, together; the offset each one was written at."""
    ordered = sorted(tps)
    sent = [
        await producer.send(tp.topic, BARRIER_KEY, None, tp.partition, None, None) for tp in ordered
    ]
    written = await asyncio.gather(*sent)
    return {tp: metadata.offset for tp, metadata in zip(ordered, written, strict=True)}


def read_to_barriers(highwaters: Counter[TP], barriers: dict[TP, int]) -> dict[TP, int]:
    """Set each partition's high watermark (faust's: the last offset to read) to the record
    before its barrier, unless the broker reports records after the barrier; by how much
    each was raised (those the broker reported short).

    The barrier itself is not waited for: at a first start, with nothing before it, no
    changelog is read at all, as without a barrier.
    """
    short = {}
    for tp, offset in barriers.items():
        before = offset - 1
        if highwaters[tp] < before:
            short[tp] = before - highwaters[tp]
        if highwaters[tp] <= offset:
            highwaters[tp] = before
    return short


class BarrierRecovery(Recovery):
    """faust's recovery, reading each changelog up to a barrier sent just before it began."""

    async def _build_highwaters(
        self, consumer: Any, tps: set[TP], destination: Counter[TP], title: str
    ) -> None:
        """faust's high watermarks, each set to the record before the barrier sent to its
        partition: only the active partitions' (see the module's docstring)."""
        active = tps if title == "active" else set()
        barriers = await send_barriers(self.app.producer, active) if active else {}
        await super()._build_highwaters(consumer, tps, destination, title)
        short = read_to_barriers(destination, barriers)
        if short:
            log.info(
                "changelog ends past the broker's high watermark, read to the barrier:"
                " %d of %d %s partitions, by up to %d records",
                len(short),
                len(barriers),
                title,
                max(short.values()),
            )


class BarrierTableManager(TableManager):
    """faust's table manager, whose recovery reads to a barrier (`BarrierRecovery`)."""

    @property
    def recovery(self) -> Recovery:
        """The recovery service, made on first use as faust's own is."""
        if self._recovery is None:
            self._recovery = BarrierRecovery(self.app, self, beacon=self.beacon, loop=self.loop)
        return self._recovery
