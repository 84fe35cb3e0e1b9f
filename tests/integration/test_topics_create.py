"""`dvtrigger topics create` on the session broker: creates every topic once, then does nothing."""

from __future__ import annotations

import uuid

import pytest
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType

from connectors.cli.main import main
from connectors.kafka.topics import DAY_MS, wanted_topics
from streams.config.settings import Settings
from tests.support.topics import site_settings

pytestmark = pytest.mark.integration


@pytest.fixture
def site(monkeypatch: pytest.MonkeyPatch, broker: str) -> Settings:
    """Settings of a site of its own on the session broker, as the command reads them."""
    return site_settings(monkeypatch, broker, f"topics-{uuid.uuid4().hex[:8]}")


def test_create_twice_then_nothing_to_do(
    site: Settings, broker: str, capsys: pytest.CaptureFixture[str]
) -> None:
    wanted = {spec.name: spec for spec in wanted_topics(site)}
    assert main(["topics", "create", "--dry-run"]) == 0
    dry = capsys.readouterr().out.splitlines()
    assert sum(line.startswith("would create ") for line in dry) == len(wanted)

    assert main(["topics", "create"]) == 0
    first = capsys.readouterr().out.splitlines()
    assert sorted(line.split()[1] for line in first if line.startswith("created ")) == sorted(
        wanted
    )
    admin = KafkaAdminClient(bootstrap_servers=broker)
    try:
        shapes = {t["name"]: len(t["partitions"]) for t in admin.describe_topics(list(wanted))}
    finally:
        admin.close()
    assert shapes == {name: spec.partitions for name, spec in wanted.items()}

    assert main(["topics", "create"]) == 0
    second = capsys.readouterr().out.splitlines()
    # Tansu describes the configs a topic was created with, and alters them: checked too
    assert second == ["nothing to do: every topic exists with its settings"]


def test_partition_drift_is_left_and_fails(
    site: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["topics", "create"]) == 0
    monkeypatch.setenv("DVTRIGGER_TOPIC_PARTITIONS", "2")
    capsys.readouterr()
    assert main(["topics", "create"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert f"left {site.topic('decisions')}: 3 partitions, the settings want 2" in "\n".join(lines)
    assert not [line for line in lines if line.startswith(("created", "changed"))]


def test_a_drifted_config_is_set_back(
    site: Settings, broker: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["topics", "create"]) == 0
    parked = site.topic("tasks-parked")
    admin = KafkaAdminClient(bootstrap_servers=broker)
    try:
        resource = ConfigResource(ConfigResourceType.TOPIC, parked, {"retention.ms": "60000"})
        assert admin.alter_configs([resource], raise_on_unknown=False) == {"topic": {parked: "OK"}}
        capsys.readouterr()
        assert main(["topics", "create"]) == 0
        assert capsys.readouterr().out.splitlines() == [
            f"changed {parked}: retention.ms 60000 -> {365 * DAY_MS}"
        ]
        described = admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, parked)], config_filter="all"
        )
    finally:
        admin.close()
    assert described["topic"][parked]["retention.ms"]["value"] == str(365 * DAY_MS)
    assert main(["topics", "create"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("nothing to do")
