"""The composition root: settings, adapters and flows wired into one worker.

The worker (`dvtrigger worker`), the command line and the tests all build here.
Tests pass their own case system (or router), metrics, clock and stream runtime
(fake topics and tables); everything else is what production runs.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, Literal

import faust
from prometheus_client import generate_latest
from pydantic import SecretStr

from connectors.audit import FileAuditLog
from connectors.case_system.fhir import FhirCaseSystem
from connectors.case_system.fhir_task import TASK_KEY_SYSTEM
from connectors.case_system.http import HttpCaseSystem
from connectors.case_system.mailbox import MailboxCaseSystem
from connectors.case_system.sent_ledger import SentLedger
from connectors.case_system.smtp import SmtpMailer
from connectors.kafka.receipts_log import ReceiptsTail
from connectors.kafka.security import faust_credentials
from streams.config.case_systems import CaseSystemRoute
from streams.config.settings import Settings
from streams.domain.config import RULES_VERSION
from streams.domain.ports.audit import AuditLog, NoAudit
from streams.domain.ports.case_system import CaseSystem
from streams.domain.ports.routing import DEFAULT_ROUTE, CaseSystemRouter, Route
from streams.domain.register.index import RegisterIndex
from streams.flows import fetch_wait
from streams.flows.acknowledgements import AcknowledgementFlow, ReadNew
from streams.flows.barrier import BarrierTableManager
from streams.flows.clock import Clock, FileClock, SystemClock
from streams.flows.deadletter import DeadLetters
from streams.flows.decide import DecideFlow
from streams.flows.deliver import DeliverFlow
from streams.flows.deps import Deps, Topics, leaving
from streams.flows.errors import Redelivery
from streams.flows.incidents import Incidents
from streams.flows.ingest import IngestFlow
from streams.flows.late import LateFlow
from streams.flows.register import RegisterFlow
from streams.flows.register_snapshot import RegisterSnapshots, store_url
from streams.flows.retention import RetentionFlow
from streams.telemetry import broker_outage, consumer_lag
from streams.telemetry.broker_outage import BrokerOutage
from streams.telemetry.metrics import Metrics

log = logging.getLogger(__name__)
VERSION = "0.1.0"
#: Prometheus text format; aiohttp wants the charset apart from the content type.
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4"

#: What a worker of each role runs. `decide` and `deliver` split one worker in two processes
#: (as `dvtrigger run` does), so slow case-system calls never take the decisions' event loop.
#: `deliver` runs both delivery agents: first attempts (task commands) and retries.
Role = Literal["all", "decide", "deliver"]
#: The deliver role's consumer group is its own: it reads only the task commands.
DELIVER_SUFFIX = "-deliver"


@dataclass
class Runtime:
    """What the stream processor gives the flows: the app, the topics and the two tables."""

    app: faust.App
    topics: Topics
    subjects: Any = None
    incident_state: Any = None
    #: Reads what is new on the receipts topic (the acknowledgement watch's fold); None: a
    #: tail of the configured cluster.
    read_receipts: Any = None


@dataclass
class Worker:
    """One worker as built: the app to run, the dependencies, and the flows of its role."""

    role: Role
    app: faust.App
    topics: Topics
    deps: Deps
    subjects: Any = None
    incident_state: Any = None
    #: Reads what is new on the receipts topic (the acknowledgement watch's fold); None: a
    #: tail of the configured cluster.
    read_receipts: Any = None
    dead_letters: DeadLetters | None = None
    ingest: IngestFlow | None = None
    register: RegisterFlow | None = None
    decide: DecideFlow | None = None
    late: LateFlow | None = None
    deliver: DeliverFlow | None = None
    acks: AcknowledgementFlow | None = None
    retention: RetentionFlow | None = None
    #: Whether the broker is reachable (the probe and the Kafka clients' log tell it).
    outage: BrokerOutage | None = None

    @property
    def metrics(self) -> Metrics:
        """The worker's metrics."""
        return self.deps.metrics

    @property
    def router(self) -> CaseSystemRouter:
        """The case systems, by council."""
        return self.deps.router

    def flows(self) -> list[Any]:
        """The flows this worker runs."""
        found = (
            self.ingest,
            self.register,
            self.decide,
            self.late,
            self.deliver,
            self.acks,
            self.retention,
        )
        return [flow for flow in found if flow is not None]


