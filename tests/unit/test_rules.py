"""Each clause of the trigger semantics (contracts/README.md), one small register at a time."""

from __future__ import annotations

import json
import uuid
from datetime import date
from typing import Any

import pytest
from pydantic import ValidationError

from schemas.decision import Decision
from schemas.police import PoliceIncident
from schemas.register import RegisterEvent
from streams.domain.config import RULES_VERSION, MatchWeights, RulesConfig
from streams.domain.matching.compare import Identity, compare_identities
from streams.domain.matching.dwellings import compare_addresses
from streams.domain.matching.levels import probability
from streams.domain.rules import covering, decide, first_anniversary, incident_day
from tests.support.fakes import register_of

LA = "E09000014"
HOME = {"uprn": None, "lines": ["Flat 3", "12 High Road"], "town": "London", "postcode": "N8 7DW"}
NEIGHBOUR = {**HOME, "lines": ["Flat 4", "12 High Road"]}
NEW_HOME = {"uprn": "555", "lines": ["212 Black Boy Lane"], "town": "London", "postcode": "N2 8TN"}
ELSEWHERE = {"lines": ["bus stop, West Green Road"], "postcode": None}
MOTHER = {
    "person_ref": "H1",
    "relationship": "mother",
    "given_name": "Merve",
    "family_name": "Ford",
    "date_of_birth": "1994-08-30",
    "nhs_number": "9434765919",
}
FATHER = {
    "person_ref": "H2",
    "relationship": "father",
    "given_name": "Rajesh",
    "family_name": "James",
    "date_of_birth": "1990-02-11",
}


def ev(ref: str, type_: str, kind: str, on: str | None = None, **kw: Any) -> RegisterEvent:
    """A register event parsed from JSON, effective `on`."""
    body = {
        "schema": "register-event/1",
        "event_id": str(uuid.uuid4()),
        "source": "maternity",
        "local_authority": LA,
        "recorded_at": "2025-06-01T10:00:00+01:00",
        "type": type_,
        "effective_date": on,
        "subject": {"subject_ref": ref, "kind": kind, **kw.pop("subject", {})},
        **kw,
    }
    return RegisterEvent.model_validate_json(json.dumps(body))


def child(
    ref: str = "C1", dob: str = "2026-02-21", carers: Any = (MOTHER,), **kw: Any
) -> RegisterEvent:
    """A birth registered at HOME (unless another address is given)."""
    subject = {
        "given_name": "Phoebe",
        "family_name": "Ford",
        "date_of_birth": dob,
        **kw.pop("subject", {}),
    }
    kw.setdefault("address", HOME)
    return ev(ref, "birth_registered", "child", subject=subject, carers=list(carers), **kw)


def pregnancy(ref: str = "U1", edd: str = "2026-09-01", carers: Any = (MOTHER,)) -> RegisterEvent:
    """A pregnancy registered at HOME."""
    subject = {"expected_delivery_date": edd}
    return ev(
        ref, "pregnancy_registered", "unborn", subject=subject, carers=list(carers), address=HOME
    )


def ended(on: str, outcome: str, ref: str = "U1") -> RegisterEvent:
    """The end of a pregnancy."""
    return ev(ref, "pregnancy_ended", "unborn", on, outcome=outcome)


#: The register the events make, applied in order.
register = register_of


def person(ref: str = "P1", role: str = "victim", **kw: Any) -> dict[str, Any]:
    """A person of an incident."""
    return {"person_ref": ref, "role": role, **kw}


def carer_as(
    carer: dict[str, Any], role: str = "victim", ref: str = "P1", **kw: Any
) -> dict[str, Any]:
    """A carer as the police name them (no NHS number unless given)."""
    fields = {k: carer[k] for k in ("given_name", "family_name", "date_of_birth")}
    return person(ref, role, **{**fields, **kw})


def incident(
    day: str, *persons: dict[str, Any], at: dict[str, Any] = ELSEWHERE, time: str = "10:00:00+00:00"
) -> PoliceIncident:
    """An incident on a day, at a place, with persons (a stranger victim by default)."""
    body = {
        "schema": "police-incident/1",
        "notification_id": str(uuid.uuid4()),
        "incident_id": "MPS-2026-1",
        "force": "MPS",
        "revision": 1,
        "occurred_at": f"{day}T{time}",
        "reported_at": f"{day}T23:59:00+00:00",
        "location": at,
        "dash_risk": "standard",
        "persons": list(persons) or [person(given_name="Ann", family_name="Lee")],
    }
    return PoliceIncident.model_validate_json(json.dumps(body))


