"""File drop on the session broker: JSON lines and CSV published, a malformed line dead-lettered,
a re-drop not republished, and a drop killed (SIGKILL) mid-file that resumes exactly once."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition
from prometheus_client import CollectorRegistry

from connectors.file_drop.drop import Drop, Topics
from connectors.file_drop.feed import H_FILE_DIGEST, H_FILE_LINE
from connectors.file_drop.folder import Folder
from connectors.file_drop.kafka_feed import KafkaFeed
from connectors.file_drop.metrics import DropMetrics
from connectors.file_drop.records import digest
from connectors.file_drop.watch import poll_once
from connectors.kafka.broker import free_port
from connectors.kafka.dead_letters import replay_dead_letters
from connectors.kafka.topics import ensure_topics
from streams.config.settings import Settings
from streams.config.topics import H_REASON_CLASS, H_SOURCE_TOPIC
from tests.support.samples import sample_incident
from tests.support.stack import wait_for
from tests.support.topics import read_topic
from tests.unit.test_file_drop import check_feed_contract

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
NAME = "Quarrington"


def incident(number: int) -> bytes:
    return sample_incident(f"MPS-2026-{number:06d}").model_dump_json(by_alias=True).encode()


@pytest.fixture
def site(broker: str) -> Settings:
    """Settings with topics of their own on the session broker."""
    name = f"fd{uuid.uuid4().hex[:8]}"
    settings = Settings(app_id=name, topic_prefix=f"{name}.", topic_partitions=3)
    ensure_topics(settings, broker)
    return settings


@pytest.fixture
def feed(site: Settings, broker: str) -> Iterator[KafkaFeed]:
    kafka = KafkaFeed(site, broker)
    yield kafka
    kafka.close()


def make_drop(root: Path, feed: KafkaFeed, site: Settings) -> Drop:
    return Drop(
        folder=Folder(root),
        feed=feed,
        topics=Topics(site.topic("police-incidents"), site.topic("dead-letter")),
        batch_size=3,
        max_file_bytes=10_000_000,
        metrics=DropMetrics(CollectorRegistry()),
        now=lambda: datetime.now(UTC),
    )


def lines_of(records: list[Any], file_digest: str) -> list[int]:
    found = []
    for record in records:
        headers = dict(record.headers)
        if headers.get(H_FILE_DIGEST) == file_digest.encode():
            found.append(int(headers[H_FILE_LINE]))
    return sorted(found)


def receipt(root: Path, name: str) -> dict[str, Any]:
    return json.loads((root / "receipts" / f"{name}.receipt.json").read_text())  # type: ignore[no-any-return]


def test_json_lines_are_published_and_a_malformed_line_dead_lettered(
    tmp_path: Path, feed: KafkaFeed, site: Settings, broker: str
) -> None:
    data = b"\n".join([incident(1), incident(2), f"victim {NAME}".encode(), incident(3)])
    (tmp_path / "batch.jsonl").write_bytes(data)
    assert poll_once(make_drop(tmp_path, feed, site), keep_days=14)
    police = read_topic(broker, site.topic("police-incidents"))
    assert lines_of(police, digest(data)) == [1, 2, 4]
    assert sorted(r.key for r in police) == [b"MPS-2026-00000%d" % n for n in (1, 2, 3)]
    (dead,) = read_topic(broker, site.topic("dead-letter"))
    headers = dict(dead.headers)
    assert headers[H_FILE_LINE] == b"3" and headers[H_REASON_CLASS] == b"not_json"
    assert headers[H_SOURCE_TOPIC] == site.topic("police-incidents").encode()
    written = receipt(tmp_path, "batch.jsonl")
    assert (written["outcome"], written["published"]) == ("published", 3)
    assert [r["line"] for r in written["refused"]] == [3]
    assert (tmp_path / "done" / "batch.jsonl").exists()
    assert replay_dead_letters(site, broker) == 1  # after a fix, it goes where it was going
    replayed = read_topic(broker, site.topic("police-incidents"))
    assert [r.value for r in replayed if r.value == f"victim {NAME}".encode()] == [dead.value]


def test_a_csv_file_is_published_as_the_contract_messages(
    tmp_path: Path, feed: KafkaFeed, site: Settings, broker: str
) -> None:
    header = [
        "incident_id",
        "force",
        "notification_id",
        "revision",
        "occurred_at",
        "reported_at",
        "location.lines.0",
        "location.postcode",
        "dash_risk",
        "persons.0.person_ref",
        "persons.0.role",
        "persons.0.pregnant",
        "persons.0.age_years",
    ]
    times = ["2026-07-30T06:22:00Z", "2026-07-30T09:22:00Z"]
    rest = ["1 Mill Lane", "", "high", "P1", "victim", "true", "30"]
    rows = [[f"CSV-2026-{n}", "CSV", str(uuid.uuid4()), "1", *times, *rest] for n in (1, 2)]
    out = io.StringIO()
    csv.writer(out).writerows([header, *rows])
    (tmp_path / "export.csv").write_text(out.getvalue())
    assert poll_once(make_drop(tmp_path, feed, site), keep_days=14)
    police = read_topic(broker, site.topic("police-incidents"))
    assert sorted(r.key for r in police) == [b"CSV-2026-1", b"CSV-2026-2"]
    first = json.loads(next(r.value for r in police if r.key == b"CSV-2026-1"))
    assert first["location"] == {"lines": ["1 Mill Lane"], "postcode": None}
    assert first["persons"] == [
        {"person_ref": "P1", "role": "victim", "pregnant": True, "age_years": 30}
    ]
    assert receipt(tmp_path, "export.csv")["incident_ids"] == ["CSV-2026-1", "CSV-2026-2"]


def test_a_file_dropped_again_is_not_published_again(
    tmp_path: Path, feed: KafkaFeed, site: Settings, broker: str
) -> None:
    data = b"\n".join(incident(n) for n in range(1, 6))
    drop = make_drop(tmp_path, feed, site)
    (tmp_path / "batch.jsonl").write_bytes(data)
    assert poll_once(drop, keep_days=14)
    (tmp_path / "resent.jsonl").write_bytes(data)
    assert poll_once(drop, keep_days=14)
    police = read_topic(broker, site.topic("police-incidents"))
    assert lines_of(police, digest(data)) == [1, 2, 3, 4, 5]
    again = receipt(tmp_path, "resent.jsonl")
    assert (again["outcome"], again["published"]) == ("duplicate", 0)


def test_the_kafka_feed_keeps_the_feed_contract(feed: KafkaFeed, site: Settings) -> None:
    """The read-back a restart relies on, on a real broker (the fake keeps it too)."""
    check_feed_contract(feed, site.topic("police-incidents"))


def drop_process(
    folder: Path, site: Settings, broker: str, log: Path, once: bool = True, **settings: str
) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DVTRIGGER_")}
    env |= {
        "PYTHONPATH": str(ROOT),
        "DVTRIGGER_TOPIC_PREFIX": site.topic_prefix,
        "DVTRIGGER_FILE_DROP__BATCH_SIZE": "10",
        **settings,
    }
    command = [sys.executable, "-m", "connectors.cli", "file-drop", *(["--once"] if once else [])]
    command += ["--dir", str(folder), "--bootstrap", broker]
    return subprocess.Popen(command, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)


def http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""
    except OSError:
        return 0, ""


def test_the_watching_drop_picks_up_a_renamed_file_and_serves_its_metrics(
    tmp_path: Path, site: Settings, broker: str
) -> None:
    folder, port = tmp_path / "drop", free_port()
    folder.mkdir()
    settings = {"DVTRIGGER_FILE_DROP__WEB_PORT": str(port)}
    settings["DVTRIGGER_FILE_DROP__POLL_INTERVAL_S"] = "0.2"
    process = drop_process(folder, site, broker, tmp_path / "drop.log", once=False, **settings)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for("/healthz", lambda: http_get(f"{base}/healthz")[0] == 200)
        partial = folder / "batch.jsonl.partial"
        partial.write_bytes(b"\n".join(incident(n) for n in (1, 2)))
        partial.rename(folder / "batch.jsonl")
        counted = 'dvtrigger_file_drop_files_total{outcome="published"} 1.0'
        wait_for("the file counted", lambda: counted in http_get(f"{base}/metrics")[1])
        assert "dvtrigger_file_drop_lines_published_total 2.0" in http_get(f"{base}/metrics")[1]
        assert receipt(folder, "batch.jsonl")["incident_ids"] == [
            "MPS-2026-000001",
            "MPS-2026-000002",
        ]
    finally:
        process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0


class Tail:
    """The drop's two topics, read as they grow."""

    def __init__(self, broker: str, topics: list[str]) -> None:
        self.consumer = KafkaConsumer(bootstrap_servers=broker, enable_auto_commit=False)
        partitions = [
            TopicPartition(t, p) for t in topics for p in self.consumer.partitions_for_topic(t)
        ]
        self.consumer.assign(partitions)
        self.consumer.seek_to_beginning(*partitions)
        self.partitions = partitions
        self.lines: Counter[int] = Counter()

    def catch_up(self) -> Counter[int]:
        end = self.consumer.end_offsets(self.partitions)
        while any(self.consumer.position(tp) < end[tp] for tp in self.partitions):
            for batch in self.consumer.poll(timeout_ms=500).values():
                self.lines.update(int(dict(r.headers)[H_FILE_LINE]) for r in batch)
        return self.lines


