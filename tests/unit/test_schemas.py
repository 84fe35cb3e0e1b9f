"""The wire models accept exactly what the contracts accept, and the published schemas agree.

Verdicts come from three judges: the pydantic model (fed JSON text and `json.loads`
output alike), jsonschema over the schema the project publishes in `schemas/json/`,
and, when `../shared` is present, jsonschema over the contract itself. A corpus case
may record where python-jsonschema is laxer than the specification (`jsonschema_py`):
the models follow the specification (ECMA-262 `$`, RFC 9562 UUIDs, RFC 3339).
"""

from __future__ import annotations

import calendar
import copy
import functools
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, FormatChecker
from pydantic import BaseModel, ValidationError

from schemas import export
from schemas.decision import Decision
from schemas.police import PoliceIncident, PolicePerson
from schemas.register import RegisterEvent
from schemas.task import RaiseTask
from tests.support.samples import minimal_incident

ROOT = Path(__file__).parents[2]
CORPUS = ROOT / "tests" / "data" / "contracts"
SHARED = Path(os.environ.get("DVTRIGGER_SHARED_DIR") or ROOT.parent / "shared")
MODELS: dict[str, type[BaseModel]] = {
    "police-incident.v1": PoliceIncident,
    "register-event.v1": RegisterEvent,
    "decision.v1": Decision,
    "raise-task.v1": RaiseTask,
}
#: The contracts `../shared/contracts` defines; the task is the project's own.
SHARED_CONTRACTS = ("police-incident.v1", "register-event.v1", "decision.v1")
#: Dev data files and the contract of their lines; other files need only hold JSON objects.
DEV_DATA = {"incidents.jsonl": "police-incident.v1", "register.jsonl": "register-event.v1"}
NEEDS_SHARED = pytest.mark.skipif(
    not (SHARED / "contracts").is_dir(),
    reason=f"{SHARED / 'contracts'} is absent (set DVTRIGGER_SHARED_DIR to the shared dir)",
)
HYPOTHESIS = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# ------------------------------------------------------------------ judges
_RFC3339 = re.compile(
    r"^(\d{4})-(0[1-9]|1[0-2])-(\d{2})T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d+)?"
    r"(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)$",
    re.ASCII,
)


def _rfc3339_date_time(instance: object) -> bool:
    """The check jsonschema runs for date-time when rfc3339-validator is installed, copied."""
    if not isinstance(instance, str):
        return True
    match = _RFC3339.match(instance.upper())
    if match is None:
        return False
    year, month, day = map(int, match.groups())
    return year > 0 and 1 <= day <= calendar.monthrange(year, month)[1]


def _format_checker() -> FormatChecker:
    """jsonschema's format checker, asserting date-time even without rfc3339-validator."""
    checker = FormatChecker()
    if "date-time" not in checker.checkers:
        checker.checks("date-time")(_rfc3339_date_time)
    assert {"date", "date-time", "uuid"} <= set(checker.checkers)
    return checker


def _validator(path: Path) -> Draft202012Validator:
    schema = json.loads(path.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=_format_checker())


@functools.cache
def published(contract: str) -> Draft202012Validator:
    """A validator for the schema the project publishes for `contract`."""
    return _validator(export.JSON_DIR / f"{contract}.schema.json")


@functools.cache
def shared_contract(contract: str) -> Draft202012Validator:
    """A validator for the contract in ../shared; skips the test when it is absent."""
    path = SHARED / "contracts" / f"{contract}.schema.json"
    if not path.is_file():
        pytest.skip(f"{path} is absent (set DVTRIGGER_SHARED_DIR to the shared dir)")
    return _validator(path)


def accepts(model: type[BaseModel], message: Any) -> bool:
    """The model's verdict; JSON text and the same message as Python values must agree."""
    text = json.dumps(message, ensure_ascii=False)
    verdicts = []
    for parse in (model.model_validate_json, lambda t: model.model_validate(json.loads(t))):
        try:
            parse(text)
        except ValidationError:
            verdicts.append(False)
        else:
            verdicts.append(True)
    assert verdicts[0] == verdicts[1], f"JSON text says {verdicts[0]}, Python says {verdicts[1]}"
    return verdicts[0]