def role_settings(settings: Settings, role: Role) -> Settings:
    """The settings a worker of `role` runs with: the deliver role's app id and port."""
    if role != "deliver":
        return settings
    return settings.model_copy(
        update={
            "app_id": settings.app_id + DELIVER_SUFFIX,
            "web_port": settings.deliver_web_port,
        }
    )


def faust_app(settings: Settings) -> faust.App:
    """A faust app configured for at-least-once processing with fast group joins."""
    servers = settings.kafka_bootstrap_servers or "127.0.0.1:9092"
    app = faust.App(
        settings.app_id,
        broker=[f"kafka://{server.strip()}" for server in servers.split(",")],
        # TLS/SASL for the consumer, the producer and the topic-creating clients alike.
        broker_credentials=faust_credentials(settings.kafka),
        store="memory://",
        autodiscover=False,
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication,
        processing_guarantee="at_least_once",  # Tansu refuses aiokafka's transactions
        # Tansu reports a partition's end (ListOffsets) as one past its last batch's first
        # offset, short of the log end: each recovery reads its changelogs up to a barrier
        # record sent just before it (`streams.flows.barrier`), not to that answer.
        TableManager=BarrierTableManager,
        # faust's check compares what a worker has read with that answer; with the barrier it
        # holds, but without it Tansu's answer stopped workers at a rebalance, or at a start
        # from a register snapshot (which checks the changelog itself). On by setting.
        recovery_consistency_check=settings.recovery_consistency_check,
        broker_session_timeout=6,  # a new group's join waits half of this
        broker_heartbeat_interval=1,
        producer_acks=-1,
        producer_linger=0.005,  # a few ms of batching: far fewer produce requests per batch
        producer_max_batch_size=256 * 1024,
        web_host=settings.web_host,
        web_bind=settings.web_host,
        web_port=settings.web_port,
        web_in_thread=False,
        datadir=str(settings.data_dir / "faust" / settings.app_id),
    )
    fetch_wait.install(app, settings.kafka_fetch_max_wait_ms)  # faust fixes it at 1,500 ms
    return app


def faust_topics(app: faust.App, settings: Settings) -> Topics:
    """The faust topics by role; bytes in, bytes out: parsing happens in the flows."""

    def topic(role: str) -> Any:
        return app.topic(
            settings.topic(role),
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
        )

    return Topics(
        police_incidents=topic("police-incidents"),
        register_events=topic("register-events"),
        incidents=topic("incidents"),
        decisions=topic("decisions"),
        task_commands=topic("task-commands"),
        task_retries=topic("task-retries"),
        dead_letter=topic("dead-letter"),
        tasks_parked=topic("tasks-parked"),
        receipts=topic("receipts"),
    )


def faust_runtime(settings: Settings, role: Role, on_changelog: Callable[[Any], Any]) -> Runtime:
    """The faust app, its topics and, for a worker that decides, its two tables."""
    app = faust_app(settings)
    topics = faust_topics(app, settings)
    if role == "deliver":
        return Runtime(app, topics)
    subjects = app.GlobalTable(
        "register-subjects",
        key_type=bytes,
        value_type=bytes,
        partitions=1,  # faust's advice for GlobalTables shared by several workers
        store=store_url(),  # the memory store, which a register snapshot can be loaded into
        recovery_buffer_size=1,
        use_partitioner=True,
        on_changelog_event=on_changelog,
    )
    # Written after a batch, not inside one event: the partitioner places each key, as it
    # placed the same key on the incidents topic (same bytes, same partition count).
    incident_state = app.Table(
        "incident-state", key_type=bytes, value_type=bytes, use_partitioner=True
    )
    return Runtime(app, topics, subjects, incident_state)


