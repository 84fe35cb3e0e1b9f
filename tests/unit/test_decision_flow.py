"""Decide flow: duplicates, incident state, the decision log record, and `handle` on fakes."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

import schemas
from schemas.decision import Decision
from schemas.police import PoliceIncident
from schemas.task import RaiseTask
from streams.bootstrap import Worker
from streams.domain.config import RULES_VERSION
from streams.domain.incidents import (
    KEEP_NOTIFICATION_IDS,
    IncidentState,
    duplicate_kind,
    log_record,
    next_state,
)
from streams.domain.register.index import RegisterIndex
from streams.domain.rules import decide
from tests.support.fakes import (
    FATHER,
    FakeTopic,
    RecordingTable,
    all_sent,
    birth,
    fake_event,
    fake_topics,
    make_worker,
    register_of,
    sample_value,
)
from tests.support.samples import sample_incident

KEY = b"MPS-2026-000001"
UNRELATED = [{"person_ref": "P9", "role": "victim", "given_name": "Hortense"}]
DECISION_SCHEMA = Path(schemas.__file__).parent / "json" / "decision.v1.schema.json"


def state_after(incident: PoliceIncident) -> IncidentState:
    return IncidentState(revision=incident.revision, notification_ids=[incident.notification_id])


# --- pure parts --------------------------------------------------------------------------------


def test_duplicate_kind() -> None:
    first = sample_incident(revision=2)
    state = state_after(first)
    assert duplicate_kind(IncidentState(), first) is None
    assert duplicate_kind(state, first) == "notification"
    assert duplicate_kind(state, sample_incident(revision=1)) == "older_revision"
    assert duplicate_kind(state, sample_incident(revision=3)) is None
    resent = sample_incident(revision=2, notification_id="0f0f0f0f-0000-4000-8000-000000000002")
    assert duplicate_kind(state, resent) is None


def test_next_state_records_revision_ids_and_named_outcomes() -> None:
    incident = sample_incident()
    decision = decide(incident, register_of(birth("C1"), birth("C2", carers=(FATHER,))))
    state = next_state(IncidentState(), incident, decision)
    assert state.revision == 1
    assert state.notification_ids == [incident.notification_id]
    assert state.outcomes == {"subject:C1": "trigger", "subject:C2": "trigger"}


@given(st.integers(min_value=0, max_value=3 * KEEP_NOTIFICATION_IDS))
def test_next_state_keeps_at_most_the_latest_notification_ids(known: int) -> None:
    ids = [f"00000000-0000-4000-8000-{n:012d}" for n in range(known)]
    incident = sample_incident()
    decision = decide(incident, RegisterIndex())
    state = next_state(IncidentState(revision=1, notification_ids=ids), incident, decision)
    assert len(state.notification_ids) == min(known + 1, KEEP_NOTIFICATION_IDS)
    assert state.notification_ids[-1] == incident.notification_id
    assert state.notification_ids[:-1] == ids[len(ids) - len(state.notification_ids) + 1 :]


def test_log_record_is_a_valid_decision_with_when_and_which_rules() -> None:
    incident = sample_incident()
    decision = decide(incident, register_of(birth("C1")))
    record = json.loads(log_record(decision, datetime.now(UTC)))
    Draft202012Validator(json.loads(DECISION_SCHEMA.read_text())).validate(record)
    assert Decision.model_validate(record).subjects == decision.subjects
    assert (record["incident_id"], record["revision"]) == (incident.incident_id, 1)
    assert record["rules_version"] == RULES_VERSION
    assert datetime.fromisoformat(record["decided_at"]).utcoffset() is not None


# --- handle on a worker of fakes -----------------------------------------------------------------


def a_worker(register: RegisterIndex | None = None) -> Worker:
    """A worker whose incident state notes, at each write, whether every send was acked."""
    topics = fake_topics()
    state = RecordingTable(lambda: [m.acked for m in all_sent(topics)])
    register = register_of(birth("C1")) if register is None else register
    return make_worker(index=register, topics=topics, incident_state=state)


async def notify(w: Worker, incident: PoliceIncident) -> None:
    value = incident.model_dump_json().encode()
    await w.decide.handle(fake_event(value, key=KEY, topic="dvtrigger.incidents"))


def decisions(w: Worker) -> list[dict[str, object]]:
    return [json.loads(m.value or b"") for m in w.topics.decisions.sent]


def commands(w: Worker) -> list[RaiseTask]:
    return [RaiseTask.model_validate_json(m.value or b"") for m in w.topics.task_commands.sent]


async def test_handle_sends_the_decision_and_a_command_per_trigger_subject() -> None:
    w = a_worker(register_of(birth("C1"), birth("C2", carers=(FATHER,))))
    await notify(w, sample_incident())
    (decision,) = decisions(w)
    assert w.topics.decisions.sent[0].key == KEY
    assert (decision["decision"], decision["revision"]) == ("trigger", 1)
    assert decision["rules_version"] == RULES_VERSION
    sent = commands(w)
    assert {c.subject.subject_ref for c in sent} == {"C1", "C2"}
    assert [m.key for m in w.topics.task_commands.sent] == [
        c.idempotency_key.encode() for c in sent
    ]
    assert sample_value(w, "dvtrigger_decisions_total", decision="trigger") == 1
    assert sample_value(w, "dvtrigger_seconds_reported_to_decision_count") == 1
    assert w.topics.dead_letter.sent == []
    by_subject = {c.subject.subject_ref: c for c in sent}
    assert [(p.person_ref, p.known_as) for p in by_subject["C1"].people] == [
        ("P1", "the baby's mother"),
        ("P2", None),
    ]
    assert [(p.person_ref, p.known_as) for p in by_subject["C2"].people] == [
        ("P1", None),
        ("P2", "the baby's father"),
    ]


async def test_state_is_written_only_after_every_send_is_acked() -> None:
    w = a_worker()
    await notify(w, sample_incident())
    ((key, acked),) = w.incident_state.writes
    assert key == KEY
    assert acked == [True, True, True]  # the decision, its receipt and the command for C1
    state = IncidentState.model_validate_json(w.incident_state[KEY])
    assert (state.revision, state.outcomes) == (1, {"subject:C1": "trigger"})


async def test_a_failed_send_leaves_the_state_unwritten() -> None:
    w = a_worker()
    w.topics.task_commands = FakeTopic("dvtrigger.task-commands", fail=RuntimeError("broker"))
    with pytest.raises(RuntimeError):
        await notify(w, sample_incident())
    assert w.incident_state == {}
    assert sample_value(w, "dvtrigger_decisions_total", decision="trigger") == 0


async def test_a_decision_naming_no_one_is_logged_without_commands() -> None:
    w = a_worker(RegisterIndex())
    await notify(w, sample_incident())
    assert [d["decision"] for d in decisions(w)] == ["no_action"]
    assert commands(w) == []
    assert KEY in w.incident_state


async def test_the_same_notification_twice_is_decided_once() -> None:
    w = a_worker()
    await notify(w, sample_incident())
    await notify(w, sample_incident())
    assert len(decisions(w)) == 1
    assert len(commands(w)) == 1
    assert sample_value(w, "dvtrigger_incidents_duplicate_total", kind="notification") == 1
    assert len(w.incident_state.writes) == 1


async def test_an_incident_decided_in_place_is_one_notification_with_the_re_keyed_path() -> None:
    w = a_worker()
    incident = sample_incident()
    event = fake_event(incident.model_dump_json().encode(), key=KEY)  # on the police topic
    await w.decide.decide_parsed([(event, incident)])
    await notify(w, incident)  # the same notification again, through the incidents topic
    assert len(decisions(w)) == 1
    assert sample_value(w, "dvtrigger_incidents_duplicate_total", kind="notification") == 1


async def test_two_agents_deciding_at_once_take_turns() -> None:
    w = a_worker()
    first, second = sample_incident(), sample_incident(notification_id=str(uuid4()), revision=2)
    first_event = fake_event(first.model_dump_json().encode(), key=KEY)
    second_event = fake_event(second.model_dump_json().encode(), key=KEY)
    await asyncio.gather(
        w.decide.decide_parsed([(first_event, first)]),
        w.decide.decide_parsed([(second_event, second)]),
    )
    assert [d["revision"] for d in decisions(w)] == [1, 2]
    state = IncidentState.model_validate_json(w.incident_state[KEY])
    assert state.revision == 2 and len(state.notification_ids) == 2


async def test_an_older_revision_is_ignored() -> None:
    w = a_worker()
    await notify(w, sample_incident(revision=2))
    await notify(w, sample_incident(revision=1))
    assert [d["revision"] for d in decisions(w)] == [2]
    assert [c.revision for c in commands(w)] == [2]
    assert sample_value(w, "dvtrigger_incidents_duplicate_total", kind="older_revision") == 1
    assert IncidentState.model_validate_json(w.incident_state[KEY]).revision == 2


async def test_revision_2_is_decided_again_and_its_commands_carry_it() -> None:
    w = a_worker()
    await notify(w, sample_incident(revision=1))
    await notify(w, sample_incident(revision=2))
    assert [d["revision"] for d in decisions(w)] == [1, 2]
    first, second = commands(w)
    assert (first.revision, second.revision) == (1, 2)
    assert second.idempotency_key == first.idempotency_key
    assert second.changes == ["revision 2 received; outcome still trigger"]
    state = IncidentState.model_validate_json(w.incident_state[KEY])
    assert state.revision == 2 and len(state.notification_ids) == 2


async def test_revision_2_that_drops_a_subject_withdraws_its_task() -> None:
    w = a_worker()
    await notify(w, sample_incident(revision=1))
    await notify(w, sample_incident(revision=2, persons=UNRELATED))
    assert [d["decision"] for d in decisions(w)] == ["trigger", "no_action"]
    raised, withdrawn = commands(w)
    assert (withdrawn.outcome, withdrawn.revision) == ("withdrawn", 2)
    assert withdrawn.idempotency_key == raised.idempotency_key
    assert IncidentState.model_validate_json(w.incident_state[KEY]).outcomes == {}
