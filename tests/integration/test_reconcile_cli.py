"""`dvtrigger reconcile` on the session broker: planted gaps found from the receipts topic.

Receipts are stamped with their own time, some before `--since`. Apache Kafka seeks past
those; the embedded Tansu looks a time up by when records arrived (all of them just now),
so it hands them over and `reconcile` leaves them out by their time: the report is the same.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from kafka import KafkaProducer

from connectors.cli.main import main
from connectors.cli.reconcile import read_since
from connectors.kafka.broker import free_port
from connectors.kafka.topics import ensure_topics
from schemas.receipt import Receipt
from streams.config.settings import Settings
from tests.support.receipts import MINUTE, acknowledged, arrived, judged, raised, whole
from tests.support.topics import site_settings

pytestmark = pytest.mark.integration


#: How far back `--since` is; receipts three hours old are past the grace, two hours before
#: `--since` outside the window.
WINDOW = timedelta(days=1)
AGO = timedelta(hours=3)
BEFORE = WINDOW + timedelta(hours=2)


def now() -> datetime:
    """The test's clock, read as the test runs (not when the module is read)."""
    return datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def site(monkeypatch: pytest.MonkeyPatch, broker: str) -> Settings:
    """Settings of a site of its own on the session broker, its topics created."""
    settings = site_settings(monkeypatch, broker, f"reconcile-{uuid.uuid4().hex[:8]}")
    ensure_topics(settings, broker)
    return settings


def planted(at: datetime) -> list[Receipt]:
    """Receipts on both sides of `--since`: one gap of each kind, and none made up."""
    t, since, before = at - AGO, at - WINDOW, at - BEFORE
    return [
        *whole("MPS-2026-000001", "trigger", t),
        arrived("MPS-2026-000002", t),  # no decision
        arrived("MPS-2026-000003", t),
        judged("MPS-2026-000003", "trigger", t + MINUTE),  # no task
        *whole("WMP-2026-000005", "review", t),
        arrived("WMP-2026-000004", t),
        judged("WMP-2026-000004", "review", t + MINUTE),  # no task
        arrived("MPS-2026-000010", before),  # no decision, but before --since
        arrived("MPS-2026-000011", before),
        judged("MPS-2026-000011", "trigger", before + MINUTE),
        raised("MPS-2026-000011", since + MINUTE),  # decided before --since: no gap
        acknowledged("MPS-2026-000011", since + 2 * MINUTE),
        arrived("MPS-2026-000012", at - MINUTE),  # in flight
        arrived("MPS-2026-000002", t),  # sent twice
    ]


def publish(settings: Settings, bootstrap: str, found: list[Receipt], junk: int = 1) -> None:
    """Each receipt keyed by its incident, stamped with its time; then `junk` bad records."""
    topic = settings.topic("receipts")
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        for receipt in found:
            stamp = int(receipt.at.timestamp() * 1000)
            key = (receipt.incident_id or "").encode()
            producer.send(
                topic, key=key, value=receipt.model_dump_json().encode(), timestamp_ms=stamp
            )
        for _ in range(junk):
            producer.send(topic, key=b"MPS-2026-000002", value=b"not a receipt")
        producer.flush()
    finally:
        producer.close()


def test_the_planted_gaps_are_printed_and_the_exit_status_says_so(
    site: Settings, broker: str, capsys: pytest.CaptureFixture[str]
) -> None:
    at = now()
    publish(site, broker, planted(at))
    assert main(["reconcile", "--since", (at - WINDOW).isoformat()]) == 1
    text = capsys.readouterr().out
    lines = text.splitlines()
    gaps = [line.split()[:3] for line in lines if line.startswith("  ") and "-2026-" in line]
    assert gaps == [
        ["MPS", "MPS-2026-000002", "1"],
        ["MPS", "MPS-2026-000003", "1"],
        ["WMP", "WMP-2026-000004", "1"],
    ]
    assert "In flight (opened less than 15m ago, not gaps): 1 without a decision" in text
    assert "Repeated receipts counted once: 1" in lines
    assert "Unreadable records on the receipts topic (skipped): 1" in lines


def test_json_for_one_force(
    site: Settings, broker: str, capsys: pytest.CaptureFixture[str]
) -> None:
    at = now()
    publish(site, broker, planted(at), junk=0)
    since = (at - WINDOW).isoformat()
    assert main(["reconcile", "--since", since, "--force", "WMP", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert {d["force"] for d in report["days"]} == {"WMP"}
    assert sum(d["received"] for d in report["days"]) == 2
    assert [g["incident_id"] for g in report["gaps"]["review_without_task"]] == ["WMP-2026-000004"]
    assert report["gaps"]["no_decision"] == [] and report["unreadable"] == 0


def test_nothing_missing_exits_0(
    site: Settings, broker: str, capsys: pytest.CaptureFixture[str]
) -> None:
    at = now()
    complete = whole("MPS-2026-000001", "trigger", at - AGO)
    complete.append(arrived("MPS-2026-000002", at - BEFORE))
    publish(site, broker, complete, junk=0)
    assert main(["reconcile", "--since", (at - WINDOW).isoformat()]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == "No gaps."
    rows = [line.split()[2:] for line in out.splitlines() if line.startswith("MPS ")]
    totals = [sum(int(row[i]) for row in rows) for i in range(5)]  # a row a London day
    assert totals == [1, 0, 1, 1, 1]  # the receipt before --since is not counted


def test_no_cluster_exits_2(site: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    unused = f"127.0.0.1:{free_port()}"
    argv = ["reconcile", "--since", "2026-07-30", "--bootstrap", unused, "--timeout", "2"]
    assert main(argv) == 2
    assert "cannot read the receipts" in capsys.readouterr().err


def send_now(bootstrap: str, topic: str, *values: bytes) -> None:
    """Each value on its own, stamped as it is sent."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        for value in values:
            producer.send(topic, key=b"MPS-2026-000001", value=value)
            producer.flush()
    finally:
        producer.close()


def test_the_read_starts_at_since_and_stops_at_the_end(site: Settings, broker: str) -> None:
    topic = site.topic("receipts")
    send_now(broker, topic, b"old 1", b"old 2")
    time.sleep(0.2)
    mark = datetime.now(UTC)
    time.sleep(0.2)
    send_now(broker, topic, b"new 1", b"new 2")
    assert list(read_since(site, broker, topic, mark)) == [b"new 1", b"new 2"]
    everything = [b"old 1", b"old 2", b"new 1", b"new 2"]
    assert list(read_since(site, broker, topic, mark - timedelta(minutes=5))) == everything
    later = datetime.now(UTC) + timedelta(minutes=1)
    assert list(read_since(site, broker, topic, later)) == []
