"""What the flows share: the faust app, its topics and tables, the register, the ports."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import faust

from streams.config.settings import Settings
from streams.domain.config import RulesConfig
from streams.domain.late import RecentIncidents
from streams.domain.ports.case_system import CaseSystem
from streams.domain.ports.routing import CaseSystemRouter
from streams.domain.register.index import RegisterIndex
from streams.domain.tasks import TaskPolicy
from streams.flows.breaker import Breaker
from streams.telemetry.metrics import Metrics


@dataclass
class Topics:
    """The topics the flows read and write, by role."""

    police_incidents: Any
    register_events: Any
    incidents: Any
    decisions: Any
    task_commands: Any
    task_retries: Any
    dead_letter: Any
    tasks_parked: Any


@dataclass
class Wiring:
    """Everything a flow needs, built once by the composition root (`streams.bootstrap`)."""

    app: faust.App
    settings: Settings
    metrics: Metrics
    case_system: CaseSystem
    topics: Topics
    subjects: Any
    incident_state: Any
    rules: RulesConfig = field(default_factory=RulesConfig)
    policy: TaskPolicy = field(default_factory=TaskPolicy)
    index: RegisterIndex = field(default_factory=RegisterIndex)
    #: Held while a batch of incidents is decided (ingest and decide agents both decide).
    decide_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    #: Which flows this worker runs (`streams.bootstrap.ROLE_FLOWS`).
    role: str = "all"
    #: Subject records this worker wrote and has not yet seen come back on the changelog.
    own_writes: dict[bytes, bytes] = field(default_factory=dict)
    #: Recent incidents this worker owns, by blocking key: re-decided when the register changes.
    recent: RecentIncidents = field(default_factory=RecentIncidents)
    #: Rebuilds done since the last recovery began (`streams.flows.late.table_recovered`).
    recovered: set[str] = field(default_factory=set)
    #: The re-check of the recent incidents after the last recovery, while it runs.
    recheck: asyncio.Task[int] | None = None
    #: The time (re-decisions are dated and the recent window judged by it); tests set it.
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    #: Case systems by council; None: every task goes to `case_system`.
    router: CaseSystemRouter = field(default=None)  # type: ignore[assignment]
    #: One circuit breaker per route name, made when the route is first used.
    breakers: dict[str, Breaker] = field(default_factory=dict)
    #: Wall-clock seconds (retry headers are read by other processes) and a sleep; tests set them.
    now: Callable[[], float] = field(default=time.time)
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep)

    def __post_init__(self) -> None:
        if self.router is None:
            self.router = CaseSystemRouter(self.case_system)
