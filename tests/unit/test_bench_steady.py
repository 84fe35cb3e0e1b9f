"""The steady-load benches' arithmetic: which inbox time answers which notification, and the
soak's flatness verdict."""

from __future__ import annotations

from tests.bench.soak import SERIES, flatness
from tests.bench.steady import InboxRow, Outputs, expected_tasks, spread, task_times


def test_a_task_times_its_first_revision_and_its_latest_unless_an_amendment() -> None:
    rows = {
        "k1": InboxRow("A", 1, 2, 0, created_at=10.0, revised_at=12.0),
        "k2": InboxRow("B", 2, 2, 0, created_at=20.0, revised_at=None),
        "k3": InboxRow("C", 1, 1, 1, created_at=30.0, revised_at=31.0),  # a late amendment
    }
    wanted = [("A", 1), ("A", 2), ("B", 1), ("B", 2), ("C", 1)]
    times, keys = task_times(rows, wanted)
    assert times == {("A", 1): 10.0, ("A", 2): 12.0, ("B", 2): 20.0, ("C", 1): 30.0}
    assert keys[("A", 2)] == "k1"


def test_expected_tasks_are_those_commanded_for_the_notifications_asked_about() -> None:
    outputs = Outputs(commands={"k1": {("A", 1): 1.0}, "k2": {("B", 1): 2.0}})
    assert expected_tasks(outputs, [("A", 1)]) == {"k1"}


def test_spread_in_milliseconds() -> None:
    assert spread([0.1] * 99 + [2.0]) == {
        "n": 100,
        "p50_ms": 100.0,
        "p99_ms": 100.0,
        "max_ms": 2000.0,
    }
    assert spread([])["p99_ms"] is None


def test_a_series_that_grows_after_the_first_year_fails() -> None:
    rows = [{"month": m, **dict.fromkeys(SERIES, 100.0)} for m in range(1, 25)]
    for r in rows:
        r["register_subjects"] = 100.0 + (r["month"] - 12) * 2 if r["month"] >= 12 else 50.0
    verdicts = {name: v["verdict"] for name, v in flatness(rows).items()}
    assert verdicts["register_subjects"] == "FAIL"  # 100 .. 124
    assert verdicts["incident_states"] == "PASS"
