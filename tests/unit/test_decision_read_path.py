"""The decision's read path: pairs bounded before their names are compared, one look-up
for an incident's candidates and its persons' namesakes, and no dwelling compared for a
subject no key of a place found."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.simulate import simulate
from connectors.simulate.variations import VARIATIONS, vary_all
from schemas.police import INVOLVED_ROLES, PoliceIncident
from schemas.register import RegisterEvent
from streams.domain import rules
from streams.domain.config import DEFAULT_CONFIG, DEFAULT_WEIGHTS
from streams.domain.matching.compare import FIELDS, Identity, compare_identities
from streams.domain.matching.levels import Level
from streams.domain.register.index import DecisionView, RegisterIndex
from streams.domain.register.records import apply_event

GIVEN = ["Anna", "Ana", "Hannah", "Anna Marie", "A", "Jo", "Joanna", "Kate", "Katherine"]
FAMILY = ["Smith", "Smyth", "Smith-Jones", "Jones", "Nguyen", "Ngyuen", "Okafor"]
DATES = [date(1990, 5, 4), date(1990, 4, 5), date(1991, 5, 4), date(1990, 5, 5), date(1985, 1, 1)]
NHS = ["9434765919", "9434765870", "1234567890"]
HOMES = [
    None,
    *(Level(h, "") for h in ("home_dwelling", "home_near", "home_weak", "home_postcode")),
]


def names(pool: list[str]) -> st.SearchStrategy[tuple[str, ...]]:
    """None, one or two spellings from a pool."""
    return st.lists(st.sampled_from(pool), max_size=2, unique=True).map(tuple)


police_identities = st.builds(
    Identity,
    given_names=names(GIVEN),
    family_names=names(FAMILY),
    dates_of_birth=st.lists(st.sampled_from(DATES), max_size=1).map(tuple),
    nhs_numbers=st.lists(st.sampled_from(NHS), max_size=1).map(tuple),
    age_years=st.none() | st.integers(30, 42),
    on_day=st.just(date(2026, 2, 1)),
    sex=st.sampled_from([None, "female", "male"]),
    namesakes=st.integers(1, 100),
)
register_identities = st.builds(
    Identity,
    given_names=names(GIVEN),
    family_names=names(FAMILY),
    dates_of_birth=st.lists(st.sampled_from(DATES), max_size=2, unique=True).map(tuple),
    nhs_numbers=st.lists(st.sampled_from(NHS), max_size=1).map(tuple),
    sex=st.sampled_from([None, "female", "male"]),
    household_names=names(FAMILY),
)


@settings(max_examples=600, deadline=None)
@given(
    police=police_identities,
    register=register_identities,
    home=st.sampled_from(HOMES),
    floor=st.sampled_from([0.0, DEFAULT_CONFIG.review_score, 0.5, DEFAULT_CONFIG.trigger_score]),
)
def test_a_pair_that_reaches_the_floor_is_never_bounded_out(
    police: Identity, register: Identity, home: Level | None, floor: float
) -> None:
    if not rules.may_reach(police, register, floor, DEFAULT_WEIGHTS, home):
        assert compare_identities(police, register, DEFAULT_WEIGHTS, home).score < floor


def test_a_stranger_whose_date_of_birth_differs_is_bounded_out_unless_at_the_home() -> None:
    police = Identity(("Anna",), ("Smith",), (date(1990, 5, 4),))
    stranger = Identity(("Anna",), ("Smith",), (date(1985, 1, 1),))
    floor = DEFAULT_CONFIG.review_score
    assert not rules.may_reach(police, stranger, floor)
    assert rules.may_reach(police, stranger, floor, home=Level("home_dwelling", ""))
    assert rules.may_reach(police, replace(stranger, dates_of_birth=()), floor)
    assert rules.may_reach(police, stranger, 0.0)


def test_the_bound_knows_every_field_of_a_comparison() -> None:
    # A new field must be bounded in `compare.may_reach` before it is added here.
    assert FIELDS == ("nhs", "given", "family", "dob", "sex", "home")


def loaded(seed: int) -> tuple[RegisterIndex, list[PoliceIncident]]:
    """A simulated register, indexed, and its scenario's incidents."""
    scenario = simulate(seed, 120, 200)
    index = RegisterIndex()
    for raw in scenario.register:
        event = RegisterEvent.model_validate(raw)
        index.upsert(apply_event(index.get(event.subject.subject_ref), event))
    return index, [PoliceIncident.model_validate(m) for m in scenario.incidents]


def test_decisions_are_the_same_with_every_pair_compared(monkeypatch: pytest.MonkeyPatch) -> None:
    index, incidents = loaded(5)
    bounded = [rules.decide(found, index) for found in incidents]
    assert {d.decision for d in bounded} >= {"trigger", "review", "no_action"}
    monkeypatch.setattr(rules, "may_reach", lambda *args, **kwargs: True)
    assert [rules.decide(found, index) for found in incidents] == bounded


def test_candidates_and_namesakes_come_from_one_look_up() -> None:
    index, incidents = loaded(6)
    for found in incidents[:80]:
        day = rules.incident_day(found)
        records, counts, _ = index.look_up(found, day)
        assert records == index.candidates(found, day)
        involved = [p for p in found.persons if p.role in INVOLVED_ROLES]
        assert set(counts) == {(p.given_name, p.family_name) for p in involved}
        for (given_name, family_name), count in counts.items():
            assert count == index.namesakes(given_name, family_name)
            view = DecisionView(index)
            view.candidates(found, day)
            assert view.namesakes(given_name, family_name) == count


def test_decisions_are_the_same_with_every_dwelling_compared(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    index, incidents = loaded(5)
    raw = [found.model_dump(mode="json") for found in incidents[:40]]
    for name in VARIATIONS:  # addresses in every form, house numbers and postcodes changed
        incidents += [PoliceIncident.model_validate(m) for m in vary_all(raw, name, 2)]
    guarded = [rules.decide(found, index) for found in incidents]
    assert {d.decision for d in guarded} >= {"trigger", "review", "no_action"}
    monkeypatch.setattr(DecisionView, "shares_place", lambda self, ref: True)
    assert [rules.decide(found, index) for found in incidents] == guarded


def test_only_a_subject_a_key_of_a_place_found_shares_a_place() -> None:
    index, incidents = loaded(6)
    unplaced = placed = 0
    for found in incidents:
        day = rules.incident_day(found)
        view = DecisionView(index)
        records = view.candidates(found, day)
        looked = index.look_up(found, day)
        assert looked.records == records
        for record in records:
            assert view.shares_place(record.subject_ref) == (record.subject_ref in looked.placed)
            unplaced += record.subject_ref not in looked.placed
            placed += record.subject_ref in looked.placed
    assert unplaced and placed  # both kinds of candidate are seen
    assert DecisionView(index).shares_place("anyone")  # nothing looked up: anyone may be
