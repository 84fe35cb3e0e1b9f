"""The ingress on a real broker: 202 only once written, dead letters that replay, 503 when down."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.kafka.broker import free_port
from connectors.kafka.dead_letters import replay_dead_letters
from connectors.kafka.topics import ensure_topics
from streams.config.topics import H_REASON, H_REASON_CLASS, H_SOURCE_TOPIC
from tests.support.ingress import Live, incident_bytes, live_ingress
from tests.support.topics import read_topic

pytestmark = pytest.mark.integration
CANARY = "Zebedee-Canary-7731"


@pytest.fixture
def live(broker: str, tmp_path: Path) -> Iterator[Live]:
    with live_ingress(broker, tmp_path) as running:
        ensure_topics(running.settings, broker)
        yield running


def test_202_means_the_notification_is_on_the_feed_keyed_by_incident(
    live: Live, broker: str
) -> None:
    body = incident_bytes("MPS", 42)
    response = live.post(body)
    assert response.status_code == 202
    [record] = read_topic(broker, live.settings.topic("police-incidents"))
    assert (record.key, record.value) == (b"MPS-2026-000042", body)


def test_an_invalid_notification_is_dead_lettered_and_replays_to_the_feed(
    live: Live, broker: str
) -> None:
    incident = json.loads(incident_bytes("MPS", 7))
    incident["dash_risk"] = CANARY
    body = json.dumps(incident).encode()
    response = live.post(body)
    assert response.status_code == 422
    assert "dash_risk" in response.text and CANARY not in response.text
    [letter] = read_topic(broker, live.settings.topic("dead-letter"))
    headers = dict(letter.headers)
    assert letter.value == body
    assert headers[H_REASON_CLASS] == b"schema"
    assert CANARY.encode() not in headers[H_REASON]
    assert headers[H_SOURCE_TOPIC] == live.settings.topic("police-incidents").encode()
    assert read_topic(broker, live.settings.topic("police-incidents")) == []
    assert replay_dead_letters(live.settings, broker) == 1
    [replayed] = read_topic(broker, live.settings.topic("police-incidents"))
    assert replayed.value == body


def test_a_broker_that_is_down_gives_503_with_retry_after(tmp_path: Path) -> None:
    nobody = f"127.0.0.1:{free_port()}"
    with live_ingress(nobody, tmp_path, timeout_s=1.0) as running:
        response = running.post(incident_bytes())
        assert response.status_code == 503
        assert int(response.headers["Retry-After"]) > 0
        value = running.metrics.registry.get_sample_value(
            "dvtrigger_ingress_broker_unavailable_total"
        )
        assert value == 1
