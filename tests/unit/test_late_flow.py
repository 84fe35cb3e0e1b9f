"""Late knowledge on fakes: a register change re-decides the recent incidents it concerns."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from jsonschema import Draft202012Validator

import schemas
from schemas.police import PoliceIncident
from schemas.register import RegisterEvent
from schemas.task import RaiseTask
from streams.bootstrap import Worker
from streams.config.settings import Settings
from streams.domain.incidents import IncidentState
from streams.domain.late import RECHECKED
from streams.domain.register.codec import encode
from streams.domain.register.records import apply_event
from tests.support.fakes import (
    FATHER,
    STRANGER,
    FakeClock,
    FakeTopic,
    RecordingTable,
    all_sent,
    birth,
    fake_event,
    fake_topics,
    make_worker,
    register_body,
    register_event,
    register_of,
    sample_value,
)
from tests.support.samples import sample_incident

KEY = b"MPS-2026-000001"
DECISION_SCHEMA = Path(schemas.__file__).parent / "json" / "decision.v1.schema.json"
#: Eleven days after the sample incident (2026-07-30), within the 90-day window.
NOW = datetime(2026, 8, 10, 9, 0, tzinfo=UTC)
ELSEWHERE = {"lines": ["3 Elm Row"], "town": "London", "postcode": "E8 1AA"}
#: Another flat in the building of the sample incident: it shares blocking keys, not a dwelling.
NEIGHBOUR = {"lines": ["Flat 9", "231 West Green Road"], "town": "London", "postcode": "N8 7DW"}


def a_worker(settings: Settings | None = None, register: Any = None) -> Worker:
    """A worker at NOW whose incident state notes, at each write, whether every send was acked.

    Its clock is a FakeClock (`w.deps.clock`), which a test may `set` later."""
    topics = fake_topics()
    state = RecordingTable(lambda: [m.acked for m in all_sent(topics)])
    return make_worker(
        settings=settings,
        index=register_of() if register is None else register,
        topics=topics,
        incident_state=state,
        clock=FakeClock(NOW),
    )


def pregnancy_body(
    ref: str = "U1", carers: tuple[dict[str, Any], ...] = (FATHER,), **kw: Any
) -> dict[str, Any]:
    """A pregnancy booked after the incident, begun before it (EDD 2026-12-01)."""
    return register_body(
        ref,
        "pregnancy_registered",
        "unborn",
        subject={"expected_delivery_date": "2026-12-01"},
        carers=list(carers),
        address=kw.pop("address", ELSEWHERE),
        recorded_at="2026-08-10T08:00:00+00:00",
        **kw,
    )


async def notify(w: Worker, incident: PoliceIncident) -> None:
    await w.decide.handle(fake_event(incident.model_dump_json().encode(), key=KEY, topic="x"))


async def register(w: Worker, body: dict[str, Any]) -> None:
    ref = body["subject"]["subject_ref"].encode()
    event = fake_event(json.dumps(body).encode(), key=ref, topic="dvtrigger.register-events")
    await w.register.apply(event)


def decisions(w: Worker) -> list[dict[str, Any]]:
    return [json.loads(m.value or b"") for m in w.topics.decisions.sent]


def commands(w: Worker) -> list[RaiseTask]:
    return [RaiseTask.model_validate_json(m.value or b"") for m in w.topics.task_commands.sent]


def state(w: Worker) -> IncidentState:
    return IncidentState.model_validate_json(w.incident_state[KEY])


def redecided(w: Worker, result: str) -> float:
    return sample_value(w, "dvtrigger_incidents_redecided_total", result=result)


async def test_a_pregnancy_booked_late_for_the_suspect_raises_a_late_task() -> None:
    w = a_worker()
    await notify(w, sample_incident())
    assert [d["decision"] for d in decisions(w)] == ["no_action"]
    await register(w, pregnancy_body())

    _, late = decisions(w)
    Draft202012Validator(json.loads(DECISION_SCHEMA.read_text())).validate(late)
    assert (late["decision"], late["revision"], late["late"]) == ("trigger", 1, True)
    assert any("re-decided on 2026-08-10" in reason for reason in late["reasons"])
    (subject,) = late["subjects"]
    assert (subject["subject_ref"], subject["outcome"], subject["late"]) == ("U1", "trigger", True)
    (command,) = commands(w)
    assert command.idempotency_key == "MPS-2026-000001/subject:U1"
    assert (command.outcome, command.revision, command.late) == ("trigger", 1, True)
    assert command.late_reason == (
        "the register learned of the pregnancy after the incident: re-decided on 2026-08-10"
    )
    assert command.due_by == NOW + timedelta(hours=24)  # from when it became known
    assert command.changes == []
    assert {p.person_ref: p.known_as for p in command.people} == {
        "P1": None,
        "P2": "the unborn baby's father",
    }
    assert redecided(w, "late_task") == 1
    assert sample_value(w, "dvtrigger_decisions_total", decision="trigger") == 1


async def test_a_review_that_the_register_later_makes_a_trigger_updates_its_task() -> None:
    w = a_worker()
    no_birth_date = {k: v for k, v in FATHER.items() if k != "date_of_birth"}
    await register(w, pregnancy_body(carers=(no_birth_date,)))
    await notify(w, sample_incident())
    (review,) = commands(w)
    assert (review.outcome, review.amendment) == ("review", 0)
    await register(w, pregnancy_body(carers=(FATHER,)))  # the register learns his birth date

    assert decisions(w)[-1]["decision"] == "trigger" and decisions(w)[-1]["late"] is True
    _, upgraded = commands(w)
    assert upgraded.idempotency_key == review.idempotency_key
    assert (upgraded.outcome, upgraded.revision, upgraded.amendment) == ("trigger", 1, 1)
    assert upgraded.late and upgraded.late_reason is not None
    assert upgraded.changes[0].startswith("outcome changed from review to trigger: ")
    assert (state(w).outcomes, state(w).amendments) == ({"subject:U1": "trigger"}, 1)
    assert redecided(w, "late_task") == 1


async def test_a_subject_the_register_later_withdraws_keeps_its_task_as_raised() -> None:
    w = a_worker()
    await register(w, pregnancy_body())
    await notify(w, sample_incident())
    (trigger,) = commands(w)
    assert trigger.outcome == "trigger"
    stranger_only = pregnancy_body(carers=(STRANGER,))
    await register(w, {**stranger_only, "type": "subject_withdrawn"})
    assert [c.outcome for c in commands(w)] == ["trigger"]  # never withdrawn or downgraded here
    assert state(w).outcomes == {"subject:U1": "trigger"}


async def test_the_state_is_written_after_the_late_sends_are_acked() -> None:
    w = a_worker()
    await notify(w, sample_incident())
    await register(w, pregnancy_body())
    writes = [acked for _, acked in w.incident_state.writes]
    assert writes == [[True, True], [True] * 5]  # each decision with its receipt, then commands
    after = state(w)
    assert (after.revision, after.outcomes, after.logged) == (
        1,
        {"subject:U1": "trigger"},
        {"subject:U1": "trigger"},
    )


async def test_a_failed_late_send_leaves_the_state_and_the_register_event_alone() -> None:
    w = a_worker()
    await notify(w, sample_incident())
    w.topics.task_commands = FakeTopic("dvtrigger.task-commands", fail=RuntimeError("broker"))
    await register(w, pregnancy_body())
    assert state(w).outcomes == {}
    assert redecided(w, "failed") == 1
    assert w.register.index.get("U1") is not None  # the register change itself stands
    assert w.topics.dead_letter.sent == []


async def test_a_register_event_redelivered_after_a_failed_re_decision_raises_the_task() -> None:
    w = a_worker()
    await notify(w, sample_incident())
    broken = FakeTopic("dvtrigger.task-commands", fail=RuntimeError("broker"))
    w.topics.task_commands, working = broken, w.topics.task_commands
    body = pregnancy_body()
    await register(w, body)
    w.topics.task_commands = working
    await register(w, body)  # the same message again, as after a crash
    (command,) = commands(w)
    assert command.late_reason is not None
    assert command.late_reason.startswith("the register learned of the pregnancy")
    assert state(w).outcomes == {"subject:U1": "trigger"}


async def test_a_change_that_concerns_no_recent_incident_sends_nothing() -> None:
    w = a_worker()
    await notify(w, sample_incident())
    await register(w, pregnancy_body(carers=(STRANGER,)))
    assert len(decisions(w)) == 1 and commands(w) == []
    assert redecided(w, "unchanged") == 0  # no shared blocking key: not even re-decided


async def test_a_change_that_shares_keys_but_changes_nothing_sends_nothing() -> None:
    w = a_worker()
    await notify(w, sample_incident())
    await register(w, pregnancy_body(carers=(STRANGER,), address=NEIGHBOUR))
    assert len(decisions(w)) == 1 and commands(w) == []
    assert redecided(w, "unchanged") == 1
    assert len(w.incident_state.writes) == 1


async def test_an_incident_older_than_the_window_is_not_re_decided() -> None:
    w = a_worker()
    await notify(w, sample_incident())
    w.deps.clock.set(datetime(2026, 10, 29, 9, 0, tzinfo=UTC))  # 91 days after the incident
    await register(w, pregnancy_body())
    assert len(decisions(w)) == 1 and commands(w) == []
    assert sum(redecided(w, r) for r in ("late_task", "decision_only", "unchanged")) == 0
    assert len(w.decide.incidents.recent) == 0


async def test_the_window_is_a_setting() -> None:
    w = a_worker(Settings(recent_incidents_days=120))
    await notify(w, sample_incident())
    w.deps.clock.set(datetime(2026, 10, 29, 9, 0, tzinfo=UTC))
    await register(w, pregnancy_body())
    assert [c.late for c in commands(w)] == [True]


async def test_an_incident_decided_already_out_of_the_window_is_not_kept() -> None:
    w = a_worker()
    w.deps.clock.set(datetime(2026, 11, 27, 9, 0, tzinfo=UTC))
    await notify(w, sample_incident())
    assert len(w.decide.incidents.recent) == 0
    assert state(w).incident is not None  # the state keeps it; the index does not


async def test_a_re_decision_never_withdraws_but_marks_the_task_for_a_person() -> None:
    w = a_worker(register=register_of(birth("C1")))
    await notify(w, sample_incident())
    assert [c.subject.subject_ref for c in commands(w)] == ["C1"]
    # The register learns that C1 left its care before the incident: C1 is no longer named.
    withdrawn = register_event("C1", "subject_withdrawn", effective_date="2026-07-01")
    await register(w, withdrawn.model_dump(mode="json", by_alias=True))
    assert [d["decision"] for d in decisions(w)] == ["trigger", "no_action"]
    raised, marked = commands(w)
    assert marked.idempotency_key == raised.idempotency_key
    assert (marked.outcome, marked.revision, marked.amendment) == ("trigger", 1, 1)  # as raised
    assert marked.needs_confirmation and not raised.needs_confirmation
    assert marked.confirmation_reason is not None
    assert marked.confirmation_reason.startswith("The register has withdrawn this record from")
    assert marked.changes == [marked.confirmation_reason]
    assert state(w).outcomes == {"subject:C1": "trigger"} and state(w).logged == {}
    assert state(w).flagged == {"subject:C1": "withdrawn"}
    assert redecided(w, "task_flagged") == 1
    assert sample_value(w, "dvtrigger_tasks_flagged_total", reason="withdrawn") == 1
    # Only a later police revision withdraws the task.
    await notify(w, sample_incident(revision=2))
    assert [c.outcome for c in commands(w)] == ["trigger", "trigger", "withdrawn"]


async def test_a_second_identical_register_change_raises_no_second_task() -> None:
    w = a_worker()
    await notify(w, sample_incident())
    await register(w, pregnancy_body())
    await register(w, pregnancy_body())  # the same change again, under a new event id
    assert len(commands(w)) == 1
    assert len(decisions(w)) == 2
    assert redecided(w, "late_task") == 1 and redecided(w, "unchanged") == 1


async def test_a_change_from_another_worker_re_decides_the_incidents_this_worker_owns() -> None:
    w = a_worker()
    await notify(w, sample_incident())
    record = apply_event(None, RegisterEvent.model_validate_json(json.dumps(pregnancy_body())))
    value = record.model_dump_json().encode()
    await w.register.on_changelog(fake_event(value, key=b"U1"))
    await w.register.on_changelog(fake_event(value, key=b"U1"))  # the same record again: nothing
    (command,) = commands(w)
    assert (command.subject.subject_ref, command.late) == ("U1", True)
    assert redecided(w, "late_task") == 1 and redecided(w, "unchanged") == 0


async def test_a_later_revision_decided_normally_knows_the_late_task() -> None:
    w = a_worker()
    await notify(w, sample_incident())
    await register(w, pregnancy_body())
    await notify(w, sample_incident(revision=2))
    late, again = commands(w)
    assert (again.idempotency_key, again.revision, again.late) == (late.idempotency_key, 2, False)
    assert again.changes == ["revision 2 received; outcome still trigger"]


async def test_a_re_decision_waits_for_a_batch_being_decided() -> None:
    w = a_worker()
    await notify(w, sample_incident())
    async with w.decide.incidents.lock:
        change = asyncio.ensure_future(register(w, pregnancy_body()))
        await asyncio.sleep(0.01)
        assert commands(w) == []
    await change
    assert len(commands(w)) == 1


# --- which incidents this worker keeps --------------------------------------------------------


def fake_cluster(assigned: set[int], partition_of: dict[bytes, int]) -> SimpleNamespace:
    """faust's app as `owns` asks it: where a key goes on the incidents topic, what is assigned."""
    topic = "dvtrigger.incidents"
    consumer = SimpleNamespace(
        key_partition=lambda _topic, key: partition_of[key],
        assignment=lambda: [SimpleNamespace(topic=topic, partition=p) for p in assigned],
    )
    return SimpleNamespace(consumer=consumer)


