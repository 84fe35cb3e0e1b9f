"""The retention sweep: subjects and incident states past their time leave the tables (a
tombstone on each changelog) and the in-memory indexes; what is still held stays."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import faust
import pytest
from prometheus_client import CollectorRegistry

from connectors.case_system.memory import InMemoryCaseSystem
from schemas.police import PoliceIncident
from streams.bootstrap import Runtime, Worker, build
from streams.config.settings import RetentionSettings, Settings
from streams.domain.register.codec import encode
from streams.domain.register.records import SubjectRecord
from streams.telemetry.metrics import Metrics
from tests.support.fakes import (
    FakeClock,
    FakeTable,
    TimerApp,
    fake_event,
    fake_topics,
    make_worker,
    sample_value,
)
from tests.support.samples import sample_incident

BORN = date(2026, 2, 11)  # first birthday 2027-02-11; purged from 2027-08-10 (180 days on)
PURGE_DAY = datetime(2027, 8, 10, 9, 0, tzinfo=UTC)


def at(moment: datetime, **retention: Any) -> Worker:
    """A worker whose clock shows `moment`, with these retention settings."""
    settings = Settings(retention=RetentionSettings(**retention))
    return make_worker(settings, clock=FakeClock(moment))


def hold(w: Worker, *records: SubjectRecord) -> None:
    """Put subjects in the worker's register table and index, as the register flow would."""
    assert w.register is not None
    for record in records:
        value = encode(record)
        w.subjects[record.subject_ref.encode()] = value
        w.register.index.upsert(record, value)


def child(ref: str, born: date | None = BORN, **kw: Any) -> SubjectRecord:
    return SubjectRecord(subject_ref=ref, kind="child", date_of_birth=born, **kw)


def purged(w: Worker, kind: str) -> float:
    return sample_value(w, "dvtrigger_retention_purged_total", kind=kind)


# --- register subjects -----------------------------------------------------------------------


async def test_a_subject_past_its_time_leaves_the_table_and_the_index() -> None:
    w = at(PURGE_DAY)
    hold(w, child("C1"), child("C2", born=date(2026, 9, 1)), child("C3", born=None))
    swept = await w.retention.sweep()  # type: ignore[union-attr]
    assert swept.subjects == 1
    assert b"C1" not in w.subjects and w.register.index.get("C1") is None  # type: ignore[union-attr]
    assert {b"C2", b"C3"} <= set(w.subjects)
    assert {r.subject_ref for r in w.register.index} == {"C2", "C3"}  # type: ignore[union-attr]
    assert purged(w, "register_subject") == 1
    assert sample_value(w, "dvtrigger_register_subjects", kind="child") == 2
    assert (
        sample_value(w, "dvtrigger_retention_last_sweep_timestamp_seconds") == PURGE_DAY.timestamp()
    )


async def test_a_subject_is_held_until_the_last_day_of_its_grace_period() -> None:
    w = at(PURGE_DAY - timedelta(days=1))
    hold(w, child("C1"))
    assert (await w.retention.sweep()).subjects == 0  # type: ignore[union-attr]
    assert b"C1" in w.subjects and purged(w, "register_subject") == 0


async def test_the_grace_period_is_a_setting() -> None:
    w = at(PURGE_DAY - timedelta(days=90), register_purge_after_days=90)
    hold(w, child("C1"))
    assert (await w.retention.sweep()).subjects == 1  # type: ignore[union-attr]


async def test_a_pregnancy_stays_while_the_child_it_became_is_held() -> None:
    w = at(PURGE_DAY)
    pregnancy = SubjectRecord(
        subject_ref="U1", kind="unborn", expected_delivery_date=date(2026, 2, 20)
    )
    born_later = child("C1", born=date(2026, 3, 1), from_pregnancy_ref="U1")
    hold(w, pregnancy, born_later)
    assert (await w.retention.sweep()).subjects == 0  # type: ignore[union-attr]
    assert {b"U1", b"C1"} <= set(w.subjects)
    w.deps.clock.set(PURGE_DAY + timedelta(days=19))  # type: ignore[attr-defined]
    assert (await w.retention.sweep()).subjects == 2  # type: ignore[union-attr]
    assert len(w.register.index) == 0  # type: ignore[union-attr]


def cluster(topic: str, assigned: set[int], partition_of: dict[bytes, int]) -> SimpleNamespace:
    """faust's consumer as `owns` asks it."""
    return SimpleNamespace(
        key_partition=lambda _topic, key: partition_of[key],
        assignment=lambda: [SimpleNamespace(topic=topic, partition=p) for p in assigned],
    )


async def test_a_worker_purges_only_the_subjects_whose_register_events_it_applies() -> None:
    w = at(PURGE_DAY)
    hold(w, child("C1"), child("C2"))
    w.app.consumer = cluster("dvtrigger.register-events", {0}, {b"C1": 0, b"C2": 1})
    assert (await w.retention.sweep()).subjects == 1  # type: ignore[union-attr]
    assert b"C1" not in w.subjects and b"C2" in w.subjects


async def test_another_worker_drops_a_purged_subject_when_the_tombstone_reaches_it() -> None:
    other = at(PURGE_DAY)
    hold(other, child("C1"))
    await other.register.on_changelog(fake_event(None, key=b"C1"))  # type: ignore[union-attr]
    assert other.register.index.get("C1") is None  # type: ignore[union-attr]


async def test_nothing_is_purged_while_the_worker_is_rebalancing() -> None:
    w = at(PURGE_DAY)
    hold(w, child("C1"))
    w.app.rebalancing = True
    assert (await w.retention.sweep()).subjects == 0  # type: ignore[union-attr]
    assert b"C1" in w.subjects


