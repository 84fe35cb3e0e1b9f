"""Fakes for the worker's flows: topics that record what is sent, tables, events, an app,
a clock, and `make_worker`, which builds a worker through the composition root on them.

Also small builders for register events and a register, shared by the flow tests.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from prometheus_client import CollectorRegistry

from connectors.case_system.memory import InMemoryCaseSystem
from schemas.register import RegisterEvent
from streams.bootstrap import Role, Runtime, Worker, build
from streams.config.settings import Settings
from streams.config.topics import TOPIC_ROLES
from streams.domain.ports.audit import AuditLog
from streams.domain.ports.case_system import CaseSystem
from streams.domain.ports.routing import CaseSystemRouter
from streams.domain.register.index import RegisterIndex
from streams.domain.register.records import SubjectRecord, apply_event
from streams.flows.clock import Clock
from streams.flows.deps import Topics
from streams.telemetry.metrics import Metrics

LA = "E09000014"


@dataclass
class Sent:
    """One message a fake topic was asked to send; `acked` once its future was awaited."""

    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] | None = None
    acked: bool = False

    def header(self, name: str) -> str | None:
        """The decoded value of one header, or None."""
        return next((v.decode() for k, v in self.headers or () if k == name), None)


class FakeFuture:
    """What faust's `Topic.send` returns: awaiting it waits for the broker's ack."""

    def __init__(self, message: Sent, error: Exception | None = None) -> None:
        self.message = message
        self.error = error

    def __await__(self) -> Generator[Any, None, Sent]:
        return self._ack().__await__()

    async def _ack(self) -> Sent:
        if self.error is not None:
            raise self.error
        self.message.acked = True
        return self.message


class FakeTopic:
    """A topic that records every send; `fail` makes every ack raise."""

    def __init__(self, name: str, fail: Exception | None = None) -> None:
        self.name = name
        self.fail = fail
        self.sent: list[Sent] = []

    async def send(
        self,
        key: bytes | None = None,
        value: bytes | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> FakeFuture:
        """Record the message and return its future."""
        message = Sent(key, value, headers)
        self.sent.append(message)
        return FakeFuture(message, self.fail)

    def get_topic_name(self) -> str:
        """The topic's name, as faust's topics give it."""
        return self.name


class FakeCluster:
    """faust's consumer as the ingest flow asks it: partition counts by topic, a partitioner."""

    def __init__(self, counts: dict[str, int], partition_of: Callable[[bytes], int]) -> None:
        self.counts = counts
        self.partition_of = partition_of

    def topic_partitions(self, topic: str) -> int | None:
        """How many partitions `topic` has, or None when the metadata does not know it."""
        return self.counts.get(topic)

    def key_partition(self, topic: str, key: bytes) -> int:
        """Where the default partitioner puts `key` on `topic`."""
        return self.partition_of(key)


class TopicTail:
    """The receipts topic of fake topics as the acknowledgement watch reads it: what is new."""

    def __init__(self, topics: Topics) -> None:
        self.topics = topics
        self.read = 0

    async def __call__(self, since: datetime) -> list[bytes]:
        sent = self.topics.receipts.sent  # looked up each time: a test may swap the topic
        new, self.read = sent[self.read :], len(sent)
        return [m.value for m in new if m.value]


def fake_topics() -> Topics:
    """Every role's topic as a FakeTopic named as the default settings name it."""
    names = {role.replace("-", "_"): f"dvtrigger.{role}" for role in TOPIC_ROLES}
    return Topics(**{attr: FakeTopic(name) for attr, name in names.items()})


def all_sent(topics: Topics) -> list[Sent]:
    """Every message sent on any topic."""
    return [m for topic in vars(topics).values() for m in topic.sent]


class FakeTable(dict[bytes, bytes]):
    """A faust table as the flows use it: a dict, with recovery callbacks that tests call."""

    def __init__(self) -> None:
        super().__init__()
        self.recovered: list[Callable[[], Any]] = []

    def on_recover(self, callback: Callable[[], Any]) -> None:
        """Note a callback faust would run after the table recovered."""
        self.recovered.append(callback)