def outcomes(decision: Decision) -> dict[str, str | None]:
    """Each named subject (register ref, or person:ref) with its outcome."""
    return {s.subject_ref or f"person:{s.person_ref}": s.outcome for s in decision.subjects}


def at_home(day: str, *events: RegisterEvent, **kw: Any) -> Decision:
    """The decision for an incident at HOME on `day`."""
    return decide(incident(day, at=HOME, **kw), register(*events))


# --- the incident day and the scope of a subject ---------------------------------------------


@pytest.mark.parametrize(
    ("occurred_at", "day"),
    [
        ("2026-07-30T23:30:00+00:00", date(2026, 7, 31)),  # BST: already the 31st in London
        ("2026-01-15T23:30:00+00:00", date(2026, 1, 15)),  # GMT
        ("2026-07-31T00:30:00+02:00", date(2026, 7, 30)),
    ],
)
def test_incident_day_is_the_london_date(occurred_at: str, day: date) -> None:
    day_part, time_part = occurred_at.split("T")
    assert incident_day(incident(day_part, time=time_part)) == day


def test_first_anniversary_of_29_february_is_1_march() -> None:
    assert first_anniversary(date(2024, 2, 29)) == date(2025, 3, 1)
    assert first_anniversary(date(2025, 7, 25)) == date(2026, 7, 25)


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        ("2026-02-20", "no_action"),
        ("2026-02-21", "trigger"),
        ("2027-02-20", "trigger"),
        ("2027-02-21", "no_action"),
    ],
)
def test_child_in_scope_from_birth_until_the_day_before_its_first_birthday(
    day: str, expected: str
) -> None:
    assert at_home(day, child(dob="2026-02-21")).decision == expected


@pytest.mark.parametrize(
    ("day", "expected"), [("2025-02-28", "trigger"), ("2025-03-01", "no_action")]
)
def test_child_born_on_29_february(day: str, expected: str) -> None:
    assert at_home(day, child(dob="2024-02-29")).decision == expected


@pytest.mark.parametrize(
    ("time", "expected"), [("22:30:00+00:00", "trigger"), ("23:30:00+00:00", "no_action")]
)
def test_first_birthday_is_judged_on_the_london_day(time: str, expected: str) -> None:
    assert at_home("2026-07-24", child(dob="2025-07-25"), time=time).decision == expected


@pytest.mark.parametrize(
    ("day", "expected"), [("2025-11-24", "no_action"), ("2025-11-25", "trigger")]
)
def test_unborn_in_scope_from_edd_minus_280_days(day: str, expected: str) -> None:
    assert at_home(day, pregnancy(edd="2026-09-01")).decision == expected


@pytest.mark.parametrize("outcome", ["loss", "termination"])
@pytest.mark.parametrize(
    ("day", "expected"), [("2026-04-10", "trigger"), ("2026-04-11", "no_action")]
)
def test_loss_or_termination_ends_scope_after_its_date(
    outcome: str, day: str, expected: str
) -> None:
    assert at_home(day, pregnancy(), ended("2026-04-10", outcome)).decision == expected


@pytest.mark.parametrize(
    ("day", "subject"), [("2026-05-29", "U1"), ("2026-05-30", "C1"), ("2027-05-29", "C1")]
)
def test_live_birth_hands_the_pregnancy_over_to_its_child(day: str, subject: str) -> None:
    events = (
        pregnancy(),
        ended("2026-05-30", "live_birth"),
        child(dob="2026-05-30", subject={"from_pregnancy_ref": "U1"}),
    )
    assert outcomes(at_home(day, *events)) == {subject: "trigger"}


def test_a_child_with_no_address_of_its_own_is_at_home_at_its_pregnancys_address() -> None:
    # Only the pregnancy is filed under the home's keys: the child is found by its mother's
    # names, and its home is still compared with the incident's place through the link.
    events = (
        pregnancy(),
        ended("2026-05-30", "live_birth"),
        ev(
            "C1",
            "birth_registered",
            "child",
            subject={"date_of_birth": "2026-05-30", "from_pregnancy_ref": "U1"},
            carers=[MOTHER],
        ),
    )
    found = decide(incident("2026-06-10", carer_as(MOTHER), at=HOME), register(*events))
    (subject,) = found.subjects
    assert (subject.subject_ref, subject.outcome) == ("C1", "trigger")
    assert any(reason.startswith("clause 2:") for reason in subject.reasons)