def assert_round_trips(model: type[BaseModel], message: Any) -> BaseModel:
    """Parse, dump by alias (JSON and Python), parse again: the same model, a valid dump."""
    parsed = model.model_validate_json(json.dumps(message))
    assert model.model_validate_json(parsed.model_dump_json(by_alias=True)) == parsed
    assert model.model_validate(parsed.model_dump(by_alias=True)) == parsed
    assert model.model_validate(parsed.model_dump()) == parsed
    return parsed


# ------------------------------------------------------------------ corpus
@dataclass(frozen=True)
class Case:
    """One labelled message of the corpus."""

    contract: str
    name: str
    valid: bool
    why: str
    message: Any
    jsonschema_valid: bool

    def __str__(self) -> str:
        return f"{self.contract}:{self.name}"


def load_corpus() -> list[Case]:
    """Every case in tests/data/contracts/*.jsonl."""
    cases = []
    for contract in MODELS:
        path = CORPUS / f"{contract}.jsonl"
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            laxer = row.get("jsonschema_py", {}).get("valid")
            cases.append(
                Case(
                    contract,
                    row["case"],
                    row["valid"],
                    row["why"],
                    row["message"],
                    row["valid"] if laxer is None else laxer,
                )
            )
    return cases


CORPUS_CASES = load_corpus()
SHARED_CASES = [case for case in CORPUS_CASES if case.contract in SHARED_CONTRACTS]


def test_corpus_is_labelled() -> None:
    names = [str(case) for case in CORPUS_CASES]
    assert len(names) == len(set(names))
    for contract in MODELS:
        verdicts = {case.valid for case in CORPUS_CASES if case.contract == contract}
        assert verdicts == {True, False}, f"{contract} needs valid and invalid cases"
    assert all(case.why.strip() for case in CORPUS_CASES)
    laxer = [case for case in CORPUS_CASES if case.valid != case.jsonschema_valid]
    assert laxer and all(not case.valid for case in laxer), "only ever laxer than the spec"


@pytest.mark.parametrize("case", CORPUS_CASES, ids=str)
def test_model_verdict(case: Case) -> None:
    assert accepts(MODELS[case.contract], case.message) is case.valid, case.why
    if case.valid:
        dump = assert_round_trips(MODELS[case.contract], case.message).model_dump(mode="json")
        assert published(case.contract).is_valid(dump)


@pytest.mark.parametrize("case", CORPUS_CASES, ids=str)
def test_published_schema_verdict(case: Case) -> None:
    assert published(case.contract).is_valid(case.message) is case.jsonschema_valid, case.why


@pytest.mark.shared
@pytest.mark.parametrize("case", SHARED_CASES, ids=str)
def test_contract_verdict(case: Case) -> None:
    assert shared_contract(case.contract).is_valid(case.message) is case.jsonschema_valid, case.why


@pytest.mark.shared
@pytest.mark.parametrize("contract", SHARED_CONTRACTS)
def test_valid_dumps_satisfy_contract(contract: str) -> None:
    validator = shared_contract(contract)
    for case in CORPUS_CASES:
        if case.contract == contract and case.valid:
            dump = MODELS[contract].model_validate(case.message).model_dump(mode="json")
            assert validator.is_valid(dump), case


# ---------------------------------------------------------------- dev data
def _dev_files() -> list[str]:
    directory = SHARED / "data" / "dev"
    return sorted(p.name for p in directory.glob("*.jsonl")) or sorted(DEV_DATA)


@pytest.mark.shared
@pytest.mark.parametrize("name", _dev_files())
def test_dev_data(name: str) -> None:
    path = SHARED / "data" / "dev" / name
    if not path.is_file():
        pytest.skip(f"{path} is absent (set DVTRIGGER_SHARED_DIR to the shared dir)")
    contract = DEV_DATA.get(name)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines
    for number, line in enumerate(lines, 1):
        where = f"{name}:{number}"
        if contract is None:  # not a contract message (truth.jsonl): a JSON object per line
            assert isinstance(json.loads(line), dict), where
            continue
        model = MODELS[contract]
        parsed = model.model_validate_json(line)
        assert model.model_validate(json.loads(line)) == parsed, where
        assert model.model_validate_json(parsed.model_dump_json()) == parsed, where
        assert shared_contract(contract).is_valid(json.loads(line)), where


