"""The register snapshot: restores what a full rebuild gives, refuses what it cannot trust."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from connectors.simulate import simulate
from schemas.police import PoliceIncident
from schemas.register import RegisterEvent
from streams.domain.matching.blocking import record_keys
from streams.domain.register.codec import encode
from streams.domain.register.index import RegisterIndex
from streams.domain.register.records import SubjectRecord, apply_event
from streams.domain.register.snapshot import (
    Expect,
    Mark,
    UnusableSnapshot,
    decode,
    mark_of,
)
from streams.domain.register.snapshot import encode as encode_snapshot
from streams.domain.rules import incident_day
from streams.flows.register import RegisterFlow
from streams.flows.register_snapshot import RegisterSnapshots
from tests.support.fakes import FakeTable, fake_event, make_worker

TOPIC = "app-register-subjects-changelog"
NOW = 1_800_000_000.0
MARKS = {0: Mark(41, "a" * 32)}


@pytest.fixture(scope="module")
def scenario() -> Any:
    return simulate(11, 80, 60)


def folded(events: list[dict[str, Any]]) -> dict[str, SubjectRecord]:
    """Each subject's record after `events`, as the register agent folds them."""
    records: dict[str, SubjectRecord] = {}
    for row in events:
        event = RegisterEvent.model_validate(row)
        ref = event.subject.subject_ref
        records[ref] = apply_event(records.get(ref), event)
    return records


def rebuilt(records: dict[str, SubjectRecord]) -> RegisterIndex:
    """The index a worker rebuilds from the whole changelog."""
    index = RegisterIndex()
    for record in records.values():
        index.upsert(record, encode(record))
    index.compact()
    return index


def live(records: dict[str, SubjectRecord], memtable: int = 7) -> RegisterIndex:
    """An index kept up event by event: several runs, a memtable, dead numbers."""
    index = RegisterIndex(memtable_records=memtable)
    for i, record in enumerate(records.values()):
        index.upsert(record, encode(record))
        if i % 5 == 0:  # filed twice: the first filing dies
            index.upsert(record, encode(record))
    return index


def round_trip(index: RegisterIndex, expect: Expect | None = None) -> RegisterIndex:
    chunks = encode_snapshot(index.state(), TOPIC, MARKS, RegisterIndex.key_hash_fingerprint(), NOW)
    snapshot = decode(b"".join(chunks), expect or expected())
    restored = RegisterIndex()
    restored.restore(snapshot.state)
    assert snapshot.marks == MARKS
    return restored


def expected(**changes: Any) -> Expect:
    fields = {"topic": TOPIC, "key_hash": RegisterIndex.key_hash_fingerprint(), "now": NOW + 60}
    return Expect(**{**fields, "max_age_s": 3600.0, **changes})


def view(index: RegisterIndex, records: dict[str, SubjectRecord], incidents: list[Any]) -> Any:
    """Everything an index answers about a register and some incidents."""
    postings = index._postings
    return {
        "size": len(index),
        "kinds": index.counts_by_kind(),
        "records": {ref: (index.get(ref), postings.window(ref)) for ref in records},
        "keys": {k: index.refs_for_key(k) for r in records.values() for k in record_keys(r)},
        "families": {ref: index.family(ref) for ref in records},
        "children": {ref: index.child_of_pregnancy(ref) for ref in records},
        "namesakes": [
            index.namesakes(g, f)
            for r in records.values()
            for c in r.carers
            for g, f in zip(c.given_names, c.family_names, strict=False)
        ],
        "ended": sorted(index.ended_by(800_000)),
        "candidates": [
            [r.subject_ref for r in index.candidates(i, incident_day(i))] for i in incidents
        ],
    }


def test_a_snapshot_restores_what_a_full_rebuild_gives(scenario: Any) -> None:
    records = folded(scenario.register)
    incidents = [PoliceIncident.model_validate(m) for m in scenario.incidents]
    full = view(rebuilt(records), records, incidents)
    assert full["size"] == len(records) and any(full["candidates"])
    assert view(round_trip(live(records)), records, incidents) == full
    assert view(round_trip(rebuilt(records)), records, incidents) == full