@pytest.mark.parametrize(
    ("day", "expected"), [("2025-11-24", "no_action"), ("2026-05-29", "trigger")]
)
def test_a_pregnancy_registered_as_a_child_under_its_own_ref_was_unborn_before_birth(
    day: str, expected: str
) -> None:
    born = child("U1", dob="2026-05-30")
    assert at_home(day, pregnancy(edd="2026-09-01"), born).decision == expected


@pytest.mark.parametrize(
    ("day", "expected"), [("2027-05-29", "trigger"), ("2027-05-30", "no_action")]
)
def test_live_birth_without_child_record_is_a_child_born_on_the_end_date(
    day: str, expected: str
) -> None:
    assert at_home(day, pregnancy(), ended("2026-05-30", "live_birth")).decision == expected


@pytest.mark.parametrize(
    ("day", "expected"), [("2027-08-31", "trigger"), ("2027-09-01", "no_action")]
)
def test_no_recorded_end_in_scope_until_the_day_before_the_edd_anniversary(
    day: str, expected: str
) -> None:
    assert at_home(day, pregnancy(edd="2026-09-01")).decision == expected


@pytest.mark.parametrize(
    ("day", "expected"), [("2026-03-31", "trigger"), ("2026-04-01", "no_action")]
)
def test_withdrawn_out_of_scope_from_its_effective_date(day: str, expected: str) -> None:
    gone = ev("C1", "subject_withdrawn", "child", "2026-04-01")
    assert at_home(day, child(), gone).decision == expected


@pytest.mark.parametrize(
    ("day", "place", "expected"),
    [
        ("2026-03-31", HOME, "trigger"),
        ("2026-04-01", HOME, "no_action"),
        ("2026-04-01", NEW_HOME, "trigger"),
        ("2026-03-31", NEW_HOME, "no_action"),
    ],
)
def test_a_move_changes_the_home_from_its_effective_date(
    day: str, place: dict[str, Any], expected: str
) -> None:
    moved = ev("C1", "subject_moved", "child", "2026-04-01", address=NEW_HOME)
    assert decide(incident(day, at=place), register(child(), moved)).decision == expected


# --- involvement: the three clauses -----------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("victim", "trigger"),
        ("suspect", "trigger"),
        ("other_adult_present", "trigger"),
        ("witness", "no_action"),
    ],
)
def test_clause_1_a_carer_in_an_involved_role_triggers_anywhere(role: str, expected: str) -> None:
    others = (
        [person("P9", "victim", given_name="Ann", family_name="Lee")] if role == "witness" else []
    )
    found = decide(incident("2026-03-01", carer_as(MOTHER, role), *others), register(child()))
    assert found.decision == expected
    if expected == "trigger":
        reasons = found.subjects[0].reasons
        assert any(
            r.startswith(f"clause 1: carer H1 (mother) is the {role.replace('_', ' ')} P1:")
            and "given name agrees exactly (+6.0); family name agrees exactly (+7.0);" in r
            and "date of birth agrees exactly (+9.0)" in r
            and "match weight 12.0 bits" in r
            for r in reasons
        )


@pytest.mark.parametrize("place", [NEIGHBOUR, ELSEWHERE])
def test_a_witness_alone_never_brings_the_family_in(place: dict[str, Any]) -> None:
    victim = person("P9", "victim", given_name="Ann", family_name="Lee")
    witness = carer_as(MOTHER, "witness", address=HOME, nhs_number=MOTHER["nhs_number"])
    found = decide(incident("2026-03-01", victim, witness, at=place), register(child()))
    assert found.decision == "no_action"


@pytest.mark.parametrize(
    "names",
    [
        {"given_name": "  MERVE ", "family_name": "FORD"},
        {"given_name": "Mrs Merve"},
        {"given_name": "Merve Ayse"},  # a middle name on one side
        {"given_name": "Ford", "family_name": "Merve"},  # written the other way round
    ],
)
def test_clause_1_names_are_compared_after_normalisation(names: dict[str, str]) -> None:
    police = carer_as(MOTHER, **names)
    assert outcomes(decide(incident("2026-03-01", police), register(child()))) == {"C1": "trigger"}


def test_clause_1_a_checksum_valid_nhs_number_alone_is_enough() -> None:
    by_nhs = person(nhs_number="9434765919")
    assert decide(incident("2026-03-01", by_nhs), register(child())).decision == "trigger"
    invalid = {**MOTHER, "nhs_number": "9434765918"}
    same_invalid = person(nhs_number="9434765918")
    assert (
        decide(incident("2026-03-01", same_invalid), register(child(carers=[invalid]))).decision
        == "no_action"
    )


