"""Late knowledge on fakes, register running behind the police: a birth updates the pregnancy's
task, and a loss, a move or a withdrawal marks a task for a person, each once, in every order."""

from __future__ import annotations

from typing import Any

from schemas.task import RaiseTask
from streams.domain.incidents import IncidentState
from tests.support.fakes import MOTHER, STRANGER, moved, register_body, sample_value
from tests.support.samples import sample_incident
from tests.unit.test_late_flow import (
    KEY,
    a_worker,
    commands,
    decisions,
    notify,
    pregnancy_body,
    redecided,
    register,
    restarted,
    state,
)

U1_TASK = "MPS-2026-000001/subject:U1"
#: The sample incident's place: a home that matches by address alone.
INCIDENT_HOME = {"lines": ["Flat 7", "231 West Green Road"], "town": "London", "postcode": "N8 7DW"}


def born(ref: str = "C1", on: str = "2026-07-01", **subject: Any) -> dict[str, Any]:
    """The birth of a child of U1, registered on 2026-08-10 (the register running behind)."""
    return register_body(
        ref,
        "birth_registered",
        subject={"from_pregnancy_ref": "U1", "date_of_birth": on, **subject},
        effective_date=on,
        recorded_at="2026-08-10T08:30:00+00:00",
    )


def late_event(type_: str, on: str, **kw: Any) -> dict[str, Any]:
    """A change to U1 effective `on`, recorded on 2026-08-10."""
    return register_body(
        "U1", type_, "unborn", effective_date=on, recorded_at="2026-08-10T08:30:00+00:00", **kw
    )


async def nothing_more_after_a_restart(w: Any, sent: int) -> Any:
    """Restart the worker, rebuild and re-check its recent incident: no command beyond `sent`.

    The restarted worker is returned."""
    w = restarted(w, [])
    await w.register.rebuild_index()
    await w.late.rebuild_recent()
    assert w.late.recheck is not None and await w.late.recheck == 1
    assert len(commands(w)) == sent
    return w


def by_key(w: Any) -> dict[str, list[RaiseTask]]:
    found: dict[str, list[RaiseTask]] = {}
    for command in commands(w):
        found.setdefault(command.idempotency_key, []).append(command)
    return found


# --- a birth ---------------------------------------------------------------------------------


async def test_a_birth_registered_after_the_incident_updates_the_pregnancys_task() -> None:
    w = a_worker()
    await register(w, pregnancy_body())
    await notify(w, sample_incident())
    birth = born()
    await register(w, birth)
    raised, updated = commands(w)
    assert updated.idempotency_key == raised.idempotency_key == U1_TASK
    assert updated.title == raised.title
    assert (updated.revision, updated.amendment, updated.outcome) == (1, 1, "trigger")
    assert (updated.subject.subject_ref, updated.subject.kind) == ("C1", "child")
    assert updated.changes == [
        "the register learned of the birth after the incident: re-decided on 2026-08-10",
        "born on 2026-07-01, now child record C1",
    ]
    assert not updated.needs_confirmation
    assert state(w).carried == {"subject:C1": "subject:U1"}
    assert state(w).outcomes == {"subject:U1": "trigger"}
    assert redecided(w, "late_task") == 1
    # The birth again, and a re-check after a restart: nothing more.
    await register(w, birth)
    await nothing_more_after_a_restart(w, 2)


async def test_a_police_revision_after_the_birth_updates_the_same_task() -> None:
    w = a_worker()
    await register(w, pregnancy_body())
    await notify(w, sample_incident())
    await register(w, born())
    await notify(w, sample_incident(revision=2))
    (only,) = by_key(w).keys()
    assert only == U1_TASK
    revised = commands(w)[-1]
    assert (revised.revision, revised.amendment, revised.outcome) == (2, 0, "trigger")
    assert revised.subject.subject_ref == "C1"
    assert "born on 2026-07-01, now child record C1" in revised.changes
    assert state(w).carried == {"subject:C1": "subject:U1"}


async def test_a_birth_the_register_knew_before_the_incident_is_one_childs_task() -> None:
    w = a_worker()
    await register(w, pregnancy_body())
    await register(w, born())
    await notify(w, sample_incident())
    (command,) = commands(w)
    assert command.idempotency_key == "MPS-2026-000001/subject:C1"
    assert command.changes == []


