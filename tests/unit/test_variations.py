"""The variations: each keeps who the people are and which dwelling, and changes what it says.

Samples are a small simulated scenario and a few hand-written addresses (no ../shared).
"""

from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path
from random import Random
from typing import Any

import pytest

from connectors.cli.replay import load_register, replay
from connectors.simulate import simulate, write_scenario
from connectors.simulate.address_forms import ADDRESS_FORMS, Written, parse, rewrite_address
from connectors.simulate.clock import age_on, local_day
from connectors.simulate.variations import VARIATIONS, involved, mistype, of_kind, vary
from schemas.police import PoliceIncident
from tests.bench import variations as bench

SAMPLES: list[dict[str, Any]] = simulate(5, 40, 120).incidents
KEPT = ("person_ref", "role", "gender", "pregnant", "nhs_number")
NAMES = ("given_name", "family_name")
DATES = ("date_of_birth", "age_years")


def _flat_10(**extra: Any) -> dict[str, Any]:
    address = {"uprn": "123456", "lines": ["Flat 2, 10 High Street"], "town": "Oakford"}
    return {**address, "postcode": "OK1 2AB", **extra}


def _changed(before: dict[str, Any], after: dict[str, Any]) -> set[str]:
    return {key for key in before | after if before.get(key) != after.get(key)}


