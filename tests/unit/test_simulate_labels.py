"""The simulator's labels: every kind on both sides of its clause, by the contract's semantics."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime

import pytest

from connectors.simulate import KINDS, simulate
from connectors.simulate.clock import first_birthday, local_day
from connectors.simulate.kinds import plan_cases
from connectors.simulate.model import Subject, Window, in_scope
from connectors.simulate.police import render_case
from connectors.simulate.scenario import (
    DEFAULT_START,
    Scenario,
    households_for,
    make_families,
    seeded,
)
from connectors.simulate.world import World

SEED = 11


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return simulate(SEED, 120, 400)


# -- coverage and labels -----------------------------------------------------------------------


def test_every_kind_is_present(scenario: Scenario) -> None:
    kinds = Counter(line["kind"] for line in scenario.truth)
    assert set(kinds) == set(KINDS)


def test_most_kinds_carry_both_labels() -> None:
    truth = simulate(SEED, 300, 1500).truth
    labels = {(line["kind"], bool(line["must"])) for line in truth}
    two_sided = {
        "birthday_boundary", "pregnancy_lost", "pregnancy_live_birth_handover",
        "no_end_recorded", "pregnancy_not_yet_begun", "moved_away", "withdrawn",
        "infant_in_report", "revised_incident",
    }  # fmt: skip
    for kind in two_sided:
        assert {(kind, True), (kind, False)} <= labels, kind
    for kind in ("carer_at_home", "carer_elsewhere", "household_other_adults", "pregnant_known"):
        assert (kind, False) not in labels, kind
    for kind in ("neighbour_flat", "namesake", "witness_only", "no_family"):
        assert (kind, True) not in labels, kind


def test_pregnant_known_allows_the_report_and_pregnant_unknown_requires_it(
    scenario: Scenario,
) -> None:
    for line in scenario.truth:
        persons = [m for m in line["must"] if "person_ref" in m]
        if line["kind"] == "pregnant_known":
            assert line["also_ok"] and not persons
        if line["kind"] == "pregnant_unknown":
            assert persons and not line["also_ok"]


def test_a_revision_two_replaces_the_facts(scenario: Scenario) -> None:
    revised = {line["incident_id"] for line in scenario.truth if line["kind"] == "revised_incident"}
    revisions = Counter(m["incident_id"] for m in scenario.incidents if m["revision"] == 2)
    assert revised and set(revisions) == revised
    for message in scenario.incidents:
        if message["revision"] == 2:
            first = next(
                m
                for m in scenario.incidents
                if m["incident_id"] == message["incident_id"] and m["revision"] == 1
            )
            assert first["reported_at"] < message["reported_at"]


# -- semantics the labels rest on ----------------------------------------------------------------


def test_a_child_born_on_29_february_is_in_scope_until_28_february() -> None:
    child = Subject("c", "child", dob=date(2024, 2, 29))
    assert first_birthday(date(2024, 2, 29)) == date(2025, 3, 1)
    assert in_scope(child, date(2024, 2, 29))
    assert in_scope(child, date(2025, 2, 28))
    assert not in_scope(child, date(2025, 3, 1))


def test_unborn_scope_follows_the_contract() -> None:
    edd = date(2025, 6, 30)
    begin = date(2024, 9, 23)  # 280 days before
    no_end = Subject("u", "unborn", edd=edd)
    assert not in_scope(no_end, date(2024, 9, 22)) and in_scope(no_end, begin)
    assert in_scope(no_end, date(2026, 6, 29)) and not in_scope(no_end, date(2026, 6, 30))
    lost = Subject("u", "unborn", edd=edd, end=date(2025, 1, 10), outcome="loss")
    assert in_scope(lost, date(2025, 1, 10)) and not in_scope(lost, date(2025, 1, 11))
    born = Subject("c", "child", dob=date(2025, 6, 20))
    followed = Subject("u", "unborn", edd=edd, end=date(2025, 6, 20), outcome="live_birth")
    followed.child = born
    assert in_scope(followed, date(2025, 6, 19)) and not in_scope(followed, date(2025, 6, 20))
    alone = Subject("u", "unborn", edd=edd, end=date(2025, 6, 20), outcome="live_birth")
    assert in_scope(alone, date(2026, 6, 19)) and not in_scope(alone, date(2026, 6, 20))


def test_incident_days_are_london_days_and_some_differ_from_utc() -> None:
    households = households_for(SEED, Window(DEFAULT_START, 365), 200)
    world = World(seeded(SEED, "incidents"), households, make_families(households, 120))
    differ = 0
    for number, case in enumerate(plan_cases(world, 400)):
        for plan, message in zip(
            case.revisions, render_case(case, world.rng, f"X-{number}", "XX"), strict=True
        ):
            assert local_day(message["occurred_at"]) == plan.day
            utc = datetime.fromisoformat(message["occurred_at"]).astimezone(UTC).date()
            differ += utc != plan.day
    assert differ >= 5


def test_police_noise_is_present(scenario: Scenario) -> None:
    persons = [p for m in scenario.incidents for p in m["persons"]]
    addresses = [m["location"] for m in scenario.incidents]
    addresses += [p["address"] for p in persons if p["address"]]
    assert any(p["given_name"].isupper() for p in persons)
    assert any(p["date_of_birth"] is None and p["age_years"] is not None for p in persons)
    assert any(a["postcode"] and " " not in a["postcode"] for a in addresses)
    assert any(a["postcode"] and a["postcode"].islower() for a in addresses)
    assert any(", " in line for a in addresses for line in a["lines"])
    assert any(line.endswith(" Rd") for a in addresses for line in a["lines"])
    offsets = {m["occurred_at"][-6:] for m in scenario.incidents}
    assert {"+00:00", "+01:00"} <= offsets