async def test_an_incident_whose_partition_moved_away_is_neither_re_decided_nor_kept() -> None:
    w = a_worker()
    await notify(w, sample_incident())
    w.app.consumer = fake_cluster({0, 1}, {KEY: 2}).consumer
    assert not w.decide.incidents.owns(KEY)
    await register(w, pregnancy_body())
    assert commands(w) == [] and len(w.decide.incidents.recent) == 0


async def test_the_recent_index_is_rebuilt_from_the_owned_recent_states() -> None:
    w = a_worker()
    for n, occurred in enumerate(("2026-07-30T06:00:00+00:00", "2026-03-01T06:00:00+00:00")):
        incident = sample_incident(f"MPS-2026-00000{n}", occurred_at=occurred)
        await w.decide.handle(
            fake_event(incident.model_dump_json().encode(), key=incident.incident_id.encode())
        )
    w.incident_state[b"MPS-2026-000009"] = IncidentState(revision=1).model_dump_json().encode()
    w.incident_state[b"MPS-2026-000008"] = w.incident_state[b"MPS-2026-000000"]
    w.app.consumer = fake_cluster({0}, {b"MPS-2026-000000": 0, b"MPS-2026-000008": 1}).consumer
    w.decide.incidents.recent.clear()
    await w.late.rebuild_recent()
    assert len(w.decide.incidents.recent) == 1 and "MPS-2026-000000" in w.decide.incidents.recent
    assert sample_value(w, "dvtrigger_recent_incidents") == 1