class RecordingTable(FakeTable):
    """A table that notes, at each write, what `observe` says about the world."""

    def __init__(self, observe: Callable[[], Any] = lambda: None) -> None:
        super().__init__()
        self.observe = observe
        self.writes: list[tuple[bytes, Any]] = []

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.writes.append((key, self.observe()))
        super().__setitem__(key, value)


class FakeApp:
    """faust's app as the composition root and the flows use it: agents and pages are noted,
    `consumer` is absent until a test sets one, `crash` is recorded."""

    def __init__(self) -> None:
        self.agents: dict[str, Callable[..., Any]] = {}
        self.pages: dict[str, Callable[..., Any]] = {}
        self.sensors = SimpleNamespace(add=lambda sensor: None)
        self.should_stop = False
        self.rebalancing = False
        self.crashed: list[BaseException] = []

    def agent(self, channel: Any, name: str) -> Callable[[Callable[..., Any]], Any]:
        """Note an agent by name."""

        def register(fun: Callable[..., Any]) -> Any:
            self.agents[name] = fun
            return fun

        return register

    def page(self, path: str) -> Callable[[Callable[..., Any]], Any]:
        """Note a page by path."""

        def register(fun: Callable[..., Any]) -> Any:
            self.pages[path] = fun
            return fun

        return register

    async def crash(self, reason: BaseException) -> None:
        """Note why the worker was stopped, and stop: the agent in hand is cancelled."""
        self.crashed.append(reason)
        self.in_flight_at_crash = sys.exc_info()[1]  # what a crash log would print
        self.should_stop = True
        raise asyncio.CancelledError


class TimerApp(FakeApp):
    """A fake app that notes its timers by name, as faust's `app.timer` would start them:
    `timers[name]` is (interval, options, the function)."""

    def __init__(self) -> None:
        super().__init__()
        self.timers: dict[str, tuple[float, dict[str, Any], Callable[[], Any]]] = {}

    def timer(self, interval: float, **options: Any) -> Callable[[Callable[[], Any]], Any]:
        """Note a timer under its name."""

        def register(fun: Callable[[], Any]) -> Any:
            self.timers[options["name"]] = (interval, options, fun)
            return fun

        return register


class FakeClock:
    """One clock that stands still until set or slept past; records each sleep."""

    def __init__(self, now: datetime | float = 1_800_000_000.0) -> None:
        self.t = now.timestamp() if isinstance(now, datetime) else float(now)
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        """The time now."""
        return datetime.fromtimestamp(self.t, UTC)

    def time(self) -> float:
        """Wall-clock seconds."""
        return self.t

    async def sleep(self, seconds: float) -> None:
        """Move on by `seconds`, at once."""
        self.sleeps.append(seconds)
        self.t += seconds

    def set(self, now: datetime) -> None:
        """Move to `now`."""
        self.t = now.timestamp()


def fake_event(
    value: bytes | None,
    key: bytes | None = None,
    topic: str = "dvtrigger.police-incidents",
    offset: int = 1,
    partition: int = 0,
) -> SimpleNamespace:
    """A faust event as the flows read it: key, value and where the message came from."""
    message = SimpleNamespace(topic=topic, partition=partition, offset=offset, key=key)
    return SimpleNamespace(key=key, value=value, message=message)


def make_worker(
    settings: Settings | None = None,
    case_system: CaseSystem | None = None,
    index: RegisterIndex | None = None,
    subjects: FakeTable | None = None,
    incident_state: FakeTable | None = None,
    topics: Topics | None = None,
    clock: Clock | None = None,
    router: CaseSystemRouter | None = None,
    role: Role = "all",
    audit: AuditLog | None = None,
) -> Worker:
    """A worker built by the composition root on fake topics, tables and app, with fresh
    metrics and an in-memory case system; `index`: records the register already holds;
    `audit`: the audit log decisions are accounted to (none by default)."""
    topics = topics or fake_topics()
    runtime = Runtime(
        app=FakeApp(),  # type: ignore[arg-type]
        topics=topics,
        subjects=FakeTable() if subjects is None else subjects,
        incident_state=FakeTable() if incident_state is None else incident_state,
        read_receipts=TopicTail(topics),
    )
    metrics = (
        Metrics(CollectorRegistry(), clock=clock.time) if clock else Metrics(CollectorRegistry())
    )
    worker = build(
        settings or Settings(),
        case_system or (None if router else InMemoryCaseSystem()),
        metrics,
        role=role,
        router=router,
        clock=clock,
        runtime=runtime,
        audit=audit,
    )
    if index is not None and worker.register is not None:
        for record in index:
            worker.register.index.upsert(record)
    return worker