# ------------------------------------------------------------------- drift
def test_published_schemas_match_models() -> None:
    assert export.drifted() == [], "run `python -m schemas.export` and commit schemas/json"
    for name in export.MODELS:
        text = (export.JSON_DIR / name).read_text(encoding="utf-8")
        assert text.endswith("}\n")
        assert (
            text
            == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        )


def test_export_writes_and_checks(tmp_path: Path) -> None:
    assert export.main(["--check", "--dir", str(tmp_path)]) == 1
    assert export.main(["--dir", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(export.MODELS)
    assert export.main(["--check", "--dir", str(tmp_path)]) == 0
    target = tmp_path / "decision.v1.schema.json"
    target.write_text(target.read_text(encoding="utf-8").replace('"integer"', '"number"'))
    assert export.main(["--check", "--dir", str(tmp_path)]) == 1
    assert export.drifted(tmp_path) == ["decision.v1.schema.json"]


def test_export_module_check_runs() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "schemas.export", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


# ------------------------------------------------------------- Python side
def test_python_callers_may_pass_dates_and_aware_datetimes() -> None:
    when = datetime(2026, 3, 29, 1, 30, tzinfo=timezone(timedelta(hours=1)))
    person = PolicePerson(person_ref="P1", role="victim", date_of_birth=date(1996, 3, 14))
    incident = PoliceIncident.model_validate(
        minimal_incident(occurred_at=when, reported_at=when, persons=[person])
    )
    assert incident.occurred_at == datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    assert incident.persons[0].date_of_birth == date(1996, 3, 14)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("occurred_at", datetime(2026, 3, 29, 0, 30)),  # no offset
        ("occurred_at", datetime(2026, 3, 29, tzinfo=timezone(timedelta(seconds=30)))),
        ("occurred_at", date(2026, 3, 29)),
        ("revision", 1.5),
        ("summary", None),  # may be absent, not null
    ],
)
def test_python_callers_get_the_same_rules(field: str, value: Any) -> None:
    with pytest.raises(ValidationError):
        PoliceIncident.model_validate(minimal_incident(**{field: value}))


def test_a_datetime_is_not_a_date() -> None:
    with pytest.raises(ValidationError):
        PolicePerson(
            person_ref="P1", role="victim", date_of_birth=datetime(1996, 3, 14, tzinfo=UTC)
        )


def test_parsed_values() -> None:
    incident = PoliceIncident.model_validate_json(
        json.dumps(minimal_incident(revision=2.0, occurred_at="2026-03-29t00:30:00.1234567-00:00"))
    )
    assert incident.revision == 2 and type(incident.revision) is int
    assert incident.occurred_at == datetime(2026, 3, 29, 0, 30, 0, 123456, tzinfo=UTC)
    assert incident.reported_at.utcoffset() == timedelta(hours=1)


def test_dump_writes_schema_and_leaves_out_absent_fields() -> None:
    incident = PoliceIncident.model_validate(minimal_incident())
    dumped = incident.model_dump(mode="json")
    assert dumped["schema"] == "police-incident/1" and "schema_" not in dumped
    assert "summary" not in dumped and "gender" not in dumped["persons"][0]
    assert dumped["location"]["postcode"] is None  # required, nullable: always written
    assert json.loads(incident.model_dump_json()) == dumped


# -------------------------------------------------------------- hypothesis
def _text(max_size: int, min_size: int = 0) -> st.SearchStrategy[str]:
    return st.text(min_size=min_size, max_size=max_size)