def test_clause_1_a_carer_renamed_across_events_keeps_every_name() -> None:
    renamed = {**MOTHER, "family_name": "Rahman"}
    events = (
        child(),
        ev("C1", "subject_moved", "child", "2026-03-01", carers=[renamed], address=HOME),
    )
    for family_name in ("Ford", "Rahman"):
        found = decide(
            incident("2026-04-01", carer_as(MOTHER, family_name=family_name)), register(*events)
        )
        assert found.decision == "trigger"


def test_clause_1_the_child_inherits_the_carers_of_its_pregnancy() -> None:
    events = (
        pregnancy(carers=(MOTHER, FATHER)),
        ended("2026-05-30", "live_birth"),
        child(dob="2026-05-30", carers=(MOTHER,), subject={"from_pregnancy_ref": "U1"}),
    )
    found = decide(incident("2026-07-01", carer_as(FATHER, "suspect")), register(*events))
    assert outcomes(found) == {"C1": "trigger"}


@pytest.mark.parametrize(
    "place",
    [
        {"lines": ["Flat 3, 12 High Rd"], "postcode": "n87dw"},
        {"lines": ["12 HIGH ROAD", "Flat 3"], "postcode": "N8 7DW"},
        {"lines": ["3 12 High Road"], "postcode": "N87DW", "town": None},
    ],
)
def test_clause_2_incident_at_the_subjects_home_however_written(place: dict[str, Any]) -> None:
    found = decide(incident("2026-03-01", at=place), register(child()))
    assert outcomes(found) == {"C1": "trigger"}
    assert any(
        r.startswith("clause 2: the incident happened at the subject's home")
        for r in found.subjects[0].reasons
    )


def test_clause_2_a_uprn_that_agrees_is_the_same_dwelling() -> None:
    place = {"uprn": "555", "lines": ["rear garden"], "postcode": None}
    assert (
        decide(incident("2026-03-01", at=place), register(child(address=NEW_HOME))).decision
        == "trigger"
    )


def test_clause_2_a_named_building_without_a_number() -> None:
    court = {"uprn": None, "lines": ["Flat 3, Rose Court"], "postcode": "N8 7DW"}
    events = (child(address=court),)
    assert decide(incident("2026-03-01", at=court), register(*events)).decision == "trigger"
    elsewhere = {**court, "lines": ["Flat 3, Lily Court"]}
    assert decide(incident("2026-03-01", at=elsewhere), register(*events)).decision == "no_action"


@pytest.mark.parametrize(
    "place",
    [
        NEIGHBOUR,
        {"lines": ["Flat 4, 12 Hihg Road"], "postcode": "N8 7DW"},
        {"lines": ["Flat 3, 12 High Road"], "postcode": "N15 7DW"},
        {"lines": ["Flat 3, 14 High Road"], "postcode": "N8 7DW"},
    ],
)
def test_clause_2_a_different_dwelling_is_not_the_home(place: dict[str, Any]) -> None:
    assert decide(incident("2026-03-01", at=place), register(child())).decision == "no_action"


@pytest.mark.parametrize(
    "place",
    [
        {"lines": ["12 High Road"], "postcode": "N8 7DW"},  # no flat on the incident side
        {"lines": ["Flat 3, 12 High Road"], "postcode": None},  # no postcode
        {"lines": ["outside Flat 3, 12 High Road"], "postcode": "N8 7DW"},
        {"lines": ["Flat 3, 12 Hihg Road"], "postcode": "N8 7DW"},  # the street mistyped
        {"lines": ["Flat 3, 12 High Road"], "postcode": "N8 7DV"},  # the postcode mistyped
    ],
)
def test_clause_2_a_dwelling_known_only_approximately_is_review(place: dict[str, Any]) -> None:
    assert outcomes(decide(incident("2026-03-01", at=place), register(child()))) == {"C1": "review"}


@pytest.mark.parametrize(("role", "expected"), [("suspect", "trigger"), ("witness", "no_action")])
def test_clause_3_an_involved_person_who_lives_at_the_home(role: str, expected: str) -> None:
    victim = person("P9", "victim", given_name="Ann", family_name="Lee")
    lodger = person("P1", role, given_name="Kwame", family_name="Osei", address=HOME)
    found = decide(incident("2026-03-01", victim, lodger), register(child()))
    assert found.decision == expected
    if expected == "trigger":
        assert any(
            r.startswith(f"clause 3: the {role} P1 lives") for r in found.subjects[0].reasons
        )


