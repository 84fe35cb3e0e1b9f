"""From a decision to its task commands: identity, titles, priority, due time and queue, council,
address, revisions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from schemas.decision import Decision, DecisionSubject
from schemas.police import PoliceIncident
from schemas.task import RaiseTask
from streams.domain.office_hours import OfficeCalendar
from streams.domain.register.index import RegisterIndex
from streams.domain.rules import decide
from streams.domain.task_policy import PRIORITIES, TaskPolicy
from streams.domain.tasks import late_commands, task_commands
from tests.support.fakes import (
    FATHER,
    HOME,
    MOTHER,
    NEW_HOME,
    STRANGER,
    birth,
    moved,
    register_of,
)
from tests.support.samples import personal_data_in, sample_incident

INCIDENT_ID = "MPS-2026-000001"
#: When dvtrigger decides the sample incident: a Thursday, 12:00 in London, in office hours.
RAISED = datetime(2026, 7, 30, 11, 0, tzinfo=UTC)
LONDON = ZoneInfo("Europe/London")
UNRELATED = [
    {
        "person_ref": "P9",
        "role": "victim",
        "given_name": "Hortense",
        "family_name": "Blackwood",
        "date_of_birth": "1979-09-09",
    }
]


def family_register() -> RegisterIndex:
    """C1 (mother is the victim), C2 (father is the suspect, another council), C3 unrelated."""
    return register_of(
        birth("C1"),
        birth("C2", carers=(FATHER,), local_authority="E09000002", subject={"given_name": "Ada"}),
        birth("C3", carers=(STRANGER,), address=NEW_HOME),
    )


def commands_for(
    incident: PoliceIncident,
    register: RegisterIndex,
    previous: dict[str, str] | None = None,
    policy: TaskPolicy | None = None,
    now: datetime = RAISED,
) -> dict[str, RaiseTask]:
    """The commands for an incident decided at `now` against `register`, by subject ref or
    person ref."""
    decision = decide(incident, register)
    commands = task_commands(
        decision, incident, register, previous or {}, now, policy or TaskPolicy()
    )
    return {c.subject.subject_ref or f"person:{c.subject.person_ref}": c for c in commands}


def test_one_command_per_named_subject() -> None:
    commands = commands_for(sample_incident(), family_register())
    assert set(commands) == {"C1", "C2"}
    assert {c.task_type for c in commands.values()} == {"child_protection_investigation"}
    assert {c.incident_id for c in commands.values()} == {INCIDENT_ID}
    assert all(c.incident == sample_incident() for c in commands.values())


def test_a_decision_naming_no_one_commands_nothing() -> None:
    register = register_of(birth("C3", carers=(STRANGER,), address=NEW_HOME))
    assert commands_for(sample_incident(), register) == {}


def test_idempotency_key_is_the_incident_and_the_subject_only() -> None:
    register = family_register()
    first = commands_for(sample_incident(revision=1), register)
    resent = commands_for(
        sample_incident(revision=1, notification_id="0f0f0f0f-0000-4000-8000-000000000001"),
        register,
    )
    later = commands_for(
        sample_incident(revision=2, reported_at="2026-07-31T12:00:00+00:00"),
        register,
        previous={"subject:C1": "trigger", "subject:C2": "trigger"},
    )
    for ref in ("C1", "C2"):
        assert first[ref].idempotency_key == resent[ref].idempotency_key
        assert first[ref].idempotency_key == later[ref].idempotency_key
        assert INCIDENT_ID in first[ref].idempotency_key
    assert later["C1"].revision == 2
    assert first["C1"].idempotency_key != first["C2"].idempotency_key
    other = commands_for(sample_incident("MPS-2026-000002"), register)
    assert other["C1"].idempotency_key != first["C1"].idempotency_key


def pregnant_victim() -> PoliceIncident:
    """The sample incident with its victim reported pregnant (a police-report subject)."""
    persons = [p.model_dump(mode="json") for p in sample_incident().persons]
    persons[0]["pregnant"] = True
    return sample_incident(persons=persons)


@pytest.mark.parametrize(
    ("incident", "previous"),
    [
        (sample_incident(), {}),
        (pregnant_victim(), {}),
        (sample_incident(revision=2, persons=UNRELATED), {"subject:C1": "trigger"}),
    ],
    ids=["register", "police_report", "withdrawn"],
)
def test_title_carries_no_personal_data(incident: PoliceIncident, previous: dict[str, str]) -> None:
    register = register_of(birth("C1", carers=(MOTHER, FATHER)))
    commands = commands_for(incident, register, previous)
    assert commands
    for command in commands.values():
        assert personal_data_in(command.title, command) == []
        for word in ("Zebedee", "Quuxley", "Imelda", "Quarrington", "Barnaby", "Ulverstone"):
            assert word not in command.title
        assert INCIDENT_ID in command.title


def test_register_subject_details_travel_in_the_subject_not_the_title() -> None:
    command = commands_for(sample_incident(), register_of(birth("C1")))["C1"]
    subject = command.subject
    assert (subject.basis, subject.kind, subject.given_name) == ("register", "child", "Zebedee")
    assert (subject.date_of_birth, subject.nhs_number) == (date(2026, 2, 11), "4857773456")
    assert [(c.person_ref, c.given_name) for c in subject.carers] == [("H0000257", "Imelda")]


def review_register() -> RegisterIndex:
    """C1 whose mother's date of birth the register does not know: names alone, a near match."""
    return register_of(birth("C1", carers=({**MOTHER, "date_of_birth": None},)))


