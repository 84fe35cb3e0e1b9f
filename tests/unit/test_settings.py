"""Settings: one frozen object read from the environment, prefixed except for Kafka's address."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from streams.config.settings import Settings
from streams.config.topics import TOPIC_ROLES


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No setting leaks in from the environment the tests run in."""
    for name in list(os.environ):
        if name.startswith("DVTRIGGER_") or name == "KAFKA_BOOTSTRAP_SERVERS":
            monkeypatch.delenv(name)


def test_defaults() -> None:
    settings = Settings()
    assert settings.kafka_bootstrap_servers is None
    assert settings.topic("decisions") == "dvtrigger.decisions"
    assert settings.task_retry_deadline_s == 300.0
    assert settings.case_system_token is None
    assert settings.web_host == "127.0.0.1"


def test_delivery_defaults_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    s = Settings()
    assert (s.breaker_failures, s.breaker_reset_s, s.task_inline_budget_s) == (5, 30.0, 2.0)
    assert (s.task_first_backoff_s, s.task_max_backoff_s, s.case_systems) == (0.2, 30.0, {})
    for name, value in [
        ("BREAKER_FAILURES", "2"),
        ("BREAKER_RESET_S", "0.5"),
        ("TASK_INLINE_BUDGET_S", "0.1"),
        ("TASK_FIRST_BACKOFF_S", "0.05"),
        ("TASK_MAX_BACKOFF_S", "1"),
        ("CASE_SYSTEMS", '{"E09000033": {"url": "http://wm.test"}}'),
    ]:
        monkeypatch.setenv(f"DVTRIGGER_{name}", value)
    s = Settings()
    assert (s.breaker_failures, s.breaker_reset_s, s.task_inline_budget_s) == (2, 0.5, 0.1)
    assert (s.task_first_backoff_s, s.task_max_backoff_s) == (0.05, 1.0)
    assert s.case_systems["E09000033"].url == "http://wm.test"
    assert "task-retries" in TOPIC_ROLES


def test_kafka_bootstrap_servers_is_read_without_the_prefix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "broker-1:9092,broker-2:9092")
    assert Settings().kafka_bootstrap_servers == "broker-1:9092,broker-2:9092"


def test_a_prefixed_kafka_bootstrap_servers_is_not_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DVTRIGGER_KAFKA_BOOTSTRAP_SERVERS", "elsewhere:9092")
    assert Settings().kafka_bootstrap_servers is None


def test_settings_are_read_with_the_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DVTRIGGER_APP_ID", "dvtrigger-haringey")
    monkeypatch.setenv("DVTRIGGER_TASK_RETRY_DEADLINE_S", "12.5")
    monkeypatch.setenv("DVTRIGGER_TOPIC_PARTITIONS", "8")
    monkeypatch.setenv("DVTRIGGER_DATA_DIR", "/srv/dvtrigger")
    monkeypatch.setenv("DVTRIGGER_CASE_SYSTEM_URL", "https://cases.example.test")
    monkeypatch.setenv("TASK_RETRY_DEADLINE_S", "1")  # without the prefix: ignored
    settings = Settings()
    assert settings.app_id == "dvtrigger-haringey"
    assert settings.task_retry_deadline_s == 12.5
    assert settings.topic_partitions == 8
    assert settings.data_dir == Path("/srv/dvtrigger")
    assert settings.case_system_url == "https://cases.example.test"


def test_topic_names_carry_the_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DVTRIGGER_TOPIC_PREFIX", "test-7.")
    settings = Settings()
    assert {settings.topic(role) for role in TOPIC_ROLES} == {
        f"test-7.{role}" for role in TOPIC_ROLES
    }
    assert settings.topic("police-incidents") == "test-7.police-incidents"


def test_the_token_is_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DVTRIGGER_CASE_SYSTEM_TOKEN", "s3cr3t-t0ken")
    settings = Settings()
    assert settings.case_system_token is not None
    assert settings.case_system_token.get_secret_value() == "s3cr3t-t0ken"
    assert "s3cr3t-t0ken" not in repr(settings) and "s3cr3t-t0ken" not in str(settings)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DVTRIGGER_TOPIC_PARTITIONS", "0"),
        ("DVTRIGGER_TASK_RETRY_DEADLINE_S", "0"),
        ("DVTRIGGER_CASE_SYSTEM_TIMEOUT_S", "-1"),
        ("DVTRIGGER_WEB_PORT", "not-a-port"),
        ("DVTRIGGER_BREAKER_FAILURES", "0"),
        ("DVTRIGGER_BREAKER_RESET_S", "-1"),
        ("DVTRIGGER_TASK_INLINE_BUDGET_S", "0"),
        ("DVTRIGGER_TASK_FIRST_BACKOFF_S", "-0.1"),
        ("DVTRIGGER_CASE_SYSTEMS", '{"E09000033": "http://not-a-route"}'),
    ],
)
def test_invalid_values_are_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()


def test_settings_are_frozen() -> None:
    settings = Settings(task_retry_deadline_s=0.01)
    assert settings.task_retry_deadline_s == 0.01
    with pytest.raises(ValidationError):
        settings.task_retry_deadline_s = 5.0  # type: ignore[misc]
    with pytest.raises(ValidationError):
        settings.topic_prefix = "other."  # type: ignore[misc]
    assert settings.topic_prefix == "dvtrigger."


def test_unknown_environment_variables_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DVTRIGGER_NO_SUCH_SETTING", "1")
    assert Settings().app_id == "dvtrigger"
