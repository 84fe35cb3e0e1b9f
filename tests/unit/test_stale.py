"""Stale knowledge, pure: why a task no longer stands, and that one change marks a task once."""

from __future__ import annotations

from datetime import date

import pytest

from schemas.decision import Decision, DecisionSubject
from streams.domain.late import LATE_TASK, TASK_FLAGGED, UNCHANGED, Known, redecide
from streams.domain.register.records import SubjectRecord, apply_event
from streams.domain.stale import (
    MOVED,
    NO_LONGER_MATCHED,
    PREGNANCY_ENDED,
    WITHDRAWN,
    stale_flag,
    unmarked_flags,
)
from tests.support.fakes import FATHER, HOME, birth, moved, register_event, register_of

DAY = date(2026, 7, 30)
ON = date(2026, 8, 10)
U1, C1 = "subject:U1", "subject:C1"


def booked() -> SubjectRecord:
    event = register_event(
        "U1",
        "pregnancy_registered",
        "unborn",
        subject={"expected_delivery_date": "2026-12-01"},
        carers=[FATHER],
        address=HOME,
        effective_date="2026-05-01",
    )
    return apply_event(None, event)


def ended(outcome: str, on: str) -> SubjectRecord:
    event = register_event("U1", "pregnancy_ended", "unborn", outcome=outcome, effective_date=on)
    return apply_event(booked(), event)


def no_action() -> Decision:
    return Decision(incident_id="MPS-2026-000001", revision=1, decision="no_action", subjects=[])


@pytest.mark.parametrize("outcome", ["loss", "termination"])
def test_a_pregnancy_that_ended_before_the_incident(outcome: str) -> None:
    flag = stale_flag(ended(outcome, "2026-07-20"), DAY, ON)
    assert flag.reason == PREGNANCY_ENDED
    assert flag.words.startswith(
        "The register has recorded that this pregnancy ended on 20 July 2026, before the day"
    )
    assert "10 August 2026" in flag.words
    assert flag.words.endswith("Please confirm whether this task is still needed, or close it.")


def test_a_family_that_moved_before_the_incident() -> None:
    after = apply_event(booked(), moved("U1", "2026-07-01"))
    flag = stale_flag(after, DAY, ON)
    assert flag.reason == MOVED and "moved home on 1 July 2026" in flag.words
    # The booking sent again (a later span of the first home, dated back) changes nothing.
    again = register_event(
        "U1", "pregnancy_registered", "unborn", address=HOME, effective_date="2026-05-01"
    )
    assert stale_flag(apply_event(after, again), DAY, ON) == flag
    later = apply_event(booked(), moved("U1", "2026-08-01"))  # after the incident: not this
    assert stale_flag(later, DAY, ON).reason == NO_LONGER_MATCHED


def test_a_record_withdrawn_on_or_before_the_incident_day() -> None:
    withdrawn = register_event("U1", "subject_withdrawn", "unborn", effective_date="2026-07-30")
    flag = stale_flag(apply_event(booked(), withdrawn), DAY, ON)
    assert flag.reason == WITHDRAWN
    assert flag.words.startswith("The register has withdrawn this record from 30 July 2026")


def test_otherwise_the_incident_no_longer_matches() -> None:
    assert stale_flag(booked(), DAY, ON).reason == NO_LONGER_MATCHED
    assert stale_flag(None, DAY, ON).reason == NO_LONGER_MATCHED


def test_words_carry_no_machine_words() -> None:
    flag = stale_flag(ended("loss", "2026-07-20"), DAY, ON)
    for jargon in ("subject:", "U1", "re-decided", "scope", "_"):
        assert jargon not in flag.words


def test_a_task_is_marked_once_per_change() -> None:
    register = register_of()
    register.upsert(ended("loss", "2026-07-20"))
    raised = {U1: "trigger", "person:P1": "trigger"}
    flags = unmarked_flags(raised, {}, {}, {}, register, DAY, ON)
    assert {task: flag.reason for task, flag in flags.items()} == {U1: PREGNANCY_ENDED}
    marked = {U1: PREGNANCY_ENDED}
    assert unmarked_flags(raised, {}, {}, marked, register, DAY, ON) == {}
    assert unmarked_flags(raised, {U1: "trigger"}, {}, {}, register, DAY, ON) == {}