def sample_value(w: Worker, name: str, **labels: str) -> float:
    """The current value of one metric sample (0.0 when it was never touched)."""
    return w.metrics.registry.get_sample_value(name, labels) or 0.0


# --- register builders ----------------------------------------------------------------------

HOME = {"lines": ["Flat 2", "14 Quarry Mews"], "town": "London", "postcode": "N4 2QQ"}
NEW_HOME = {"uprn": "4242", "lines": ["9 Larch Close"], "town": "London", "postcode": "E17 3LC"}
MOTHER = {
    "person_ref": "H0000257",
    "relationship": "mother",
    "given_name": "Imelda",
    "family_name": "Quarrington",
    "date_of_birth": "1996-03-14",
}
FATHER = {
    "person_ref": "H0000258",
    "relationship": "father",
    "given_name": "Barnaby",
    "family_name": "Ulverstone",
    "date_of_birth": "1991-11-02",
}
STRANGER = {
    "person_ref": "H0000999",
    "relationship": "mother",
    "given_name": "Ottoline",
    "family_name": "Pemberton-Vask",
    "date_of_birth": "1988-05-05",
}


def register_body(ref: str, type_: str, kind: str = "child", **kw: Any) -> dict[str, Any]:
    """A register-event/1 body as the feed sends it."""
    return {
        "schema": "register-event/1",
        "event_id": kw.pop("event_id", str(uuid.uuid4())),
        "source": "child_health",
        "local_authority": kw.pop("local_authority", LA),
        "recorded_at": kw.pop("recorded_at", "2026-02-12T09:00:00+00:00"),
        "type": type_,
        "subject": {"subject_ref": ref, "kind": kind, **kw.pop("subject", {})},
        **kw,
    }


def register_event(ref: str, type_: str, kind: str = "child", **kw: Any) -> RegisterEvent:
    """A register event parsed from its JSON."""
    return RegisterEvent.model_validate_json(json.dumps(register_body(ref, type_, kind, **kw)))


def birth(
    ref: str = "C1", carers: Iterable[dict[str, Any]] = (MOTHER,), **kw: Any
) -> RegisterEvent:
    """A child born 2026-02-11 registered at HOME (unless told otherwise)."""
    subject = {
        "given_name": "Zebedee",
        "family_name": "Quuxley",
        "date_of_birth": "2026-02-11",
        "nhs_number": "4857773456",
        **kw.pop("subject", {}),
    }
    kw.setdefault("address", HOME)
    kw.setdefault("effective_date", "2026-02-11")
    return register_event(ref, "birth_registered", subject=subject, carers=list(carers), **kw)


def moved(ref: str, on: str, address: dict[str, Any] = NEW_HOME) -> RegisterEvent:
    """A move of a subject to `address`, effective `on`."""
    return register_event(ref, "subject_moved", effective_date=on, address=address)


def register_of(*events: RegisterEvent) -> RegisterIndex:
    """The register the events make, applied in order."""
    records: dict[str, SubjectRecord] = {}
    for event in events:
        ref = event.subject.subject_ref
        records[ref] = apply_event(records.get(ref), event)
    return RegisterIndex(records.values())


@dataclass
class Captured:
    """Messages a fake producer was asked to send, and whether it was flushed."""

    sent: list[tuple[str, bytes | None, bytes]] = field(default_factory=list)
    flushed: int = 0


class FakeProducer:
    """A kafka-python producer stand-in: `send` returns a future with `.get(timeout)`."""

    def __init__(self) -> None:
        self.captured = Captured()

    def send(self, topic: str, key: bytes | None = None, value: bytes = b"") -> SimpleNamespace:
        """Record one message; its future resolves at once."""
        self.captured.sent.append((topic, key, value))
        return SimpleNamespace(get=lambda timeout=None: SimpleNamespace(topic=topic))

    def flush(self) -> None:
        """Count flushes."""
        self.captured.flushed += 1
