"""Topic provisioning: wanted settings, the plan against a cluster, acting on it (fake admin)."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from connectors.case_system.memory import InMemoryCaseSystem
from connectors.kafka.topics import (
    DAY_MS,
    ROLE_RETENTION_MS,
    Existing,
    TopicSpec,
    bring_in_line,
    changelog,
    plan,
    report,
    wanted_topics,
)
from streams.bootstrap import build
from streams.config.settings import Settings
from streams.config.topics import TOPIC_ROLES
from streams.telemetry.metrics import Metrics

PRODUCTION = Settings(topic_partitions=6, topic_replication=3, topic_min_insync_replicas=2)


def by_name(specs: list[TopicSpec]) -> dict[str, TopicSpec]:
    return {spec.name: spec for spec in specs}


def existing_as(spec: TopicSpec, **changes: Any) -> Existing:
    """The cluster's view of a topic made exactly as `spec` says, with `changes`."""
    fields = {"partitions": spec.partitions, "replication": spec.replication}
    fields["configs"] = dict(spec.configs)
    fields.update(changes)
    return Existing(**fields)


class FakeAdmin:
    """kafka-python's KafkaAdminClient (3.x answers) over a dict of topics, Kafka or Tansu-like."""

    def __init__(self, describes_configs: bool = True) -> None:
        self.topics: dict[str, dict[str, Any]] = {}
        self.describes_configs = describes_configs
        self.calls: list[str] = []

    def list_topics(self) -> list[str]:
        return list(self.topics)

    def describe_topics(self, names: list[str]) -> list[dict[str, Any]]:
        return [
            {
                "name": name,
                "partitions": [
                    {"partition_index": i, "replica_nodes": list(range(t["replication"]))}
                    for i in range(t["partitions"])
                ],
            }
            for name, t in self.topics.items()
            if name in names
        ]

    def describe_configs(self, resources: list[Any], config_filter: str) -> dict[str, Any]:
        assert config_filter == "all"
        return {
            "topic": {
                r.name: {
                    key: {"value": value, "config_source": "DYNAMIC_TOPIC_CONFIG"}
                    for key, value in self.topics[r.name]["configs"].items()
                }
                if self.describes_configs
                else {}
                for r in resources
            }
        }

    def create_topics(self, topics: dict[str, Any], raise_errors: bool) -> dict[str, Any]:
        self.calls.append("create")
        answers = []
        for name, options in topics.items():
            self.topics[name] = {
                "partitions": options["num_partitions"],
                "replication": options["replication_factor"],
                "configs": {"retention.ms": "604800000", **options["configs"]},
            }
            answers.append({"name": name, "error_code": 0, "error_message": None})
        return {"topics": answers}

    def alter_configs(self, resources: list[Any], raise_on_unknown: bool) -> dict[str, Any]:
        self.calls.append("alter")
        for r in resources:
            self.topics[r.name]["configs"].update(r.configs)
        return {"topic": {r.name: "OK" for r in resources}}


def test_every_topic_role_has_a_retention_decided() -> None:
    assert set(ROLE_RETENTION_MS) == set(TOPIC_ROLES)


def test_production_settings_on_every_topic() -> None:
    specs = wanted_topics(PRODUCTION)
    assert len(specs) == len(TOPIC_ROLES) + 2
    for spec in specs:
        assert spec.replication == 3
        assert spec.configs["min.insync.replicas"] == "2"


def test_changelogs_are_compacted_and_the_logs_are_not() -> None:
    specs = by_name(wanted_topics(PRODUCTION))
    register = specs["dvtrigger-register-subjects-changelog"]
    incidents = specs["dvtrigger-incident-state-changelog"]
    assert register.configs["cleanup.policy"] == incidents.configs["cleanup.policy"] == "compact"
    assert (register.partitions, incidents.partitions) == (1, 6)
    for role in TOPIC_ROLES:
        assert specs[PRODUCTION.topic(role)].configs["cleanup.policy"] == "delete"
    # a subject's events fold into one record: compacting them by subject_ref would lose some;
    # they are kept by time, long after every subject they could fold has left scope
    register_events = specs["dvtrigger.register-events"].configs
    assert register_events["retention.ms"] == str(1_100 * DAY_MS)
    assert register_events["retention.bytes"] == "-1"


def test_retention_of_the_decision_log_is_a_setting() -> None:
    default = by_name(wanted_topics(Settings()))["dvtrigger.decisions"]
    assert int(default.configs["retention.ms"]) >= 7 * 365 * DAY_MS
    assert default.configs["retention.bytes"] == "-1"
    kept = by_name(wanted_topics(Settings(decision_log_retention_ms=-1)))["dvtrigger.decisions"]
    assert kept.configs["retention.ms"] == "-1"
    parked = by_name(wanted_topics(Settings()))["dvtrigger.tasks-parked"]
    assert int(parked.configs["retention.ms"]) == 365 * DAY_MS


def test_min_insync_above_replication_is_refused() -> None:
    with pytest.raises(ValueError, match="MIN_INSYNC"):
        wanted_topics(Settings(topic_replication=1, topic_min_insync_replicas=2))


@pytest.mark.parametrize("role", ["decide", "all"])
def test_changelog_names_and_partitions_are_those_of_the_app_tables(role: str) -> None:
    settings = Settings(app_id="site", topic_partitions=5)
    w = build(settings, InMemoryCaseSystem(), Metrics(CollectorRegistry()), role=role)  # type: ignore[arg-type]
    specs = by_name(wanted_topics(settings))
    for table in (w.subjects, w.incident_state):
        name = table.changelog_topic.get_topic_name()
        assert name in specs, name
        assert specs[name].partitions == (table.partitions or settings.topic_partitions)
    assert changelog(settings, "register-subjects") == "site-register-subjects-changelog"
    assert w.subjects.partitions == 1