def _nullable(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


def _pattern(regex: str) -> st.SearchStrategy[str]:
    return st.from_regex(regex, fullmatch=True)


UUIDS = st.uuids().map(str) | st.uuids().map(lambda u: str(u).upper())
DATES = st.dates().map(date.isoformat)
_OFFSETS = st.sampled_from(["Z", "z", "+00:00", "-00:00"]) | st.builds(
    "{}{:02d}:{:02d}".format, st.sampled_from("+-"), st.integers(0, 23), st.integers(0, 59)
)
DATE_TIMES = st.builds(
    "{}{}{}{}{}".format,
    DATES,
    st.sampled_from("Tt"),
    st.times().map(lambda t: t.replace(microsecond=0).isoformat()),
    st.sampled_from(["", ".5", ".123456", ".123456789"]),
    _OFFSETS,
)
INTEGERS = st.integers(1, 2**40) | st.integers(1, 2**40).map(float)
NHS = _pattern(r"[0-9]{10}")
ADDRESSES = st.fixed_dictionaries(
    {"lines": st.lists(_text(120, 1), min_size=1, max_size=6), "postcode": _nullable(_text(10))},
    optional={"uprn": _nullable(_pattern(r"[0-9]{1,12}")), "town": _nullable(_text(60))},
)
PERSONS = st.fixed_dictionaries(
    {
        "person_ref": _text(32, 1),
        "role": st.sampled_from(["victim", "suspect", "other_adult_present", "child", "witness"]),
    },
    optional={
        "given_name": _nullable(_text(80)),
        "family_name": _nullable(_text(80)),
        "date_of_birth": _nullable(DATES),
        "age_years": _nullable(st.integers(0, 120)),
        "gender": st.sampled_from(["female", "male", "other", "unknown"]),
        "address": _nullable(ADDRESSES),
        "pregnant": _nullable(st.booleans()),
        "nhs_number": _nullable(NHS),
    },
)
INCIDENTS = st.fixed_dictionaries(
    {
        "schema": st.just("police-incident/1"),
        "notification_id": UUIDS,
        "incident_id": _text(64, 1),
        "force": _pattern(r"[A-Z]{2,5}"),
        "revision": INTEGERS,
        "occurred_at": DATE_TIMES,
        "reported_at": DATE_TIMES,
        "location": ADDRESSES,
        "dash_risk": st.sampled_from(["standard", "medium", "high", "not_assessed"]),
        "persons": st.lists(PERSONS, min_size=1, max_size=4),
    },
    optional={"children_present": _nullable(st.booleans()), "summary": _text(4000)},
)
_NAMES = {"given_name": _nullable(_text(80)), "family_name": _nullable(_text(80))}
REGISTER_EVENTS = st.fixed_dictionaries(
    {
        "schema": st.just("register-event/1"),
        "event_id": UUIDS,
        "source": st.sampled_from(["maternity", "child_health", "childrens_services"]),
        "recorded_at": DATE_TIMES,
        "type": st.sampled_from(
            [
                "pregnancy_registered",
                "pregnancy_ended",
                "birth_registered",
                "subject_moved",
                "subject_withdrawn",
            ]
        ),
        "subject": st.fixed_dictionaries(
            {"subject_ref": _text(64, 1), "kind": st.sampled_from(["child", "unborn"])},
            optional=_NAMES
            | {
                "date_of_birth": _nullable(DATES),
                "expected_delivery_date": _nullable(DATES),
                "nhs_number": _nullable(NHS),
                "from_pregnancy_ref": _nullable(_text(64)),
            },
        ),
    },
    optional={
        "local_authority": _nullable(_pattern(r"[EWSN][0-9]{8}")),
        "effective_date": _nullable(DATES),
        "carers": st.lists(
            st.fixed_dictionaries(
                {
                    "person_ref": _text(64, 1),
                    "relationship": st.sampled_from(
                        ["mother", "father", "parent", "carer", "partner_of_carer"]
                    ),
                },
                optional=_NAMES | {"date_of_birth": _nullable(DATES), "nhs_number": _nullable(NHS)},
            ),
            max_size=3,
        ),
        "address": ADDRESSES,
        "outcome": st.sampled_from(["live_birth", "loss", "termination", None]),
    },
)
_JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | _text(10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text(5), inner, max_size=3),
    max_leaves=5,
)
_REASONS = st.lists(_text(20), max_size=3)
DECISIONS = st.fixed_dictionaries(
    {
        "incident_id": _text(64),
        "revision": INTEGERS,
        "decision": st.sampled_from(["trigger", "review", "no_action"]),
        "subjects": st.lists(
            st.fixed_dictionaries(
                {
                    "basis": st.sampled_from(["register", "police_report"]),
                    "kind": st.sampled_from(["child", "unborn"]),
                },
                optional={
                    "subject_ref": _nullable(_text(10)),
                    "person_ref": _nullable(_text(10)),
                    "outcome": st.sampled_from(["trigger", "review"]),
                    "score": _nullable(st.floats(allow_nan=False, allow_infinity=False)),
                    "reasons": _REASONS,
                    "local_authority": _JSON_VALUES,
                },
            ),
            max_size=3,
        ),
    },
    optional={"reasons": _REASONS, "late": _JSON_VALUES},
)
VALID = {
    "police-incident.v1": INCIDENTS,
    "register-event.v1": REGISTER_EVENTS,
    "decision.v1": DECISIONS,
}

