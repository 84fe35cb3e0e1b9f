"""Publisher: each line is validated; valid ones are produced with their key, refused ones named."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from connectors.kafka.publish import lines, publish, publish_dicts
from tests.support.fakes import FakeProducer, register_body
from tests.support.samples import sample_incident

TOPIC = "dvtrigger.police-incidents"
NAME, NHS = "Zebedee Quuxley", "9434765919"


def incident_line(incident_id: str = "MPS-2026-000001", **person: Any) -> bytes:
    body = json.loads(sample_incident(incident_id).model_dump_json())
    body["persons"][0].update(person)
    return json.dumps(body).encode()


def run(feed: Any, *raw: bytes) -> tuple[Any, FakeProducer]:
    kafka = FakeProducer()
    report = publish(feed, enumerate(raw, start=1), TOPIC, kafka)  # type: ignore[arg-type]
    return report, kafka


def test_valid_incidents_are_produced_keyed_by_incident() -> None:
    first, second = incident_line("MPS-2026-000001"), incident_line("WMP-2026-000777")
    report, kafka = run("incidents", first, second)
    assert report.produced == 2 and report.rejected == []
    assert kafka.captured.sent == [
        (TOPIC, b"MPS-2026-000001", first),
        (TOPIC, b"WMP-2026-000777", second),
    ]
    assert kafka.captured.flushed == 1


def test_valid_register_events_are_produced_keyed_by_subject() -> None:
    raw = json.dumps(register_body("C0042", "birth_registered")).encode()
    report, kafka = run("register", raw)
    assert report.produced == 1
    assert kafka.captured.sent == [(TOPIC, b"C0042", raw)]


def test_invalid_lines_are_reported_by_number_and_not_produced() -> None:
    good = incident_line()
    bad_schema = incident_line(given_name=NAME, nhs_number=NHS[:-1] + "X")
    not_json = f"victim {NAME} NHS {NHS}".encode()
    report, kafka = run("incidents", good, bad_schema, not_json, b"", good)
    assert [number for number, _ in report.rejected] == [2, 3, 4]
    reasons = [reason for _, reason in report.rejected]
    assert reasons[0].startswith("schema:") and "persons.0.nhs_number" in reasons[0]
    assert reasons[1].startswith("not_json:")
    assert reasons[2].startswith("empty:")
    for reason in reasons:
        assert NAME not in reason and NHS not in reason and NHS[:-1] not in reason
    assert report.produced == 2
    assert [value for _, _, value in kafka.captured.sent] == [good, good]


def test_a_message_for_the_other_feed_is_refused() -> None:
    report, kafka = run("register", incident_line())
    assert [(n, r.split(":")[0]) for n, r in report.rejected] == [(1, "schema")]
    assert kafka.captured.sent == []
    assert report.produced == 0


def test_lines_keep_their_numbers_and_skip_blanks(tmp_path: Path) -> None:
    path = tmp_path / "feed.jsonl"
    path.write_bytes(incident_line() + b"\n\n   \n" + b"not json\r\n")
    assert list(lines(path)) == [(1, incident_line()), (4, b"not json")]
    report, _ = run("incidents", *(raw for _, raw in lines(path)))
    assert report.produced == 1 and len(report.rejected) == 1


def test_publish_dicts_numbers_from_one() -> None:
    kafka = FakeProducer()
    good = json.loads(incident_line())
    report = publish_dicts("incidents", [{"schema": "nope"}, good], TOPIC, kafka)  # type: ignore[arg-type]
    assert [n for n, _ in report.rejected] == [1]
    assert report.produced == 1
    assert kafka.captured.sent[0][1] == b"MPS-2026-000001"


def test_a_deeply_nested_line_is_reported_not_fatal() -> None:
    report, _ = run("incidents", incident_line(), b"[" * 200_000, incident_line())
    assert [n for n, _ in report.rejected] == [2]
    assert report.produced == 2