def test_a_restored_index_takes_changes_as_a_rebuilt_one_does(scenario: Any) -> None:
    records = folded(scenario.register)
    incidents = [PoliceIncident.model_validate(m) for m in scenario.incidents]
    early = folded(scenario.register[: len(scenario.register) // 2])
    restored = round_trip(live(early))
    for ref, record in records.items():
        if early.get(ref) != record:
            restored.upsert(record, encode(record))
    gone = sorted(records)[:3]
    for ref in gone:
        restored.remove(ref)
    kept = {ref: record for ref, record in records.items() if ref not in gone}
    restored.compact()
    assert view(restored, kept, incidents) == view(rebuilt(kept), kept, incidents)


def snapshot_bytes(scenario: Any) -> bytes:
    index = live(folded(scenario.register[:200]))
    key_hash = RegisterIndex.key_hash_fingerprint()
    return b"".join(encode_snapshot(index.state(), TOPIC, MARKS, key_hash, NOW))


@pytest.mark.parametrize(
    ("change", "expect"),
    [
        ("flip", {}),
        ("cut", {}),
        ("garbage", {}),
        ("none", {"topic": "other-register-subjects-changelog"}),
        ("none", {"key_hash": [1, 2, 3]}),
        ("none", {"now": NOW + 7200}),
        ("none", {"now": NOW - 60}),
    ],
)
def test_a_damaged_stale_or_mismatched_snapshot_is_refused(
    scenario: Any, change: str, expect: dict[str, Any]
) -> None:
    data = bytearray(snapshot_bytes(scenario))
    if change == "flip":
        data[len(data) // 2] ^= 0x40
    elif change == "cut":
        data = data[: len(data) - 100]
    elif change == "garbage":
        data = bytearray(b"DVRSNAP\x01" + os.urandom(200))
    with pytest.raises(UnusableSnapshot):
        decode(bytes(data), expected(**expect))


def test_a_snapshot_file_is_written_whole_private_and_read_back(
    scenario: Any, tmp_path: Path
) -> None:
    snapshots = RegisterSnapshots(
        tmp_path / "snap", TOPIC, RegisterIndex.key_hash_fingerprint(), 3600, lambda: NOW
    )
    assert snapshots.load() is None
    index = live(folded(scenario.register[:200]))
    snapshots.write(encode_snapshot(index.state(), TOPIC, MARKS, snapshots._key_hash, NOW))
    assert stat.S_IMODE(snapshots.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(snapshots.directory.stat().st_mode) == 0o700
    assert [p.name for p in snapshots.directory.iterdir()] == [snapshots.path.name]
    loaded = snapshots.load()
    assert loaded is not None and len(loaded.state.postings.refs) == len(
        index.state().postings.refs
    )

    def failing() -> Any:
        yield b"half a snapshot"
        raise OSError("disk full")

    with pytest.raises(OSError):
        snapshots.write(failing())
    assert snapshots.load() is not None  # the old snapshot still whole, no temporary left
    assert [p.name for p in snapshots.directory.iterdir()] == [snapshots.path.name]
    snapshots.path.write_bytes(snapshots.path.read_bytes()[:-1] + b"?")
    assert snapshots.load() is None  # damaged: a full rebuild


class SnapshotTable(FakeTable):
    """A table with the snapshot store's one extra: the offsets it holds."""

    def __init__(self) -> None:
        super().__init__()
        self.data = SimpleNamespace(held={}, hold=self._hold)

    def _hold(self, items: Any, topic: str, offsets: dict[int, int]) -> None:
        self.update(items)
        self.data.held = {(topic, p): o for p, o in offsets.items()}


class CrashingApp:
    def __init__(self) -> None:
        self.crashed: list[BaseException] = []

    def timer(self, *args: Any, **kwargs: Any) -> Any:
        return lambda fun: fun

    def agent(self, *args: Any, **kwargs: Any) -> Any:
        return lambda fun: fun

    async def crash(self, reason: BaseException) -> None:
        self.crashed.append(reason)


def flow_with(snapshots: RegisterSnapshots) -> tuple[RegisterFlow, SnapshotTable, CrashingApp]:
    w = make_worker()
    assert w.register is not None
    table, app = SnapshotTable(), CrashingApp()
    flow = RegisterFlow(
        w.deps,
        w.topics,
        table,
        RegisterIndex(),
        w.late,  # type: ignore[arg-type]
        w.dead_letters,  # type: ignore[arg-type]
        w.register._redelivery,
        snapshots,
    )
    flow.install(app)  # type: ignore[arg-type]
    return flow, table, app


def saved_snapshot(scenario: Any, tmp_path: Path) -> tuple[RegisterSnapshots, dict[str, Any]]:
    """A snapshot on disk of the scenario's register, at changelog offset 41."""
    records = folded(scenario.register)
    snapshots = RegisterSnapshots(tmp_path, TOPIC, RegisterIndex.key_hash_fingerprint(), 3600)
    last = next(iter(records.values()))
    marks = {0: mark_of(41, last.subject_ref.encode(), encode(last))}
    state = rebuilt(records).state()
    snapshots.write(encode_snapshot(state, TOPIC, marks, snapshots._key_hash, snapshots._clock()))
    return snapshots, {"records": records, "last": last}


async def test_a_worker_loads_a_snapshot_and_reads_the_changelog_after_it(
    scenario: Any, tmp_path: Path
) -> None:
    snapshots, saved = saved_snapshot(scenario, tmp_path)
    flow, table, app = flow_with(snapshots)
    assert flow.restored and len(flow.index) == len(saved["records"]) == len(table)
    assert table.data.held == {(TOPIC, 0): 40}  # the marked record is read again
    last = saved["last"]
    await flow.on_changelog(fake_event(encode(last), key=last.subject_ref.encode(), offset=41))
    await flow.rebuild_index()
    assert app.crashed == [] and table.data.held == {} and flow.complete
    assert snapshots.path.exists()


@pytest.mark.parametrize("seen", ["another record", "nothing"])
async def test_a_snapshot_the_changelog_does_not_hold_is_deleted_and_the_worker_stops(
    scenario: Any, tmp_path: Path, seen: str
) -> None:
    snapshots, saved = saved_snapshot(scenario, tmp_path)
    flow, _, app = flow_with(snapshots)
    if seen == "another record":  # the topic was made anew: offset 41 holds something else
        last = saved["last"]
        await flow.on_changelog(fake_event(b"other", key=last.subject_ref.encode(), offset=41))
    await flow.rebuild_index()
    assert len(app.crashed) == 1 and not snapshots.path.exists()
    assert not flow.complete  # nothing decided on it: the worker stops to rebuild in full


async def test_a_snapshot_waits_for_this_workers_writes_to_come_back(
    scenario: Any, tmp_path: Path
) -> None:
    snapshots = RegisterSnapshots(tmp_path, TOPIC, RegisterIndex.key_hash_fingerprint(), 3600)
    flow, table, _ = flow_with(snapshots)
    assert not flow.restored
    await flow.rebuild_index()
    row = scenario.register[0]
    await flow.apply(fake_event(RegisterEvent.model_validate(row).model_dump_json().encode()))
    key, value = next(iter(table.items()))
    assert not await flow.save_snapshot()  # the write has not come back: nothing to reflect
    await flow.on_changelog(fake_event(value, key=key, offset=0))
    assert await flow.save_snapshot()
    assert not await flow.save_snapshot()  # nothing new since
    loaded = snapshots.load()
    assert loaded is not None and loaded.marks == {0: mark_of(0, key, value)}


def test_key_hashes_are_the_same_in_every_process() -> None:
    """Another process, with another string-hash seed, files keys under the same hashes."""
    import subprocess
    import sys

    from streams.domain.register.index import RegisterIndex

    code = (
        "from streams.domain.register.index import RegisterIndex as R;"
        " print(R.key_hash_fingerprint())"
    )
    for seed in ("1", "2"):
        other = subprocess.run(
            [sys.executable, "-c", code],
            env={"PYTHONHASHSEED": seed, "PATH": ""},
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parents[2],
        )
        assert other.stdout.strip() == str(RegisterIndex.key_hash_fingerprint())


def snapshot_metric(flow: RegisterFlow, result: str) -> float:
    """How many snapshots the flow counted with this result."""
    registry = flow._deps.metrics.registry
    return registry.get_sample_value("dvtrigger_register_snapshots_total", {"result": result}) or 0


async def test_a_quiet_registers_snapshot_is_written_again_before_it_is_too_old(
    scenario: Any, tmp_path: Path
) -> None:
    now = [1_000_000.0]
    snapshots = RegisterSnapshots(
        tmp_path, TOPIC, RegisterIndex.key_hash_fingerprint(), 3600, clock=lambda: now[0]
    )
    flow, table, _ = flow_with(snapshots)
    await flow.rebuild_index()
    row = scenario.register[0]
    await flow.apply(fake_event(RegisterEvent.model_validate(row).model_dump_json().encode()))
    key, value = next(iter(table.items()))
    await flow.on_changelog(fake_event(value, key=key, offset=0))
    assert await flow.save_snapshot()
    now[0] += 3600 / 4 - 1
    assert not await flow.save_snapshot()  # nothing new, and young enough to trust
    now[0] += 1
    assert await flow.save_snapshot()  # nothing new, but a restart must still trust it
    loaded = snapshots.load()
    assert loaded is not None and loaded.created == now[0]
    assert loaded.marks == {0: mark_of(0, key, value)}
    registry = flow._deps.metrics.registry
    assert snapshot_metric(flow, "written") == 2
    assert registry.get_sample_value("dvtrigger_register_snapshot_timestamp_seconds") == now[0]


async def test_snapshots_loaded_discarded_and_failed_are_counted(
    scenario: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    snapshots, saved = saved_snapshot(scenario, tmp_path)
    made = snapshots.load()
    assert made is not None
    flow, _, _ = flow_with(snapshots)
    registry = flow._deps.metrics.registry
    assert snapshot_metric(flow, "loaded") == 1
    assert registry.get_sample_value("dvtrigger_register_snapshot_timestamp_seconds") == (
        made.created
    )
    last = saved["last"]
    await flow.on_changelog(fake_event(b"other", key=last.subject_ref.encode(), offset=41))
    await flow.rebuild_index()
    assert snapshot_metric(flow, "discarded") == 1

    quiet, _, _ = flow_with(RegisterSnapshots(tmp_path / "new", TOPIC, [0], 3600))
    await quiet.rebuild_index()
    await quiet.on_changelog(fake_event(encode(last), key=last.subject_ref.encode(), offset=0))

    def full(chunks: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(RegisterSnapshots, "write", lambda self, chunks: full(chunks))
    assert not await quiet.save_snapshot()
    assert snapshot_metric(quiet, "failed") == 1 and snapshot_metric(quiet, "written") == 0
