"""Register flow: events fold into table and index; the changelog keeps the index in step."""

from __future__ import annotations

import json
from datetime import date

import pytest

from streams.bootstrap import Worker
from streams.config.topics import H_REASON, H_REASON_CLASS, H_SOURCE_OFFSET, H_SOURCE_TOPIC
from streams.domain.register.codec import decode, encode
from streams.domain.register.records import SubjectRecord, apply_event
from streams.flows.barrier import BARRIER_KEY
from tests.support.fakes import (
    NEW_HOME,
    RecordingTable,
    birth,
    fake_event,
    make_worker,
    moved,
    register_body,
    register_event,
    sample_value,
)

TOPIC = "dvtrigger.register-events"
NAME = "Zebedee Quuxley"


def a_worker() -> Worker:
    return make_worker(subjects=RecordingTable())


def raw(event: object) -> bytes:
    return event.model_dump_json().encode()  # type: ignore[attr-defined]


async def send(w: Worker, value: bytes | None, key: bytes = b"C1", offset: int = 3) -> None:
    await w.register.apply(fake_event(value, key=key, topic=TOPIC, offset=offset))


def stored(w: Worker, ref: str) -> SubjectRecord:
    return decode(w.subjects[ref.encode()])


def record(*events: object) -> SubjectRecord:
    folded = None
    for event in events:
        folded = apply_event(folded, event)  # type: ignore[arg-type]
    assert folded is not None
    return folded


async def test_a_valid_event_upserts_the_table_and_the_index() -> None:
    w = a_worker()
    await send(w, raw(birth("C1")))
    assert stored(w, "C1") == w.register.index.get("C1")
    assert stored(w, "C1").date_of_birth == date(2026, 2, 11)
    assert [r.subject_ref for r in w.register.index] == ["C1"]
    assert sample_value(w, "dvtrigger_register_events_applied_total", type="birth_registered") == 1
    assert sample_value(w, "dvtrigger_register_subjects", kind="child") == 1
    assert w.topics.dead_letter.sent == []


async def test_a_later_event_folds_into_the_known_record() -> None:
    w = a_worker()
    await send(w, raw(birth("C1")))
    await send(w, raw(moved("C1", "2026-05-01")), offset=4)
    known = w.register.index.get("C1")
    assert known is not None and known == stored(w, "C1")
    address = known.address_on(date(2026, 6, 1))
    assert address is not None and address.postcode == NEW_HOME["postcode"]
    assert sample_value(w, "dvtrigger_register_events_applied_total", type="subject_moved") == 1
    assert sample_value(w, "dvtrigger_register_subjects", kind="child") == 1


async def test_the_same_event_twice_is_applied_once() -> None:
    w = a_worker()
    event = raw(birth("C1"))
    await send(w, event)
    await send(w, event, offset=4)
    assert len(w.subjects.writes) == 1
    assert sample_value(w, "dvtrigger_register_events_applied_total", type="birth_registered") == 1
    assert len(stored(w, "C1").event_ids) == 1


def schema_invalid() -> bytes:
    subject = {"given_name": NAME, "date_of_birth": "2026-02-30"}
    return json.dumps(register_body("C1", "birth_registered", subject=subject)).encode()


@pytest.mark.parametrize(
    ("value", "reason_class"),
    [(b"", "empty"), (f"{NAME} 2026-02-11".encode(), "not_json"), (schema_invalid(), "schema")],
)
async def test_an_invalid_event_is_dead_lettered_with_its_reason_class(
    value: bytes, reason_class: str
) -> None:
    w = a_worker()
    await send(w, value)
    (letter,) = w.topics.dead_letter.sent
    assert (letter.key, letter.value) == (b"C1", value)
    assert letter.header(H_REASON_CLASS) == reason_class
    assert (letter.header(H_SOURCE_TOPIC), letter.header(H_SOURCE_OFFSET)) == (TOPIC, "3")
    assert NAME not in (letter.header(H_REASON) or "")
    assert "2026-02-30" not in (letter.header(H_REASON) or "")
    assert sample_value(w, "dvtrigger_register_events_rejected_total", reason=reason_class) == 1
    assert w.subjects == {} and len(w.register.index) == 0


async def test_a_change_of_a_subject_the_register_does_not_hold_is_dead_lettered() -> None:
    w = a_worker()
    await send(w, raw(birth("C1")))
    unknown = raw(moved("C7", "2026-05-01"))
    await send(w, unknown, key=b"C7", offset=4)
    (letter,) = w.topics.dead_letter.sent
    assert (letter.key, letter.value) == (b"C7", unknown)
    assert letter.header(H_REASON_CLASS) == "unknown_subject"
    assert letter.header(H_REASON) == "subject_moved of a subject the register does not hold"
    assert w.register.index.get("C7") is None and b"C7" not in w.subjects
    assert (
        sample_value(w, "dvtrigger_register_events_rejected_total", reason="unknown_subject") == 1
    )
    assert sample_value(w, "dvtrigger_register_events_applied_total", type="subject_moved") == 0
    await send(w, raw(moved("C1", "2026-05-01")), offset=5)  # the known subject's move applies
    assert sample_value(w, "dvtrigger_register_events_applied_total", type="subject_moved") == 1


