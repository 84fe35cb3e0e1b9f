"""The recovery barrier: faust reads each changelog to a record sent just before it began."""

from __future__ import annotations

import json
from collections import Counter
from types import SimpleNamespace
from typing import Any

import pytest
from faust.types import TP

from streams.bootstrap import faust_app
from streams.config.settings import Settings
from streams.domain.parsing import Rejected, parse_incident, parse_register_event
from streams.flows.barrier import BARRIER_KEY, BarrierRecovery, is_barrier, read_to_barriers
from tests.support.fakes import register_body
from tests.support.samples import sample_incident

REGISTER = TP("site-register-subjects-changelog", 0)
STATES = [TP("site-incident-state-changelog", p) for p in range(3)]


class Producer:
    """faust's producer as the recovery uses it: each send written at the log's next offset."""

    def __init__(self, ends: dict[TP, int]) -> None:
        self.ends = dict(ends)
        self.sent: list[tuple[str, bytes | None, bytes | None, int | None]] = []

    async def send(self, topic: str, key: Any, value: Any, partition: Any, *_: Any) -> Any:
        self.sent.append((topic, key, value, partition))
        tp = TP(topic, partition)
        offset = self.ends[tp]
        self.ends[tp] += 1

        async def written() -> Any:
            return SimpleNamespace(topic=topic, partition=partition, offset=offset)

        return written()


class Consumer:
    """A consumer whose ListOffsets answers are Tansu's: the last batch's first offset + 1."""

    def __init__(self, reported: dict[TP, int]) -> None:
        self.reported = reported

    async def highwaters(self, *tps: TP) -> dict[TP, int]:
        return {tp: self.reported[tp] for tp in tps}


def recovery() -> Any:
    app = faust_app(Settings(app_id="site"))
    found = app.tables.recovery
    assert isinstance(found, BarrierRecovery)  # the worker's app recovers through the barrier
    return found


async def test_the_highwater_is_raised_to_the_barrier_where_the_broker_reports_short() -> None:
    # The register's log ends at 1000 (1,000 records in batches): Tansu reports 860 even with
    # the barrier, were it in a batch after the last; an incident-state partition reported
    # exactly; one where another worker's batch followed the barrier; an empty one.
    ends = {REGISTER: 1000, STATES[0]: 40, STATES[1]: 7, STATES[2]: 0}
    reported = {REGISTER: 860, STATES[0]: 41, STATES[1]: 9, STATES[2]: 1}
    found = recovery()
    producer = Producer(ends)
    found.app._producer = producer
    highwaters: Counter[TP] = Counter()
    await found._build_highwaters(Consumer(reported), {REGISTER, *STATES}, highwaters, "active")
    assert sorted(producer.sent) == sorted(
        (tp.topic, BARRIER_KEY, None, tp.partition) for tp in (REGISTER, *STATES)
    )
    # faust's high watermark is the last offset to read: the record before each barrier, or
    # the broker's when it reports records after the barrier; none at all (-1) when empty.
    assert highwaters == {REGISTER: 999, STATES[0]: 39, STATES[1]: 8, STATES[2]: -1}


async def test_standby_partitions_get_no_barrier() -> None:
    found = recovery()
    producer = Producer({REGISTER: 1000})
    found.app._producer = producer
    highwaters: Counter[TP] = Counter()
    await found._build_highwaters(Consumer({REGISTER: 860}), {REGISTER}, highwaters, "standby")
    assert producer.sent == [] and highwaters == {REGISTER: 859}


async def test_no_partitions_no_barrier() -> None:
    found = recovery()
    producer = Producer({})
    found.app._producer = producer
    highwaters: Counter[TP] = Counter()
    await found._build_highwaters(Consumer({}), set(), highwaters, "standby")
    assert producer.sent == [] and highwaters == {}


def test_a_high_watermark_is_the_record_before_the_barrier_unless_records_follow_it() -> None:
    highwaters: Counter[TP] = Counter({STATES[0]: 9, STATES[1]: 20, STATES[2]: 12})
    barriers = {STATES[0]: 13, STATES[1]: 15, STATES[2]: 12}
    assert read_to_barriers(highwaters, barriers) == {STATES[0]: 3}
    assert highwaters == {STATES[0]: 12, STATES[1]: 20, STATES[2]: 11}


def test_the_barrier_key_is_no_subject_ref_nor_incident_id() -> None:
    key = BARRIER_KEY.decode()
    event = json.dumps(register_body("C1", "birth_registered")).encode()
    parse_register_event(event)  # the event as it is is valid
    with pytest.raises(Rejected):
        parse_register_event(event.replace(b'"C1"', json.dumps(key).encode()))
    incident = json.loads(sample_incident("MPS-1").model_dump_json())
    parse_incident(json.dumps(incident).encode())
    with pytest.raises(Rejected):
        parse_incident(json.dumps({**incident, "incident_id": key}).encode())
    assert is_barrier(BARRIER_KEY) and is_barrier(bytearray(BARRIER_KEY))
    assert not is_barrier(b"C1") and not is_barrier(None)