# --- noise: one field close and two exact triggers; thin evidence goes to review -------------


@pytest.mark.parametrize(
    "changes",
    [
        {"given_name": "Mrve"},  # a one-letter typo
        {"given_name": "MERVE", "family_name": "FORD"},  # upper case
        {"family_name": "Frod"},  # letters transposed
        {"family_name": "Ford-Smith"},  # one part of a double-barrelled surname
        {"date_of_birth": "1993-08-30"},  # the year off by one
        {"date_of_birth": "1994-08-31"},  # a day off
        {"given_name": "Merve Ayse"},  # a second forename written on one side
        {"given_name": "M."},  # the given name as an initial
    ],
)
def test_two_fields_exact_and_one_noisy_still_trigger(changes: dict[str, Any]) -> None:
    found = decide(incident("2026-03-01", carer_as(MOTHER, **changes)), register(child()))
    assert outcomes(found) == {"C1": "trigger"}
    assert (found.subjects[0].score or 0) >= 0.996


def test_an_apostrophe_or_case_the_register_wrote_otherwise_is_the_same_name() -> None:
    carer = {**MOTHER, "family_name": "O'Brien"}
    police = carer_as(carer, family_name="OBRIEN", given_name="merve")
    found = decide(incident("2026-03-01", police), register(child(carers=(carer,))))
    assert outcomes(found) == {"C1": "trigger"}


def test_day_and_month_swapped_triggers() -> None:
    carer = {**MOTHER, "date_of_birth": "1994-08-12"}
    found = decide(
        incident("2026-03-01", carer_as(carer, date_of_birth="1994-12-08")),
        register(child(carers=(carer,))),
    )
    assert outcomes(found) == {"C1": "trigger"}
    assert any("day and month swapped" in r for r in found.subjects[0].reasons)


@pytest.mark.parametrize(
    ("police", "register_name"),
    [
        ("Kate", "Katherine"),  # a known short form
        ("Mohammed", "Muhammad"),  # a spelling variant: same Metaphone and NYSIIS codes
        ("Catherine", "Katherine"),
        ("Steven", "Stephen"),
    ],
)
def test_given_name_variants_trigger_with_surname_and_date(police: str, register_name: str) -> None:
    carer = {**MOTHER, "given_name": register_name}
    found = decide(
        incident("2026-03-01", carer_as(carer, given_name=police)), register(child(carers=(carer,)))
    )
    assert outcomes(found) == {"C1": "trigger"}


def test_names_written_the_other_way_round_with_a_typo_still_trigger() -> None:
    police = carer_as(MOTHER, given_name="Frod", family_name="Merve")
    found = decide(incident("2026-03-01", police), register(child()))
    assert outcomes(found) == {"C1": "trigger"}
    assert any("other way round" in r for r in found.subjects[0].reasons)


def test_a_middle_name_on_one_side_and_a_typo_in_the_first_is_a_near_match() -> None:
    police = carer_as(MOTHER, given_name="Mrve Ayse", date_of_birth=None)
    found = decide(incident("2026-03-01", police), register(child()))
    assert outcomes(found) == {"C1": "review"}
    assert any("typing error" in r for r in found.subjects[0].reasons)


def test_a_mother_known_by_her_partners_surname_triggers() -> None:
    mother = {**MOTHER, "family_name": "Ford"}
    father = {**FATHER, "family_name": "James"}
    police = carer_as(mother, family_name="James")
    found = decide(incident("2026-03-01", police), register(child(carers=(mother, father))))
    assert outcomes(found) == {"C1": "trigger"}
    assert any("another carer or the child" in r for r in found.subjects[0].reasons)


def test_an_unrelated_surname_with_the_same_given_name_and_date_is_only_reviewed() -> None:
    found = decide(incident("2026-03-01", carer_as(MOTHER, family_name="Smith")), register(child()))
    assert outcomes(found) == {"C1": "review"}