def _pairs(name: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [(message, vary(message, name, seed=3)) for message in SAMPLES]


@pytest.mark.parametrize("name", list(VARIATIONS))
def test_a_variation_is_valid_deterministic_and_keeps_who_is_who(name: str) -> None:
    originals = copy.deepcopy(SAMPLES)
    varied = [vary(message, name, seed=3) for message in SAMPLES]
    assert originals == SAMPLES  # the input is not touched
    assert varied == [vary(message, name, seed=3) for message in SAMPLES]
    assert varied != SAMPLES  # it changes something in the sample
    for before, after in zip(SAMPLES, varied, strict=True):
        PoliceIncident.model_validate(after)
        assert _changed(before, after) <= {"location", "persons"}
        assert len(after["persons"]) == len(before["persons"])
        for p, q in zip(before["persons"], after["persons"], strict=True):
            assert all(p.get(k) == q.get(k) for k in KEPT)
            if p not in involved(before):
                assert p == q  # a witness or a child is never rewritten


@pytest.mark.parametrize("name", of_kind("corruption"))
def test_a_corruption_touches_one_involved_person(name: str) -> None:
    touched = [
        sum(p != q for p, q in zip(before["persons"], after["persons"], strict=True))
        for before, after in _pairs(name)
    ]
    assert set(touched) <= {0, 1} and 1 in touched
    assert all(before["location"] == after["location"] for before, after in _pairs(name))


def _one_change(name: str) -> list[tuple[dict[str, Any], dict[str, Any], date]]:
    """(person before, person after, incident day) of each sample `name` changed."""
    out = []
    for before, after in _pairs(name):
        for p, q in zip(before["persons"], after["persons"], strict=True):
            if p != q:
                out.append((p, q, local_day(before["occurred_at"])))
    assert out
    return out


def test_a_replaced_date_of_birth_is_another_plausible_date() -> None:
    for p, q, day in _one_change("date of birth replaced"):
        assert _changed(p, q) == {"date_of_birth"}
        old, new = date.fromisoformat(p["date_of_birth"]), date.fromisoformat(q["date_of_birth"])
        assert new.year != old.year and (new.month, new.day) != (old.month, old.day)
        assert 16 <= age_on(new, day) <= 70


def test_a_removed_date_of_birth_keeps_the_age_or_leaves_nothing() -> None:
    for p, q, day in _one_change("date of birth removed, age kept"):
        assert _changed(p, q) <= set(DATES) and q["date_of_birth"] is None
        assert q["age_years"] == age_on(date.fromisoformat(p["date_of_birth"]), day)
    for _p, q, _ in _one_change("date of birth removed"):
        assert q["date_of_birth"] is None and q["age_years"] is None


def test_day_and_month_are_swapped() -> None:
    for p, q, _ in _one_change("day and month swapped"):
        old = date.fromisoformat(p["date_of_birth"])
        assert _changed(p, q) == {"date_of_birth"}
        assert q["date_of_birth"] == date(old.year, old.day, old.month).isoformat()


@pytest.mark.parametrize("field", NAMES)
def test_a_replaced_name_is_another_name(field: str) -> None:
    name = "given name replaced" if field == "given_name" else "family name replaced"
    for p, q, _ in _one_change(name):
        assert _changed(p, q) == {field}
        assert q[field].casefold() != p[field].casefold()
        assert q[field].isupper() == p[field].isupper()


def test_a_typing_error_is_early_in_both_names_and_the_date_is_exact() -> None:
    for p, q, _ in _one_change("typing error in both names"):
        assert _changed(p, q) == set(NAMES) and q["date_of_birth"] == p["date_of_birth"]
        for field in NAMES:
            diff = [i for i, (a, b) in enumerate(zip(p[field], q[field], strict=True)) if a != b]
            assert len(diff) == 1 and diff[0] in (0, 1)


def test_mistype_keeps_the_case_and_the_length() -> None:
    rng = Random(1)
    typed = [mistype("SMITH", rng) for _ in range(50)]
    assert all(t.isupper() and len(t) == 5 and t[2:] == "ITH" and t != "SMITH" for t in typed)
    assert {t[1] != "M" for t in typed} == {True, False}  # the 1st or the 2nd letter


def test_another_house_number_is_on_the_same_street() -> None:
    for p, q, _ in _one_change("own address, another house number"):
        assert _changed(p, q) == {"address"}
        old, new = parse(p["address"]), parse(q["address"])
        assert old is not None and new is not None
        assert (new.flat, new.street) == (old.flat, old.street) and new.number != old.number
        assert q["address"]["uprn"] is None
        assert q["address"]["postcode"] == p["address"]["postcode"]


@pytest.mark.parametrize("name", of_kind("format", "thinning"))
def test_a_format_rewrites_every_involved_person_or_the_place(name: str) -> None:
    persons = 0
    for before, after in _pairs(name):
        if name == "incident place restyled":
            assert after["persons"] == before["persons"]
            continue
        assert before["location"] == after["location"]
        persons += sum(p != q for p, q in zip(before["persons"], after["persons"], strict=True))
    assert persons or name == "incident place restyled"


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["Flat 2, 10 High Street"], Written("2", "10", "High Street", False)),
        (["Flat 2", "10 High Street"], Written("2", "10", "High Street", False)),
        (["10 HIGH ST", "FLAT B"], Written("B", "10", "HIGH ST", True)),
        (["2 10 High St"], Written("2", "10", "High St", False)),
        (["A 387 Turnpike Lane"], Written("A", "387", "Turnpike Lane", False)),
        (["Apt 4, 12a St Ann's Road"], Written("4", "12a", "St Ann's Road", False)),
        (["10 High Street"], Written(None, "10", "High Street", False)),
        (["Outside 12 Elmmere Road"], None),
        (["Car park", "Elmmere Road"], None),
        (["The Swan public house, Tottenham High Road"], None),
    ],
)
def test_parse_reads_the_dwelling_of_the_usual_forms(
    lines: list[str], expected: Written | None
) -> None:
    assert parse({"uprn": None, "lines": lines, "town": None, "postcode": None}) == expected


FLAT_FORMS = {
    "flat as 2/10": (["2/10 High Street"], {}),
    "Apartment 2": (["Apartment 2, 10 High Street"], {}),
    "flat on its own line": (["Flat 2", "10 High Street"], {}),
    "flat after the street": (["10 High Street Flat 2"], {}),
    "dependent thoroughfare added": (["Flat 2, 10 High Street", "<pool>"], {}),
    "building name added": (["Flat 2", "<pool>", "10 High Street"], {}),
    "locality line added": (["Flat 2, 10 High Street", "<pool>"], {}),
    "county line added": (["Flat 2, 10 High Street", "<pool>"], {}),
    "town as a line": (["Flat 2, 10 High Street", "Oakford"], {"town": None}),
    "town dropped": (["Flat 2, 10 High Street"], {"town": None}),
    "postcode dropped": (["Flat 2, 10 High Street"], {"postcode": None}),
    "postcode squeezed lower case": (["Flat 2, 10 High Street"], {"postcode": "ok12ab"}),
    "street type abbreviated": (["Flat 2, 10 High St"], {}),
    "UPRN dropped": (["Flat 2, 10 High Street"], {}),
}


