"""Topic provisioning: every topic dvtrigger uses, with its settings, brought in line on a cluster.

`wanted_topics` says what each topic should be, `plan` compares that with what
the cluster has (pure), and `provision` describes the cluster, plans and acts.
It creates what is missing and sets configs that have drifted; running it again
does nothing. It never changes a topic's partitions or replication: more
partitions move keys away from the partitions their tables were written from,
and replication is changed by reassignment, not by a config. Those are reported
for a person to decide, and the command fails.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from streams.config.settings import Settings
from streams.config.topics import TOPIC_ROLES

DAY_MS = 86_400_000
#: retention.ms of each topic role; None: a setting (the decision log's, the register events').
ROLE_RETENTION_MS: dict[str, int | None] = {
    "police-incidents": 14 * DAY_MS,  # the feed: read within seconds; two weeks survive an outage
    "incidents": 14 * DAY_MS,
    "register-events": None,  # settings.retention.register_events_days (docs/operations.md)
    "decisions": None,
    "task-commands": 7 * DAY_MS,
    "task-retries": 7 * DAY_MS,
    "dead-letter": 365 * DAY_MS,  # waits for a person to fix and replay it
    "tasks-parked": 365 * DAY_MS,
    "receipts": 90 * DAY_MS,  # read by the forces and `dvtrigger reconcile --since`
}
#: Topics kept by time alone, whatever the brokers' default retention.bytes.
KEPT_BY_TIME = ("register-events", "decisions")
#: The faust tables (streams/app.py) whose changelogs are compacted, and their partitions:
#: the register is a GlobalTable of one partition; incident state is partitioned like incidents.
TABLES: dict[str, int | None] = {"register-subjects": 1, "incident-state": None}
TOPIC_ALREADY_EXISTS = 36

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TopicSpec:
    """What one topic should be."""

    name: str
    partitions: int
    replication: int
    configs: Mapping[str, str]


@dataclass(frozen=True)
class Existing:
    """What the cluster has for one topic; configs None: the broker did not describe them."""

    partitions: int
    replication: int
    configs: Mapping[str, str] | None


@dataclass(frozen=True)
class Alter:
    """Configs of an existing topic to set: key -> (value on the cluster, value wanted)."""

    name: str
    changes: Mapping[str, tuple[str | None, str]]


@dataclass(frozen=True)
class Plan:
    """What provisioning does, and what it leaves for a person."""

    create: list[TopicSpec] = field(default_factory=list)
    alter: list[Alter] = field(default_factory=list)
    drift: list[str] = field(default_factory=list)
    in_line: list[str] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)

    @property
    def nothing_to_do(self) -> bool:
        """Whether there is nothing to create and no config to set."""
        return not self.create and not self.alter


def changelog(settings: Settings, table: str) -> str:
    """The changelog faust writes for `table`: prefixed by the app id, not the topic prefix."""
    return f"{settings.app_id}-{table}-changelog"


def wanted_topics(settings: Settings) -> list[TopicSpec]:
    """Every topic dvtrigger uses, with its partitions, replication and configs."""
    if settings.topic_min_insync_replicas > settings.topic_replication:
        raise ValueError(
            f"DVTRIGGER_TOPIC_MIN_INSYNC_REPLICAS ({settings.topic_min_insync_replicas}) is more"
            f" than DVTRIGGER_TOPIC_REPLICATION ({settings.topic_replication}): no write could"
            " be acknowledged"
        )
    common = {"min.insync.replicas": str(settings.topic_min_insync_replicas)}
    specs = [
        TopicSpec(
            settings.topic(role),
            settings.topic_partitions,
            settings.topic_replication,
            {**common, **_role_configs(settings, role)},
        )
        for role in TOPIC_ROLES
    ]
    for table, partitions in TABLES.items():
        specs.append(
            TopicSpec(
                changelog(settings, table),
                partitions or settings.topic_partitions,
                settings.topic_replication,
                {**common, "cleanup.policy": "compact"},
            )
        )
    return specs


def _role_configs(settings: Settings, role: str) -> dict[str, str]:
    """cleanup.policy and retention of a topic role."""
    retention = ROLE_RETENTION_MS[role]
    if role == "register-events":
        retention = settings.retention.register_events_days * DAY_MS
    elif retention is None:
        retention = settings.decision_log_retention_ms
    configs = {"cleanup.policy": "delete", "retention.ms": str(retention)}
    if role in KEPT_BY_TIME:
        configs["retention.bytes"] = "-1"
    return configs


def plan(wanted: Sequence[TopicSpec], existing: Mapping[str, Existing]) -> Plan:
    """What to do to bring the cluster (`existing`, by topic name) in line with `wanted`."""
    result = Plan()
    for spec in wanted:
        have = existing.get(spec.name)
        if have is None:
            result.create.append(spec)
            continue
        problems = _shape_drift(spec, have)
        result.drift.extend(problems)
        if have.configs is None:
            result.unchecked.append(spec.name)
            continue
        changes = {
            key: (have.configs.get(key), value)
            for key, value in spec.configs.items()
            if not _same(key, have.configs.get(key), value)
        }
        if changes:
            result.alter.append(Alter(spec.name, changes))
        elif not problems:
            result.in_line.append(spec.name)
    return result


def _shape_drift(spec: TopicSpec, have: Existing) -> list[str]:
    """Partitions and replication that differ from the settings: left for a person."""
    problems = []
    if have.partitions != spec.partitions:
        problems.append(
            f"{spec.name}: {have.partitions} partitions, the settings want {spec.partitions}"
            " (partitions are never changed here: set DVTRIGGER_TOPIC_PARTITIONS to match, or"
            " move to new topics; adding partitions moves keys away from their table's"
            " partition)"
        )
    if have.replication < spec.replication:
        problems.append(
            f"{spec.name}: replication {have.replication}, the settings want"
            f" {spec.replication} (raise it with kafka-reassign-partitions)"
        )
    return problems


def _same(key: str, have: str | None, want: str) -> bool:
    """Whether a topic's config value already is the wanted one."""
    if have is None:
        return False
    if key == "cleanup.policy":
        return set(have.replace(" ", "").split(",")) == set(want.split(","))
    return have == want