@pytest.mark.parametrize(
    "changes",
    [
        {"date_of_birth": None},  # names alone: a namesake looks the same
        {"date_of_birth": None, "age_years": 31},  # names and an age that fits
        {"given_name": None},  # surname and date only
        {"given_name": "M", "date_of_birth": None},  # an initial and a surname alone
        {"given_name": "M", "date_of_birth": None, "age_years": 31},  # and an age that fits
        {"given_name": "Mrve", "date_of_birth": None},
        {"given_name": "Mrve", "date_of_birth": "1993-08-30"},  # two noisy fields
        {"family_name": "Smith"},
        {"date_of_birth": "1994-10-30"},  # the month differs: review, never silence
        {"nhs_number": "4010232137"},  # names and date agree, two valid NHS numbers do not
        {"date_of_birth": "1994-08-20"},  # one digit of the date: a namesake looks the same
        {"given_name": "Mervet", "gender": "male"},  # Mervet, a man, is not Merve the mother
    ],
)
def test_near_matches_are_reviewed(changes: dict[str, Any]) -> None:
    found = decide(incident("2026-03-01", carer_as(MOTHER, **changes)), register(child()))
    assert outcomes(found) == {"C1": "review"}
    assert 0 < (found.subjects[0].score or 0) < 0.996


def test_a_name_many_families_share_weighs_less_without_a_date_of_birth() -> None:
    namesake = {**MOTHER, "date_of_birth": "1979-02-14"}
    others = [child(f"C{n}", carers=({**namesake, "person_ref": f"H{n}"},)) for n in range(2, 9)]
    nameless = carer_as(MOTHER, date_of_birth=None)
    alone = decide(incident("2026-03-01", nameless), register(child()))
    assert outcomes(alone) == {"C1": "review"}
    crowded = decide(incident("2026-03-01", nameless), register(child(), *others))
    assert crowded.decision == "no_action"  # one Merve Ford of eight families: nobody stands out
    aged = decide(
        incident("2026-03-01", carer_as(MOTHER, date_of_birth=None, age_years=31)),
        register(child(), *others),
    )
    assert outcomes(aged) == {"C1": "review"}  # her age rules the other seven out
    assert any("carers of 8 families" in r for r in aged.subjects[0].reasons)
    exact = decide(incident("2026-03-01", carer_as(MOTHER)), register(child(), *others))
    assert outcomes(exact) == {"C1": "trigger"}  # a date of birth singles her out


def test_a_person_with_no_given_name_and_a_date_a_day_off_is_found_and_reviewed() -> None:
    police = carer_as(MOTHER, given_name=None, date_of_birth="1994-08-31")
    found = decide(incident("2026-03-01", police), register(child()))
    assert outcomes(found) == {"C1": "review"}


def test_weights_are_settings() -> None:
    strict = RulesConfig(weights=MatchWeights(dob_near=1.0))
    police = carer_as(MOTHER, date_of_birth="1993-08-30")
    assert outcomes(decide(incident("2026-03-01", police), register(child()))) == {"C1": "trigger"}
    found = decide(incident("2026-03-01", police), register(child()), strict)
    assert outcomes(found) == {"C1": "review"}


@pytest.mark.parametrize(
    "changes",
    [
        {"date_of_birth": "1979-02-14"},  # a namesake
        {"date_of_birth": None, "age_years": 58},  # a reported age that cannot be hers
        {"given_name": "Ann", "date_of_birth": None},
        {"date_of_birth": None, "nhs_number": "4010232137"},
    ],
)
def test_clear_disagreement_with_nothing_else_keeps_a_person_below_review(
    changes: dict[str, Any],
) -> None:
    found = decide(incident("2026-03-01", carer_as(MOTHER, **changes)), register(child()))
    assert found.decision == "no_action"


#: The mother's own address: the home's street and postcode, another house number.
SAME_STREET = {**HOME, "lines": ["40 High Road"]}


@pytest.mark.parametrize(
    "changes",
    [
        {"date_of_birth": "1979-02-14", "address": SAME_STREET},  # a replaced date of birth
        {"date_of_birth": None, "age_years": 58, "address": SAME_STREET},  # an age not hers
        {"given_name": "Zainab", "address": SAME_STREET},  # a replaced given name
        {"family_name": "Okafor", "address": SAME_STREET},  # a replaced surname
        {"given_name": "Zainab"},  # a replaced given name, the surname and date of birth exact
    ],
)
def test_no_field_vetoes_a_person_the_other_fields_carry(changes: dict[str, Any]) -> None:
    found = decide(incident("2026-03-01", carer_as(MOTHER, **changes)), register(child()))
    assert outcomes(found) == {"C1": "review"}
    assert any("differ" in r or "disagrees" in r for r in found.subjects[0].reasons)


