"""Receipts for the police: one per stage, keyed by the force's reference, never personal data."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from connectors.case_system.memory import InMemoryCaseSystem
from schemas.receipt import Receipt
from streams.bootstrap import Worker
from streams.config.settings import Settings
from streams.domain import receipts
from streams.domain.parsing import Rejected
from streams.domain.ports.case_system import CaseSystemUnavailable
from streams.flows.acknowledgements import Watches
from streams.flows.receipting import H_CHANNEL, H_RECEIVED_AT
from tests.support.fakes import (
    FakeTopic,
    birth,
    fake_event,
    fake_topics,
    make_worker,
    register_of,
    sample_value,
)
from tests.support.samples import (
    HOSTILE_NAME,
    personal_data_in,
    sample_incident,
    sample_raise_task,
)

POLICE = "dvtrigger.police-incidents"
COMMANDS = "dvtrigger.task-commands"
AT = datetime(2026, 12, 3, 9, 30, tzinfo=UTC)


class Clock:
    """A settable clock."""

    def __init__(self, now: datetime = AT) -> None:
        self.at = now

    def now(self) -> datetime:
        return self.at

    def time(self) -> float:
        return self.at.timestamp()

    async def sleep(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


def sent_receipts(w: Worker) -> list[tuple[bytes | None, Receipt]]:
    """Every receipt the worker sent, with its key."""
    return [(m.key, Receipt.model_validate_json(m.value)) for m in w.topics.receipts.sent]


def hostile_incident_bytes(**body_changes: Any) -> bytes:
    """A notification whose victim has a name that must never be repeated, with changes."""
    body = json.loads(sample_incident().model_dump_json())
    body["persons"][0]["given_name"] = HOSTILE_NAME
    body.update(body_changes)
    return json.dumps(body).encode()


# --- builders ----------------------------------------------------------------------------------


def test_a_receipt_id_depends_on_what_it_says_not_when() -> None:
    incident = sample_incident()
    raw = incident.model_dump_json().encode()
    first = receipts.received(incident, AT, "kafka", raw)
    again = receipts.received(incident, AT + timedelta(hours=1), "kafka", raw)
    assert first.receipt_id == again.receipt_id
    revised = sample_incident(revision=2)
    assert receipts.received(revised, AT, "kafka", raw).receipt_id != first.receipt_id


def test_a_rejection_echoes_references_only_when_they_look_like_references() -> None:
    raw = hostile_incident_bytes(incident_id=f"{HOSTILE_NAME} 12 High St", dash_risk="extreme")
    refusal = Rejected("schema", "dash_risk: literal_error")
    told = receipts.rejected(raw, refusal, AT, "kafka")
    assert told.incident_id is None  # not reference-like: not repeated
    assert (told.force, told.revision, told.errors) == ("MPS", 1, ["dash_risk: literal_error"])
    assert told.message_sha256 == receipts.digest(raw)
    assert HOSTILE_NAME.casefold() not in told.model_dump_json().casefold()


def test_no_receipt_of_a_command_carries_its_personal_data() -> None:
    cmd = sample_raise_task()
    raised = receipts.task_raised(cmd, "t-1", "default", AT)
    watched = receipts.WatchedTask.of(cmd, "t-1", "default", AT)
    acked = receipts.task_acknowledged(watched, "acknowledged", AT)
    for receipt in (raised, acked):
        assert personal_data_in(receipt.model_dump_json(), cmd) == []
        assert (receipt.force, receipt.incident_id) == ("MPS", cmd.incident_id)
    assert receipts.WatchedTask.of_receipt(raised) == watched


# --- ingest: received and rejected -------------------------------------------------------------


async def test_a_valid_notification_gets_a_received_receipt_keyed_by_its_incident() -> None:
    w = make_worker()
    raw = sample_incident().model_dump_json().encode()
    await w.ingest.handle_batch([fake_event(raw, key=b"x", topic=POLICE)])
    ((key, receipt),) = sent_receipts(w)
    assert key == b"MPS-2026-000001"
    assert (receipt.stage, receipt.channel, receipt.revision) == ("received", "kafka", 1)
    assert receipt.message_sha256 == receipts.digest(raw)
    assert w.topics.receipts.sent[0].acked
    assert sample_value(w, "dvtrigger_receipts_total", stage="received") == 1


async def test_a_door_s_headers_say_where_and_when_it_took_the_notification_in() -> None:
    w = make_worker()
    raw = sample_incident().model_dump_json().encode()
    event = fake_event(raw, key=b"MPS-2026-000001", topic=POLICE)
    headers = [(H_CHANNEL, b"ingress"), (H_RECEIVED_AT, b"2026-12-03T08:00:00+00:00")]
    await w.ingest.handle_batch([SimpleNamespace(**vars(event), headers=headers)])
    ((_, receipt),) = sent_receipts(w)
    assert (receipt.channel, receipt.at) == ("ingress", datetime(2026, 12, 3, 8, tzinfo=UTC))


async def test_an_invalid_notification_gets_a_rejected_receipt_with_field_paths_only() -> None:
    w = make_worker()
    raw = hostile_incident_bytes(dash_risk="extreme")
    await w.ingest.handle_batch([fake_event(raw, topic=POLICE)])
    ((key, receipt),) = sent_receipts(w)
    assert key == b"MPS-2026-000001"
    assert (receipt.stage, receipt.reason_class) == ("rejected", "schema")
    assert any(error.startswith("dash_risk") for error in receipt.errors)
    assert HOSTILE_NAME.casefold() not in w.topics.receipts.sent[0].value.decode().casefold()
    assert len(w.topics.dead_letter.sent) == 1


async def test_an_unreadable_message_is_receipted_by_its_digest() -> None:
    w = make_worker()
    await w.ingest.handle_batch([fake_event(b"{not json", topic=POLICE)])
    ((key, receipt),) = sent_receipts(w)
    assert key is None and receipt.incident_id is None
    assert (receipt.reason_class, receipt.message_sha256) == (
        "not_json",
        receipts.digest(b"{not json"),
    )


# --- decide: decided ---------------------------------------------------------------------------


async def test_each_decision_gets_a_decided_receipt_with_the_decision_only() -> None:
    w = make_worker(index=register_of(birth("C1")))
    value = sample_incident().model_dump_json().encode()
    await w.decide.handle(fake_event(value, key=b"MPS-2026-000001", topic="dvtrigger.incidents"))
    ((key, receipt),) = sent_receipts(w)
    assert key == b"MPS-2026-000001"
    assert (receipt.stage, receipt.decision, receipt.revision) == ("decided", "trigger", 1)
    assert receipt.task_ref is None and receipt.errors == []
    assert sample_value(w, "dvtrigger_receipts_total", stage="decided") == 1


# --- deliver: task raised, then acknowledged ---------------------------------------------------


def deliver_worker(fake: InMemoryCaseSystem, clock: Clock | None = None) -> Worker:
    return make_worker(settings=Settings(), case_system=fake, clock=clock or Clock())


async def deliver(w: Worker, revision: int = 1) -> None:
    cmd = sample_raise_task(revision=revision)
    event = fake_event(cmd.model_dump_json().encode(), key=cmd.idempotency_key.encode())
    assert w.deliver is not None
    await w.deliver.deliver(event)


async def test_a_raised_task_gets_its_receipt_which_opens_its_watch() -> None:
    fake = InMemoryCaseSystem()
    w = deliver_worker(fake)
    await deliver(w)
    ((key, receipt),) = sent_receipts(w)
    (task,) = await fake.list_tasks()
    assert key == b"MPS-2026-000001"
    assert (receipt.stage, receipt.task_ref, receipt.council) == (
        "task_raised",
        task.task_id,
        "default",
    )
    assert w.acks is not None
    await w.acks.catch_up()
    assert list(w.acks.watches.by_key) == [receipt.task_key]


async def test_an_acknowledged_task_gets_its_receipt_once_and_is_no_longer_watched() -> None:
    fake = InMemoryCaseSystem()
    w = deliver_worker(fake)
    await deliver(w)
    assert w.acks is not None
    assert await w.acks.poll() == 0  # still open: still watched
    (task,) = await fake.list_tasks()
    fake.acknowledge(task.task_id, AT + timedelta(minutes=5))
    assert await w.acks.poll() == 1
    assert await w.acks.poll() == 0
    stages = [(r.stage, r.task_status, r.at) for _, r in sent_receipts(w)]
    assert stages[1:] == [("task_acknowledged", "acknowledged", AT + timedelta(minutes=5))]
    assert w.acks.watches.by_key == {}


async def test_a_revision_after_the_acknowledgement_is_watched_again() -> None:
    fake = InMemoryCaseSystem()
    w = deliver_worker(fake)
    await deliver(w)
    assert w.acks is not None
    (task,) = await fake.list_tasks()
    fake.acknowledge(task.task_id)
    await w.acks.poll()
    await deliver(w, revision=2)  # reopens the task
    fake.acknowledge(task.task_id)
    assert await w.acks.poll() == 1
    acks = [r for _, r in sent_receipts(w) if r.stage == "task_acknowledged"]
    assert [r.revision for r in acks] == [1, 2]
    assert len({r.receipt_id for r in acks}) == 2


async def test_a_poll_smaller_than_the_watches_reaches_every_task_in_turn() -> None:
    """Tasks nobody acknowledges must not keep the later ones from ever being asked after."""

    class Counting(InMemoryCaseSystem):
        def __init__(self) -> None:
            super().__init__()
            self.asked: list[str] = []

        async def get_task(self, task_id: str) -> Any:
            self.asked.append(task_id)
            return await super().get_task(task_id)

    fake = Counting()
    settings = Settings.model_validate({"receipts": {"ack_poll_batch": 2}})
    w = make_worker(settings=settings, case_system=fake, clock=Clock())
    for n in range(5):
        cmd = sample_raise_task(incident_id=f"MPS-2026-00000{n}")
        event = fake_event(cmd.model_dump_json().encode(), key=cmd.idempotency_key.encode())
        assert w.deliver is not None
        await w.deliver.deliver(event)
    assert w.acks is not None
    for _ in range(3):
        await w.acks.poll()
    tasks = await fake.list_tasks()
    assert len(fake.asked) == 6
    assert set(fake.asked) == {t.task_id for t in tasks}  # all five, not the first two again
    last = tasks[-1]
    fake.acknowledge(last.task_id)
    acknowledged = sum([await w.acks.poll() for _ in range(3)])
    assert acknowledged == 1
    assert last.task_id not in {x.task_ref for x in w.acks.watches.by_key.values()}


async def test_a_case_system_down_keeps_the_watch_and_a_gone_task_ends_it() -> None:
    class Down(InMemoryCaseSystem):
        down = False

        async def get_task(self, task_id: str) -> Any:
            if self.down:
                raise CaseSystemUnavailable("GET: 503", "5xx")
            return await super().get_task(task_id)

    fake = Down()
    w = deliver_worker(fake)
    await deliver(w)
    assert w.acks is not None
    fake.down = True
    assert await w.acks.poll() == 0 and len(w.acks.watches.by_key) == 1
    fake.down = False
    fake._by_id.clear()  # the council's system lost the task
    assert await w.acks.poll() == 0 and w.acks.watches.by_key == {}
    assert sample_value(w, "dvtrigger_ack_watches_dropped_total", why="not_found") == 1


async def test_a_task_unacknowledged_past_the_watch_is_dropped_and_counted() -> None:
    fake, clock = InMemoryCaseSystem(), Clock()
    w = deliver_worker(fake, clock)
    await deliver(w)
    assert w.acks is not None
    clock.at += timedelta(days=31)
    assert await w.acks.poll() == 0 and w.acks.watches.by_key == {}
    assert sample_value(w, "dvtrigger_ack_watches_dropped_total", why="expired") == 1


# --- the watch is the receipts topic folded ----------------------------------------------------


def test_the_fold_opens_on_the_newest_raise_and_closes_on_its_acknowledgement() -> None:
    watches = Watches()
    first = receipts.task_raised(sample_raise_task(), "t-1", "default", AT)
    amended = receipts.task_raised(sample_raise_task(amendment=1), "t-1", "default", AT)
    watches.fold(amended)
    watches.fold(first)  # an older version read later does not take the newer's place
    (watched,) = watches.by_key.values()
    assert watched.version == (1, 1)
    older_ack = receipts.task_acknowledged(receipts.WatchedTask.of_receipt(first), "closed", AT)
    watches.fold(older_ack)  # the acknowledgement of an older version: still watched
    assert len(watches.by_key) == 1
    watches.fold(receipts.task_acknowledged(watched, "acknowledged", AT))
    assert watches.by_key == {}
    assert watches.fold_all([b"not a receipt", first.model_dump_json().encode()]) == 1
    assert len(watches.by_key) == 1


async def test_a_restarted_worker_watches_what_the_topic_says_is_unacknowledged() -> None:
    fake = InMemoryCaseSystem()
    w = deliver_worker(fake)
    await deliver(w)
    restarted = make_worker(settings=Settings(), case_system=fake, clock=Clock(), topics=w.topics)
    assert restarted.acks is not None
    (task,) = await fake.list_tasks()
    fake.acknowledge(task.task_id)
    assert await restarted.acks.poll() == 1  # it knew the watch from the topic alone


async def test_receipts_the_broker_did_not_take_are_sent_again_with_the_same_ids() -> None:
    class Flaky(FakeTopic):
        refusals = 1

        async def send(self, *args: Any, **kwargs: Any) -> Any:
            if self.refusals:
                self.refusals -= 1
                raise ConnectionError("broker went away")
            return await super().send(*args, **kwargs)

    topics = fake_topics()
    topics.receipts = Flaky("dvtrigger.receipts")
    w = make_worker(topics=topics)
    raw = sample_incident().model_dump_json().encode()
    await w.ingest.handle_batch([fake_event(raw, key=b"MPS-2026-000001", topic=POLICE)])
    ((_, receipt),) = sent_receipts(w)
    assert receipt.stage == "received" and w.topics.receipts.sent[0].acked
    assert sample_value(w, "dvtrigger_receipts_total", stage="received") == 1