def test_an_empty_cluster_gets_every_topic() -> None:
    wanted = wanted_topics(PRODUCTION)
    result = plan(wanted, {})
    assert result.create == wanted and not result.alter and not result.drift


def test_a_cluster_in_line_has_nothing_to_do() -> None:
    wanted = wanted_topics(PRODUCTION)
    result = plan(wanted, {spec.name: existing_as(spec) for spec in wanted})
    assert result.nothing_to_do and not result.drift
    assert len(result.in_line) == len(wanted)
    assert report(result, [], dry_run=False) == [
        "nothing to do: every topic exists with its settings"
    ]


def test_drifted_configs_are_set_and_the_rest_left() -> None:
    wanted = wanted_topics(PRODUCTION)
    existing = {spec.name: existing_as(spec) for spec in wanted}
    dead = PRODUCTION.topic("dead-letter")
    existing[dead] = existing_as(
        by_name(wanted)[dead], configs={"cleanup.policy": "delete", "retention.ms": "604800000"}
    )
    result = plan(wanted, existing)
    assert [(a.name, dict(a.changes)) for a in result.alter] == [
        (
            dead,
            {
                "retention.ms": ("604800000", str(365 * DAY_MS)),
                "min.insync.replicas": (None, "2"),
            },
        )
    ]
    assert report(result, [], dry_run=True) == [
        f"would change {dead}: min.insync.replicas None -> 2,"
        f" retention.ms 604800000 -> {365 * DAY_MS}"
    ]


def test_cleanup_policy_lists_compare_as_sets() -> None:
    spec = TopicSpec("t", 1, 1, {"cleanup.policy": "compact,delete"})
    same = Existing(1, 1, {"cleanup.policy": "delete, compact"})
    assert plan([spec], {"t": same}).nothing_to_do


@pytest.mark.parametrize("partitions", [2, 12])
def test_partitions_are_never_changed_only_reported(partitions: int) -> None:
    spec = wanted_topics(PRODUCTION)[0]
    result = plan([spec], {spec.name: existing_as(spec, partitions=partitions)})
    assert result.nothing_to_do and not result.in_line
    assert result.drift == [
        f"{spec.name}: {partitions} partitions, the settings want 6 (partitions are never"
        " changed here: set DVTRIGGER_TOPIC_PARTITIONS to match, or move to new topics; adding"
        " partitions moves keys away from their table's partition)"
    ]


def test_lower_replication_is_reported() -> None:
    spec = wanted_topics(PRODUCTION)[0]
    result = plan([spec], {spec.name: existing_as(spec, replication=1)})
    assert "replication 1, the settings want 3" in result.drift[0]
    assert report(result, [], dry_run=False)[0].startswith(f"left {spec.name}: replication 1")


def test_undescribed_configs_are_not_altered_and_said_so() -> None:
    wanted = wanted_topics(Settings())
    result = plan(wanted, {spec.name: existing_as(spec, configs=None) for spec in wanted})
    assert result.nothing_to_do and len(result.unchecked) == len(wanted)
    lines = report(result, [], dry_run=False)
    assert "the broker did not describe them" in lines[0]
    assert lines[-1].startswith("nothing to do")


def test_running_twice_changes_nothing_the_second_time() -> None:
    admin = FakeAdmin()
    admin.topics["dvtrigger.decisions"] = {
        "partitions": 6,
        "replication": 3,
        "configs": {"cleanup.policy": "delete", "retention.ms": "604800000"},
    }
    wanted = wanted_topics(PRODUCTION)
    first, errors = bring_in_line(admin, wanted)
    assert not errors and len(first.create) == len(wanted) - 1
    assert [a.name for a in first.alter] == ["dvtrigger.decisions"]
    second, errors = bring_in_line(admin, wanted)
    assert not errors and second.nothing_to_do and len(second.in_line) == len(wanted)
    assert admin.calls == ["create"] * (len(wanted) - 1) + ["alter"]


def test_a_dry_run_changes_nothing() -> None:
    admin = FakeAdmin()
    result, _ = bring_in_line(admin, wanted_topics(PRODUCTION), dry_run=True)
    assert len(result.create) == len(TOPIC_ROLES) + 2
    assert admin.topics == {} and admin.calls == []
    assert report(result, [], dry_run=True)[0].startswith("would create dvtrigger.police-incidents")


def test_a_broker_that_does_not_describe_configs_is_created_on_then_left() -> None:
    admin = FakeAdmin(describes_configs=False)
    wanted = wanted_topics(Settings())
    bring_in_line(admin, wanted)
    second, errors = bring_in_line(admin, wanted)
    assert not errors and second.nothing_to_do and len(second.unchecked) == len(wanted)


def test_the_command_refuses_min_insync_above_replication(monkeypatch: pytest.MonkeyPatch) -> None:
    from connectors.cli.main import main

    monkeypatch.setenv("DVTRIGGER_TOPIC_MIN_INSYNC_REPLICAS", "2")
    monkeypatch.setenv("DVTRIGGER_TOPIC_REPLICATION", "1")
    with pytest.raises(SystemExit, match="no write could be acknowledged"):
        main(["topics", "create", "--dry-run", "--bootstrap", "127.0.0.1:1"])
