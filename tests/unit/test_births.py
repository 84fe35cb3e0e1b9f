"""One baby, one task, pure: which task a pregnancy's child lands on, in every order."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from schemas.decision import Decision, DecisionSubject
from streams.domain.births import (
    carried_words,
    carriers,
    linked_commands,
    merged,
    onto_tasks,
    task_outcomes,
)
from streams.domain.newborns import birth_news, unnamed_births
from streams.domain.register.index import RegisterIndex
from streams.domain.task_policy import TaskPolicy
from tests.support.fakes import FATHER, birth, register_event, register_of
from tests.support.samples import sample_incident

#: When the tasks are raised.
NOW = datetime(2026, 7, 30, 10, 0, tzinfo=UTC)

U1, C1, C2 = "subject:U1", "subject:C1", "subject:C2"
P1 = "person:P1"


def family(*children: str, born: str = "2026-07-01") -> RegisterIndex:
    """A pregnancy U1 and its children (born before the 2026-07-30 incident, unless told)."""
    expecting = register_event(
        "U1",
        "pregnancy_registered",
        "unborn",
        subject={"expected_delivery_date": "2026-08-01"},
        carers=[FATHER],
    )
    births = [
        birth(ref, carers=(), subject={"from_pregnancy_ref": "U1", "date_of_birth": born})
        for ref in children
    ]
    return register_of(expecting, *births, birth("C9", carers=()))


def named(ref: str, outcome: str | None = "trigger", **extra: Any) -> DecisionSubject:
    fields = {
        "basis": "register",
        "kind": "unborn" if ref.startswith("U") else "child",
        "subject_ref": ref,
        "reasons": [f"{ref} evidence"],
        **extra,
    }
    return DecisionSubject.model_validate(fields | ({"outcome": outcome} if outcome else {}))


def decision(*subjects: DecisionSubject, revision: int = 1) -> Decision:
    outcomes = {s.outcome for s in subjects}
    return Decision(
        incident_id="MPS-2026-000001",
        revision=revision,
        decision="trigger"
        if "trigger" in outcomes
        else "review"
        if outcomes - {None}
        else "no_action",
        subjects=list(subjects),
    )


# --- which task carries which subject ---------------------------------------------------------


def test_a_child_born_of_a_pregnancy_with_a_task_is_carried_on_it() -> None:
    assert carriers(decision(named("C1")), family("C1"), {U1: "trigger"}, {}) == {C1: U1}


def test_a_pregnancy_named_beside_its_child_carries_it() -> None:
    both = decision(named("C1"), named("U1"))  # the child first: the pregnancy still carries
    assert carriers(both, family("C1"), {}, {}) == {C1: U1}


def test_a_pregnancy_named_after_its_childs_own_task_is_carried_on_that() -> None:
    assert carriers(decision(named("U1")), family("C1"), {C1: "trigger"}, {}) == {U1: C1}


def test_a_child_with_no_pregnancy_task_or_link_gets_its_own() -> None:
    assert carriers(decision(named("C1")), family("C1"), {}, {}) == {}
    assert carriers(decision(named("C9")), family("C1"), {U1: "trigger"}, {}) == {}
    report = DecisionSubject(
        basis="police_report", kind="child", person_ref="P1", outcome="trigger"
    )
    assert carriers(decision(report), family("C1"), {U1: "trigger"}, {}) == {}


def test_twins_the_first_is_carried_and_the_second_gets_its_own_task() -> None:
    register = family("C1", "C2")
    both = decision(named("C2"), named("C1"))
    assert carriers(both, register, {U1: "trigger"}, {}) == {C1: U1}
    # The twin registered first stays on the pregnancy's task whatever comes after.
    assert carriers(both, register, {U1: "trigger"}, {C2: U1}) == {C2: U1}


def test_what_is_carried_stays_carried() -> None:
    assert carriers(decision(named("C1")), family("C1"), {U1: "trigger"}, {C1: U1}) == {C1: U1}


# --- one subject per task -------------------------------------------------------------------------


def test_a_task_named_twice_shows_the_child_with_the_stronger_outcome_and_all_reasons() -> None:
    folded = merged(decision(named("U1"), named("C1", "review")), {C1: U1})
    (only,) = folded.subjects
    assert (only.subject_ref, only.outcome) == ("C1", "trigger")
    assert only.reasons == ["U1 evidence", "C1 evidence"]
    assert task_outcomes(decision(named("U1"), named("C1", "review")), {C1: U1}) == {U1: "trigger"}


# --- the commands of a decision ------------------------------------------------------------------


def keys(commands: list[Any]) -> list[tuple[str, str]]:
    return [(c.idempotency_key.split("/")[1], c.outcome) for c in commands]


def test_a_decision_naming_the_pregnancy_and_its_child_raises_one_task() -> None:
    register = family("C1", born="2026-08-05")
    both = decision(named("U1"), named("C1"))
    carried = carriers(both, register, {}, {})
    (command,) = linked_commands(both, sample_incident(), register, {}, carried, NOW, TaskPolicy())
    assert command.idempotency_key == "MPS-2026-000001/subject:U1"
    assert command.title.endswith("incident MPS-2026-000001, subject:U1")
    assert (command.subject.subject_ref, command.subject.kind) == ("C1", "child")
    assert command.changes == ["born on 2026-08-05, now child record C1"]


def test_a_revision_after_the_birth_updates_the_pregnancys_task_and_withdraws_nothing() -> None:
    register = family("C1")
    revised = decision(named("C1"), revision=2)
    incident = sample_incident(revision=2)
    commands = linked_commands(
        revised, incident, register, {U1: "trigger"}, {C1: U1}, NOW, TaskPolicy()
    )
    assert keys(commands) == [(U1, "trigger")]
    (command,) = commands
    assert (command.revision, command.subject.subject_ref) == (2, "C1")
    assert command.changes == [
        "revision 2 received; outcome still trigger",
        "born on 2026-07-01, now child record C1",
    ]


def test_a_revision_naming_neither_withdraws_the_one_task() -> None:
    register = family("C1")
    incident = sample_incident(revision=2)
    none = decision(named("C1", None), revision=2)
    commands = linked_commands(
        none, incident, register, {U1: "trigger"}, {C1: U1}, NOW, TaskPolicy()
    )
    assert keys(commands) == [(U1, "withdrawn")]


def test_a_revision_with_twins_keeps_each_on_its_own_task() -> None:
    register = family("C1", "C2")
    both = decision(named("C1"), named("C2"), revision=2)
    previous = {U1: "trigger", C2: "trigger"}
    commands = linked_commands(
        both, sample_incident(revision=2), register, previous, {C1: U1}, NOW, TaskPolicy()
    )
    assert sorted(keys(commands)) == [(C2, "trigger"), (U1, "trigger")]
    twin = next(c for c in commands if c.subject.subject_ref == "C2")
    assert twin.changes[-1] == (
        "a twin: the other child of this pregnancy is on this incident's task for U1"
    )


# --- a birth after the incident day: the decision names the pregnancy, not the child ----------

#: Born after the 2026-07-30 incident: out of scope as a child, so no decision names it.
AFTER = "2026-08-05"


def test_a_child_born_after_the_incident_is_carried_on_its_pregnancys_named_task() -> None:
    register = family("C1", born=AFTER)
    assert unnamed_births(decision(named("U1")), register, {U1}, {}) == {C1: U1}


def test_twins_born_after_the_incident_are_both_carried_on_the_one_task() -> None:
    register = family("C1", "C2", born=AFTER)
    assert unnamed_births(decision(named("U1")), register, {U1}, {}) == {C1: U1, C2: U1}


def test_no_unnamed_birth_for_a_task_not_named_or_a_child_named_or_with_a_task() -> None:
    register = family("C1", born=AFTER)
    assert unnamed_births(decision(named("U1")), register, set(), {}) == {}
    assert unnamed_births(decision(named("U1"), named("C1")), register, {U1}, {}) == {}
    assert unnamed_births(decision(named("U1")), register, {U1, C1}, {}) == {}


def test_a_birth_is_news_once_then_again_only_when_its_words_change() -> None:
    register, carried = family("C1", born=AFTER), {C1: U1}
    words = "born on 2026-08-05, now child record C1"
    assert birth_news(register, carried, {}, {}) == ({C1: words}, {C1: words})
    assert birth_news(register, carried, carried, {C1: words}) == ({}, {C1: words})
    corrected = {C1: "born on 2026-08-04, now child record C1"}
    assert birth_news(register, carried, carried, corrected) == ({C1: words}, {C1: words})


def test_a_child_carried_in_a_state_written_before_births_were_kept_is_not_news() -> None:
    register, carried = family("C1", born=AFTER), {C1: U1}
    news, told = birth_news(register, carried, carried, {})
    assert news == {} and told == {C1: "born on 2026-08-05, now child record C1"}


def test_a_task_carrying_a_child_born_after_the_incident_shows_the_child() -> None:
    register = family("C1", "C2", born=AFTER)
    only = decision(named("U1"))
    carried = {C1: U1, C2: U1}
    commands = linked_commands(only, sample_incident(), register, {}, carried, NOW, TaskPolicy())
    (command,) = onto_tasks(commands, register, carried)  # moved again: nothing changes
    assert command.idempotency_key == "MPS-2026-000001/subject:U1"
    assert command.title.endswith("incident MPS-2026-000001, subject:U1")
    assert (command.subject.subject_ref, command.subject.kind) == ("C1", "child")
    assert command.subject.nhs_number == "4857773456"
    assert command.changes == [
        "born on 2026-08-05, now child record C1",
        "born on 2026-08-05, now child record C2",
    ]


# --- a police-report task, and the register that later knows the baby -----------------------


def test_a_register_subject_that_is_the_reported_baby_is_carried_on_its_task() -> None:
    covered = {P1: U1}
    assert carriers(decision(named("U1")), family(), {P1: "trigger"}, {}, covered) == {U1: P1}
    # Not without the link, nor while the police-report subject is itself still named.
    assert carriers(decision(named("U1")), family(), {P1: "trigger"}, {}) == {}
    report = DecisionSubject(
        basis="police_report", kind="unborn", person_ref="P1", outcome="trigger"
    )
    assert carriers(decision(named("U1"), report), family(), {P1: "trigger"}, {}, covered) == {}


def test_its_child_born_later_follows_the_pregnancy_onto_the_police_report_task() -> None:
    register = family("C1")
    carried = carriers(decision(named("C1")), register, {P1: "trigger"}, {U1: P1})
    assert carried == {U1: P1, C1: P1}
    assert carried_words(register, C1, P1) == ["born on 2026-07-01, now child record C1"]
    assert carried_words(register, U1, P1) == ["the register now knows this pregnancy: record U1"]


def test_a_revision_after_the_link_updates_the_police_report_task_and_withdraws_nothing() -> None:
    revised = decision(named("U1"), revision=2)
    commands = linked_commands(
        revised, sample_incident(revision=2), family(), {P1: "trigger"}, {U1: P1}, NOW, TaskPolicy()
    )
    assert keys(commands) == [(P1, "trigger")]
    (command,) = commands
    assert command.subject.subject_ref == "U1"
    assert command.changes[-1] == "the register now knows this pregnancy: record U1"
