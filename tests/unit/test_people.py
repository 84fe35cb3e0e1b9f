"""Who each person in an incident is to the task's child, in words (`streams.domain.people`)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from schemas.register import RegisterEvent
from streams.domain.config import DEFAULT_CONFIG
from streams.domain.matching.levels import Level
from streams.domain.people import (
    NOT_MATCHED,
    PersonLink,
    register_links,
    report_links,
    sentence,
    with_people,
    words,
)
from streams.domain.rules import decide
from streams.domain.tasks import task_commands
from tests.unit.test_rules import (
    FATHER,
    HOME,
    MOTHER,
    carer_as,
    child,
    incident,
    person,
    pregnancy,
    register,
)

DAY = date(2026, 3, 2)


def links_for(
    *persons: dict[str, object], ref: str = "C1", events: tuple[RegisterEvent, ...] = ()
) -> list[PersonLink]:
    """The links of an incident on DAY to the subject `ref` of a register of a child and events."""
    index = register(child(carers=(MOTHER, FATHER)), *events)
    record = index.get(ref)
    assert record is not None
    return register_links(incident("2026-03-02", *persons), record, index, DAY, DEFAULT_CONFIG)


def test_a_carer_named_exactly_is_the_babys_mother_with_same_name_and_date_of_birth() -> None:
    [link] = links_for(carer_as(MOTHER))
    assert link.known_as == "the baby's mother"
    assert link.how == "same name and date of birth"
    assert sentence(link) == "the victim P1 is the baby's mother: same name and date of birth"


def test_each_person_gets_the_carer_they_match_and_a_stranger_none() -> None:
    stranger = person("P3", "other_adult_present", given_name="Ann", family_name="Lee")
    mother, father, other = links_for(carer_as(MOTHER), carer_as(FATHER, "suspect", "P2"), stranger)
    assert (mother.known_as, father.known_as, other.known_as) == (
        "the baby's mother",
        "the baby's father",
        None,
    )
    assert other.how == NOT_MATCHED
    assert sentence(other) == f"the other adult present P3: {NOT_MATCHED}"


def test_near_agreements_and_missing_dates_are_said_as_such() -> None:
    typo = {**MOTHER, "given_name": "Mervr"}
    [link] = links_for(
        person("P1", "victim", given_name=typo["given_name"], family_name="Ford", address=HOME)
    )
    assert link.known_as == "the baby's mother"
    assert "same family name" in link.how
    assert "given name spelt differently (one typing error)" in link.how
    assert "no date of birth to compare" in link.how
    assert "lives at the baby's home" in link.how


def test_a_date_that_differs_is_said_to_differ() -> None:
    [link] = links_for(carer_as(MOTHER, date_of_birth="1971-01-01", address=HOME))
    assert link.known_as == "the baby's mother"
    assert "the date of birth differs" in link.how


def test_the_child_in_the_report_is_compared_with_the_subject() -> None:
    baby = person(
        "P4", "child", given_name="Phoebe", family_name="Ford", date_of_birth="2026-02-21"
    )
    [link] = links_for(baby)
    assert (link.known_as, link.how) == ("the baby", "same name and date of birth")


def test_an_unborn_subject_has_an_unborn_babys_mother() -> None:
    [link] = links_for(carer_as(MOTHER), ref="U1", events=(pregnancy(),))
    assert link.known_as == "the unborn baby's mother"


def test_report_links_name_the_reported_person_only() -> None:
    report = incident("2026-03-02", person("P1", "victim", pregnant=True), person("P2", "suspect"))
    first, second = report_links(report, "P1", "unborn")
    assert (first.known_as, second.known_as) == ("the pregnant person", None)


def test_words_join_what_agrees_and_say_when_nothing_does() -> None:
    levels = (Level("nhs_agree", ""), Level(None, ""), Level("dob_exact", ""))
    assert words(levels) == "same NHS number and date of birth"
    assert words((Level("given_differ", ""), Level("dob_differ", ""))) == (
        "the given name differs; the date of birth differs"
    )
    assert words(()) == "no date of birth to compare"


def test_every_task_command_of_a_decision_says_who_each_person_is() -> None:
    index = register(child(carers=(MOTHER, FATHER)))
    reported = incident("2026-03-02", carer_as(MOTHER), person("P2", "witness", given_name="Al"))
    decision = decide(reported, index, DEFAULT_CONFIG)
    raised = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    commands = task_commands(decision, reported, index, {}, raised)
    assert commands, "the mother named exactly at the incident triggers"
    for command in with_people(commands, reported, index, DEFAULT_CONFIG):
        mother, witness = command.people
        assert (mother.person_ref, mother.known_as) == ("P1", "the baby's mother")
        assert mother.how == "same name and date of birth"
        assert (witness.role, witness.known_as, witness.how) == ("witness", None, NOT_MATCHED)


def test_a_task_known_from_the_police_report_names_the_reported_person() -> None:
    reported = incident("2026-03-02", person("P1", "victim", pregnant=True))
    decision = decide(reported, register(), DEFAULT_CONFIG)
    raised = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    [command] = with_people(
        task_commands(decision, reported, register(), {}, raised),
        reported,
        register(),
        DEFAULT_CONFIG,
    )
    [link] = command.people
    assert (link.known_as, link.how) == ("the pregnant person", "named in the police report")


def test_a_person_no_carer_matches_who_lives_at_the_home_is_said_to_live_there() -> None:
    lodger = person("P5", "victim", given_name="Ann", family_name="Lee", address=HOME)
    passer_by = person("P6", "suspect", given_name="Bo", family_name="Lu")
    there, elsewhere = links_for(lodger, passer_by)
    assert sentence(there) == (
        "the victim P5 is living at the baby's home: not matched to a carer;"
        " lives at the baby's home"
    )
    assert (elsewhere.known_as, elsewhere.how) == (None, NOT_MATCHED)