def test_a_carried_childs_task_is_judged_by_the_child() -> None:
    child = birth("C1", carers=(), subject={"from_pregnancy_ref": "U1"})
    withdrawn = register_event("C1", "subject_withdrawn", effective_date="2026-07-01")
    register = register_of(child, withdrawn)
    register.upsert(booked())
    flags = unmarked_flags({U1: "trigger"}, {}, {C1: U1}, {}, register, DAY, ON)
    assert flags[U1].reason == WITHDRAWN


# --- the re-decision ---------------------------------------------------------------------------


def test_a_re_decision_that_drops_a_task_marks_it_keeping_its_outcome() -> None:
    register = register_of()
    register.upsert(ended("loss", "2026-07-20"))
    raised = {U1: "trigger"}
    known = Known(register, DAY)
    change = redecide(no_action(), raised, raised, booked(), register.get("U1"), ON, known)
    assert change.result == TASK_FLAGGED
    assert change.outcomes == raised  # as raised: never withdrawn or downgraded
    assert list(change.flags) == [U1] and change.flagged == {U1: PREGNANCY_ENDED}
    assert change.decision is not None and change.decision.decision == "no_action"
    # The same again, as after a redelivery or a re-check: nothing more.
    again = Known(register, DAY, flagged=change.flagged)
    repeat = redecide(no_action(), raised, change.logged, None, None, ON, again)
    assert repeat.result == UNCHANGED and repeat.flags == {} and repeat.decision is None
    # A state from before tasks were marked (dropped, never marked) is marked on a re-check.
    legacy = redecide(no_action(), raised, {}, None, None, ON, known)
    assert legacy.result == TASK_FLAGGED and legacy.decision is None


def test_a_late_birth_updates_the_pregnancys_task() -> None:
    register = register_of(
        register_event(
            "U1",
            "pregnancy_registered",
            "unborn",
            subject={"expected_delivery_date": "2026-08-01"},
            carers=[FATHER],
        ),
        birth("C1", carers=(), subject={"from_pregnancy_ref": "U1"}),
    )
    child = DecisionSubject(basis="register", kind="child", subject_ref="C1", outcome="trigger")
    fresh = Decision(
        incident_id="MPS-2026-000001", revision=1, decision="trigger", subjects=[child]
    )
    raised = {U1: "trigger"}
    change = redecide(fresh, raised, raised, None, register.get("C1"), ON, Known(register, DAY))
    assert change.result == LATE_TASK and change.late == {} and change.flags == {}
    assert change.upgraded == {
        C1: "the register learned of the birth after the incident: re-decided on 2026-08-10"
    }
    assert change.carried == {C1: U1} and change.outcomes == raised


def test_a_subject_listed_without_an_outcome_is_not_named() -> None:
    register = register_of()
    register.upsert(ended("loss", "2026-07-20"))
    unnamed = DecisionSubject(basis="register", kind="unborn", subject_ref="U1")
    fresh = Decision(
        incident_id="MPS-2026-000001", revision=1, decision="no_action", subjects=[unnamed]
    )
    raised = {U1: "trigger"}
    change = redecide(fresh, raised, raised, None, None, ON, Known(register, DAY))
    assert change.flagged == {U1: PREGNANCY_ENDED}


def test_a_marked_task_named_again_weaker_stays_marked_and_is_not_downgraded() -> None:
    register = register_of()
    register.upsert(booked())
    weaker = DecisionSubject(basis="register", kind="unborn", subject_ref="U1", outcome="review")
    fresh = Decision(
        incident_id="MPS-2026-000001", revision=1, decision="review", subjects=[weaker]
    )
    raised = {U1: "trigger"}
    known = Known(register, DAY, flagged={U1: PREGNANCY_ENDED})
    change = redecide(fresh, raised, {}, None, None, ON, known)
    assert (change.late, change.upgraded, change.flags) == ({}, {}, {})
    assert change.flagged == {U1: PREGNANCY_ENDED} and change.outcomes == raised
