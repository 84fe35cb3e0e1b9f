"""Reconciliation: counts by force and day, and each kind of gap found by references only."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from connectors.cli.main import main
from connectors.cli.reconcile import grace_of, parse, since_of
from schemas.receipt import Receipt
from streams.domain.reconcile import Report, reconcile
from streams.domain.reconcile_text import age, render_text
from tests.support.receipts import (
    MINUTE,
    acknowledged,
    arrived,
    judged,
    notification,
    raised,
    refused,
    whole,
)
from tests.support.samples import HOSTILE_NAME

LONDON = "Europe/London"
#: Midnight of 30 July 2026 in London (summer time: 23:00 UTC the day before).
SINCE = datetime(2026, 7, 29, 23, 0, tzinfo=UTC)
NOW = datetime(2026, 7, 31, 9, 0, tzinfo=UTC)
GRACE = timedelta(minutes=15)
T = datetime(2026, 7, 30, 8, 0, tzinfo=UTC)


def planted() -> list[Receipt]:
    """Complete revisions of two forces, with one gap of each kind planted among them."""
    return [
        *whole("MPS-2026-000001", "trigger", T),
        arrived("MPS-2026-000002", T + 10 * MINUTE),  # no decision
        arrived("MPS-2026-000003", T + 20 * MINUTE),
        judged("MPS-2026-000003", "trigger", T + 21 * MINUTE),  # no task
        *whole("MPS-2026-000006", "no_action", T + 30 * MINUTE),
        *whole("WMP-2026-000005", "review", T + 40 * MINUTE),
        arrived("WMP-2026-000004", T + 50 * MINUTE),
        judged("WMP-2026-000004", "review", T + 51 * MINUTE),  # no task
        refused(b"not json", T + 60 * MINUTE),
        arrived("MPS-2026-000002", T + 11 * MINUTE, channel="ingress"),  # the same, again
        arrived("MPS-2026-000008", NOW - 5 * MINUTE),  # in flight
    ]


def run(found: list[Receipt], **options: object) -> Report:
    """Reconcile with the test's window, grace and clock unless told otherwise."""
    chosen: dict[str, object] = {"since": SINCE, "now": NOW, "grace": GRACE, "timezone": LONDON}
    chosen.update(options)
    return reconcile(found, **chosen)  # type: ignore[arg-type]


def refs(report: Report, kind: str) -> list[tuple[str, str, int, str]]:
    """The references and stage of each gap of one kind."""
    return [(g.force, g.incident_id, g.revision, g.stage) for g in report.gaps if g.kind == kind]


def test_each_planted_gap_is_found_and_no_complete_revision_is() -> None:
    report = run(planted())
    assert refs(report, "no_decision") == [("MPS", "MPS-2026-000002", 1, "received")]
    assert refs(report, "trigger_without_task") == [
        ("MPS", "MPS-2026-000003", 1, "decided trigger")
    ]
    assert refs(report, "review_without_task") == [("WMP", "WMP-2026-000004", 1, "decided review")]
    assert len(report.gaps) == 3
    assert report.exit_status == 1
    assert [g.incident_id for g in report.in_flight] == ["MPS-2026-000008"]
    assert report.duplicates == 1
    gap = report.gaps_of("no_decision")[0]
    assert gap.notification_id == notification("MPS-2026-000002").notification_id
    assert gap.opened_at == T + 10 * MINUTE
    assert gap.age == NOW - (T + 10 * MINUTE)


def test_counts_by_force_and_day() -> None:
    days = {(d.force, d.day): d for d in run(planted()).days}
    mps, wmp = days[("MPS", date(2026, 7, 30))], days[("WMP", date(2026, 7, 30))]
    assert (mps.received, mps.rejected, mps.decided, mps.tasks_raised, mps.acknowledged) == (
        4,
        0,
        3,
        1,
        1,
    )
    assert (wmp.received, wmp.decided, wmp.tasks_raised, wmp.acknowledged) == (2, 2, 1, 0)
    assert days[("unknown", date(2026, 7, 30))].rejected == 1  # its force could not be read
    assert days[("MPS", date(2026, 7, 31))].received == 1


def test_a_receipt_before_midnight_utc_in_summer_is_counted_on_the_next_london_day() -> None:
    late = datetime(2026, 7, 30, 23, 30, tzinfo=UTC)  # 00:30 on 31 July in London
    days = {
        (d.force, d.day): d.received for d in run(whole("MPS-2026-000009", "no_action", late)).days
    }
    assert days == {("MPS", date(2026, 7, 31)): 1}