async def test_a_decision_naming_the_pregnancy_and_its_child_raises_one_task() -> None:
    w = a_worker()
    await register(w, pregnancy_body())
    # Born after the incident; the child's own record puts it in scope as an unborn child too.
    await register(w, born(on="2026-08-05", expected_delivery_date="2026-08-20"))
    await notify(w, sample_incident())
    assert sorted(s["subject_ref"] for s in decisions(w)[0]["subjects"]) == ["C1", "U1"]
    (command,) = commands(w)
    assert command.idempotency_key == U1_TASK
    assert command.subject.subject_ref == "C1"
    assert command.changes == ["born on 2026-08-05, now child record C1"]


async def test_twins_the_first_on_the_pregnancys_task_the_second_on_its_own() -> None:
    w = a_worker()
    await register(w, pregnancy_body())
    await notify(w, sample_incident())
    await register(w, born("C2"))
    await register(w, born("C1"))
    tasks = by_key(w)
    assert sorted(tasks) == ["MPS-2026-000001/subject:C1", U1_TASK]
    assert [c.subject.subject_ref for c in tasks[U1_TASK]] == ["U1", "C2"]
    (twin,) = tasks["MPS-2026-000001/subject:C1"]
    assert twin.late and twin.amendment == 0
    assert twin.changes[-1].startswith("a twin: the other child of this pregnancy is on")
    # A revision keeps each baby on its task, and withdraws neither.
    await notify(w, sample_incident(revision=2))
    revised = [c for c in commands(w) if c.revision == 2]
    assert sorted((c.idempotency_key, c.outcome) for c in revised) == [
        ("MPS-2026-000001/subject:C1", "trigger"),
        (U1_TASK, "trigger"),
    ]


async def test_twins_both_learned_at_once_on_a_re_check() -> None:
    w = a_worker()
    await register(w, pregnancy_body())
    await notify(w, sample_incident())
    w = restarted(w, [born("C1"), born("C2")])
    await w.register.rebuild_index()
    await w.late.rebuild_recent()
    assert w.late.recheck is not None and await w.late.recheck == 1
    tasks = by_key(w)
    assert sorted(tasks) == ["MPS-2026-000001/subject:C2", U1_TASK]
    assert tasks[U1_TASK][-1].subject.subject_ref == "C1"


# --- a birth after the incident day: the decision still names the pregnancy -----------------

#: A birth after the 2026-07-30 incident: the child is out of scope, the pregnancy in it.
AFTER = "2026-08-05"


async def test_a_birth_after_the_incident_updates_the_pregnancys_task_once() -> None:
    w = a_worker()
    await register(w, pregnancy_body())
    await notify(w, sample_incident())
    birth = born(on=AFTER)
    await register(w, birth)
    raised, updated = commands(w)
    assert updated.idempotency_key == raised.idempotency_key == U1_TASK
    assert (updated.title, updated.task_type) == (raised.title, raised.task_type)
    assert (updated.revision, updated.amendment, updated.outcome) == (1, 1, "trigger")
    assert (updated.subject.subject_ref, updated.subject.kind) == ("C1", "child")
    assert updated.subject.date_of_birth is not None
    assert updated.subject.date_of_birth.isoformat() == AFTER
    assert updated.changes == [
        "the register learned of the birth after the incident: re-decided on 2026-08-10",
        "born on 2026-08-05, now child record C1",
    ]
    assert state(w).carried == {"subject:C1": "subject:U1"}
    assert state(w).births == {"subject:C1": "born on 2026-08-05, now child record C1"}
    assert state(w).outcomes == {"subject:U1": "trigger"}
    assert redecided(w, "late_task") == 1
    # The birth again, and a re-check after a restart: nothing more.
    await register(w, birth)
    await nothing_more_after_a_restart(w, 2)


async def test_a_birth_after_the_incident_known_before_it_is_decided_is_on_the_one_task() -> None:
    w = a_worker()
    await register(w, pregnancy_body())
    await register(w, born(on=AFTER))  # the police report comes in after the birth
    await notify(w, sample_incident())
    (command,) = commands(w)
    assert (command.idempotency_key, command.amendment) == (U1_TASK, 0)
    assert (command.subject.subject_ref, command.subject.kind) == ("C1", "child")
    assert command.changes == ["born on 2026-08-05, now child record C1"]
    assert state(w).births == {"subject:C1": "born on 2026-08-05, now child record C1"}
    await nothing_more_after_a_restart(w, 1)


async def test_a_birth_after_the_incident_learned_on_a_re_check_is_told_once() -> None:
    w = a_worker()
    await register(w, pregnancy_body())
    await notify(w, sample_incident())
    w = restarted(w, [born(on=AFTER)])
    await w.register.rebuild_index()
    await w.late.rebuild_recent()
    assert w.late.recheck is not None and await w.late.recheck == 1
    _, updated = commands(w)
    assert (updated.idempotency_key, updated.subject.subject_ref) == (U1_TASK, "C1")
    assert updated.amendment == 1
    await nothing_more_after_a_restart(w, 2)