@pytest.fixture
def tail(site: Settings, broker: str) -> Iterator[Tail]:
    reader = Tail(broker, [site.topic("police-incidents"), site.topic("dead-letter")])
    yield reader
    reader.consumer.close()


def checkpoint(folder: Path) -> dict[str, Any] | None:
    found = list((folder / "state").glob("*.json"))
    return json.loads(found[0].read_text()) if found else None


def test_a_drop_killed_mid_file_resumes_and_every_line_lands_once(
    tmp_path: Path, site: Settings, broker: str, tail: Tail
) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    lines = [incident(n) for n in range(1, 601)]
    lines[99] = f"victim {NAME}".encode()  # line 100 is dead-lettered
    data = b"\n".join(lines) + b"\n"
    (folder / "batch.jsonl").write_bytes(data)
    log = tmp_path / "drop.log"
    process = drop_process(folder, site, broker, log)
    killed_at = None
    try:
        # Freeze the drop at moments until it is caught with lines on the topics that its
        # checkpoint does not cover yet (acknowledged or in flight, not checkpointed): kill it.
        while process.poll() is None:
            process.send_signal(signal.SIGSTOP)
            state = checkpoint(folder)
            landed = tail.catch_up()
            if state and state["next_line"] > 200 and max(landed) >= state["next_line"]:
                process.send_signal(signal.SIGKILL)
                killed_at = state["next_line"]
                break
            process.send_signal(signal.SIGCONT)
            time.sleep(0.002)  # let it run a little; not an assertion
        process.wait()
    finally:
        if process.poll() is None:
            process.kill()
    assert killed_at is not None, "the drop finished before it could be caught mid-batch"
    assert process.returncode == -signal.SIGKILL
    assert (folder / "batch.jsonl").exists() and not list((folder / "receipts").iterdir())
    restarted = drop_process(folder, site, broker, log)
    assert restarted.wait(timeout=120) == 0, log.read_text()[-2000:]
    landed = tail.catch_up()
    assert sorted(landed) == list(range(1, 601)), "a line is missing"
    assert set(landed.values()) == {1}, f"lines twice: {[n for n, c in landed.items() if c > 1]}"
    written = receipt(folder, "batch.jsonl")
    assert (written["published"], [r["line"] for r in written["refused"]]) == (599, [100])
    (resumed,) = written["resumed"]
    assert resumed["from_line"] == killed_at and resumed["already_on_topics"] > 0
    assert (folder / "done" / "batch.jsonl").exists()
