"""Ingest flow: forward valid notifications by incident; dead-letter the rest; guard handlers."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from streams.config.topics import (
    H_REASON,
    H_REASON_CLASS,
    H_SOURCE_OFFSET,
    H_SOURCE_PARTITION,
    H_SOURCE_TOPIC,
)
from streams.domain.parsing import MAX_MESSAGE_BYTES
from streams.flows.deadletter import guarded
from streams.flows.ingest import decides_in_place, receive
from streams.flows.wiring import Wiring
from tests.support.fakes import FakeCluster, FakeTopic, fake_event, make_wiring, sample_value
from tests.support.samples import sample_incident

TOPIC = "dvtrigger.police-incidents"
NAME, NHS = "Zebedee Quuxley", "9434765919"


def pretty_incident(**overrides: object) -> bytes:
    """A valid notification as a force might format it: indented, keys in its own order."""
    body = json.loads(sample_incident(**overrides).model_dump_json())
    return json.dumps(dict(reversed(body.items())), indent=2).encode()


def invalid(**person: object) -> bytes:
    body = json.loads(sample_incident().model_dump_json())
    body["persons"][0].update({"given_name": NAME, **person})
    return json.dumps(body).encode()


async def test_a_valid_notification_is_forwarded_by_incident_with_its_bytes() -> None:
    w = make_wiring()
    raw = pretty_incident()
    await receive(w, fake_event(raw, key=b"force-key-1", topic=TOPIC), [])
    (forwarded,) = w.topics.incidents.sent
    assert forwarded.key == b"MPS-2026-000001"
    assert forwarded.value == raw
    assert sample_value(w, "dvtrigger_incidents_received_total") == 1
    assert w.topics.dead_letter.sent == []


async def test_revisions_of_one_incident_share_a_key() -> None:
    w = make_wiring()
    for revision in (1, 2, 3):
        await receive(w, fake_event(pretty_incident(revision=revision), key=None, topic=TOPIC), [])
    assert {m.key for m in w.topics.incidents.sent} == {b"MPS-2026-000001"}
    assert len(w.topics.incidents.sent) == 3


# --- deciding in place ---------------------------------------------------------------------------

INCIDENTS = "dvtrigger.incidents"
KEY = b"MPS-2026-000001"


def with_cluster(police: int = 4, incidents: int = 4, partition_of: int = 2) -> Wiring:
    """A wiring whose consumer sees these partition counts and puts every key on one partition."""
    w = make_wiring()
    counts = {TOPIC: police, INCIDENTS: incidents}
    w.app = SimpleNamespace(consumer=FakeCluster(counts, lambda key: partition_of))  # type: ignore[assignment]
    return w


async def test_a_notification_keyed_by_incident_on_its_partition_is_decided_in_place() -> None:
    w = with_cluster()
    here: list[tuple[object, object]] = []
    event = fake_event(pretty_incident(), key=KEY, topic=TOPIC, partition=2)
    await receive(w, event, here)
    assert w.topics.incidents.sent == []
    ((kept, incident),) = here
    assert kept is event and incident.incident_id == KEY.decode()  # type: ignore[attr-defined]
    assert sample_value(w, "dvtrigger_incidents_routed_total", path="in_place") == 1


@pytest.mark.parametrize(
    ("key", "partition", "police", "incidents"),
    [
        (b"force-key-1", 2, 4, 4),  # keyed by something else
        (None, 2, 4, 4),  # not keyed
        (KEY, 1, 4, 4),  # keyed by incident, but not where the incidents topic puts it
        (KEY, 2, 4, 8),  # the topics are not co-partitioned
    ],
)
async def test_any_other_notification_is_re_keyed_onto_the_incidents_topic(
    key: bytes | None, partition: int, police: int, incidents: int
) -> None:
    w = with_cluster(police, incidents)
    here: list[tuple[object, object]] = []
    await receive(w, fake_event(pretty_incident(), key=key, topic=TOPIC, partition=partition), here)
    assert here == []
    (forwarded,) = w.topics.incidents.sent
    assert forwarded.key == KEY
    assert sample_value(w, "dvtrigger_incidents_routed_total", path="re_keyed") == 1


def test_without_cluster_metadata_a_notification_takes_the_incidents_topic() -> None:
    w = make_wiring()  # its app has no consumer: the metadata cannot be read
    assert not decides_in_place(w, fake_event(b"{}", key=KEY, topic=TOPIC), KEY)
    w = with_cluster()
    w.app.consumer.counts = {TOPIC: 4}  # type: ignore[attr-defined]  # incidents topic unknown
    assert not decides_in_place(w, fake_event(b"{}", key=KEY, topic=TOPIC, partition=2), KEY)


@pytest.mark.parametrize(
    ("value", "reason_class"),
    [
        (None, "empty"),
        (b"", "empty"),
        (b" " * (MAX_MESSAGE_BYTES + 1), "oversize"),
        (f"victim {NAME}, NHS {NHS}".encode(), "not_json"),
        (invalid(nhs_number="94347659XX"), "schema"),
        (invalid(role=NAME), "schema"),
    ],
)
async def test_an_invalid_notification_is_dead_lettered_and_counted(
    value: bytes | None, reason_class: str
) -> None:
    w = make_wiring()
    await receive(w, fake_event(value, key=b"k", topic=TOPIC, offset=41), [])
    assert w.topics.incidents.sent == []
    (letter,) = w.topics.dead_letter.sent
    assert (letter.key, letter.value) == (b"k", value)
    assert letter.header(H_REASON_CLASS) == reason_class
    assert letter.header(H_SOURCE_TOPIC) == TOPIC
    assert (letter.header(H_SOURCE_PARTITION), letter.header(H_SOURCE_OFFSET)) == ("0", "41")
    reason = letter.header(H_REASON) or ""
    assert reason and NAME not in reason and NHS not in reason and "94347659XX" not in reason
    assert sample_value(w, "dvtrigger_incidents_rejected_total", reason=reason_class) == 1
    assert sample_value(w, "dvtrigger_incidents_received_total") == 1


async def test_the_schema_reason_names_the_field() -> None:
    w = make_wiring()
    await receive(w, fake_event(invalid(nhs_number="94347659XX"), topic=TOPIC), [])
    reason = w.topics.dead_letter.sent[0].header(H_REASON) or ""
    assert "persons.0.nhs_number" in reason


# --- guarded -----------------------------------------------------------------------------------


def failed_counter(w: Wiring) -> object:
    return w.metrics.incidents_rejected.labels("processing_error")


async def test_guarded_dead_letters_an_unexpected_error_by_its_type_only() -> None:
    w = make_wiring()
    event = fake_event(b'{"any": "bytes"}', key=b"k", topic=TOPIC, offset=9)

    async def handler() -> None:
        raise ValueError(f"could not match {NAME}, NHS {NHS}")

    await guarded(handler, w, event, failed_counter(w))
    (letter,) = w.topics.dead_letter.sent
    assert (letter.key, letter.value) == (b"k", b'{"any": "bytes"}')
    assert letter.header(H_REASON_CLASS) == "processing_error"
    assert letter.header(H_REASON) == "ValueError"
    assert letter.header(H_SOURCE_OFFSET) == "9"
    assert sample_value(w, "dvtrigger_incidents_rejected_total", reason="processing_error") == 1


async def test_guarded_leaves_a_successful_handler_alone() -> None:
    w = make_wiring()
    ran: list[bool] = []

    async def handler() -> None:
        ran.append(True)

    await guarded(handler, w, fake_event(b"x"), failed_counter(w))
    assert ran == [True]
    assert w.topics.dead_letter.sent == []
    assert sample_value(w, "dvtrigger_incidents_rejected_total", reason="processing_error") == 0


async def test_a_failure_to_forward_is_dead_lettered_not_dropped() -> None:
    w = make_wiring()

    class Down(FakeTopic):
        async def send(self, *args: object, **kwargs: object) -> object:
            raise ConnectionError(f"broker refused a message about {NAME}")

    w.topics.incidents = Down("dvtrigger.incidents")
    raw = pretty_incident()
    event = fake_event(raw, key=b"k", topic=TOPIC)
    await guarded(lambda: receive(w, event, []), w, event, failed_counter(w))
    (letter,) = w.topics.dead_letter.sent
    assert letter.value == raw
    assert (letter.header(H_REASON_CLASS), letter.header(H_REASON)) == (
        "processing_error",
        "ConnectionError",
    )


def test_where_names_type_and_place_but_not_the_message() -> None:
    from streams.flows.deadletter import where

    try:
        raise ValueError("Zebedee Quuxley 1990-01-01")
    except ValueError as exc:
        text = where(exc)
    assert text.startswith("ValueError (") and "test_ingest_flow.py" in text
    assert "Zebedee" not in text and "1990" not in text