def test_an_unreachable_cluster_owns_nothing() -> None:
    w = a_worker()

    def fail(_topic: str, _key: bytes) -> int:
        raise RuntimeError("no metadata")

    w.app.consumer = SimpleNamespace(key_partition=fail)
    assert not w.decide.incidents.owns(KEY)


async def test_states_keep_the_latest_revision_and_its_day() -> None:
    w = a_worker(register=register_of(birth("C1")))
    await notify(w, sample_incident())
    kept = state(w)
    assert kept.day == date(2026, 7, 30)
    assert kept.incident is not None
    assert PoliceIncident.model_validate_json(kept.incident) == sample_incident()
    assert kept.logged == kept.outcomes == {"subject:C1": "trigger"}
    assert "MPS-2026-000001" in w.decide.incidents.recent


async def test_the_echo_of_this_workers_own_register_write_re_decides_nothing_more() -> None:
    w = a_worker()
    await notify(w, sample_incident())
    await register(w, pregnancy_body())
    echo = w.subjects[b"U1"]
    await w.register.on_changelog(fake_event(echo, key=b"U1"))
    assert len(commands(w)) == 1
    assert redecided(w, "late_task") == 1 and redecided(w, "unchanged") == 0


# --- the re-check after a recovery ---------------------------------------------------------------