def test_a_receipt_sent_twice_is_counted_once() -> None:
    twice = [
        arrived("MPS-2026-000001", T, channel="ingress"),
        arrived("MPS-2026-000001", T + MINUTE, channel="kafka"),  # the worker's door, again
        judged("MPS-2026-000001", "no_action", T + 2 * MINUTE),
        judged("MPS-2026-000001", "no_action", T + 2 * MINUTE),
    ]
    report = run(twice)
    assert [(d.received, d.decided) for d in report.days] == [(1, 1)]
    assert report.duplicates == 2
    assert report.gaps == ()


def test_a_later_revision_decided_covers_an_earlier_one_the_worker_skips() -> None:
    """Revision 1 arriving after revision 2 was decided is an older revision: not decided."""
    found = [
        arrived("MPS-2026-000007", T, revision=2),
        judged("MPS-2026-000007", "trigger", T + MINUTE, revision=2),
        raised("MPS-2026-000007", T + 2 * MINUTE, revision=2),
        arrived("MPS-2026-000007", T + 3 * MINUTE, revision=1),
    ]
    assert refs(run(found), "no_decision") == []


def test_an_earlier_revision_decided_does_not_cover_a_later_one() -> None:
    found = [
        arrived("MPS-2026-000007", T, revision=1),
        judged("MPS-2026-000007", "trigger", T + MINUTE, revision=1),
        raised("MPS-2026-000007", T + 2 * MINUTE, revision=1),
        arrived("MPS-2026-000007", T + 3 * MINUTE, revision=2),
    ]
    assert refs(run(found), "no_decision") == [("MPS", "MPS-2026-000007", 2, "received")]


def test_a_trigger_needs_an_investigation_and_a_review_any_task() -> None:
    found = [
        judged("MPS-2026-000001", "trigger", T),
        raised("MPS-2026-000001", T + MINUTE, outcome="review"),  # only a match review
        judged("MPS-2026-000002", "review", T),
        raised("MPS-2026-000002", T + MINUTE, outcome="trigger"),
        judged("MPS-2026-000003", "review", T),  # re-decided a trigger later: upgraded task
        judged("MPS-2026-000003", "trigger", T + MINUTE),
        acknowledged("MPS-2026-000003", T + 9 * MINUTE),  # its task_raised never came
    ]
    report = run(found)
    assert refs(report, "trigger_without_task") == [
        ("MPS", "MPS-2026-000001", 1, "decided trigger")
    ]
    assert len(report.gaps) == 1


def test_a_gap_younger_than_the_grace_is_in_flight_not_a_gap() -> None:
    found = [arrived("MPS-2026-000001", NOW - 5 * MINUTE), *whole("MPS-2026-000002", "trigger", T)]
    report = run(found)
    assert report.gaps == ()
    assert report.exit_status == 0
    assert [g.incident_id for g in report.in_flight] == ["MPS-2026-000001"]
    assert report.as_dict()["in_flight"]["no_decision"] == 1
    assert run(found, grace=timedelta(minutes=4)).exit_status == 1


def test_what_began_before_since_is_neither_a_gap_nor_counted() -> None:
    before = SINCE - timedelta(hours=1)
    found = [
        arrived("MPS-2026-000001", before),  # no decision, but opened before the window
        arrived("MPS-2026-000002", before),
        judged("MPS-2026-000002", "trigger", before + MINUTE),
        raised("MPS-2026-000002", SINCE + MINUTE),  # its task, in the window: fine
        judged("MPS-2026-000003", "trigger", SINCE + MINUTE),  # its receipt before: not read
        raised("MPS-2026-000003", SINCE + 2 * MINUTE),
    ]
    report = run(found)
    assert report.gaps == () and report.in_flight == ()
    assert [(d.received, d.decided, d.tasks_raised) for d in report.days] == [(0, 1, 2)]


def test_one_force_only() -> None:
    report = run(planted(), force="WMP")
    assert {d.force for d in report.days} == {"WMP"}
    assert [g.incident_id for g in report.gaps] == ["WMP-2026-000004"]


def test_no_receipt_no_gap() -> None:
    report = run([])
    assert (report.days, report.gaps, report.exit_status) == ((), (), 0)
    assert "(no receipts)" in render_text(report)
    assert "No gaps." in render_text(report)