def build(
    settings: Settings,
    case_system: CaseSystem | None = None,
    metrics: Metrics | None = None,
    role: Role = "all",
    router: CaseSystemRouter | None = None,
    *,
    clock: Clock | None = None,
    runtime: Runtime | None = None,
    audit: AuditLog | None = None,
) -> Worker:
    """Wire a worker of `role`: app, topics, tables, flows, metrics and the case systems.

    `case_system` alone stands for every route; `router` gives one per council; with
    neither, the settings' `case_system_url` and `case_systems` are reached over HTTP.
    `runtime` (tests): the app, topics and tables to use instead of faust's.
    `audit`: where decisions are accounted for (`run_worker` opens the file chain); none if None.
    """
    settings = role_settings(settings, role).with_weights_file()
    clock = clock or worker_clock(settings)
    metrics = metrics or Metrics(clock=clock.time)
    metrics.set_build(VERSION, RULES_VERSION)
    if router is None:
        router = CaseSystemRouter(case_system) if case_system else router_from_settings(settings)
    deps = Deps(
        settings=settings, router=router, metrics=metrics, clock=clock, audit=audit or NoAudit()
    )
    changelog: list[Callable[[Any], Any]] = []

    async def on_changelog(event: Any) -> None:
        await changelog[0](event)

    runtime = runtime or faust_runtime(settings, role, on_changelog)
    worker = Worker(role, runtime.app, runtime.topics, deps)
    if role != "deliver":
        _decide_side(worker, runtime)
        assert worker.register is not None
        changelog.append(worker.register.on_changelog)
    if role != "decide":
        worker.deliver = DeliverFlow(deps, runtime.topics, runtime.app)
        read = runtime.read_receipts or receipts_tail(settings)
        topics = runtime.topics
        worker.acks = AcknowledgementFlow(
            deps, runtime.app, topics.task_commands, topics.receipts, read
        )
    for flow in worker.flows():
        flow.install(runtime.app)
    consumed = [topic for flow in worker.flows() for topic in flow.CONSUMES]
    consumer_lag.install(runtime.app, metrics, consumed)
    worker.outage = broker_outage.install(
        runtime.app, metrics, settings.broker_probe_interval_s, settings.broker_probe_timeout_s
    )
    _pages(worker)
    return worker


def worker_clock(settings: Settings) -> Clock:
    """The machine's clock, or the soak bench's simulated one when `clock_file` is set."""
    return FileClock(settings.clock_file) if settings.clock_file is not None else SystemClock()


def _decide_side(worker: Worker, runtime: Runtime) -> None:
    """The flows of a worker that decides: ingest, register, decide and late knowledge."""
    deps, app, topics = worker.deps, runtime.app, runtime.topics
    worker.subjects, worker.incident_state = runtime.subjects, runtime.incident_state
    worker.dead_letters = DeadLetters(deps, topics.dead_letter, partial(stop_worker, app))
    redelivery = Redelivery(
        deps.clock,
        lambda flow: deps.metrics.redeliveries.labels(flow).inc(),
        partial(leaving, app),
    )
    index = RegisterIndex()
    incidents = Incidents(deps, runtime.incident_state, app, topics.incidents)
    worker.decide = DecideFlow(deps, topics, incidents, index, worker.dead_letters, redelivery)
    worker.late = LateFlow(deps, topics, incidents, index)
    worker.register = RegisterFlow(
        deps,
        topics,
        runtime.subjects,
        index,
        worker.late,
        worker.dead_letters,
        redelivery,
        register_snapshots(deps.settings, runtime.subjects),
        deps.settings.register_snapshot_interval_s,
    )
    worker.ingest = IngestFlow(deps, topics, worker.decide, worker.dead_letters, redelivery, app)
    worker.retention = RetentionFlow(deps, app, worker.register, incidents, topics.register_events)


def register_snapshots(settings: Settings, subjects: Any) -> RegisterSnapshots | None:
    """The register's snapshot file, unless snapshots are off (or the table is a test's)."""
    topic = getattr(subjects, "changelog_topic_name", None)
    if settings.register_snapshot_interval_s <= 0 or not isinstance(topic, str):
        return None
    return RegisterSnapshots(
        settings.register_snapshot_directory(),
        topic,
        RegisterIndex.key_hash_fingerprint(),
        settings.register_snapshot_max_age_s,
    )


async def stop_worker(app: Any, reason: BaseException) -> None:
    """Stop the worker (its supervisor restarts it); the agent waits to be cancelled."""
    log.critical("stopping the worker: %s", type(reason).__name__)
    await app.crash(reason)
    await asyncio.Event().wait()  # cancelled as the worker stops


def _pages(worker: Worker) -> None:
    """The worker's HTTP endpoints: Prometheus metrics, liveness (/healthz: the process
    answers) and readiness (/readyz: what it waits for, `waiting_for`)."""
    registry = worker.metrics.registry
    index = worker.register.index if worker.register is not None else None

    token = worker.deps.settings.metrics_token

    @worker.app.page("/metrics")
    async def metrics_page(web: Any, request: Any) -> Any:
        if not bearer_matches(request.headers.get("Authorization", ""), token):
            challenge = {"WWW-Authenticate": "Bearer"}
            return web.text("unauthorised\n", status=401, headers=challenge)
        return web.bytes(generate_latest(registry), content_type=METRICS_CONTENT_TYPE)

    @worker.app.page("/healthz")
    async def health_page(web: Any, request: Any) -> Any:
        subjects = len(index) if index is not None else 0
        return web.json({"status": "ok", "role": worker.role, "register_subjects": subjects})

    @worker.app.page("/readyz")
    async def ready_page(web: Any, request: Any) -> Any:
        waiting = waiting_for(worker)
        subjects = len(index) if index is not None else 0
        found = {"ready": not waiting, "role": worker.role, "register_subjects": subjects}
        if waiting:
            return web.json({**found, "waiting_for": waiting}, status=503)
        return web.json(found)