#: Values a mutation writes; none of them where python-jsonschema is laxer than the spec.
POOL: list[Any] = [
    None, True, False, 0, 1, -1, 1.0, 2.5, 121, 2**70, "", "x", "1", "true",
    "QQP", "qqp", "2026-03-29", "2026-02-30", "20260329", "2026-03-29T00:30:00Z",
    "2026-03-29T00:30:00", "2026-03-29 00:30:00+01:00", "1774744200",
    "6f1c1a52-4a54-5d35-9d38-0d8e3bb1e7a1", "6f1c1a524a545d359d380d8e3bb1e7a1",
    "9990001234", "999000123", "E09000099", "123", "1" * 13, "victim", "witness", "child",
    "unborn", "register", "trigger", "no_action", "female", "loss", "maternity", "high",
    "police-incident/1", "register-event/1", "s" * 61, "s" * 81, "s" * 121, "s" * 4001,
    [], [""], ["x"] * 7, [{}], {}, {"lines": ["1 Mill Lane"], "postcode": None},
    {"person_ref": "P9", "role": "victim"}, {"basis": "register", "kind": "child"},
    {"subject_ref": "S", "kind": "child"}, {"person_ref": "H9", "relationship": "mother"},
]  # fmt: skip


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside a message."""
    children = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else []
    )
    found = []
    for key, value in children:
        found.append((*prefix, key))
        found.extend(_paths(value, (*prefix, key)))
    return found


@st.composite
def mutants(draw: st.DrawFn, contract: str) -> Any:
    """A valid message of `contract` with one value changed, one key dropped or one added."""
    message = copy.deepcopy(draw(VALID[contract]))
    path = draw(st.sampled_from([(), *_paths(message)]))
    parent: Any = message
    for key in path[:-1]:
        parent = parent[key]
    kind = draw(st.sampled_from(["set", "drop", "add"]))
    if kind == "set" and path:
        parent[path[-1]] = copy.deepcopy(draw(st.sampled_from(POOL)))
    elif kind == "drop" and path and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        target = parent[path[-1]] if path else message
        if isinstance(target, dict):
            target[draw(st.sampled_from(["extra", "schema_", "uprn", "outcome"]))] = draw(
                st.sampled_from(POOL)
            )
        elif isinstance(target, list):
            target.append(copy.deepcopy(draw(st.sampled_from(POOL))))
    return message


@pytest.mark.parametrize("contract", sorted(VALID))
@HYPOTHESIS
@given(data=st.data())
def test_generated_messages_are_valid_and_round_trip(contract: str, data: st.DataObject) -> None:
    message = data.draw(VALID[contract])
    assert accepts(MODELS[contract], message)
    assert published(contract).is_valid(message)
    dump = assert_round_trips(MODELS[contract], message).model_dump(mode="json")
    assert published(contract).is_valid(dump)


@pytest.mark.parametrize("contract", sorted(VALID))
@HYPOTHESIS
@given(data=st.data())
def test_mutants_judged_alike_by_model_and_published_schema(
    contract: str, data: st.DataObject
) -> None:
    message = data.draw(mutants(contract))
    assert accepts(MODELS[contract], message) is published(contract).is_valid(message)


@pytest.mark.shared
@NEEDS_SHARED
@pytest.mark.parametrize("contract", sorted(VALID))
@HYPOTHESIS
@given(data=st.data())
def test_mutants_judged_alike_by_model_and_contract(contract: str, data: st.DataObject) -> None:
    validator = shared_contract(contract)
    message = data.draw(mutants(contract))
    assert accepts(MODELS[contract], message) is validator.is_valid(message)