def test_the_text_shows_counts_and_gap_references_and_nothing_personal() -> None:
    text = render_text(run(planted(), unreadable=2))
    lines = text.splitlines()
    assert lines[0].startswith("Receipts since 2026-07-30 00:00, read at 2026-07-31 10:00")
    assert lines[2].split() == [
        "force",
        "day",
        "received",
        "rejected",
        "decided",
        "tasks",
        "raised",
        "acknowledged",
    ]
    assert lines[3].split() == ["MPS", "2026-07-30", "4", "0", "3", "1", "1"]
    assert "Incidents without a decision: 1" in lines
    assert "Triggers without an investigation task: 1" in lines
    assert "Reviews without a task: 1" in lines
    gap = next(line for line in lines if "MPS-2026-000002" in line).split()
    assert gap[:3] == ["MPS", "MPS-2026-000002", "1"] and gap[-2:] == ["1d", "00h"]
    assert "Unreadable records on the receipts topic (skipped): 2" in lines
    assert lines[-1] == "Gaps found."
    for personal in ("Imelda", "Quarrington", "Barnaby", "1996-03-14", "N8 7DW", "9434765919"):
        assert personal not in text


def test_the_json_says_the_same() -> None:
    found = json.loads(json.dumps(run(planted()).as_dict()))
    assert found["since"] == SINCE.isoformat() and found["timezone"] == LONDON
    assert found["days"][0] == {
        "force": "MPS",
        "day": "2026-07-30",
        "received": 4,
        "rejected": 0,
        "decided": 3,
        "tasks_raised": 1,
        "acknowledged": 1,
    }
    [gap] = found["gaps"]["trigger_without_task"]
    assert gap["incident_id"] == "MPS-2026-000003" and gap["revision"] == 1
    assert gap["age_seconds"] == int((NOW - (T + 21 * MINUTE)).total_seconds())
    assert {k: len(v) for k, v in found["gaps"].items()} == {
        "no_decision": 1,
        "trigger_without_task": 1,
        "review_without_task": 1,
    }


def test_an_age_is_shown_in_its_two_largest_units() -> None:
    assert [age(timedelta(seconds=s)) for s in (40, 720, 7500, 273600)] == [
        "40s",
        "12m",
        "2h 05m",
        "3d 04h",
    ]


def test_the_example_in_the_docs_is_what_these_receipts_give() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "reconcile.md").read_text()
    report = run(planted(), unreadable=2)
    example = doc.split("```text\n", 1)[1].split("```", 1)[0]
    assert example == render_text(report)
    shown = json.loads(doc.split("```json\n", 1)[1].split("```", 1)[0])
    assert shown == {**report.as_dict(), "days": report.as_dict()["days"][:1]}


# The command line's own parsing and refusals.


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-07-30", SINCE),
        ("2026-01-15", datetime(2026, 1, 15, tzinfo=UTC)),  # winter: London is UTC
        ("2026-07-30T06:30", datetime(2026, 7, 30, 5, 30, tzinfo=UTC)),
        ("2026-07-30T06:30:00+00:00", datetime(2026, 7, 30, 6, 30, tzinfo=UTC)),
    ],
)
def test_since_is_a_date_or_a_time_where_the_council_is(text: str, expected: datetime) -> None:
    assert since_of(text, LONDON) == expected


def test_a_grace_is_a_number_and_a_unit() -> None:
    assert grace_of("15m") == grace_of("15") == timedelta(minutes=15)
    assert grace_of("2h") == timedelta(hours=2) and grace_of("90s") == timedelta(seconds=90)


def test_records_that_are_not_receipts_are_counted_not_fatal() -> None:
    good = arrived("MPS-2026-000001", T).model_dump_json().encode()
    hostile = json.dumps({"schema": "receipt/1", "name": HOSTILE_NAME}).encode()
    found, unreadable = parse([good, b"not json", None, hostile, good])
    assert [r.incident_id for r in found] == ["MPS-2026-000001"] * 2
    assert unreadable == 3


@pytest.mark.parametrize(
    "argv",
    [
        ["reconcile"],  # --since is required
        ["reconcile", "--since", "2026-07-30", "--grace", "soon"],
        ["reconcile", "--since", "yesterday", "--bootstrap", "127.0.0.1:1"],
    ],
)
def test_a_usage_error_exits_2_before_any_connection(argv: list[str]) -> None:
    try:
        status = main(argv)
    except SystemExit as exit_:  # argparse's own refusals
        status = int(exit_.code or 0)
    assert status == 2


def test_no_cluster_named_exits_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    assert main(["reconcile", "--since", "2026-07-30"]) == 2