def test_an_investigation_is_due_a_working_day_after_it_is_raised() -> None:
    incident = sample_incident()
    command = commands_for(incident, register_of(birth("C1")))["C1"]
    assert command.outcome == "trigger"
    assert command.task_type == "child_protection_investigation"
    assert command.due_by == RAISED + timedelta(hours=24)  # Thursday noon to Friday noon
    assert command.queue == "duty"


def test_a_review_is_due_after_four_hours_of_office_time() -> None:
    incident = sample_incident()
    command = commands_for(incident, review_register())["C1"]
    assert (command.outcome, command.task_type) == ("review", "match_review")
    assert command.due_by == RAISED + timedelta(hours=4)
    assert command.queue == "duty"
    assert command.score is not None and command.score < 0.996


def test_due_times_count_from_when_the_task_is_raised_not_from_the_report() -> None:
    incident = sample_incident()  # reported on 30 July 2026
    raised = datetime(2026, 12, 2, 14, 30, tzinfo=UTC)  # a Wednesday, months later
    trigger = commands_for(incident, register_of(birth("C1")), now=raised)["C1"]
    review = commands_for(incident, review_register(), now=raised)["C1"]
    assert trigger.due_by == datetime(2026, 12, 3, 14, 30, tzinfo=UTC)
    assert review.due_by == datetime(2026, 12, 3, 10, 30, tzinfo=UTC)  # 2h30 today, 1h30 Thursday


def test_due_times_follow_the_policy() -> None:
    policy = TaskPolicy(trigger_working_days=2, review_working_hours=timedelta(minutes=30))
    trigger = commands_for(sample_incident(), register_of(birth("C1")), policy=policy)["C1"]
    review = commands_for(sample_incident(), review_register(), policy=policy)["C1"]
    assert trigger.due_by == datetime(2026, 8, 3, 12, 0, tzinfo=LONDON)  # Thursday to Monday
    assert review.due_by == datetime(2026, 7, 30, 12, 30, tzinfo=LONDON)


def test_due_times_skip_the_councils_closure_days() -> None:
    calendar = OfficeCalendar(closures=frozenset({date(2026, 7, 31)}))
    command = commands_for(
        sample_incident(), register_of(birth("C1")), policy=TaskPolicy(calendar=calendar)
    )["C1"]
    assert command.due_by == datetime(2026, 8, 3, 12, 0, tzinfo=LONDON)


@pytest.mark.parametrize(
    ("dash_risk", "expected"),
    [("high", "urgent"), ("medium", "high"), ("standard", "normal"), ("not_assessed", "normal")],
)
@pytest.mark.parametrize("review", [False, True], ids=["investigation", "review"])
def test_priority_follows_the_dash_risk(dash_risk: str, expected: str, review: bool) -> None:
    incident = sample_incident(dash_risk=dash_risk)
    register = review_register() if review else register_of(birth("C1"))
    command = commands_for(incident, register)["C1"]
    assert command.priority == expected
    assert command.outcome == ("review" if review else "trigger")  # still an investigation
    assert PRIORITIES[dash_risk] == expected


