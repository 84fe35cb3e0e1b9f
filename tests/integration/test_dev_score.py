"""Replay the shared dev set and score it with the project's scorer (../shared/tools/score.py)."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

from connectors.cli.replay import replay
from tests.conftest import record_figures
from tests.support.shared_data import DEV, SCORER, load_scorer

#: Floors the dev set must keep (issue 3's acceptance): precision of triggers, must-trigger
#: pairs caught or reviewed, caught outright, and reviews per 100 incidents.
MIN_TRIGGER_PRECISION = 0.995
MIN_SAFETY_RECALL = 0.998
MIN_AUTO_RECALL = 0.97
MAX_REVIEWS_PER_100 = 10.0

pytestmark = pytest.mark.shared


def _scorer() -> ModuleType:
    """The shared scorer, imported from its path."""
    return load_scorer(SCORER)


@pytest.fixture(scope="module")
def figures(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> dict[str, Any]:
    """The scorer's figures for a replay of the dev set."""
    needed = [DEV / "register.jsonl", DEV / "incidents.jsonl", DEV / "truth.jsonl", SCORER]
    missing = [str(path) for path in needed if not path.is_file()]
    if missing:
        pytest.skip(f"shared dev data absent ({', '.join(missing)}); set DVTRIGGER_SHARED_DIR")
    out = tmp_path_factory.mktemp("replay") / "decisions.jsonl"
    replay(DEV / "register.jsonl", DEV / "incidents.jsonl", out)
    scorer = _scorer()
    result: dict[str, Any] = scorer.score(
        scorer.load(str(DEV / "truth.jsonl")), scorer.load(str(out))
    )
    record_figures(pytestconfig, "dev set (replay, scored by shared/tools/score.py)", result)
    return result


def test_every_incident_gets_a_decision(figures: dict[str, Any]) -> None:
    assert figures["no_decision"] == 0


def test_trigger_precision(figures: dict[str, Any]) -> None:
    assert figures["trigger_precision"] >= MIN_TRIGGER_PRECISION, figures["false_by_kind"]


def test_no_must_trigger_pair_is_missed(figures: dict[str, Any]) -> None:
    assert figures["safety_recall"] >= MIN_SAFETY_RECALL, figures["missed_by_kind"]
    assert figures["missed"] == 0, figures["missed_by_kind"]


def test_most_must_trigger_pairs_trigger_without_review(figures: dict[str, Any]) -> None:
    assert figures["auto_recall"] >= MIN_AUTO_RECALL


def test_reviews_stay_few(figures: dict[str, Any]) -> None:
    assert figures["reviews_per_100_incidents"] <= MAX_REVIEWS_PER_100