async def test_a_changelog_event_from_another_worker_updates_the_index() -> None:
    w = a_worker()
    other = record(birth("C9"))
    await w.register.on_changelog(fake_event(encode(other), key=b"C9"))
    assert w.register.index.get("C9") == other
    assert w.subjects == {}  # the table itself is faust's to fill
    assert sample_value(w, "dvtrigger_register_subjects", kind="child") == 1
    newer = record(birth("C9"), moved("C9", "2026-05-01"))
    await w.register.on_changelog(fake_event(encode(newer), key=b"C9"))
    assert w.register.index.get("C9") == newer
    assert len(w.register.index) == 1


async def test_a_local_event_builds_on_a_record_from_the_changelog() -> None:
    w = a_worker()
    first = birth("C9")
    await w.register.on_changelog(fake_event(encode(record(first)), key=b"C9"))
    await send(w, raw(first), key=b"C9")
    assert w.subjects.writes == []  # already applied by the other worker
    await send(w, raw(moved("C9", "2026-05-01")), key=b"C9", offset=4)
    assert len(stored(w, "C9").event_ids) == 2


async def test_a_changelog_record_in_the_older_json_object_form_is_still_read() -> None:
    w = a_worker()
    other = record(birth("C9"))
    await w.register.on_changelog(fake_event(other.model_dump_json().encode(), key=b"C9"))
    assert w.register.index.get("C9") == other


async def test_a_tombstone_removes_the_subject_from_the_index() -> None:
    w = a_worker()
    await send(w, raw(birth("C1")))
    await w.register.on_changelog(fake_event(None, key=b"C1"))
    assert w.register.index.get("C1") is None
    assert len(w.register.index) == 0


async def test_a_tombstone_updates_the_subjects_gauge() -> None:
    w = a_worker()
    await send(w, raw(birth("C1")))
    await w.register.on_changelog(fake_event(None, key=b"C1"))
    assert sample_value(w, "dvtrigger_register_subjects", kind="child") == 0


async def test_an_unreadable_changelog_record_is_skipped() -> None:
    w = a_worker()
    await w.register.on_changelog(fake_event(b'{"subject_ref": "C1"}', key=b"C1"))
    assert len(w.register.index) == 0


async def test_rebuild_index_reads_every_record_of_the_table() -> None:
    w = a_worker()
    w.subjects[b"C1"] = encode(record(birth("C1")))
    pregnancy = register_event(
        "U1", "pregnancy_registered", "unborn", subject={"expected_delivery_date": "2026-09-01"}
    )
    w.subjects[b"U1"] = encode(record(pregnancy))
    w.subjects[b"XX"] = b"not a record"
    await w.register.rebuild_index()
    assert {r.subject_ref for r in w.register.index} == {"C1", "U1"}
    assert sample_value(w, "dvtrigger_register_subjects", kind="child") == 1
    assert sample_value(w, "dvtrigger_register_subjects", kind="unborn") == 1


async def test_own_writes_echoed_by_the_changelog_leave_the_newer_record_indexed() -> None:
    w = a_worker()
    await send(w, raw(birth("C1")))
    first = w.subjects[b"C1"]
    await send(w, raw(moved("C1", "2026-05-01")), offset=4)
    newest = w.register.index.get("C1")
    assert newest is not None and len(newest.event_ids) == 2
    await w.register.on_changelog(fake_event(first, key=b"C1"))  # the older write echoes first
    assert w.register.index.get("C1") == newest
    assert w.register.own_writes == {b"C1": w.subjects[b"C1"]}
    await w.register.on_changelog(fake_event(w.subjects[b"C1"], key=b"C1"))
    assert w.register.index.get("C1") == newest
    assert w.register.own_writes == {}
    later = record(birth("C1"), moved("C1", "2026-05-01"), moved("C1", "2026-06-01"))
    await w.register.on_changelog(fake_event(encode(later), key=b"C1"))
    assert w.register.index.get("C1") == later  # once echoed, other workers' writes apply again


async def test_a_register_change_with_no_recent_incidents_sends_no_decision() -> None:
    w = a_worker()
    await send(w, raw(birth("C1")))
    assert w.topics.decisions.sent == [] and w.topics.task_commands.sent == []
    assert sample_value(w, "dvtrigger_incidents_redecided_total", result="unchanged") == 0


async def test_a_recovery_barrier_on_the_changelog_is_no_subject() -> None:
    w = a_worker()
    await w.register.on_changelog(fake_event(encode(record(birth("C9"))), key=b"C9", offset=4))
    before = dict(w.register._last)
    await w.register.on_changelog(fake_event(None, key=BARRIER_KEY, offset=5))
    assert [r.subject_ref for r in w.register.index] == ["C9"]
    assert w.register._last == before  # a snapshot's mark stays on the register's own records
    assert w.topics.decisions.sent == [] and w.topics.task_commands.sent == []


async def test_the_register_is_complete_once_its_first_recovery_is_through() -> None:
    w = a_worker()
    w.subjects[b"C1"] = encode(record(birth("C1")))
    assert not w.register.complete
    await w.register.rebuild_index()
    assert w.register.complete and len(w.register.index) == 1