def restarted(w: Worker, changed: list[dict[str, Any]]) -> Worker:
    """`w` as a worker starting again: its tables as the changelogs left them (with `changed`,
    written by another worker meanwhile), its memory empty."""
    for body in changed:
        record = apply_event(None, RegisterEvent.model_validate_json(json.dumps(body)))
        w.subjects[record.subject_ref.encode()] = encode(record)
    return make_worker(
        settings=w.deps.settings,
        subjects=w.subjects,
        incident_state=w.incident_state,
        topics=w.topics,
        clock=w.deps.clock,
    )


async def test_a_change_learned_but_not_acted_on_before_a_stop_is_re_decided_after_recovery() -> (
    None
):
    w = a_worker()
    await notify(w, sample_incident())
    assert commands(w) == []
    # Another worker booked the pregnancy; this one stopped before re-deciding on it.
    w = restarted(w, [pregnancy_body()])
    await w.late.rebuild_recent()
    assert w.late.recheck is None  # the register is not back yet
    await w.register.rebuild_index()
    assert w.late.recheck is not None
    assert await w.late.recheck == 1

    (command,) = commands(w)
    assert (command.subject.subject_ref, command.outcome, command.late) == ("U1", "trigger", True)
    assert command.late_reason == (
        f"the register changed after the incident ({RECHECKED}): re-decided on 2026-08-10"
    )
    late = decisions(w)[-1]
    assert (late["decision"], late["late"]) == ("trigger", True)
    assert RECHECKED in late["reasons"][-1]
    assert state(w).outcomes == {"subject:U1": "trigger"}
    assert redecided(w, "late_task") == 1


