"""What the flows count: outcomes by rule, dead letters, freshness and the feeds' newest times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from schemas.decision import Decision, DecisionSubject
from streams.domain.register.codec import encode
from streams.telemetry.labels import rule_of, topic_role
from streams.telemetry.metrics import FRESHNESS_BUCKETS, Metrics
from streams.telemetry.scrape_gauge import ScrapeGauge
from tests.support.fakes import (
    FakeTable,
    birth,
    fake_event,
    make_worker,
    register_event,
    register_of,
    sample_value,
)
from tests.support.samples import sample_incident

RECORDED = datetime(2026, 2, 12, 9, 0, tzinfo=UTC)


def subject(basis: str = "register", kind: str = "child", *reasons: str) -> DecisionSubject:
    return DecisionSubject.model_validate(
        {"basis": basis, "kind": kind, "outcome": "trigger", "reasons": list(reasons)}
    )


@pytest.mark.parametrize(
    ("decided", "rule"),
    [
        (subject("register", "child", "in scope: a child", "clause 1: carer H1 is the victim P1"),
         "carer_involved"),
        (subject("register", "unborn", "in scope", "clause 2: the incident happened at home: x",
                 "clause 1: carer H1 is the suspect P2: names near"), "incident_at_home"),
        (subject("register", "child", "in scope", "clause 3: the victim P1 lives at the home"),
         "resident_involved"),
        (subject("police_report", "unborn", "police report: the victim P1 is reported pregnant"),
         "police_report_pregnant"),
        (subject("police_report", "child", "police report: the child P3 is under 12 months"),
         "police_report_infant"),
        (subject("register", "child", "in scope", "clause 9: a clause not yet written"), "unknown"),
        (subject("register", "child"), "unknown"),
    ],
)  # fmt: skip
def test_the_rule_of_a_subject_is_the_clause_of_its_strongest_evidence(
    decided: DecisionSubject, rule: str
) -> None:
    assert rule_of(decided) == rule


@pytest.mark.parametrize(
    ("topic", "role"),
    [
        ("dvtrigger.police-incidents", "police-incidents"),
        ("t1a2b3c4.incidents", "incidents"),
        ("dvtrigger.task-retries", "task-retries"),
        ("dvtrigger-incident-state-changelog", None),
    ],
)
def test_a_topic_is_known_by_its_role_whatever_its_prefix(topic: str, role: str | None) -> None:
    assert topic_role(topic) == role


async def test_a_decision_counts_each_subject_by_outcome_and_rule() -> None:
    w = make_worker(index=register_of(birth("C1"), birth("C2")))
    incident = sample_incident()
    await w.decide.handle(fake_event(incident.model_dump_json().encode(), key=b"MPS-2026-000001"))
    assert sample_value(w, "dvtrigger_decisions_total", decision="trigger") == 1
    counted = sample_value(
        w, "dvtrigger_subject_outcomes_total", outcome="trigger", rule="carer_involved"
    )
    assert counted == 2


def test_a_decision_without_subjects_counts_no_outcome() -> None:
    metrics = Metrics(CollectorRegistry())
    metrics.count_decision(
        Decision(incident_id="X-1", revision=1, decision="no_action", subjects=[])
    )
    text = generate_latest(metrics.registry).decode()
    assert 'dvtrigger_decisions_total{decision="no_action"} 1.0' in text
    assert "dvtrigger_subject_outcomes_total{" not in text


def test_freshness_to_task_is_by_task_kind_with_a_bucket_at_the_fifteen_minute_slo() -> None:
    reported = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    metrics = Metrics(CollectorRegistry(), clock=lambda: reported.timestamp() + 840)
    metrics.observe_task_raised("child_protection_investigation", reported)
    metrics.observe_task_raised("match_review", reported - timedelta(hours=1))
    assert 900 in FRESHNESS_BUCKETS

    def bucket(kind: str) -> float | None:
        return metrics.registry.get_sample_value(
            "dvtrigger_seconds_reported_to_task_bucket", {"kind": kind, "le": "900.0"}
        )

    assert (bucket("investigation"), bucket("review")) == (1, 0)


async def test_every_dead_letter_is_counted_by_source_role_and_reason_class() -> None:
    w = make_worker()
    await w.ingest.receive(fake_event(b"{not json", topic="t9.police-incidents"), [], [])
    await w.register.apply(fake_event(b"", topic="t9.register-events"))
    await w.dead_letters.send(fake_event(b"x", topic="t9.incidents"), "processing_error", "E")
    assert len(w.topics.dead_letter.sent) == 3
    for source, reason in [
        ("police-incidents", "not_json"),
        ("register-events", "empty"),
        ("incidents", "processing_error"),
    ]:
        assert sample_value(w, "dvtrigger_dead_letters_total", source=source, reason=reason) == 1
    assert sample_value(w, "dvtrigger_incidents_rejected_total", reason="not_json") == 1


async def test_the_newest_notification_is_kept_whatever_order_they_come_in() -> None:
    w = make_worker()
    newest = "dvtrigger_police_newest_notification_timestamp_seconds"
    assert w.metrics.registry.get_sample_value(newest) is None  # none received yet
    later = sample_incident(incident_id="MPS-2026-000002")
    earlier = sample_incident(incident_id="MPS-2026-000003")
    earlier = earlier.model_copy(update={"reported_at": later.reported_at - timedelta(hours=1)})
    for incident in (later, earlier):
        await w.ingest.receive(fake_event(incident.model_dump_json().encode()), [], [])
    assert sample_value(w, newest) == later.reported_at.timestamp()


async def test_the_newest_register_event_and_its_age_at_scrape() -> None:
    w = make_worker()
    now = [RECORDED.timestamp() + 600]
    w.metrics.clock = lambda: now[0]
    age = "dvtrigger_register_newest_event_age_seconds"
    assert w.metrics.registry.get_sample_value(age) is None  # nothing known: no sample
    for hours in (0, 2):  # the newer first; the older after it changes nothing
        at = (RECORDED - timedelta(hours=hours)).isoformat()
        event = register_event("C1", "birth_registered", recorded_at=at)
        await w.register.apply(
            fake_event(event.model_dump_json().encode(), topic="x.register-events")
        )
    newest = "dvtrigger_register_newest_event_timestamp_seconds"
    assert sample_value(w, newest) == RECORDED.timestamp()
    assert sample_value(w, age) == 600
    now[0] += 60
    assert sample_value(w, age) == 660  # grows while the feed is silent


async def test_a_worker_knows_the_newest_register_event_after_recovering_the_register() -> None:
    register = register_of(
        register_event("C1", "birth_registered", recorded_at=RECORDED.isoformat()),
        register_event("C2", "birth_registered", recorded_at="2026-01-01T00:00:00+00:00"),
    )
    subjects = FakeTable()
    subjects.update({ref.encode(): encode(register.get(ref)) for ref in ("C1", "C2")})  # type: ignore[arg-type]
    w = make_worker(subjects=subjects)
    await w.register.rebuild_index()
    newest = "dvtrigger_register_newest_event_timestamp_seconds"
    assert sample_value(w, newest) == RECORDED.timestamp()


def test_a_scrape_gauge_whose_source_fails_answers_with_no_samples() -> None:
    registry = CollectorRegistry()
    gauge = ScrapeGauge("dvtrigger_test_gauge", "A gauge for this test.", ["topic"], registry)
    gauge.source = lambda: {("incidents",): 3.0}
    assert registry.get_sample_value("dvtrigger_test_gauge", {"topic": "incidents"}) == 3.0

    def broken() -> dict[tuple[str, ...], float]:
        raise RuntimeError("consumer gone")

    gauge.source = broken
    assert "dvtrigger_test_gauge{" not in generate_latest(registry).decode()


def test_label_values_of_a_decision_never_echo_its_subjects() -> None:
    metrics = Metrics(CollectorRegistry())
    refs = ("C-CANARY-1", "P-CANARY-2")
    metrics.count_decision(
        Decision.model_validate(
            {
                "incident_id": "CANARY-INC-1",
                "revision": 1,
                "decision": "review",
                "subjects": [
                    {"basis": "register", "kind": "child", "subject_ref": refs[0],
                     "outcome": "review", "reasons": [f"clause 1: carer {refs[1]} is the victim"]},
                ],
            }
        )
    )  # fmt: skip
    text = generate_latest(metrics.registry).decode()
    assert "CANARY" not in text
    assert 'dvtrigger_subject_outcomes_total{outcome="review",rule="carer_involved"} 1.0' in text