def report(result: Plan, errors: Sequence[str], dry_run: bool) -> list[str]:
    """What provisioning did (or would do), one line each, for the operator."""
    lines = []
    verb = ("would create", "would change") if dry_run else ("created", "changed")
    for spec in result.create:
        settings = ", ".join(f"{k}={v}" for k, v in sorted(spec.configs.items()))
        lines.append(
            f"{verb[0]} {spec.name} ({spec.partitions} partitions, replication"
            f" {spec.replication}): {settings}"
        )
    for alter in result.alter:
        changes = ", ".join(f"{k} {old} -> {new}" for k, (old, new) in alter.changes.items())
        lines.append(f"{verb[1]} {alter.name}: {changes}")
    lines += [f"left {problem}" for problem in result.drift]
    if result.unchecked:
        lines.append(
            f"configs not checked on {len(result.unchecked)} existing topics: the broker did"
            " not describe them (DescribeConfigs unsupported or not allowed); they were set only"
            " when created"
        )
    lines += [f"error {error}" for error in errors]
    if result.nothing_to_do and not result.drift and not errors:
        checked = "" if result.unchecked else " with its settings"
        lines.append(f"nothing to do: every topic exists{checked}")
    return lines


def provision(settings: Settings, bootstrap: str, dry_run: bool = False) -> tuple[Plan, list[str]]:
    """Describe the cluster, plan, and (unless `dry_run`) act; return the plan and any errors."""
    from kafka import KafkaAdminClient

    from connectors.kafka.security import client_options

    wanted = wanted_topics(settings)
    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap,
        client_id=f"{settings.app_id}-admin",
        **client_options(settings),
    )
    try:
        return bring_in_line(admin, wanted, dry_run)
    finally:
        admin.close()


def bring_in_line(
    admin: Any, wanted: Sequence[TopicSpec], dry_run: bool = False
) -> tuple[Plan, list[str]]:
    """Plan against what `admin`'s cluster has and (unless `dry_run`) act on the plan."""
    result = plan(wanted, describe(admin, [spec.name for spec in wanted]))
    errors = [] if dry_run else apply(admin, result)
    return result, errors


def describe(admin: Any, names: Sequence[str]) -> dict[str, Existing]:
    """Partitions, replication and configs of those of `names` that exist on the cluster."""
    from kafka.admin import ConfigResource, ConfigResourceType
    from kafka.errors import KafkaError

    present = sorted(set(admin.list_topics()) & set(names))
    if not present:
        return {}
    shapes = {topic["name"]: topic["partitions"] for topic in admin.describe_topics(present)}
    resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in present]
    try:
        described = admin.describe_configs(resources, config_filter="all").get("topic", {})
    except KafkaError:  # no DescribeConfigs (or not allowed): configs unknown, not wrong
        described = {}
    return {
        name: Existing(
            partitions=len(shapes[name]),
            replication=min((len(p["replica_nodes"]) for p in shapes[name]), default=0),
            configs={key: entry["value"] for key, entry in described.get(name, {}).items()} or None,
        )
        for name in present
    }


def apply(admin: Any, result: Plan) -> list[str]:
    """Create the missing topics and set the drifted configs; return what failed."""
    from kafka.admin import ConfigResource, ConfigResourceType

    errors = []
    for spec in result.create:
        options = {
            "num_partitions": spec.partitions,
            "replication_factor": spec.replication,
            "configs": dict(spec.configs),
        }
        answer = admin.create_topics({spec.name: options}, raise_errors=False)
        for topic in answer["topics"]:
            if topic["error_code"] not in (0, TOPIC_ALREADY_EXISTS):
                errors.append(f"creating {topic['name']}: {topic['error_message']}")
    if result.alter:
        resources = [
            ConfigResource(
                ConfigResourceType.TOPIC, a.name, {k: new for k, (_, new) in a.changes.items()}
            )
            for a in result.alter
        ]
        answers = admin.alter_configs(resources, raise_on_unknown=False).get("topic", {})
        errors += [
            f"changing {name}: {answer}" for name, answer in answers.items() if answer != "OK"
        ]
    return errors


def ensure_topics(settings: Settings, bootstrap: str) -> list[str]:
    """Provision every topic (as `dvtrigger topics create`); return the names of those created."""
    result, errors = provision(settings, bootstrap)
    for problem in result.drift:
        log.warning("topic left as it is: %s", problem)
    if errors:
        raise RuntimeError("; ".join(errors))
    return [spec.name for spec in result.create]