def test_strangers_who_share_only_a_street_are_not_reviewed() -> None:
    stranger = person(
        given_name="Ayesha",
        family_name="Brennan",
        date_of_birth="1988-05-02",
        address=SAME_STREET,
    )
    namesake = carer_as(MOTHER, date_of_birth="1979-02-14", address=ELSEWHERE)
    for police in (stranger, namesake):
        assert decide(incident("2026-03-01", police), register(child())).decision == "no_action"


def test_matching_scores_and_evidence() -> None:
    home = incident("2026-03-01", at=HOME).location
    neighbour = incident("2026-03-01", at=NEIGHBOUR).location
    mother = Identity(("Merve",), ("Ford",), (date(1994, 8, 30),), ())
    exact = compare_identities(Identity(("MERVE",), ("FORD",), (date(1994, 8, 30),)), mother)
    assert exact.score == probability(12.0) > 0.999
    assert exact.evidence[-1] == "match weight 12.0 bits with prior -10.0: 0.9998"
    swapped = compare_identities(Identity(("Ford",), ("Merve",), (date(1994, 8, 30),)), mother)
    assert swapped.score == exact.score
    assert "other way round" in swapped.evidence[0]
    short = compare_identities(
        Identity(("Tom",), ("Yilmaz",), (date(1977, 2, 18),)),
        Identity(("Thomas",), ("Yilmaz",), (date(1977, 2, 18),)),
    )
    assert short.score == probability(-10 + 4.5 + 7 + 9)
    nhs = compare_identities(Identity(nhs_numbers=("9434765919",)), mother)
    assert nhs.score < 0.5  # no number on the register side, no names: nothing agrees
    known = Identity(("Merve",), ("Ford",), (), ("9434765919",))
    assert compare_identities(Identity(nhs_numbers=("9434765919",)), known).score > 0.999
    assert compare_addresses(neighbour, home).score == 0.0
    assert compare_addresses(home, home).score == 1.0


# --- triggers on the police report alone ------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "expected"), [("victim", "trigger"), ("suspect", "trigger"), ("witness", "no_action")]
)
def test_a_pregnant_involved_person_triggers_on_the_report(role: str, expected: str) -> None:
    others = (
        [person("P9", "victim", given_name="Ann", family_name="Lee")] if role == "witness" else []
    )
    found = decide(incident("2026-03-01", person("P1", role, pregnant=True), *others), register())
    assert found.decision == expected
    if expected == "trigger":
        (subject,) = found.subjects
        assert (subject.basis, subject.kind, subject.person_ref) == (
            "police_report",
            "unborn",
            "P1",
        )


@pytest.mark.parametrize(
    ("baby", "expected"),
    [
        ({"age_years": 0}, "trigger"),
        ({"date_of_birth": "2025-09-01"}, "trigger"),
        ({"date_of_birth": "2025-03-01", "age_years": 0}, "no_action"),  # the date wins
        ({"date_of_birth": "2025-02-28"}, "no_action"),
        ({"age_years": 1}, "no_action"),
        ({}, "no_action"),
    ],
)
def test_a_child_under_12_months_in_the_report_triggers(
    baby: dict[str, Any], expected: str
) -> None:
    found = decide(incident("2026-03-01", person(), person("P3", "child", **baby)), register())
    assert found.decision == expected
    if expected == "trigger":
        assert outcomes(found) == {"person:P3": "trigger"}
        assert found.subjects[0].kind == "child"


def test_a_pregnant_mother_of_a_triggering_unborn_subject_is_covered() -> None:
    found = decide(incident("2026-03-01", carer_as(MOTHER, pregnant=True)), register(pregnancy()))
    assert outcomes(found) == {"U1": "trigger"}


def test_a_pregnant_stranger_is_not_covered_by_the_unborn_subject_at_the_place() -> None:
    stranger = person(given_name="Ann", family_name="Lee", pregnant=True)
    found = decide(incident("2026-03-01", stranger, at=HOME), register(pregnancy()))
    assert outcomes(found) == {"U1": "trigger", "person:P1": "trigger"}


def test_a_pregnant_person_only_nearly_matched_is_not_covered() -> None:
    nearly = carer_as(MOTHER, date_of_birth=None, pregnant=True)
    found = decide(incident("2026-03-01", nearly), register(pregnancy()))
    assert outcomes(found) == {"U1": "review", "person:P1": "trigger"}
    assert found.decision == "trigger"