def test_a_withdrawal_keeps_the_priority_of_its_incident() -> None:
    incident = sample_incident(revision=2, persons=UNRELATED, dash_risk="high")
    command = commands_for(incident, register_of(birth("C1")), {"subject:C1": "trigger"})["C1"]
    assert (command.outcome, command.priority) == ("withdrawn", "urgent")


EDT = TaskPolicy(emergency_duty_queue="edt")


@pytest.mark.parametrize(
    "raised",
    [
        datetime(2026, 8, 1, 11, 0, tzinfo=LONDON),  # a Saturday
        datetime(2026, 8, 31, 11, 0, tzinfo=LONDON),  # the late summer bank holiday
        datetime(2026, 7, 30, 17, 0, tzinfo=LONDON),  # Thursday, at closing
        datetime(2026, 7, 30, 23, 59, tzinfo=LONDON),
        datetime(2026, 7, 30, 8, 59, tzinfo=LONDON),
    ],
)
@pytest.mark.parametrize("review", [False, True], ids=["investigation", "review"])
def test_out_of_hours_tasks_go_to_the_emergency_duty_team_due_in_clock_hours(
    raised: datetime, review: bool
) -> None:
    register = review_register() if review else register_of(birth("C1"))
    command = commands_for(sample_incident(), register, policy=EDT, now=raised)["C1"]
    assert command.queue == "edt"
    assert command.due_by == raised + timedelta(hours=4)


def test_office_hours_tasks_stay_with_the_duty_team_when_there_is_an_emergency_queue() -> None:
    for raised in (datetime(2026, 7, 30, 9, 0, tzinfo=LONDON), RAISED):
        command = commands_for(sample_incident(), register_of(birth("C1")), policy=EDT, now=raised)
        assert command["C1"].queue == "duty"
        assert command["C1"].due_by == raised + timedelta(hours=24)


@pytest.mark.parametrize(
    ("raised", "trigger_due", "review_due"),
    [
        (datetime(2026, 8, 1, 11, 0), datetime(2026, 8, 4, 9, 0), datetime(2026, 8, 3, 13, 0)),
        (datetime(2026, 8, 28, 17, 0), datetime(2026, 9, 2, 9, 0), datetime(2026, 9, 1, 13, 0)),
        (datetime(2026, 7, 30, 23, 59), datetime(2026, 8, 3, 9, 0), datetime(2026, 7, 31, 13, 0)),
    ],
    ids=["saturday", "friday_evening_before_a_bank_holiday", "a_minute_to_midnight"],
)
def test_without_an_emergency_queue_out_of_hours_tasks_wait_for_the_duty_team(
    raised: datetime, trigger_due: datetime, review_due: datetime
) -> None:
    raised = raised.replace(tzinfo=LONDON)
    trigger = commands_for(sample_incident(), register_of(birth("C1")), now=raised)["C1"]
    review = commands_for(sample_incident(), review_register(), now=raised)["C1"]
    assert (trigger.queue, review.queue) == ("duty", "duty")
    assert trigger.due_by == trigger_due.replace(tzinfo=LONDON)
    assert review.due_by == review_due.replace(tzinfo=LONDON)


def test_local_authority_is_the_subjects_register_council() -> None:
    commands = commands_for(sample_incident(), family_register())
    assert commands["C1"].local_authority == "E09000014"
    assert commands["C2"].local_authority == "E09000002"


def test_local_authority_comes_from_the_register_record_when_the_decision_omits_it() -> None:
    register = register_of(birth("C1", local_authority="E06000001"))
    incident = sample_incident()
    bare = DecisionSubject(basis="register", kind="child", subject_ref="C1", outcome="trigger")
    decision = Decision(incident_id=INCIDENT_ID, revision=1, decision="trigger", subjects=[bare])
    (command,) = task_commands(decision, incident, register, {}, RAISED)
    assert command.local_authority == "E06000001"