# --- incident state --------------------------------------------------------------------------


def incident(incident_id: str, occurred: datetime, reported: datetime) -> PoliceIncident:
    return sample_incident(
        incident_id, occurred_at=occurred.isoformat(), reported_at=reported.isoformat()
    )


async def decided(w: Worker, *incidents: PoliceIncident) -> None:
    """Decide the incidents, as the decide agent would."""
    for one in incidents:
        value = one.model_dump_json().encode()
        await w.decide.handle(fake_event(value, key=one.incident_id.encode()))  # type: ignore[union-attr]


DAY = datetime(2026, 7, 30, 6, 0, tzinfo=UTC)


async def test_an_incident_state_past_its_window_and_margin_is_purged() -> None:
    w = at(DAY)
    old = incident("MPS-2026-000001", DAY, DAY + timedelta(hours=3))
    newer = incident("MPS-2026-000002", DAY + timedelta(days=40), DAY + timedelta(days=40))
    late = incident("MPS-2026-000003", DAY - timedelta(days=200), DAY + timedelta(days=10))
    await decided(w, old, newer, late)
    assert len(w.incident_state) == 3
    w.deps.clock.set(DAY + timedelta(days=121))  # type: ignore[attr-defined]
    swept = await w.retention.sweep()  # type: ignore[union-attr]
    assert swept.incidents == 1
    assert set(w.incident_state) == {b"MPS-2026-000002", b"MPS-2026-000003"}
    assert "MPS-2026-000001" not in w.decide.incidents.recent  # type: ignore[union-attr]
    assert purged(w, "incident_state") == 1


async def test_an_incident_state_is_held_through_its_margin() -> None:
    w = at(DAY)
    await decided(w, incident("MPS-2026-000001", DAY, DAY))
    w.deps.clock.set(DAY + timedelta(days=120))  # type: ignore[attr-defined]
    assert (await w.retention.sweep()).incidents == 0  # type: ignore[union-attr]
    assert b"MPS-2026-000001" in w.incident_state


async def test_an_incident_state_of_a_partition_moved_away_is_left_to_its_owner() -> None:
    w = at(DAY)
    await decided(w, incident("MPS-2026-000001", DAY, DAY))
    w.deps.clock.set(DAY + timedelta(days=400))  # type: ignore[attr-defined]
    w.app.consumer = cluster("dvtrigger.incidents", {0}, {b"MPS-2026-000001": 1})
    assert (await w.retention.sweep()).incidents == 0  # type: ignore[union-attr]
    assert b"MPS-2026-000001" in w.incident_state


async def test_an_unreadable_state_is_held_and_the_sweep_goes_on() -> None:
    w = at(DAY)
    await decided(w, incident("MPS-2026-000001", DAY, DAY))
    w.incident_state[b"MPS-2026-000000"] = b"not json"
    w.deps.clock.set(DAY + timedelta(days=400))  # type: ignore[attr-defined]
    assert (await w.retention.sweep()).incidents == 1  # type: ignore[union-attr]
    assert set(w.incident_state) == {b"MPS-2026-000000"}


class CountingLock(asyncio.Lock):
    """The decide lock, counting how often it is taken."""

    taken = 0

    async def __aenter__(self) -> None:
        CountingLock.taken += 1
        await super().__aenter__()


async def test_incident_states_are_purged_in_slices_each_under_the_lock() -> None:
    w = at(DAY, purge_slice=2)
    await decided(w, *(incident(f"MPS-2026-00000{n}", DAY, DAY) for n in range(5)))
    w.decide.incidents.lock = CountingLock()  # type: ignore[union-attr]
    CountingLock.taken = 0
    w.deps.clock.set(DAY + timedelta(days=200))  # type: ignore[attr-defined]
    assert (await w.retention.sweep()).incidents == 5  # type: ignore[union-attr]
    assert CountingLock.taken == 3


# --- the timer, and faust's tombstones -------------------------------------------------------


async def test_every_decide_worker_runs_the_sweep_on_a_timer_of_the_set_interval() -> None:
    app, subjects = TimerApp(), FakeTable()
    runtime = Runtime(app, fake_topics(), subjects, FakeTable())  # type: ignore[arg-type]
    settings = Settings(retention=RetentionSettings(purge_interval_s=600))
    w = build(
        settings,
        InMemoryCaseSystem(),
        Metrics(CollectorRegistry()),
        clock=FakeClock(PURGE_DAY),
        runtime=runtime,
    )
    hold(w, child("C1"))
    interval, options, tick = app.timers["retention-sweep"]
    assert interval == 600 and options["on_leader"] is False
    await tick()
    assert b"C1" not in subjects


def test_a_deliver_worker_has_no_retention() -> None:
    assert make_worker(role="deliver").retention is None


@pytest.mark.parametrize("kind", ["Table", "GlobalTable"])
def test_faust_tombstones_a_deleted_key_on_the_changelog(kind: str) -> None:
    """faust 0.15.3: `del table[key]` outside an event sends value None for the key (with
    `use_partitioner`, as both tables are built), which compaction then removes."""
    app = faust.App("retention-test", broker="kafka://127.0.0.1:1", store="memory://")
    table = getattr(app, kind)("t", key_type=bytes, value_type=bytes, use_partitioner=True)
    sent: list[dict[str, Any]] = []

    def send_soon(**message: Any) -> SimpleNamespace:
        sent.append(message)
        return SimpleNamespace(message=SimpleNamespace(partition=0))

    table.changelog_topic.send_soon = send_soon
    table[b"C1"] = b"record"
    del table[b"C1"]
    assert b"C1" not in table
    assert [(m["key"], m["value"]) for m in sent] == [(b"C1", b"record"), (b"C1", None)]