def test_a_pregnant_mother_of_a_child_subject_is_a_new_pregnancy() -> None:
    found = decide(incident("2026-03-01", carer_as(MOTHER, pregnant=True)), register(child()))
    assert outcomes(found) == {"C1": "trigger", "person:P1": "trigger"}


def test_a_baby_in_the_report_who_is_the_register_child_is_covered() -> None:
    baby = person("P3", "child", given_name="Phoebe", family_name="Ford", age_years=0)
    found = decide(incident("2026-03-01", carer_as(MOTHER), baby), register(child()))
    assert outcomes(found) == {"C1": "trigger"}


def test_covering_names_the_register_subject_that_is_the_reported_baby() -> None:
    pregnant = incident("2026-03-01", carer_as(MOTHER, pregnant=True))
    raised = {"person:P1": "trigger"}
    assert covering(pregnant, register(pregnancy()), RulesConfig(), raised) == {
        "person:P1": "subject:U1"
    }
    baby = person("P3", "child", given_name="Phoebe", family_name="Ford", age_years=0)
    reported = incident("2026-03-01", carer_as(MOTHER), baby)
    assert covering(reported, register(child()), RulesConfig(), {"person:P3": "trigger"}) == {
        "person:P3": "subject:C1"
    }


def test_covering_judges_nothing_without_a_police_report_task_and_skips_strangers() -> None:
    pregnant = incident("2026-03-01", carer_as(MOTHER, pregnant=True))
    assert covering(pregnant, register(pregnancy()), RulesConfig(), {"subject:U1": "t"}) == {}
    stranger = person(given_name="Ann", family_name="Lee", pregnant=True)
    at_home = incident("2026-03-01", stranger, at=HOME)
    assert covering(at_home, register(pregnancy()), RulesConfig(), {"person:P1": "t"}) == {}


# --- the decision -----------------------------------------------------------------------------


def test_trigger_wins_over_review_and_each_subject_keeps_its_outcome() -> None:
    events = (child(), child("C2", carers=(FATHER,), address=NEW_HOME))
    people = (carer_as(MOTHER), carer_as(FATHER, "suspect", ref="P2", date_of_birth=None))
    found = decide(incident("2026-03-01", *people), register(*events))
    assert found.decision == "trigger"
    assert outcomes(found) == {"C1": "trigger", "C2": "review"}


def test_review_when_no_subject_triggers() -> None:
    found = decide(incident("2026-03-01", carer_as(MOTHER, date_of_birth=None)), register(child()))
    assert found.decision == "review"


def test_no_action_names_no_subject() -> None:
    found = decide(incident("2026-03-01"), register(child()))
    assert (found.decision, found.subjects) == ("no_action", [])
    assert found.incident_id == "MPS-2026-1"
    assert found.revision == 1


def test_subjects_carry_score_reasons_and_local_authority() -> None:
    found = at_home("2026-03-01", child())
    (subject,) = found.subjects
    assert subject.score == 1.0
    assert subject.reasons[0].startswith("in scope: a child")
    assert subject.model_extra == {"local_authority": LA}
    assert any(RULES_VERSION in r for r in found.reasons)
    assert Decision.model_validate_json(found.model_dump_json()) == found


def test_reasons_carry_refs_but_no_personal_data() -> None:
    people = (
        carer_as(MOTHER, address=HOME),
        carer_as(FATHER, "suspect", ref="P2", date_of_birth=None),
    )
    found = decide(
        incident("2026-03-01", *people, at=HOME), register(child(carers=(MOTHER, FATHER)))
    )
    text = " ".join(r for s in found.subjects for r in s.reasons) + " ".join(found.reasons)
    assert "H1" in text and "P1" in text
    for secret in (
        "Merve",
        "MERVE",
        "Ford",
        "Rajesh",
        "James",
        "1994",
        "1990",
        "2026",
        "High Road",
        "N8",
        "Phoebe",
    ):
        assert secret.lower() not in text.lower()


def test_config_thresholds_decide_outcomes() -> None:
    near = incident("2026-03-01", carer_as(MOTHER, date_of_birth=None))
    view = register(child())
    assert decide(near, view, RulesConfig(review_score=0.9)).decision == "no_action"
    assert decide(near, view, RulesConfig(trigger_score=0.5)).decision == "trigger"
    with pytest.raises(ValidationError):
        RulesConfig(trigger_score="high")  # type: ignore[arg-type]
    config = RulesConfig()
    with pytest.raises(ValidationError):
        config.trigger_score = 0.1  # type: ignore[misc]