async def test_a_corrected_date_of_birth_updates_the_task_once_more() -> None:
    w = a_worker()
    await register(w, pregnancy_body())
    await notify(w, sample_incident())
    await register(w, born(on=AFTER))
    correction = born(on="2026-08-06")
    await register(w, correction)
    await register(w, correction)
    _, told, corrected = commands(w)
    assert corrected.idempotency_key == told.idempotency_key == U1_TASK
    assert corrected.amendment == 2
    assert corrected.changes == [
        "the register corrected the birth after the incident: re-decided on 2026-08-10",
        "born on 2026-08-06, now child record C1",
    ]


async def test_a_date_of_birth_corrected_to_before_the_incident_keeps_the_one_task() -> None:
    w = a_worker()
    await register(w, pregnancy_body())
    await notify(w, sample_incident())
    await register(w, born(on=AFTER))
    await register(w, born(on="2026-07-20"))  # now named itself, the pregnancy no longer
    assert list(by_key(w)) == [U1_TASK]
    corrected = commands(w)[-1]
    assert (corrected.amendment, corrected.subject.subject_ref) == (2, "C1")
    assert corrected.changes[-1] == "born on 2026-07-20, now child record C1"
    assert not corrected.needs_confirmation
    assert state(w).outcomes == {"subject:U1": "trigger"} and state(w).flagged == {}


async def test_twins_born_after_the_incident_are_both_told_on_the_one_task() -> None:
    w = a_worker()
    await register(w, pregnancy_body())
    await notify(w, sample_incident())
    await register(w, born("C1", on=AFTER))
    await register(w, born("C2", on=AFTER))
    tasks = by_key(w)
    assert list(tasks) == [U1_TASK]
    raised, first, second = tasks[U1_TASK]
    assert [c.amendment for c in (raised, first, second)] == [0, 1, 2]
    assert second.subject.subject_ref == "C1"
    assert "born on 2026-08-05, now child record C2" in second.changes
    assert set(state(w).births) == {"subject:C1", "subject:C2"}
    # A revision keeps one task, shows the child, withdraws nothing.
    await notify(w, sample_incident(revision=2))
    (revised,) = [c for c in commands(w) if c.revision == 2]
    assert (revised.idempotency_key, revised.outcome) == (U1_TASK, "trigger")
    assert revised.subject.subject_ref == "C1"


# --- a police-report task, and the register that later knows the baby -----------------------

P1_TASK = "MPS-2026-000001/person:P1"
P3_TASK = "MPS-2026-000001/person:P3"


def reported(revision: int = 1, *extra: dict[str, Any]) -> Any:
    """The sample incident with its victim (the register's MOTHER) reported pregnant."""
    base = sample_incident(revision=revision)
    persons = [p.model_dump(mode="json") for p in base.persons]
    persons[0]["pregnant"] = True
    return sample_incident(revision=revision, persons=[*persons, *extra])


async def test_a_pregnancy_booked_after_a_police_report_task_is_that_task() -> None:
    w = a_worker()
    await notify(w, reported())
    (raised,) = commands(w)
    assert (raised.idempotency_key, raised.subject.basis) == (P1_TASK, "police_report")
    booked = pregnancy_body(carers=(MOTHER,))
    await register(w, booked)
    await register(w, booked)
    assert list(by_key(w)) == [P1_TASK]
    _, updated = commands(w)
    assert (updated.title, updated.task_type, updated.outcome) == (
        raised.title,
        raised.task_type,
        "trigger",
    )
    assert (updated.amendment, updated.subject.basis, updated.subject.subject_ref) == (
        1,
        "register",
        "U1",
    )
    assert updated.changes[-1] == "the register now knows this pregnancy: record U1"
    assert state(w).carried == {"subject:U1": "person:P1"}
    # A police revision after the link: the one task, not withdrawn, no register task.
    await notify(w, reported(2))
    (revised,) = [c for c in commands(w) if c.revision == 2]
    assert (revised.idempotency_key, revised.outcome, revised.subject.subject_ref) == (
        P1_TASK,
        "trigger",
        "U1",
    )
    # Born after the incident: told on the same task.
    await register(w, born(on=AFTER))
    assert list(by_key(w)) == [P1_TASK]
    assert commands(w)[-1].subject.subject_ref == "C1"


