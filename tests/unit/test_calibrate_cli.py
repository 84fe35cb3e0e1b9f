"""`dvtrigger calibrate` learns a weights file from a simulated register and incidents;
`dvtrigger replay --weights` and the worker settings load it, and refuse a bad one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connectors.cli import calibrate as cli
from connectors.cli.main import main
from connectors.cli.replay import main as replay_main
from connectors.simulate import simulate, write_scenario
from schemas.police import PolicePerson
from streams.config.settings import Settings, load_match_weights, load_rules_file
from streams.domain.config import DEFAULT_WEIGHTS, MatchWeights
from streams.domain.matching.calibrate import TermFrequencies, choose
from streams.domain.matching.compare import FIELDS, carer_identity, person_identity
from streams.domain.register.records import CarerRecord, Place

HOME = Place(None, ("1 Mill Lane",), "Leeds", "LS1 1AA")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sim")
    write_scenario(simulate(5, 40, 80), folder)
    return folder


@pytest.fixture(scope="module")
def learned(data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("out") / "weights.json"
    return out, _calibrate(data, out)


def _calibrate(data: Path, out: Path, seed: int = 3) -> str:
    import contextlib
    import io

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(
            [
                "calibrate",
                *("--register", str(data / "register.jsonl")),
                *("--incidents", str(data / "incidents.jsonl")),
                *("--out", str(out), "--seed", str(seed), "--max-pairs", "2000"),
            ]
        )
    assert code == 0
    return printed.getvalue()


def test_the_weights_file_is_match_weights_with_namesakes_as_configured(
    learned: tuple[Path, str],
) -> None:
    out, _ = learned
    weights = MatchWeights.model_validate_json(out.read_bytes())
    assert weights.namesakes == DEFAULT_WEIGHTS.namesakes
    assert weights.prior != DEFAULT_WEIGHTS.prior
    assert weights != DEFAULT_WEIGHTS


def test_the_evidence_names_every_level_with_m_u_and_weight(learned: tuple[Path, str]) -> None:
    _, printed = learned
    rows = {line.split()[1]: line.split() for line in printed.splitlines()[1:-1]}
    settings = set(MatchWeights.model_fields) - {"prior", "namesakes"}
    assert settings | {cli.SEX_AGREE, cli.HOME_DIFFER} <= set(rows)
    for level in settings:
        m, u = float(rows[level][4]), float(rows[level][5])
        assert 0 < m < 1 and 0 < u < 1, level
    assert printed.splitlines()[-1].startswith("prior ")


def test_term_frequencies_go_beside_the_weights(learned: tuple[Path, str]) -> None:
    out, _ = learned
    tf = TermFrequencies.model_validate_json(cli.tf_path(out).read_bytes())
    assert cli.tf_path(out).name == "weights.tf.json"
    assert set(tf.u_exact) == {"given", "family", "postcode"}
    for field, values in tf.values.items():
        assert all(freq > tf.u_exact[field] for freq in values.values())


def test_the_same_seed_learns_the_same_weights(data: Path, learned: tuple[Path, str]) -> None:
    out, _ = learned
    again = out.with_name("again.json")
    _calibrate(data, again)
    assert again.read_bytes() == out.read_bytes()


def test_replay_decides_with_the_learned_weights(
    data: Path, learned: tuple[Path, str], tmp_path: Path
) -> None:
    out, _ = learned
    args = [
        "--register",
        str(data / "register.jsonl"),
        "--incidents",
        str(data / "incidents.jsonl"),
    ]
    assert replay_main([*args, "--out", str(tmp_path / "d.jsonl"), "--weights", str(out)]) == 0
    decisions = [json.loads(line) for line in (tmp_path / "d.jsonl").read_text().splitlines()]
    assert {d["decision"] for d in decisions} >= {"trigger", "no_action"}
    learned_prior = MatchWeights.model_validate_json(out.read_bytes()).prior
    reasons = " ".join(r for d in decisions for s in d["subjects"] for r in s["reasons"])
    assert f"with prior {learned_prior:.1f}" in reasons


def test_a_bad_weights_file_is_refused_naming_the_field_not_the_value(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"given_exact": "SECRETVALUE", "surname_exact": 1.0}))
    with pytest.raises(ValueError) as refused:
        load_match_weights(bad)
    assert "given_exact" in str(refused.value) and "surname_exact" in str(refused.value)
    assert "SECRETVALUE" not in str(refused.value)
    with pytest.raises(ValueError, match="cannot be read"):
        load_match_weights(tmp_path / "absent.json")


def test_a_bad_term_frequency_file_is_refused_naming_no_name(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tf.json"
    bad.write_text(json.dumps({"u_exact": {}, "values": {"family": {"OKAFOR": "often"}}}))
    with pytest.raises(ValueError) as refused:
        load_rules_file(bad, TermFrequencies)
    assert "values.family" in str(refused.value) and "OKAFOR" not in str(refused.value)


def test_replay_refuses_a_bad_weights_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"dob_exact": "1999-01-01"}')
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    args = ["--register", str(empty), "--incidents", str(empty), "--out", str(tmp_path / "o")]
    with pytest.raises(SystemExit):
        replay_main([*args, "--weights", str(bad)])
    said = capsys.readouterr().err
    assert "dob_exact" in said and "1999-01-01" not in said


def test_the_worker_setting_puts_the_file_s_weights_in_the_rules(
    learned: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out, _ = learned
    monkeypatch.setenv("DVTRIGGER_RULES_WEIGHTS_FILE", str(out))
    settings = Settings().with_weights_file()
    assert settings.rules.weights == MatchWeights.model_validate_json(out.read_bytes())
    monkeypatch.delenv("DVTRIGGER_RULES_WEIGHTS_FILE")
    assert Settings().with_weights_file().rules.weights == Settings().rules.weights


def test_every_weight_setting_is_a_level_of_one_field() -> None:
    names = cli.level_names()
    assert len(names) == len(FIELDS)
    flat = [level for field in names for level in field]
    assert len(flat) == len(set(flat))
    assert set(flat) == set(MatchWeights.model_fields) - {"prior", "namesakes"} | {
        cli.SEX_AGREE,
        cli.HOME_DIFFER,
    }


def _person(**fields: object) -> PolicePerson:
    return PolicePerson.model_validate({"person_ref": "P1", "role": "victim", **fields})


def test_gender_alike_and_an_address_elsewhere_are_levels_for_em() -> None:
    mother = CarerRecord("C1", ("mother",), ("Ann",), ("Lee",))
    elsewhere = {"lines": ["9 Far Road"], "town": "York", "postcode": "YO1 9ZZ"}
    person = _person(given_name="Ann", family_name="Lee", gender="female", address=elsewhere)
    v = cli.vector(person, person_identity(person), carer_identity(mother), HOME, DEFAULT_WEIGHTS)
    assert v[FIELDS.index("sex")] == cli.SEX_AGREE
    assert v[FIELDS.index("home")] == cli.HOME_DIFFER
    assert v[FIELDS.index("given")] == "given_exact"
    silent = _person(given_name="Ann", family_name="Lee")
    v = cli.vector(silent, person_identity(silent), carer_identity(mother), HOME, DEFAULT_WEIGHTS)
    assert v[FIELDS.index("sex")] is None and v[FIELDS.index("home")] is None


@pytest.mark.parametrize(
    ("learned", "configured", "pairs", "randoms", "chosen"),
    [
        (7.5, 6.0, 500, 200, 7.5),
        (3.2, 6.0, 4, 200, 6.0),
        (11.8, 20.0, 45, 0, 20.0),
        (12.7, 9.0, 800, 5, 12.7),
        (1.0, None, 500, 500, 1.0),
    ],
)
def test_a_level_too_few_pairs_show_keeps_its_configured_weight(
    learned: float, configured: float | None, pairs: int, randoms: int, chosen: float
) -> None:
    assert choose(learned, configured, pairs, randoms)[0] == chosen


def test_a_worker_decides_with_the_weights_file_of_its_settings(learned: tuple[Path, str]) -> None:
    from prometheus_client import CollectorRegistry

    from connectors.case_system.memory import InMemoryCaseSystem
    from streams.bootstrap import build
    from streams.telemetry.metrics import Metrics

    out, _ = learned
    settings = Settings(app_id="weights", rules_weights_file=out)
    worker = build(settings, InMemoryCaseSystem(), Metrics(CollectorRegistry()))  # type: ignore[arg-type]
    assert worker.deps.rules.weights == MatchWeights.model_validate_json(out.read_bytes())