async def test_a_recheck_with_nothing_missed_sends_nothing() -> None:
    w = a_worker()
    await notify(w, sample_incident())
    await register(w, pregnancy_body())  # acted on as it happened
    sent = (len(decisions(w)), len(commands(w)))
    await w.register.rebuild_index()  # a rebalance: both rebuilds, in the other order
    await w.late.rebuild_recent()
    assert w.late.recheck is not None and await w.late.recheck == 1
    assert (len(decisions(w)), len(commands(w))) == sent
    assert redecided(w, "unchanged") == 1


async def test_a_recheck_skips_incidents_that_are_no_longer_recent_or_owned() -> None:
    w = a_worker()
    await notify(w, sample_incident())
    w = restarted(w, [pregnancy_body()])
    w.deps.clock.set(datetime(2026, 11, 27, 9, 0, tzinfo=UTC))  # the incident is 120 days old
    await w.register.rebuild_index()
    await w.late.rebuild_recent()
    assert w.late.recheck is not None and await w.late.recheck == 0
    assert commands(w) == []


async def test_a_rebuild_files_only_records_the_index_does_not_hold_as_they_are() -> None:
    w = a_worker()
    await register(w, pregnancy_body())
    held = w.subjects[b"U1"]
    assert w.register.index.holds("U1", held) and not w.register.index.holds("U1", held + b" ")
    before = w.register.index.get("U1")
    await w.register.rebuild_index()
    assert w.register.index.get("U1") == before and len(w.register.index) == 1
    w = restarted(w, [pregnancy_body("U2")])  # a fresh index: every record is filed
    await w.register.rebuild_index()
    assert {r.subject_ref for r in w.register.index} == {"U1", "U2"}