async def test_a_baby_in_the_police_report_registered_later_is_that_task() -> None:
    w = a_worker()
    baby = {
        "person_ref": "P3",
        "role": "child",
        "given_name": "Zebedee",
        "family_name": "Quuxley",
        "date_of_birth": "2026-06-01",
    }
    incident = sample_incident(
        persons=[*sample_incident().model_dump(mode="json")["persons"], baby]
    )
    await notify(w, incident)
    (raised,) = commands(w)
    assert raised.idempotency_key == P3_TASK
    child = register_body(
        "C1",
        "birth_registered",
        subject={"given_name": "Zebedee", "family_name": "Quuxley", "date_of_birth": "2026-06-01"},
        carers=[MOTHER],
        effective_date="2026-06-01",
        recorded_at="2026-08-10T08:30:00+00:00",
    )
    await register(w, child)
    assert list(by_key(w)) == [P3_TASK]
    _, updated = commands(w)
    assert (updated.amendment, updated.subject.subject_ref, updated.subject.kind) == (
        1,
        "C1",
        "child",
    )
    assert updated.changes[-1] == "the register now knows this child: record C1"


# --- stale knowledge -----------------------------------------------------------------------------


async def test_a_loss_recorded_late_marks_the_task_once_never_closing_it() -> None:
    w = a_worker()
    await register(w, pregnancy_body())
    await notify(w, sample_incident())
    loss = late_event("pregnancy_ended", "2026-07-20", outcome="loss")
    await register(w, loss)
    raised, marked = commands(w)
    assert marked.idempotency_key == raised.idempotency_key
    assert (marked.outcome, marked.task_type, marked.amendment) == ("trigger", raised.task_type, 1)
    assert marked.needs_confirmation
    assert marked.confirmation_reason is not None
    assert "this pregnancy ended on 20 July 2026" in marked.confirmation_reason
    assert marked.changes == [marked.confirmation_reason]
    assert sample_value(w, "dvtrigger_tasks_flagged_total", reason="pregnancy_ended") == 1
    # Redelivered, then re-checked after a restart: marked once.
    await register(w, loss)
    w = await nothing_more_after_a_restart(w, 2)
    assert state(w).flagged == {"subject:U1": "pregnancy_ended"}
    # A different change later marks it again, counted up.
    await register(w, late_event("subject_withdrawn", "2026-07-25"))
    last = commands(w)[-1]
    assert (last.amendment, last.needs_confirmation, last.outcome) == (2, True, "trigger")
    assert state(w).flagged == {"subject:U1": "withdrawn"}


async def test_a_move_recorded_late_marks_the_task() -> None:
    w = a_worker()
    booked = pregnancy_body(carers=(STRANGER,), address=INCIDENT_HOME, effective_date="2026-05-01")
    await register(w, booked)
    await notify(w, sample_incident())
    (raised,) = commands(w)  # the incident happened at the family's home
    move = moved("U1", "2026-07-01").model_dump(mode="json", by_alias=True)
    await register(w, move)
    _, marked = commands(w)
    assert (marked.idempotency_key, marked.outcome) == (raised.idempotency_key, raised.outcome)
    assert marked.needs_confirmation and marked.confirmation_reason is not None
    assert "the family moved home on 1 July 2026" in marked.confirmation_reason
    assert sample_value(w, "dvtrigger_tasks_flagged_total", reason="moved") == 1


async def test_a_state_written_before_births_and_marks_still_reads() -> None:
    old = b'{"revision": 1, "notification_ids": [], "outcomes": {"subject:U1": "trigger"}}'
    read = IncidentState.model_validate_json(old)
    assert (read.carried, read.flagged, read.outcomes) == ({}, {}, {"subject:U1": "trigger"})
    assert KEY == b"MPS-2026-000001"


async def test_a_subject_the_register_puts_back_lifts_the_mark_once() -> None:
    w = a_worker()
    await register(w, pregnancy_body())
    await notify(w, sample_incident())
    await register(w, late_event("pregnancy_ended", "2026-07-20", outcome="loss"))
    # The register corrects itself: the pregnancy ended in a live birth, after the incident.
    correction = late_event("pregnancy_ended", "2026-08-05", outcome="live_birth")
    await register(w, correction)
    raised, marked, lifted = commands(w)
    assert lifted.idempotency_key == marked.idempotency_key == raised.idempotency_key
    assert marked.needs_confirmation
    assert (lifted.outcome, lifted.amendment, lifted.needs_confirmation) == ("trigger", 2, False)
    assert lifted.changes[0].startswith(
        "the register's record again puts this subject in scope and matched on the day of the"
        " incident, so the earlier request to confirm or close this task no longer applies: "
    )
    assert state(w).flagged == {} and state(w).outcomes == {"subject:U1": "trigger"}
    await register(w, correction)
    assert len(commands(w)) == 3
