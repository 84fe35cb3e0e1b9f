"""The dev set with its police records written in ways the dev set does not show.

Each variation rewrites every involved person (or the incident's place) of every
incident the way some force's system might, then the dev set is replayed and
scored. No must-trigger pair may be missed, and no false trigger may appear.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from connectors.cli.replay import replay
from schemas.police import INVOLVED_ROLES
from tests.integration.test_dev_score import DEV, SCORER, _scorer

pytestmark = pytest.mark.shared

Person = dict[str, Any]
_ACCENTS = str.maketrans({"e": "é", "a": "á", "o": "ö", "u": "ü"})


def _titled(p: Person) -> None:
    if p.get("given_name"):
        p["given_name"] = f"Mrs {p['given_name']}"


def _accented_lower(p: Person) -> None:
    for field in ("given_name", "family_name"):
        if p.get(field):
            p[field] = p[field].lower().translate(_ACCENTS)


def _swapped(p: Person) -> None:
    p["given_name"], p["family_name"] = p.get("family_name"), p.get("given_name")


def _middle_name(p: Person) -> None:
    if p.get("given_name"):
        p["given_name"] = f"{p['given_name']} Marie"


def _address_style(address: dict[str, Any] | None) -> dict[str, Any] | None:
    """One line, upper case, abbreviated street types, "Apt", a squeezed lower-case postcode."""
    if not address:
        return address
    styled = copy.deepcopy(address)
    line = ", ".join(styled["lines"]).replace("Flat ", "Apt ").replace("Road", "Rd")
    styled["lines"] = [line.upper().replace("LANE", "LN")]
    styled["postcode"] = (styled.get("postcode") or "").replace(" ", "").lower() or None
    return styled


def _own_address(p: Person) -> None:
    p["address"] = _address_style(p.get("address"))


def _initial(p: Person) -> None:
    """The given name as an initial, where a date of birth or an age is given ("J. Smith")."""
    dated = p.get("date_of_birth") or p.get("age_years") is not None
    if p.get("given_name") and dated:
        p["given_name"] = f"{p['given_name'][0]}."


PERSON_VARIATIONS: dict[str, Callable[[Person], None]] = {
    "title in the given name": _titled,
    "lower case with accents": _accented_lower,
    "given and family name swapped": _swapped,
    "a middle name": _middle_name,
    "own address restyled": _own_address,
}


def _replayed(variation: str, tmp_path: Path) -> dict[str, Any]:
    """The dev set's score with every involved person (or the place) rewritten by `variation`."""
    needed = [DEV / "register.jsonl", DEV / "incidents.jsonl", DEV / "truth.jsonl", SCORER]
    missing = [str(path) for path in needed if not path.is_file()]
    if missing:
        pytest.skip(f"shared dev data absent ({', '.join(missing)}); set DVTRIGGER_SHARED_DIR")
    varied, out = tmp_path / "incidents.jsonl", tmp_path / "decisions.jsonl"
    _rewrite(DEV / "incidents.jsonl", varied, variation)
    replay(DEV / "register.jsonl", varied, out)
    scorer = _scorer()
    return dict(scorer.score(scorer.load(str(DEV / "truth.jsonl")), scorer.load(str(out))))


def _rewrite(incidents: Path, out: Path, variation: str) -> None:
    lines = []
    for line in incidents.read_text().splitlines():
        message = json.loads(line)
        if variation == "incident place restyled":
            message["location"] = _address_style(message["location"])
        else:
            for person in message["persons"]:
                if person["role"] in INVOLVED_ROLES:
                    {**PERSON_VARIATIONS, **THINNING}[variation](person)
        lines.append(json.dumps(message))
    out.write_text("\n".join(lines) + "\n")


#: Variations that stack on the dev set's own noise until some people are too thin to find
#: (an initial, a surname with a typing error and an age two years off): held to the issue's
#: targets rather than to no miss at all.
THINNING: dict[str, Callable[[Person], None]] = {"given name as an initial": _initial}


@pytest.mark.parametrize("variation", list(THINNING))
def test_a_thinning_variation_keeps_the_safety_targets(variation: str, tmp_path: Path) -> None:
    result = _replayed(variation, tmp_path)
    assert result["safety_recall"] >= 0.998, result["missed_by_kind"]
    assert result["false_trigger"] == 0, result["false_by_kind"]
    assert result["reviews_per_100_incidents"] <= 10


@pytest.mark.parametrize("variation", [*PERSON_VARIATIONS, "incident place restyled"])
def test_a_variation_misses_no_child_and_adds_no_false_trigger(
    variation: str, tmp_path: Path
) -> None:
    result = _replayed(variation, tmp_path)
    assert result["missed"] == 0, result["missed_by_kind"]
    assert result["false_trigger"] == 0, result["false_by_kind"]
    assert result["auto_recall"] >= 0.95
