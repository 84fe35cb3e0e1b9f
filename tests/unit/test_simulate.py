"""The simulator: deterministic, valid by the models and the contracts, its truth well-founded.

Every message is validated against the pydantic models and, when `../shared` is present,
against the contract JSON Schemas; ids are unique, and each truth line points at subjects
and persons that exist. The labels themselves are tested in `test_simulate_labels.py`.
"""

from __future__ import annotations

import json
import os
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from connectors.simulate import (
    INCIDENT,
    REGISTER,
    iter_demo,
    iter_register_events,
    iter_register_lines,
    main,
    simulate,
    write_scenario,
)
from connectors.simulate.clock import local_day
from connectors.simulate.scenario import Scenario
from connectors.simulate.stream import CHUNK
from schemas.police import PoliceIncident
from schemas.register import RegisterEvent

SHARED = Path(os.environ.get("DVTRIGGER_SHARED_DIR") or Path(__file__).parents[2].parent / "shared")
NEEDS_SHARED = pytest.mark.skipif(
    not (SHARED / "contracts").is_dir(),
    reason=f"{SHARED / 'contracts'} is absent (set DVTRIGGER_SHARED_DIR to the shared dir)",
)
SEED = 11


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return simulate(SEED, 120, 400)


def _latest(scenario: Scenario) -> dict[str, dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    for message in scenario.incidents:
        known = latest.get(message["incident_id"])
        if known is None or message["revision"] > known["revision"]:
            latest[message["incident_id"]] = message
    return latest


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


# -- determinism -------------------------------------------------------------------------------


def test_the_same_seed_writes_the_same_bytes(tmp_path: Path) -> None:
    write_scenario(simulate(3, 40, 60), tmp_path / "a")
    write_scenario(simulate(3, 40, 60), tmp_path / "b")
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    assert set(_files(tmp_path / "a")) == {"register.jsonl", "incidents.jsonl", "truth.jsonl"}


def test_another_seed_writes_other_data(tmp_path: Path) -> None:
    write_scenario(simulate(3, 40, 60), tmp_path / "a")
    write_scenario(simulate(4, 40, 60), tmp_path / "b")
    a, b = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert all(a[name] != b[name] for name in a)


def test_the_stream_is_deterministic_and_independent_of_workers() -> None:
    subjects = CHUNK + 300  # two chunks
    one = list(iter_register_lines(5, subjects, workers=1))
    two = list(iter_register_lines(5, subjects, workers=2))
    assert one == two
    events = [json.loads(line) for text in one for line in text.splitlines()]
    assert events == list(iter_register_events(5, subjects))


# -- validity ----------------------------------------------------------------------------------


def test_every_register_event_validates_against_the_model(scenario: Scenario) -> None:
    for event in scenario.register:
        RegisterEvent.model_validate_json(json.dumps(event))


def test_every_incident_message_validates_against_the_model(scenario: Scenario) -> None:
    for message in scenario.incidents:
        PoliceIncident.model_validate_json(json.dumps(message))


def test_streamed_events_validate_against_the_model() -> None:
    for event in iter_register_events(8, 1500):
        RegisterEvent.model_validate_json(json.dumps(event))


def test_the_stream_holds_the_subjects_asked_for() -> None:
    """A pregnancy and the child born of it count once."""
    events = list(iter_register_events(8, 1500))
    refs = {e["subject"]["subject_ref"]: e["subject"]["kind"] for e in events}
    followed = {e["subject"].get("from_pregnancy_ref") for e in events} - {None}
    assert len(refs) - len(followed) == 1500
    assert len({e["event_id"] for e in events}) == len(events)


@NEEDS_SHARED
@pytest.mark.shared
@pytest.mark.parametrize(
    ("contract", "part"),
    [("register-event.v1", "register"), ("police-incident.v1", "incidents")],
)
def test_every_message_validates_against_the_contract(
    scenario: Scenario, contract: str, part: str
) -> None:
    schema = json.loads((SHARED / "contracts" / f"{contract}.schema.json").read_text())
    validator = Draft202012Validator(schema, format_checker=FormatChecker())
    for message in getattr(scenario, part):
        errors = [e.message for e in validator.iter_errors(message)]
        assert not errors, (message, errors)


def test_timestamps_carry_an_offset(scenario: Scenario) -> None:
    """jsonschema checks `date-time` only with rfc3339-validator installed: check it here."""
    stamps = [e["recorded_at"] for e in scenario.register]
    for message in scenario.incidents:
        stamps += [message["occurred_at"], message["reported_at"]]
    for stamp in stamps:
        assert datetime.fromisoformat(stamp).tzinfo is not None, stamp


# -- ids and references ------------------------------------------------------------------------


def test_ids_are_unique(scenario: Scenario) -> None:
    event_ids = [e["event_id"] for e in scenario.register]
    notification_ids = [m["notification_id"] for m in scenario.incidents]
    revisions = [(m["incident_id"], m["revision"]) for m in scenario.incidents]
    truth_ids = [line["incident_id"] for line in scenario.truth]
    for ids in (event_ids, notification_ids, revisions, truth_ids):
        assert len(ids) == len(set(ids))
    assert set(truth_ids) == {m["incident_id"] for m in scenario.incidents}
    for message in scenario.incidents:
        refs = [p["person_ref"] for p in message["persons"]]
        assert len(refs) == len(set(refs))


def test_a_subject_ref_keeps_its_kind_and_a_person_ref_its_name(scenario: Scenario) -> None:
    kinds: dict[str, set[str]] = {}
    carers: dict[str, set[tuple[str, str]]] = {}
    for event in scenario.register:
        kinds.setdefault(event["subject"]["subject_ref"], set()).add(event["subject"]["kind"])
        for carer in event.get("carers", []):
            name = (carer["given_name"], carer["date_of_birth"])
            carers.setdefault(carer["person_ref"], set()).add(name)
    assert all(len(k) == 1 for k in kinds.values())
    assert all(len(n) == 1 for n in carers.values())


def test_nhs_numbers_are_unique_and_in_the_test_range(scenario: Scenario) -> None:
    owners: dict[str, set[str]] = {}
    for event in scenario.register:
        people = [event["subject"], *event.get("carers", [])]
        for person in people:
            if person.get("nhs_number"):
                ref = person.get("person_ref") or person["subject_ref"]
                owners.setdefault(person["nhs_number"], set()).add(ref)
    assert owners and all(len(refs) == 1 for refs in owners.values())
    assert all(number.startswith("999") for number in owners)


def test_truth_points_at_what_exists(scenario: Scenario) -> None:
    subjects = {e["subject"]["subject_ref"] for e in scenario.register}
    latest = _latest(scenario)
    for line in scenario.truth:
        persons = {p["person_ref"] for p in latest[line["incident_id"]]["persons"]}
        for must in line["must"]:
            assert set(must) in ({"subject_ref"}, {"person_ref"})
            assert must.get("subject_ref", next(iter(subjects))) in subjects
            assert must.get("person_ref", next(iter(persons))) in persons
        assert set(line["also_ok"]) <= persons


def test_police_report_persons_are_pregnant_or_infants(scenario: Scenario) -> None:
    latest = _latest(scenario)
    for line in scenario.truth:
        message = latest[line["incident_id"]]
        persons = {p["person_ref"]: p for p in message["persons"]}
        day = local_day(message["occurred_at"])
        named = [m["person_ref"] for m in line["must"] if "person_ref" in m] + line["also_ok"]
        for ref in named:
            person = persons[ref]
            if person["role"] == "child":
                born = person["date_of_birth"]
                assert person["age_years"] == 0 or date.fromisoformat(born) <= day
            else:
                assert person["pregnant"] is True


# -- demo feed and command line ------------------------------------------------------------------


def test_the_demo_sends_the_register_first_then_a_task_at_once() -> None:
    feed = list(iter_demo(2))
    roles = [role for role, _ in feed]
    first_incident = roles.index(INCIDENT)
    assert set(roles[:first_incident]) == {REGISTER}
    assert set(roles[first_incident:]) == {INCIDENT}
    scenario = simulate(2, 24, 40)
    kinds = {line["incident_id"]: line["kind"] for line in scenario.truth}
    assert kinds[feed[first_incident][1]["incident_id"]] == "carer_at_home"
    seen: set[str] = set()
    for _, message in feed[first_incident:]:
        assert message["revision"] == 1 or message["incident_id"] in seen
        seen.add(message["incident_id"])


def test_main_writes_a_scenario(tmp_path: Path) -> None:
    args = ["--seed", "7", "--families", "30", "--incidents", "40", "--out", str(tmp_path)]
    assert main(args) == 0
    truth = (tmp_path / "truth.jsonl").read_text().splitlines()
    assert len(truth) == 40


def test_main_streams_a_register_only(tmp_path: Path) -> None:
    args = ["--subjects", "500", "--register-only", "--workers", "1", "--out", str(tmp_path)]
    assert main(args) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["register.jsonl"]
    with pytest.raises(SystemExit):
        main(["--subjects", "500", "--out", str(tmp_path)])