def waiting_for(worker: Worker) -> list[str]:
    """What the worker still waits for before it does its work: faust's recovery of its
    tables and streams (`recovery`), the register index rebuilt from the table (`register`),
    a reachable broker (`broker`). Empty: ready."""
    recovery = getattr(getattr(worker.app, "tables", None), "recovery", None)
    checks = {
        "recovery": recovery is None or recovery.completed.is_set(),
        "register": worker.register is None or worker.register.complete,
        "broker": worker.outage is None or worker.outage.reachable,
    }
    return [name for name, done in checks.items() if not done]


def bearer_matches(header: str, token: SecretStr | None) -> bool:
    """Whether an Authorization header carries the bearer token; any request, without one."""
    if token is None:
        return True
    scheme, _, offered = header.partition(" ")
    expected = token.get_secret_value().encode()
    return scheme.lower() == "bearer" and hmac.compare_digest(offered.strip().encode(), expected)


def run_worker(settings: Settings, role: Role = "all") -> None:
    """Run one worker of `role` until SIGINT/SIGTERM."""
    from faust import Worker as FaustWorker

    (settings.data_dir / "faust").mkdir(parents=True, exist_ok=True)
    # One chain per writing process: a second worker on the same chain is refused.
    chain = settings.audit_chain or "decide"
    audit = None if role == "deliver" else FileAuditLog(settings.audit_directory(), chain)
    worker = build(settings, role=role, audit=audit)
    FaustWorker(worker.app, loglevel=settings.log_level, quiet=True).execute_from_commandline()


def receipts_tail(settings: Settings) -> ReadNew:
    """What is new on the receipts topic, read off the event loop by a consumer in no group."""
    servers = settings.kafka_bootstrap_servers or "127.0.0.1:9092"
    tail = ReceiptsTail(settings, servers, settings.topic("receipts"))

    async def read_new(since: datetime) -> list[bytes]:
        return await asyncio.to_thread(tail.read_new, since)

    return read_new


def router_from_settings(settings: Settings) -> CaseSystemRouter:
    """The case system of `case_system_*` and of each council in `case_systems`, each through
    its adapter (`streams/config/case_systems.py`)."""
    default_timeout = settings.case_system_timeout_s
    default = Route(
        DEFAULT_ROUTE,
        case_system_of(settings, DEFAULT_ROUTE, settings.default_route()),
        default_timeout,
    )
    councils: dict[str, Route] = {}
    for code, config in settings.case_systems.items():
        timeout = config.timeout_s or default_timeout
        councils[code] = Route(code, case_system_of(settings, code, config), timeout)
    return CaseSystemRouter(default, councils)


def case_system_of(settings: Settings, name: str, config: CaseSystemRoute) -> CaseSystem:
    """One route's case system, through the adapter its configuration names."""
    timeout = config.timeout_s or settings.case_system_timeout_s
    if config.adapter == "fhir":
        system = config.fhir.identifier_system or TASK_KEY_SYSTEM
        return FhirCaseSystem(
            config.url, timeout=timeout, token=config.token, identifier_system=system
        )
    store = HttpCaseSystem(config.url, timeout=timeout, token=config.token)
    if config.adapter == "json":
        return store
    mail = config.mail
    assert mail is not None  # CaseSystemRoute's validator
    mailer = SmtpMailer(
        mail.smtp_host,
        mail.smtp_port,
        username=mail.username,
        password=mail.password,
        ca_file=mail.ca_file,
        timeout=mail.timeout_s,
    )
    ledger = SentLedger(mail.ledger_path or settings.data_dir / "mail" / f"{name}.sqlite")
    return MailboxCaseSystem(
        store,
        mailer,
        ledger,
        link_base=mail.link_base,
        sender=mail.sender,
        recipients=mail.recipients,
        timezone=settings.tasks.office_timezone,
    )
