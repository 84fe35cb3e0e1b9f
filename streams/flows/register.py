"""Register: register events fold into subject records held in a GlobalTable on every worker.

Every worker reads the whole table (its changelog) and keeps an in-memory
index beside it for the matcher: updated on each local write, on each
changelog event from other workers, and rebuilt after recovery.

Each change of a subject record, local or from the changelog, is handed to
`streams.flows.late`, which re-decides the recent incidents this worker owns
that the change may concern (late knowledge). During recovery there are none
yet, and a record that comes back unchanged re-decides nothing.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from streams.domain.parsing import Rejected, parse_register_event
from streams.domain.register.codec import UnreadableRecord, decode, encode
from streams.domain.register.records import apply_event
from streams.flows import heap
from streams.flows import late as late_flow
from streams.flows.deadletter import guarded, send_dead_letter
from streams.flows.wiring import Wiring

log = logging.getLogger(__name__)
#: The topic roles this flow consumes (its lag is measured).
CONSUMES = ("register-events",)


def install(w: Wiring) -> None:
    """Add the register agent and the index upkeep to the app."""

    @w.app.agent(w.topics.register_events, name="apply-register-events")
    async def apply_register(stream: Any) -> None:
        async for event in stream.events():
            failed = w.metrics.register_events_rejected.labels("processing_error")
            await guarded(partial(apply, w, event), w, event, failed)

    w.subjects.on_recover(lambda: rebuild_index(w))


async def apply(w: Wiring, event: Any) -> None:
    """Fold one register event into its subject's record, or dead-letter it."""
    try:
        register_event = parse_register_event(event.value)
    except Rejected as rejected:
        w.metrics.register_events_rejected.labels(rejected.reason_class).inc()
        await send_dead_letter(w, event, rejected.reason_class, rejected.detail)
        return
    ref = register_event.subject.subject_ref
    known = w.index.get(ref)
    record = apply_event(known, register_event)
    if record is known:
        await late_flow.on_subject_repeated(w, record)
        return
    key, value = ref.encode(), encode(record)
    w.subjects[key] = value
    w.own_writes[key] = value
    w.index.upsert(record, value)
    w.metrics.register_events_applied.labels(register_event.type).inc()
    w.metrics.note_register_event(record.last_recorded_at)
    update_size(w)
    await late_flow.on_subject_changed(w, known, record)


async def on_changelog(w: Wiring, event: Any) -> None:
    """Keep the index in step with subject records written by any worker."""
    key = bytes(event.key)
    pending = w.own_writes.get(key)
    if pending is not None and event.value is not None:
        # This worker's own write coming back, already indexed. The changelog has one
        # partition, so an earlier write of ours may echo first: it is older, skip it too.
        if bytes(event.value) == pending:
            del w.own_writes[key]
        return
    if event.value is None:
        w.own_writes.pop(key, None)
        w.index.remove(bytes(event.key).decode())
        update_size(w)
        return
    value = bytes(event.value)
    try:
        record = decode(value)
    except UnreadableRecord as unreadable:
        log.error(
            "unreadable subject record in the register changelog (key skipped): %s", unreadable
        )
        return
    known = w.index.get(record.subject_ref)
    w.index.upsert(record, value)
    w.metrics.note_register_event(record.last_recorded_at)
    update_size(w)
    await late_flow.on_subject_changed(w, known, record)


async def rebuild_index(w: Wiring) -> None:
    """Bring the index into line with the table after recovery (at start, and each rebalance).

    A record the index already holds in the same compact form is not read again,
    so a rebalance costs a comparison per subject, not a reload of the register.
    Then the recent incidents are re-checked against it (`late_flow.table_recovered`).
    """
    newest, filed = None, 0
    for key, value in w.subjects.items():
        if w.index.holds(bytes(key).decode(), value):
            continue
        try:
            record = decode(value)
        except UnreadableRecord as unreadable:
            log.error(
                "unreadable subject record in the register table (key skipped): %s", unreadable
            )
            continue
        w.index.upsert(record, value)  # the table's own bytes: held once
        filed += 1
        if record.last_recorded_at and (newest is None or record.last_recorded_at > newest):
            newest = record.last_recorded_at
    w.metrics.note_register_event(newest)
    if filed:
        w.index.compact()
        heap.settle()  # the load's garbage handed back, the register frozen out of GC walks
    update_size(w)
    log.info("register index rebuilt: %d subjects, %d filed again", len(w.index), filed)
    await late_flow.table_recovered(w, late_flow.REGISTER)


def update_size(w: Wiring) -> None:
    """Publish the register's size by kind."""
    counts = w.index.counts_by_kind()
    for kind in ("child", "unborn"):
        w.metrics.register_subjects.labels(kind).set(counts.get(kind, 0))
