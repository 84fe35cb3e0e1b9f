"""Register: register events fold into subject records held in a GlobalTable on every worker.

Every worker reads the whole table (its changelog) and keeps an in-memory
index beside it for the matcher: updated on each local write, on each
changelog event from other workers, and rebuilt after recovery.

Each change of a subject record, local or from the changelog, is told to a
`RegisterListener` (the late flow, which re-decides the recent incidents this
worker owns that the change may concern). During recovery there are none yet,
and a record that comes back unchanged re-decides nothing.

With snapshots (`streams.flows.register_snapshot`), the index and the table are
loaded from a snapshot at start and the changelog is read only after the
offsets it reflects. The changelog record at each such offset is read again
and must match the snapshot's mark; if it does not (the topic was made anew,
or compacted past it), the snapshot is deleted and the worker stops, so that
it starts again with a full rebuild. A snapshot is written on a timer, only
when every write of this worker has come back on the changelog (so it holds
nothing the changelog does not); a quiet register's snapshot is written again
before it grows too old to be trusted.

A recovery reads the changelog up to a barrier record sent just before it
(`streams.flows.barrier`), not to the end the broker reports, which Tansu
reports short; so when the index is rebuilt it holds every subject the
changelog held at the start, and `complete` says so (for readiness).
"""

from __future__ import annotations

import logging
import time
from functools import partial
from typing import Any, Protocol

import faust

from streams.domain.parsing import Rejected, dead_letter_of, parse_register_event
from streams.domain.register.codec import UnreadableRecord, decode, encode
from streams.domain.register.index import RegisterIndex
from streams.domain.register.records import SubjectRecord, apply_event, unknown_subject
from streams.domain.register.snapshot import Mark, UnusableSnapshot, mark_of
from streams.flows import heap
from streams.flows.barrier import is_barrier
from streams.flows.deadletter import DeadLetters
from streams.flows.deps import Deps, Topics
from streams.flows.errors import Redelivery
from streams.flows.register_snapshot import RegisterSnapshots, describe, held_items

log = logging.getLogger(__name__)


class RegisterListener(Protocol):
    """What is told of the register's changes (the late flow)."""

    async def subject_changed(self, before: SubjectRecord | None, after: SubjectRecord) -> None:
        """A subject record changed (or is new: `before` None)."""
        ...

    async def subject_repeated(self, record: SubjectRecord) -> None:
        """A register event the record already holds came again."""
        ...

    async def register_rebuilt(self) -> None:
        """The index was brought into line with the table after a recovery."""
        ...