def test_a_police_report_subject_has_no_council_and_is_described_from_the_report() -> None:
    command = commands_for(pregnant_victim(), RegisterIndex())["person:P1"]
    assert command.local_authority is None
    assert (command.subject.basis, command.subject.kind) == ("police_report", "unborn")
    assert (command.subject.person_ref, command.subject.family_name) == ("P1", "Quarrington")
    assert INCIDENT_ID in command.idempotency_key and "P1" in command.idempotency_key


@pytest.mark.parametrize(
    ("move_on", "expected"),
    [("2026-05-01", NEW_HOME), ("2026-07-30", NEW_HOME), ("2026-08-15", HOME)],
    ids=["moved_before", "moved_that_day", "moved_after"],
)
def test_address_is_the_subjects_on_the_incident_day(move_on: str, expected: Any) -> None:
    register = register_of(birth("C1"), moved("C1", move_on))
    command = commands_for(sample_incident(), register)["C1"]
    assert command.subject.address is not None
    assert command.subject.address.lines == expected["lines"]
    assert command.subject.address.postcode == expected["postcode"]


@pytest.mark.parametrize("before", ["trigger", "review"])
def test_a_revision_that_no_longer_names_a_subject_withdraws_its_task(before: str) -> None:
    register = register_of(birth("C1"))
    first = commands_for(sample_incident(), register)["C1"]
    commands = commands_for(
        sample_incident(revision=2, persons=UNRELATED), register, {"subject:C1": before}
    )
    withdrawn = commands["C1"]
    assert withdrawn.outcome == "withdrawn"
    assert withdrawn.idempotency_key == first.idempotency_key
    assert withdrawn.revision == 2
    assert withdrawn.score is None
    assert any("no longer names" in r and before in r for r in withdrawn.reasons)
    assert withdrawn.changes == withdrawn.reasons
    assert withdrawn.local_authority == "E09000014"


def test_a_subject_with_no_earlier_task_is_not_withdrawn() -> None:
    commands = commands_for(
        sample_incident(revision=2, persons=UNRELATED), register_of(birth("C1")), {}
    )
    assert commands == {}


def test_revision_1_has_no_changes() -> None:
    assert commands_for(sample_incident(), register_of(birth("C1")))["C1"].changes == []


@pytest.mark.parametrize(
    ("previous", "expected"),
    [
        ({"subject:C1": "trigger"}, "revision 2 received; outcome still trigger"),
        ({"subject:C1": "review"}, "revision 2: outcome changed from review to trigger"),
        ({}, "first named in revision 2"),
    ],
)
def test_revision_2_says_what_changed(previous: dict[str, str], expected: str) -> None:
    command = commands_for(sample_incident(revision=2), register_of(birth("C1")), previous)["C1"]
    assert command.changes == [expected]
    assert command.revision == 2


# --- late tasks: a re-decision after the register learned of a family late ---------------------

LATE_AT = datetime(2026, 8, 10, 9, 0, tzinfo=UTC)
WHY = "the register learned of the birth after the incident: re-decided on 2026-08-10"


def test_late_commands_raise_only_the_late_subjects_marked_late_with_why() -> None:
    incident, register = sample_incident(), family_register()
    decision = decide(incident, register)
    (command,) = late_commands(decision, incident, register, {"subject:C2": WHY}, LATE_AT)
    assert command.subject.subject_ref == "C2"
    assert (command.outcome, command.late, command.late_reason) == ("trigger", True, WHY)
    assert command.idempotency_key == f"{INCIDENT_ID}/subject:C2"
    assert command.due_by == LATE_AT + timedelta(hours=24)
    assert personal_data_in(f"{command.title} {command.late_reason}", command) == []


def test_late_commands_never_withdraw() -> None:
    incident = sample_incident(persons=UNRELATED)
    register = family_register()
    decision = decide(incident, register)
    assert late_commands(decision, incident, register, {"subject:C1": WHY}, LATE_AT) == []


def test_commands_of_a_police_revision_are_never_late() -> None:
    commands = commands_for(sample_incident(), family_register())
    assert {(c.late, c.late_reason) for c in commands.values()} == {(False, None)}
