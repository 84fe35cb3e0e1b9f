"""Ingest flow: forward valid notifications by incident; dead-letter the rest; guard handlers."""

from __future__ import annotations

import json

import pytest

from streams.bootstrap import Worker
from streams.config.topics import (
    H_REASON,
    H_REASON_CLASS,
    H_SOURCE_OFFSET,
    H_SOURCE_PARTITION,
    H_SOURCE_TOPIC,
)
from streams.domain.parsing import MAX_MESSAGE_BYTES
from tests.support.fakes import FakeCluster, FakeTopic, fake_event, make_worker, sample_value
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
    w = make_worker()
    raw = pretty_incident()
    await w.ingest.receive(fake_event(raw, key=b"force-key-1", topic=TOPIC), [], [])
    (forwarded,) = w.topics.incidents.sent
    assert forwarded.key == b"MPS-2026-000001"
    assert forwarded.value == raw
    assert sample_value(w, "dvtrigger_incidents_received_total") == 1
    assert w.topics.dead_letter.sent == []


async def test_revisions_of_one_incident_share_a_key() -> None:
    w = make_worker()
    for revision in (1, 2, 3):
        await w.ingest.receive(
            fake_event(pretty_incident(revision=revision), key=None, topic=TOPIC), [], []
        )
    assert {m.key for m in w.topics.incidents.sent} == {b"MPS-2026-000001"}
    assert len(w.topics.incidents.sent) == 3


# --- deciding in place ---------------------------------------------------------------------------

INCIDENTS = "dvtrigger.incidents"
KEY = b"MPS-2026-000001"


def with_cluster(police: int = 4, incidents: int = 4, partition_of: int = 2) -> Worker:
    """A worker whose consumer sees these partition counts and puts every key on one partition."""
    w = make_worker()
    counts = {TOPIC: police, INCIDENTS: incidents}
    w.app.consumer = FakeCluster(counts, lambda key: partition_of)  # type: ignore[assignment]
    return w


async def test_a_notification_keyed_by_incident_on_its_partition_is_decided_in_place() -> None:
    w = with_cluster()
    here: list[tuple[object, object]] = []
    event = fake_event(pretty_incident(), key=KEY, topic=TOPIC, partition=2)
    await w.ingest.receive(event, here, [])
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
    await w.ingest.receive(
        fake_event(pretty_incident(), key=key, topic=TOPIC, partition=partition), here, []
    )
    assert here == []
    (forwarded,) = w.topics.incidents.sent
    assert forwarded.key == KEY
    assert sample_value(w, "dvtrigger_incidents_routed_total", path="re_keyed") == 1


def test_without_cluster_metadata_a_notification_takes_the_incidents_topic() -> None:
    w = make_worker()  # its app has no consumer: the metadata cannot be read
    assert not w.ingest.decides_in_place(fake_event(b"{}", key=KEY, topic=TOPIC), KEY)
    w = with_cluster()
    w.app.consumer.counts = {TOPIC: 4}  # type: ignore[attr-defined]  # incidents topic unknown
    assert not w.ingest.decides_in_place(fake_event(b"{}", key=KEY, topic=TOPIC, partition=2), KEY)


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
    w = make_worker()
    await w.ingest.receive(fake_event(value, key=b"k", topic=TOPIC, offset=41), [], [])
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
    w = make_worker()
    await w.ingest.receive(fake_event(invalid(nhs_number="94347659XX"), topic=TOPIC), [], [])
    reason = w.topics.dead_letter.sent[0].header(H_REASON) or ""
    assert "persons.0.nhs_number" in reason


# --- guarded -----------------------------------------------------------------------------------


def failed_counter(w: Worker) -> object:
    return w.metrics.incidents_rejected.labels("processing_error")


async def test_guarded_dead_letters_an_unexpected_error_by_its_type_only() -> None:
    w = make_worker()
    event = fake_event(b'{"any": "bytes"}', key=b"k", topic=TOPIC, offset=9)

    async def handler() -> None:
        raise ValueError(f"could not match {NAME}, NHS {NHS}")

    await w.dead_letters.guarded(handler, event, failed_counter(w))
    (letter,) = w.topics.dead_letter.sent
    assert (letter.key, letter.value) == (b"k", b'{"any": "bytes"}')
    assert letter.header(H_REASON_CLASS) == "processing_error"
    assert letter.header(H_REASON) == "ValueError"
    assert letter.header(H_SOURCE_OFFSET) == "9"
    assert sample_value(w, "dvtrigger_incidents_rejected_total", reason="processing_error") == 1


async def test_guarded_leaves_a_successful_handler_alone() -> None:
    w = make_worker()
    ran: list[bool] = []

    async def handler() -> None:
        ran.append(True)

    await w.dead_letters.guarded(handler, fake_event(b"x"), failed_counter(w))
    assert ran == [True]
    assert w.topics.dead_letter.sent == []
    assert sample_value(w, "dvtrigger_incidents_rejected_total", reason="processing_error") == 0


async def test_a_failure_to_forward_is_run_again_never_dead_lettered() -> None:
    """The broker refusing is not the notification's fault (issue 11: errors in two kinds): the
    guard raises it for the agent to run again, and nothing reaches the dead-letter topic."""
    w = make_worker()

    class Down(FakeTopic):
        async def send(self, *args: object, **kwargs: object) -> object:
            raise ConnectionError(f"broker refused a message about {NAME}")

    w.topics.incidents = Down("dvtrigger.incidents")
    raw = pretty_incident()
    event = fake_event(raw, key=b"k", topic=TOPIC)
    with pytest.raises(ConnectionError):
        await w.dead_letters.guarded(
            lambda: w.ingest.receive(event, [], []), event, failed_counter(w)
        )
    assert w.topics.dead_letter.sent == []
    assert sample_value(w, "dvtrigger_incidents_rejected_total", reason="processing_error") == 0


def test_where_names_type_and_place_but_not_the_message() -> None:
    from streams.flows.errors import where

    try:
        raise ValueError("Zebedee Quuxley 1990-01-01")
    except ValueError as exc:
        text = where(exc)
    assert text.startswith("ValueError (") and "test_ingest_flow.py" in text
    assert "Zebedee" not in text and "1990" not in text