class RegisterFlow:
    """The register agent, the index it keeps, and the changelog's upkeep of it."""

    #: The topic roles this flow consumes (its lag is measured).
    CONSUMES = ("register-events",)

    def __init__(
        self,
        deps: Deps,
        topics: Topics,
        subjects: Any,
        index: RegisterIndex,
        listener: RegisterListener,
        dead_letters: DeadLetters,
        redelivery: Redelivery,
        snapshots: RegisterSnapshots | None = None,
        snapshot_interval_s: float = 300.0,
    ) -> None:
        """A flow folding events into `subjects` (a GlobalTable) and `index`.

        `snapshots`: where the index is saved every `snapshot_interval_s` and loaded at start.
        """
        self._deps = deps
        self._topics = topics
        self.subjects = subjects
        self.index = index
        self._listener = listener
        self._dead_letters = dead_letters
        self._redelivery = redelivery
        #: Subject records this worker wrote and has not yet seen come back on the changelog.
        self.own_writes: dict[bytes, bytes] = {}
        self._snapshots = snapshots
        self._snapshot_interval_s = snapshot_interval_s
        self._app: Any = None
        #: Subjects this worker purged whose tombstone has not yet come back.
        self._forgotten: set[bytes] = set()
        #: The last changelog record applied, by partition: (offset, key, value).
        self._last: dict[int, tuple[int, bytes, bytes | None]] = {}
        #: Marks of a loaded snapshot not yet read again on the changelog; and any that differed.
        self._unverified: dict[int, Mark] = {}
        self._mismatched = False
        self._recovered = False
        self._saved: dict[int, int] = {}  # partition -> offset of the last snapshot written
        self._made: float | None = None  # when the snapshot last written or loaded was made
        self.restored = False
        #: Whether the index holds every subject the changelog held when this worker started:
        #: set once its first recovery is through (read to the barrier, `streams.flows.barrier`)
        #: and a loaded snapshot was found to match. Until then, a decision might miss a subject.
        self.complete = False

    async def consume(self, event: Any) -> None:
        """Handle one register event, again after a transient failure. Unfinished as the worker
        stops, it is not handed back (a subject's events must be applied in order, and one put
        back at the end of the topic would come after its successors): the worker exits
        without acknowledging it, and reads it again after the restart."""
        if not await self._redelivery.run(partial(self.handle, event), "register"):
            self._redelivery.abandon("register")

    def install(self, app: faust.App) -> None:
        """Add the register agent and the index upkeep to the app."""

        @app.agent(self._topics.register_events, name="apply-register-events")
        async def apply_register(stream: Any) -> None:
            async for event in stream.events():
                await self.consume(event)

        self.subjects.on_recover(self.rebuild_index)
        self._app = app
        if self._snapshots is not None:
            self.restore()

            async def snapshot_register() -> None:
                await self.save_snapshot()

            app.timer(self._snapshot_interval_s, name="register-snapshot")(snapshot_register)
        timer = getattr(app, "timer", None)  # the unit tests' fake app has none
        if timer is not None:
            interval = heap.FULL_COLLECTION_INTERVAL_S
            timer(interval, on_leader=False, name="heap-collect")(self.collect_garbage)

    async def collect_garbage(self) -> None:
        """Between events: the index's memtable sorted into a run, so no posting waits long as
        Python objects; a full collection once the register is settled (see `heap`), else
        CPython's own; the C heap's free pages handed back either way."""
        self.index.flush()
        if heap.full_collections_held():
            log.debug("full garbage collection took %.3f s", heap.collect())
        else:
            heap.trim()

    def restore(self) -> bool:
        """Load the snapshot into the index and the table, if there is one to trust."""
        assert self._snapshots is not None
        snapshot = self._snapshots.load()
        if snapshot is None:
            return False
        try:
            self.index.restore(snapshot.state)
        except UnusableSnapshot as unusable:
            log.warning("register snapshot not used, rebuilding in full: %s", unusable)
            return False
        offsets = {partition: mark.offset - 1 for partition, mark in snapshot.marks.items()}
        self.subjects.data.hold(held_items(snapshot.state), self._snapshots.topic, offsets)
        self._unverified = dict(snapshot.marks)
        self.restored = True
        self._deps.metrics.register_snapshots.labels("loaded").inc()
        self._made = self._deps.metrics.register_snapshot_made = snapshot.created
        self.update_size()
        heap.settle()
        log.info("register snapshot loaded: %s", describe(snapshot))
        return True

    async def handle(self, event: Any) -> None:
        """Apply one event; an error it raises on this event dead-letters it."""
        failed = self._deps.metrics.register_events_rejected.labels("processing_error")
        await self._dead_letters.guarded(partial(self.apply, event), event, failed)

    async def apply(self, event: Any) -> None:
        """Fold one register event into its subject's record, or dead-letter it: invalid, or a
        change of a subject the register does not hold (`records.unknown_subject`)."""
        metrics = self._deps.metrics
        try:
            register_event = parse_register_event(event.value)
        except Rejected as rejected:
            metrics.register_events_rejected.labels(rejected.reason_class).inc()
            letter = dead_letter_of(event)  # an oversize value is not sent again
            await self._dead_letters.send(letter, rejected.reason_class, rejected.detail)
            return
        ref = register_event.subject.subject_ref
        known = self.index.get(ref)
        if unknown_subject(known, register_event):
            metrics.register_events_rejected.labels("unknown_subject").inc()
            reason = f"{register_event.type} of a subject the register does not hold"
            await self._dead_letters.send(event, "unknown_subject", reason)
            return
        record = apply_event(known, register_event)
        if record is known:
            await self._listener.subject_repeated(record)
            return
        key, value = ref.encode(), encode(record)
        self.subjects[key] = value
        self.own_writes[key] = value
        self.index.upsert(record, value)
        metrics.register_events_applied.labels(register_event.type).inc()
        metrics.note_register_event(record.last_recorded_at)
        self.update_size()
        await self._listener.subject_changed(known, record)

    async def on_changelog(self, event: Any) -> None:
        """Keep the index in step with subject records written by any worker.

        A recovery's barrier (`streams.flows.barrier`) is no subject: skipped, and not a
        snapshot's mark either (a snapshot moves on with the register only).
        """
        if is_barrier(event.key):
            return
        key = bytes(event.key)
        self._track(event, key)
        pending = self.own_writes.get(key)
        if pending is not None and event.value is not None:
            # This worker's own write coming back, already indexed. The changelog has one
            # partition, so an earlier write of ours may echo first: it is older, skip it too.
            if bytes(event.value) == pending:
                del self.own_writes[key]
            return
        if event.value is None:
            self.own_writes.pop(key, None)
            self._forgotten.discard(key)
            self.index.remove(key.decode())
            self.update_size()
            return
        value = bytes(event.value)
        try:
            record = decode(value)
        except UnreadableRecord as unreadable:
            log.error(
                "unreadable subject record in the register changelog (key skipped): %s", unreadable
            )
            return
        known = self.index.get(record.subject_ref)
        self.index.upsert(record, value)
        self._deps.metrics.note_register_event(record.last_recorded_at)
        self.update_size()
        await self._listener.subject_changed(known, record)

    def _track(self, event: Any, key: bytes) -> None:
        """Note the changelog record (for the next snapshot's marks); check a loaded one's."""
        message = event.message
        value = None if event.value is None else bytes(event.value)
        self._last[message.partition] = (message.offset, key, value)
        expected = self._unverified.pop(message.partition, None)
        if expected is not None and mark_of(message.offset, key, value) != expected:
            self._mismatched = True

    async def _check_restored(self) -> bool:
        """Whether the loaded snapshot matched the changelog; if not, delete it and stop."""
        if not self.restored or self._recovered:
            return True
        if not self._mismatched and not self._unverified:
            return True
        assert self._snapshots is not None
        log.error("register snapshot does not match the changelog: deleted, stopping to rebuild")
        self._snapshots.discard()
        self._deps.metrics.register_snapshots.labels("discarded").inc()
        await self._app.crash(UnusableSnapshot("the register snapshot did not match"))
        return False

    async def save_snapshot(self) -> bool:
        """Write a snapshot if the index moved on and holds nothing the changelog does not;
        or, unchanged, before the last one grows too old to be trusted (`due`)."""
        if self._snapshots is None or not self._recovered or not self._last:
            return False
        if self.own_writes or self._forgotten or self._unverified:
            return False
        moved = {p: offset for p, (offset, _, _) in self._last.items()} != self._saved
        if not moved and not self._snapshots.due(self._made):
            return False
        metrics = self._deps.metrics
        began = time.perf_counter()
        marks = {p: mark_of(offset, key, value) for p, (offset, key, value) in self._last.items()}
        state = self.index.state()
        held = time.perf_counter() - began  # the event loop's share: the rest is in a thread
        try:
            made = await self._snapshots.save(state, marks)
        except OSError as error:
            log.error("register snapshot not written: %s", type(error).__name__)
            metrics.register_snapshots.labels("failed").inc()
            return False
        metrics.register_snapshots.labels("written").inc()
        self._made = metrics.register_snapshot_made = made
        self._saved = {p: mark.offset for p, mark in marks.items()}
        log.info(
            "register snapshot written: %d subjects at %s in %.1f s (%.2f s on the event loop)",
            len(self.index),
            self._saved,
            time.perf_counter() - began,
            held,
        )
        return True

    async def rebuild_index(self) -> None:
        """Bring the index into line with the table after recovery (at start, and each rebalance).

        A record the index already holds in the same compact form is not read again,
        so a rebalance costs a comparison per subject, not a reload of the register.
        Then the listener is told (the late flow re-checks the recent incidents).
        A snapshot loaded at start is checked here first (see the module's docstring).
        """
        if not await self._check_restored():
            return
        if self.restored and not self._recovered:
            self.subjects.data.held.clear()  # later recoveries are faust's own
        self._recovered = True
        newest, filed = None, 0
        for key, value in self.subjects.items():
            if self.index.holds(bytes(key).decode(), value):
                continue
            try:
                record = decode(value)
            except UnreadableRecord as unreadable:
                log.error(
                    "unreadable subject record in the register table (key skipped): %s", unreadable
                )
                continue
            self.index.upsert(record, value)  # the table's own bytes: held once
            filed += 1
            if record.last_recorded_at and (newest is None or record.last_recorded_at > newest):
                newest = record.last_recorded_at
        self._deps.metrics.note_register_event(newest)
        if filed:
            self.index.compact()
            heap.settle()  # the load's garbage handed back, the register frozen out of GC walks
        self.update_size()
        log.info("register index rebuilt: %d subjects, %d filed again", len(self.index), filed)
        self.complete = True
        await self._listener.register_rebuilt()

    def forget(self, subject_ref: str) -> None:
        """Purge one subject (retention): its table key, tombstoned on the changelog, and the
        index's entry. Other workers drop it from their index as the tombstone reaches them."""
        key = subject_ref.encode()
        if key in self.subjects:
            del self.subjects[key]
            self._forgotten.add(key)
        self.index.remove(subject_ref)

    def update_size(self) -> None:
        """Publish the register's size by kind."""
        counts = self.index.counts_by_kind()
        for kind in ("child", "unborn"):
            self._deps.metrics.register_subjects.labels(kind).set(counts.get(kind, 0))
