"""The duty inbox's own metrics, worked out from its SQLite tasks at scrape, on a fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import httpx
from prometheus_client import CollectorRegistry

from connectors.duty_inbox import create_app
from connectors.duty_inbox.metrics import InboxMetrics
from connectors.duty_inbox.store import TaskStore
from streams.domain.ports.task_outcomes import Outcome
from tests.support.duty_inbox import add_client, bearer, close_task
from tests.support.samples import OCCURRED_AT, personal_data_in, sample_raise_task


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


START = OCCURRED_AT + timedelta(hours=1)  # every sample task is due 24 h after OCCURRED_AT


def value(metrics: InboxMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def inbox(tmp_path: Path) -> tuple[TaskStore, InboxMetrics, Clock]:
    clock = Clock(START)
    store = TaskStore(tmp_path / "inbox.sqlite3", clock)
    return store, InboxMetrics(store, CollectorRegistry(), clock), clock


def test_an_empty_inbox_exports_zero_for_each_kind(tmp_path: Path) -> None:
    _, metrics, _ = inbox(tmp_path)
    assert value(metrics, "dvtrigger_duty_inbox_review_queue_depth") == 0
    for kind in ("investigation", "review"):
        assert value(metrics, "dvtrigger_duty_inbox_tasks_unacknowledged", kind=kind) == 0
        assert (
            value(metrics, "dvtrigger_duty_inbox_oldest_unacknowledged_age_seconds", kind=kind) == 0
        )
        assert value(metrics, "dvtrigger_duty_inbox_tasks_overdue", kind=kind) == 0


def test_counts_follow_the_duty_team_working_the_tasks(tmp_path: Path) -> None:
    store, metrics, clock = inbox(tmp_path)
    first = store.raise_task(sample_raise_task("MPS-1", "C1")).task_id  # investigation, at START
    clock.now = START + timedelta(minutes=10)
    store.raise_task(sample_raise_task("MPS-2", "C2"))
    done = store.raise_task(sample_raise_task("MPS-3", "C3")).task_id
    review = store.raise_task(sample_raise_task("MPS-4", "C4", outcome="review")).task_id
    store.raise_task(sample_raise_task("MPS-5", "C5", outcome="review"))
    store.acknowledge(first)
    close_task(store, done)
    store.acknowledge(review)
    clock.now = START + timedelta(minutes=30)

    assert value(metrics, "dvtrigger_duty_inbox_tasks_unacknowledged", kind="investigation") == 1
    assert value(metrics, "dvtrigger_duty_inbox_tasks_unacknowledged", kind="review") == 1
    assert value(metrics, "dvtrigger_duty_inbox_review_queue_depth") == 2  # acknowledged counts
    oldest = "dvtrigger_duty_inbox_oldest_unacknowledged_age_seconds"
    assert value(metrics, oldest, kind="investigation") == 20 * 60  # MPS-2, not the acked MPS-1

    close_task(store, review)
    assert value(metrics, "dvtrigger_duty_inbox_review_queue_depth") == 1


def test_a_revision_reopens_a_task_and_its_wait_starts_again(tmp_path: Path) -> None:
    store, metrics, clock = inbox(tmp_path)
    task_id = store.raise_task(sample_raise_task("MPS-1", "C1")).task_id
    store.acknowledge(task_id)
    clock.now = START + timedelta(hours=2)
    store.raise_task(sample_raise_task("MPS-1", "C1", revision=2))  # reopened
    clock.now = START + timedelta(hours=2, minutes=5)

    assert value(metrics, "dvtrigger_duty_inbox_tasks_unacknowledged", kind="investigation") == 1
    oldest = "dvtrigger_duty_inbox_oldest_unacknowledged_age_seconds"
    assert value(metrics, oldest, kind="investigation") == 5 * 60


def test_tasks_past_their_due_time_are_overdue_until_closed(tmp_path: Path) -> None:
    store, metrics, clock = inbox(tmp_path)
    late = store.raise_task(sample_raise_task("MPS-1", "C1")).task_id
    due_later = OCCURRED_AT + timedelta(hours=48)
    store.raise_task(sample_raise_task("MPS-2", "C2", due_by=due_later))
    store.raise_task(sample_raise_task("MPS-3", "C3", outcome="review"))
    store.acknowledge(late)  # in hand, but still not done
    overdue = "dvtrigger_duty_inbox_tasks_overdue"
    assert value(metrics, overdue, kind="investigation") == 0

    clock.now = OCCURRED_AT + timedelta(hours=30)
    assert value(metrics, overdue, kind="investigation") == 1
    assert value(metrics, overdue, kind="review") == 1
    close_task(store, late)
    assert value(metrics, overdue, kind="investigation") == 0


def test_a_due_time_in_another_offset_is_compared_as_a_moment(tmp_path: Path) -> None:
    store, metrics, clock = inbox(tmp_path)
    london = timezone(timedelta(hours=1))
    due = datetime(2026, 7, 30, 10, 0, tzinfo=london)  # 09:00 UTC
    store.raise_task(sample_raise_task("MPS-1", "C1", due_by=due))
    clock.now = datetime(2026, 7, 30, 9, 30, tzinfo=UTC)
    assert value(metrics, "dvtrigger_duty_inbox_tasks_overdue", kind="investigation") == 1


async def test_get_metrics_serves_them_without_personal_data(tmp_path: Path) -> None:
    clock = Clock(datetime(2026, 7, 30, 8, 0, tzinfo=UTC))
    app = create_app(tmp_path / "inbox.sqlite3", clock=clock)
    add_client(tmp_path / "inbox.sqlite3")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://inbox") as client:
        cmd = sample_raise_task()
        headers = {"Idempotency-Key": cmd.idempotency_key, **bearer()}
        raised = await client.post("/api/tasks", content=cmd.model_dump_json(), headers=headers)
        assert raised.status_code == 201
        clock.now += timedelta(minutes=3)
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'dvtrigger_duty_inbox_tasks_unacknowledged{kind="investigation"} 1.0' in text
    assert 'dvtrigger_duty_inbox_oldest_unacknowledged_age_seconds{kind="investigation"} 180.0' in (
        text
    )
    assert personal_data_in(text, cmd) == []
    assert cmd.incident_id not in text and cmd.subject.subject_ref not in text


def test_a_review_found_the_same_family_is_counted_as_an_investigation(tmp_path: Path) -> None:
    store, metrics, clock = inbox(tmp_path)
    review = store.raise_task(sample_raise_task("MPS-1", "C1", outcome="review")).task_id
    store.acknowledge(review)
    store.record_outcome(review, Outcome("same_family", "same home"), "dana")
    clock.now = OCCURRED_AT + timedelta(hours=30)
    overdue = "dvtrigger_duty_inbox_tasks_overdue"
    assert value(metrics, overdue, kind="investigation") == 1
    assert value(metrics, overdue, kind="review") == 0
    assert value(metrics, "dvtrigger_duty_inbox_review_queue_depth") == 0
