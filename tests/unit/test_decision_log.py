"""The decision log is written at least once: its readers count each incident revision once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry

from connectors.case_system.memory import InMemoryCaseSystem
from schemas.decision import Decision
from streams.bootstrap import build
from streams.config.settings import Settings
from streams.domain.decision_log import by_revision, latest_by_incident, read_log
from streams.domain.incidents import log_record
from streams.telemetry.metrics import Metrics

DECIDED = datetime(2026, 8, 10, 9, 30, tzinfo=UTC)


def decision(incident_id: str = "MPS-1", revision: int = 1, outcome: str = "no_action") -> Decision:
    return Decision.model_validate(
        {"incident_id": incident_id, "revision": revision, "decision": outcome, "subjects": []}
    )


def logged(record: Decision, seconds: float = 0) -> bytes:
    """The bytes the decide worker logs for `record`, decided `seconds` after DECIDED."""
    return log_record(record, DECIDED + timedelta(seconds=seconds))


def test_a_byte_identical_copy_is_counted_once() -> None:
    value = logged(decision())
    other = logged(decision("MPS-2"))
    kept = by_revision(read_log([value, other, value, value]))
    assert sorted(kept) == [("MPS-1", 1), ("MPS-2", 1)]


def test_one_revision_logged_again_is_counted_once_and_the_later_decision_kept() -> None:
    first = logged(decision(outcome="no_action"))
    again = logged(decision(outcome="trigger"), seconds=30)  # a late re-decision, or a redo
    for order in ([first, again], [again, first]):  # a copy sent again can land late
        kept = by_revision(read_log(order))
        assert list(kept) == [("MPS-1", 1)]
        assert kept[("MPS-1", 1)].decision == "trigger"


def test_revisions_are_counted_apart_and_an_incident_is_decided_by_its_highest() -> None:
    values = [logged(decision(revision=2, outcome="trigger"), 60), logged(decision(), 0)]
    values += [logged(decision(revision=2, outcome="trigger"), 60)]  # the copy
    assert sorted(by_revision(read_log(values))) == [("MPS-1", 1), ("MPS-1", 2)]
    latest = latest_by_incident(read_log(values))
    assert (latest["MPS-1"].revision, latest["MPS-1"].decision) == (2, "trigger")


def test_without_decided_at_the_later_record_in_the_log_is_kept() -> None:
    values = [
        decision().model_dump_json().encode(),
        decision(outcome="review").model_dump_json().encode(),
    ]
    assert by_revision(read_log(values))[("MPS-1", 1)].decision == "review"


def test_no_flow_reads_the_decision_log_so_its_copies_raise_no_task() -> None:
    """Tasks come from task commands, whose copies the idempotency key absorbs
    (`test_task_flow.test_a_task_is_created_then_unchanged_on_redelivery`); the decision log
    is written, never read, by the workers."""
    settings = Settings(app_id="site", register_snapshot_interval_s=0)
    worker = build(settings, InMemoryCaseSystem(), Metrics(CollectorRegistry()))
    read = {topic for agent in worker.app.agents.values() for topic in agent.channel.topics}
    assert read and settings.topic("decisions") not in read
    assert all("decisions" not in flow.CONSUMES for flow in worker.flows())
