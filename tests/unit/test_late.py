"""Late knowledge, pure part: the recent-incident index, affected keys, reasons, re-decisions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.decision import Decision, DecisionSubject
from streams.domain.late import (
    DECISION_ONLY,
    LATE_TASK,
    UNCHANGED,
    Known,
    RecentIncidents,
    changed_keys,
    late_reason,
    local_today,
    redecide,
    window_start,
)
from streams.domain.matching.blocking import incident_keys, record_keys
from streams.domain.register.records import SubjectRecord, apply_event
from tests.support.fakes import FATHER, MOTHER, birth, register_event, register_of
from tests.support.samples import sample_incident

ON = date(2026, 8, 10)
DAY = date(2026, 7, 30)


def pregnancy(ref: str = "U1", carers: tuple[dict[str, object], ...] = (FATHER,)) -> SubjectRecord:
    event = register_event(
        ref,
        "pregnancy_registered",
        "unborn",
        subject={"expected_delivery_date": "2026-12-01"},
        carers=list(carers),
        address={"lines": ["3 Elm Row"], "town": "London", "postcode": "E8 1AA"},
    )
    return apply_event(None, event)


def subject(ref: str, outcome: str | None = "trigger", basis: str = "register") -> DecisionSubject:
    fields: dict[str, object] = {
        "basis": basis,
        "kind": "unborn" if ref.startswith("U") else "child",
        "subject_ref" if basis == "register" else "person_ref": ref,
    }
    if outcome is not None:
        fields["outcome"] = outcome
    return DecisionSubject.model_validate(fields)


def decision(*subjects: DecisionSubject) -> Decision:
    outcomes = {s.outcome for s in subjects}
    value = (
        "trigger" if "trigger" in outcomes else "review" if "review" in outcomes else "no_action"
    )
    return Decision(
        incident_id="MPS-2026-000001",
        revision=1,
        decision=value,  # type: ignore[arg-type]
        subjects=list(subjects),
        reasons=["rules"],
    )


# --- the recent-incident index ---------------------------------------------------------------


def test_recent_incidents_find_incidents_by_shared_key_and_forget_them() -> None:
    recent = RecentIncidents()
    recent.add("I1", DAY, {"a", "b"})
    recent.add("I2", DAY, {"b", "c"})
    assert recent.sharing({"b"}) == {"I1", "I2"}
    assert recent.sharing({"a", "z"}) == {"I1"}
    assert recent.sharing({"z"}) == set()
    recent.add("I1", DAY, {"z"})  # a later revision replaces the keys of the earlier one
    assert recent.sharing({"a"}) == set() and recent.sharing({"z"}) == {"I1"}
    recent.remove("I2")
    assert len(recent) == 1 and "I2" not in recent and recent.sharing({"b", "c"}) == set()


def test_recent_incidents_expire_by_incident_day() -> None:
    recent = RecentIncidents()
    recent.add("old", date(2026, 5, 1), {"k"})
    recent.add("eve", date(2026, 5, 11), {"k"})  # the day before the window starts
    recent.add("edge", date(2026, 5, 12), {"k"})
    recent.add("new", date(2026, 8, 1), {"k"})
    assert recent.expire(window_start(ON, 90)) == 2
    assert recent.sharing({"k"}) == {"edge", "new"}
    recent.clear()
    assert len(recent) == 0 and recent.sharing({"k"}) == set()


class RecentModel:
    """What the recent-incident index must answer, kept the plain way: key sets by incident."""

    def __init__(self) -> None:
        self.keys: dict[str, set[str]] = {}
        self.days: dict[str, date] = {}

    def add(self, incident_id: str, day: date, keys: set[str]) -> None:
        self.keys[incident_id], self.days[incident_id] = set(keys), day

    def remove(self, incident_id: str) -> None:
        self.keys.pop(incident_id, None)
        self.days.pop(incident_id, None)

    def expire(self, start: date) -> int:
        old = [i for i, day in self.days.items() if day < start]
        for incident_id in old:
            self.remove(incident_id)
        return len(old)

    def sharing(self, keys: set[str]) -> set[str]:
        return {i for i, held in self.keys.items() if held & keys}


OPERATIONS = st.lists(
    st.tuples(
        st.sampled_from(["add", "add", "add", "remove", "expire", "sharing"]),
        st.integers(0, 400),  # incident
        st.integers(0, 60),  # day offset
        st.sets(st.integers(0, 300), max_size=12),  # keys
    ),
    max_size=700,
)


@settings(max_examples=40, deadline=None)
@given(OPERATIONS)
def test_recent_incidents_answer_as_a_plain_index_would_through_flushes_and_merges(
    operations: list[tuple[str, int, int, set[int]]],
) -> None:
    """Hundreds of incidents, more than the memtable holds, revised, removed and expired."""
    recent, model = RecentIncidents(), RecentModel()
    for op, n, offset, numbers in operations:
        incident_id, day = f"I{n}", date(2026, 5, 1) + timedelta(days=offset)
        keys = {f"key-{k}" for k in numbers}
        if op == "add":
            recent.add(incident_id, day, keys)
            model.add(incident_id, day, keys)
        elif op == "remove":
            recent.remove(incident_id)
            model.remove(incident_id)
        elif op == "expire":
            assert recent.expire(day) == model.expire(day)
        else:
            assert recent.sharing(keys) == model.sharing(keys)
        assert len(recent) == len(model.keys)
    assert sorted(recent.ids()) == sorted(model.keys)
    for k in range(0, 301, 7):
        assert recent.sharing({f"key-{k}"}) == model.sharing({f"key-{k}"})


def test_window_and_today_are_judged_in_london() -> None:
    assert window_start(ON, 90) == date(2026, 5, 12)
    assert local_today(datetime(2026, 8, 9, 23, 30, tzinfo=UTC), "Europe/London") == ON


# --- which incidents a change concerns ---------------------------------------------------------


def test_changed_keys_meet_the_keys_of_an_incident_whose_suspect_is_a_carer() -> None:
    after = pregnancy()
    keys = changed_keys(register_of(), None, after)
    assert keys == set(record_keys(after))
    assert keys & incident_keys(sample_incident())


def test_changed_keys_include_the_linked_pregnancy() -> None:
    expecting = register_event(
        "U1",
        "pregnancy_registered",
        "unborn",
        subject={"expected_delivery_date": "2026-12-01"},
        carers=[MOTHER],
    )
    born = birth("C1", carers=(), subject={"from_pregnancy_ref": "U1"})
    register = register_of(expecting, born)
    child = register.get("C1")
    mother = register.get("U1")
    assert child is not None and mother is not None
    assert record_keys(mother) <= changed_keys(register, None, child)


# --- what a re-decision changes ----------------------------------------------------------------


def test_a_subject_named_for_the_first_time_is_late_and_logged() -> None:
    after = pregnancy()
    change = redecide(decision(subject("U1")), {}, {}, None, after, ON)
    assert change.result == LATE_TASK
    assert change.late == {
        "subject:U1": "the register learned of the pregnancy after the incident:"
        " re-decided on 2026-08-10"
    }
    assert change.outcomes == change.logged == {"subject:U1": "trigger"}
    assert change.decision is not None and change.decision.decision == "trigger"
    logged = change.decision.model_dump()
    assert logged["late"] is True
    assert logged["subjects"][0]["late"] is True
    assert "register record of U1 changed" in logged["reasons"][-1]


def test_the_same_outcomes_change_nothing() -> None:
    known = {"subject:C1": "trigger"}
    change = redecide(decision(subject("C1")), known, known, None, pregnancy(), ON)
    assert change.result == UNCHANGED
    assert (change.decision, change.late) == (None, {})
    assert change.outcomes == change.logged == known


def test_a_dropped_subject_is_logged_but_keeps_its_task() -> None:
    known = {"subject:C1": "trigger"}
    change = redecide(decision(subject("C1", None)), known, known, None, pregnancy(), ON)
    assert change.result == DECISION_ONLY
    assert change.late == {}
    assert change.outcomes == known  # never withdrawn by a re-decision
    assert change.logged == {}
    assert change.decision is not None and change.decision.decision == "no_action"


def test_an_upgrade_from_review_updates_the_task_rather_than_raising_a_second() -> None:
    raised = {"subject:C1": "review"}
    change = redecide(decision(subject("C1")), raised, raised, None, pregnancy(), ON)
    assert change.result == LATE_TASK and change.late == {}
    assert list(change.upgraded) == ["subject:C1"]
    assert change.upgraded["subject:C1"].startswith("outcome changed from review to trigger: ")
    assert change.outcomes == change.logged == {"subject:C1": "trigger"}
    assert change.decision is not None and change.decision.subjects[0].late is True


def test_a_weaker_outcome_is_logged_but_never_downgrades_the_task() -> None:
    raised = {"subject:C1": "trigger"}
    weaker = decision(subject("C1", outcome="review"))
    change = redecide(weaker, raised, raised, None, pregnancy(), ON)
    assert change.result == DECISION_ONLY and change.upgraded == {} and change.late == {}
    assert change.outcomes == raised and change.logged == {"subject:C1": "review"}


def test_late_reasons_say_what_the_register_learned_without_personal_data() -> None:
    child = apply_event(None, birth("C1"))
    assert late_reason(subject("C1"), None, child, ON).startswith(
        "the register learned of the birth after the incident"
    )
    assert late_reason(subject("C1"), child, child, ON).startswith(
        "the register's record of this subject changed"
    )
    assert late_reason(subject("P1", basis="police_report"), None, child, ON).startswith(
        "the register changed after the incident"
    )
    for reason in (late_reason(subject("C1"), None, child, ON),):
        assert "Zebedee" not in reason and "Quuxley" not in reason and "2026-02-11" not in reason


def test_a_recheck_names_no_record_and_says_how_the_change_was_found() -> None:
    change = redecide(decision(subject("U1")), {}, {}, None, None, ON)
    assert change.result == LATE_TASK
    assert change.late["subject:U1"].startswith(
        "the register changed after the incident (found when this worker re-checked"
    )
    assert change.decision is not None
    assert change.decision.reasons[-1].startswith("re-decided on 2026-08-10: the register changed")
    assert "re-checked its recent incidents" in change.decision.reasons[-1]
    known = {"subject:U1": "trigger"}
    assert redecide(decision(subject("U1")), known, known, None, None, ON).result == UNCHANGED


# --- a birth after the incident, and a police-report task the register later knows -------------

U1, C1, C2, P1 = "subject:U1", "subject:C1", "subject:C2", "person:P1"
BORN = "born on 2026-08-05, now child record C1"


def born_after(*children: str, on: str = "2026-08-05") -> Known:
    """U1 and its children born after the 2026-07-30 incident, as a re-decision knows them."""
    births = [
        birth(ref, carers=(), subject={"from_pregnancy_ref": "U1", "date_of_birth": on})
        for ref in children
    ]
    expecting = register_event(
        "U1", "pregnancy_registered", "unborn", subject={"expected_delivery_date": "2026-08-20"}
    )
    return Known(register_of(expecting, *births), DAY)


def test_a_birth_after_the_incident_updates_the_pregnancys_task_once() -> None:
    raised = {U1: "trigger"}
    known = born_after("C1")
    change = redecide(decision(subject("U1")), raised, raised, None, None, ON, known)
    assert change.result == LATE_TASK and change.late == {}
    assert change.upgraded == {
        U1: "the register learned of the birth after the incident: re-decided on 2026-08-10"
    }
    assert change.carried == {C1: U1} and change.births == {C1: BORN}
    assert change.outcomes == raised
    # Redelivered, or re-checked after a restart: the state says it was told.
    told = Known(known.register, DAY, change.carried, births=change.births)
    again = redecide(decision(subject("U1")), raised, raised, None, None, ON, told)
    assert again.result == UNCHANGED and again.upgraded == {}


def test_twins_born_after_the_incident_are_told_on_the_one_task() -> None:
    raised = {U1: "trigger"}
    change = redecide(
        decision(subject("U1")), raised, raised, None, None, ON, born_after("C1", "C2")
    )
    assert list(change.upgraded) == [U1]
    assert change.carried == {C1: U1, C2: U1}
    assert set(change.births) == {C1, C2}


def test_a_corrected_date_of_birth_updates_the_task_once_more() -> None:
    raised = {U1: "trigger"}
    corrected = born_after("C1", on="2026-08-06")
    told = Known(corrected.register, DAY, {C1: U1}, births={C1: BORN})
    change = redecide(decision(subject("U1")), raised, raised, None, None, ON, told)
    assert change.upgraded == {
        U1: "the register corrected the birth after the incident: re-decided on 2026-08-10"
    }
    assert change.births == {C1: "born on 2026-08-06, now child record C1"}


def test_a_state_carrying_a_child_from_before_births_were_kept_is_not_told_again() -> None:
    raised = {U1: "trigger"}
    known = born_after("C1")
    old = Known(known.register, DAY, {C1: U1})
    change = redecide(decision(subject("U1")), raised, raised, None, None, ON, old)
    assert change.result == UNCHANGED and change.upgraded == {}
    assert change.births == {C1: BORN}  # written, so the next re-decision knows


def test_a_pregnancy_the_register_books_late_lands_on_the_police_report_task() -> None:
    raised = {P1: "trigger"}
    known = Known(register_of(), DAY, covered={P1: U1})
    change = redecide(decision(subject("U1")), raised, raised, None, pregnancy(), ON, known)
    assert change.late == {}
    assert list(change.upgraded) == [U1]
    assert change.carried == {U1: P1}
    assert change.outcomes == raised
    # Redelivered: one task, told once.
    again = Known(known.register, DAY, change.carried, covered={P1: U1})
    repeat = redecide(decision(subject("U1")), raised, change.logged, None, pregnancy(), ON, again)
    assert repeat.result == UNCHANGED