@pytest.mark.parametrize("name", list(FLAT_FORMS))
def test_an_address_form_writes_the_same_flat_otherwise(name: str) -> None:
    lines, fields = FLAT_FORMS[name]
    out = rewrite_address(_flat_10(), ADDRESS_FORMS[name], Random(2))
    assert out is not None
    assert [a for a, b in zip(out["lines"], lines, strict=True) if b != "<pool>"] == [
        b for b in lines if b != "<pool>"
    ]
    assert out == {**_flat_10(), "lines": out["lines"], "uprn": None, **fields}


def test_house_forms_fit_houses_and_flat_forms_fit_flats() -> None:
    house = _flat_10(lines=["10 HIGH STREET"])
    named = rewrite_address(house, ADDRESS_FORMS["house name before the number"], Random(1))
    assert named is not None and named["lines"][0].endswith(", 10 HIGH STREET")
    assert named["lines"][0].isupper()
    flat = _flat_10()
    assert rewrite_address(flat, ADDRESS_FORMS["house name before the number"], Random(1)) == flat
    assert rewrite_address(house, ADDRESS_FORMS["flat as 2/10"], Random(1)) == house
    assert rewrite_address(house, ADDRESS_FORMS["building name added"], Random(1)) == house


@pytest.mark.parametrize("name", list(ADDRESS_FORMS))
def test_an_address_form_leaves_a_public_place_alone(name: str) -> None:
    place = _flat_10(lines=["Bus stop, Elmmere Road"])
    assert rewrite_address(place, ADDRESS_FORMS[name], Random(1)) == place


@pytest.mark.parametrize("name", of_kind("address"))
def test_an_address_variation_rewrites_the_place_and_own_addresses_alike(name: str) -> None:
    seen = 0
    for before, after in _pairs(name):
        for p, q in zip(before["persons"], after["persons"], strict=True):
            assert _changed(p, q) <= {"address"}
            seen += p != q
    assert seen  # some own address was rewritten


def test_the_table_has_a_row_per_variation_and_says_what_was_missed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    figures = {
        "safety_recall": 0.9981, "auto_recall": 0.9, "trigger_precision": None,
        "reviews_per_100_incidents": 3.5, "missed": 2, "missed_by_kind": {"carer_elsewhere": 2},
    }  # fmt: skip
    cells = bench.row("date of birth replaced", figures)
    assert cells == [
        "date of birth replaced", "corruption", "0.9981", "0.9000", "-", "3.50",
        "2 (carer_elsewhere 2)",
    ]  # fmt: skip
    lines = bench.table([cells])
    assert len(lines) == 3 and lines[0].count("|") == lines[2].count("|") == 8
    monkeypatch.setattr(bench, "SCORER", tmp_path / "absent.py")
    assert bench.main(["--seeds"]) == 1
    assert "absent" in capsys.readouterr().out


def test_the_table_scores_a_variation_as_replay_and_the_scorer_do(tmp_path: Path) -> None:
    if not bench.SCORER.is_file():
        pytest.skip(f"the shared scorer is absent ({bench.SCORER}); set DVTRIGGER_SHARED_DIR")
    paths = write_scenario(simulate(5, 20, 40), tmp_path)
    data = bench.DataSet("seed 5", paths["register"], paths["incidents"], paths["truth"])
    index, _ = load_register(data.register)
    name = "date of birth replaced"
    varied = tmp_path / "varied.jsonl"
    lines = data.incidents.read_text().splitlines()
    varied.write_text("".join(json.dumps(vary(json.loads(x), name, 1)) + "\n" for x in lines))
    replay(data.register, varied, tmp_path / "decisions.jsonl")
    scorer = bench.scorer()
    replayed = scorer.score(
        scorer.load(str(data.truth)), scorer.load(str(tmp_path / "decisions.jsonl"))
    )
    assert bench.score(data, index, name, 1) == replayed
