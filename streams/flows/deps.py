"""What every flow is given, once, by the composition root: settings, ports, metrics, one clock.

Frozen: a flow keeps its own state (the register index, the recent incidents, the
circuit breakers) on itself, never here. The topics are the flows' way out to the broker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from streams.config.settings import Settings
from streams.domain.config import RulesConfig
from streams.domain.ports.audit import AuditLog, NoAudit
from streams.domain.ports.routing import CaseSystemRouter
from streams.domain.task_policy import TaskPolicy
from streams.flows.clock import Clock
from streams.telemetry.metrics import Metrics


@dataclass(frozen=True)
class Deps:
    """The dependencies of every flow; built once, never changed."""

    settings: Settings
    router: CaseSystemRouter
    metrics: Metrics
    clock: Clock
    #: Where decisions and task commands are accounted for (`connectors.audit`); none in tests.
    audit: AuditLog = field(default_factory=NoAudit)

    @property
    def rules(self) -> RulesConfig:
        """The rule's thresholds and weights, from the settings."""
        return self.settings.rules

    @property
    def auditing(self) -> bool:
        """Whether an audit log keeps what is appended (building a decision's record costs)."""
        return not isinstance(self.audit, NoAudit)

    @cached_property
    def policy(self) -> TaskPolicy:
        """When tasks fall due and which queue takes them, from the settings."""
        return self.settings.tasks.policy()


@dataclass
class Topics:
    """The topics the flows read and write, by role (faust topics, or fakes in tests)."""

    police_incidents: Any
    register_events: Any
    incidents: Any
    decisions: Any
    task_commands: Any
    task_retries: Any
    dead_letter: Any
    tasks_parked: Any
    receipts: Any


def leaving(app: Any) -> bool:
    """Whether the worker is stopping or its partitions are being reassigned (faust's app)."""
    return bool(getattr(app, "should_stop", False) or getattr(app, "rebalancing", False))
