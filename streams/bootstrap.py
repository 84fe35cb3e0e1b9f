"""The composition root: settings, adapters and flows wired into one faust app.

Tests call `build` with their own case system (or router) and metrics registry.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import faust
from prometheus_client import generate_latest

from connectors.case_system.http import HttpCaseSystem
from streams.config.settings import Settings
from streams.domain.config import RULES_VERSION
from streams.domain.ports.case_system import CaseSystem
from streams.domain.ports.routing import DEFAULT_ROUTE, CaseSystemRouter, Route
from streams.domain.tasks import TaskPolicy
from streams.flows import decide as decision_flow
from streams.flows import deliver as task_flow
from streams.flows import ingest as ingest_flow
from streams.flows import late as late_flow
from streams.flows import register as register_flow
from streams.flows.wiring import Topics, Wiring
from streams.telemetry import consumer_lag
from streams.telemetry.metrics import Metrics

log = logging.getLogger(__name__)
VERSION = "0.1.0"
#: Prometheus text format; aiohttp wants the charset apart from the content type.
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4"

Role = Literal["all", "decide", "deliver"]
#: What a worker of each role runs. `decide` and `deliver` split one worker in two processes
#: (as `dvtrigger run` does), so slow case-system calls never take the decisions' event loop.
#: `deliver` runs both delivery agents: first attempts (task commands) and retries.
ROLE_FLOWS: dict[Role, tuple[Any, ...]] = {
    "all": (ingest_flow, register_flow, decision_flow, late_flow, task_flow),
    "decide": (ingest_flow, register_flow, decision_flow, late_flow),
    "deliver": (task_flow,),
}
#: The deliver role's consumer group is its own: it reads only the task commands.
DELIVER_SUFFIX = "-deliver"


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
    return faust.App(
        settings.app_id,
        broker=[f"kafka://{server.strip()}" for server in servers.split(",")],
        store="memory://",
        autodiscover=False,
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication,
        processing_guarantee="at_least_once",  # Tansu refuses aiokafka's transactions
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


def _topics(app: faust.App, settings: Settings) -> Topics:
    """The topics by role; bytes in, bytes out: parsing happens in the flows."""

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
    )


def build(
    settings: Settings,
    case_system: CaseSystem | None = None,
    metrics: Metrics | None = None,
    role: Role = "all",
    router: CaseSystemRouter | None = None,
) -> Wiring:
    """Wire a worker of `role`: app, topics, tables, flows, metrics and the case systems.

    `case_system` alone stands for every route; `router` gives one per council; with
    neither, the settings' `case_system_url` and `case_systems` are reached over HTTP.
    """
    settings = role_settings(settings, role)
    app = faust_app(settings)
    metrics = metrics or Metrics()
    metrics.set_build(VERSION, RULES_VERSION)
    holder: dict[str, Wiring] = {}

    async def on_changelog(event: Any) -> None:
        await register_flow.on_changelog(holder["w"], event)

    flows = ROLE_FLOWS[role]
    tables = register_flow in flows
    subjects = (
        None
        if not tables
        else app.GlobalTable(
            "register-subjects",
            key_type=bytes,
            value_type=bytes,
            partitions=1,  # faust's advice for GlobalTables shared by several workers
            recovery_buffer_size=1,
            use_partitioner=True,
            on_changelog_event=on_changelog,
        )
    )
    # Written after a batch, not inside one event: the partitioner places each key, as it
    # placed the same key on the incidents topic (same bytes, same partition count).
    incident_state = (
        None
        if not tables
        else app.Table("incident-state", key_type=bytes, value_type=bytes, use_partitioner=True)
    )
    if router is None:
        router = CaseSystemRouter(case_system) if case_system else router_from_settings(settings)
    w = Wiring(
        app=app,
        settings=settings,
        metrics=metrics,
        case_system=router.default.case_system,
        router=router,
        role=role,
        topics=_topics(app, settings),
        subjects=subjects,
        incident_state=incident_state,
        rules=settings.rules,
        policy=TaskPolicy.from_hours(settings.trigger_due_hours, settings.review_due_hours),
    )
    holder["w"] = w
    for flow in flows:
        flow.install(w)
    consumed = [role for flow in flows for role in getattr(flow, "CONSUMES", ())]
    consumer_lag.install(app, metrics, consumed)  # a flow that reads no topic declares none
    _pages(w)
    return w


def _pages(w: Wiring) -> None:
    """The worker's HTTP endpoints: Prometheus metrics and a health check."""

    @w.app.page("/metrics")
    async def metrics_page(web: Any, request: Any) -> Any:
        return web.bytes(generate_latest(w.metrics.registry), content_type=METRICS_CONTENT_TYPE)

    @w.app.page("/healthz")
    async def health_page(web: Any, request: Any) -> Any:
        return web.json({"status": "ok", "role": w.role, "register_subjects": len(w.index)})


def run_worker(settings: Settings, role: Role = "all") -> None:
    """Run one worker of `role` until SIGINT/SIGTERM."""
    from faust import Worker

    (settings.data_dir / "faust").mkdir(parents=True, exist_ok=True)
    w = build(settings, role=role)
    Worker(w.app, loglevel=settings.log_level, quiet=True).execute_from_commandline()


def router_from_settings(settings: Settings) -> CaseSystemRouter:
    """An HTTP case system for `case_system_url` and for each council in `case_systems`."""
    default = Route(
        DEFAULT_ROUTE,
        HttpCaseSystem(
            settings.case_system_url,
            timeout=settings.case_system_timeout_s,
            token=settings.case_system_token,
        ),
        settings.case_system_timeout_s,
    )
    councils: dict[str, Route] = {}
    for code, config in settings.case_systems.items():
        timeout = config.timeout_s or settings.case_system_timeout_s
        client = HttpCaseSystem(config.url, timeout=timeout, token=config.token)
        councils[code] = Route(code, client, timeout)
    return CaseSystemRouter(default, councils)
