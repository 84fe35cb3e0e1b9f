"""Task settings: office hours, closure days and the emergency duty team's queue, from the
environment, and the policy they make."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from pydantic import ValidationError

from streams.config.settings import Settings
from streams.config.tasks import TaskSettings
from streams.domain.task_policy import route
from tests.unit.test_deploy import compose
from tests.unit.test_deploy_kubernetes import settings_configmap
from tests.unit.test_settings import clean_env  # noqa: F401  (autouse: no setting leaks in)


def test_defaults() -> None:
    tasks = Settings().tasks
    assert (tasks.trigger_due_working_days, tasks.review_due_working_hours) == (1, 4.0)
    assert (tasks.office_opens, tasks.office_closes) == (time(9), time(17))
    assert tasks.office_weekdays == frozenset({0, 1, 2, 3, 4})
    assert (tasks.office_timezone, tasks.closure_days) == ("Europe/London", frozenset())
    assert (tasks.emergency_duty_queue, tasks.emergency_due_hours) == (None, 4.0)


def test_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in [
        ("TRIGGER_DUE_WORKING_DAYS", "2"),
        ("REVIEW_DUE_WORKING_HOURS", "2.5"),
        ("OFFICE_OPENS", "08:30"),
        ("OFFICE_CLOSES", "17:30"),
        ("OFFICE_WEEKDAYS", "[0,1,2,3]"),
        ("CLOSURE_DAYS", '["2026-12-29", "2026-12-30"]'),
        ("EMERGENCY_DUTY_QUEUE", "edt"),
        ("EMERGENCY_DUE_HOURS", "2"),
    ]:
        monkeypatch.setenv(f"DVTRIGGER_TASKS__{name}", value)
    policy = Settings().tasks.policy()
    assert (policy.trigger_working_days, policy.review_working_hours) == (2, timedelta(hours=2.5))
    assert (policy.calendar.opens, policy.calendar.closes) == (time(8, 30), time(17, 30))
    assert policy.calendar.weekdays == frozenset({0, 1, 2, 3})
    assert policy.calendar.closures == frozenset({date(2026, 12, 29), date(2026, 12, 30)})
    assert (policy.emergency_duty_queue, policy.emergency_due) == ("edt", timedelta(hours=2))


def test_the_policy_routes_by_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    friday = datetime(2026, 12, 4, 17, 15, tzinfo=UTC)  # after closing
    assert route(Settings().tasks.policy(), True, friday).queue == "duty"
    monkeypatch.setenv("DVTRIGGER_TASKS__OFFICE_CLOSES", "17:30")
    assert route(Settings().tasks.policy(), True, friday).due_by == friday + timedelta(days=3)
    monkeypatch.setenv("DVTRIGGER_TASKS__EMERGENCY_DUTY_QUEUE", "edt")
    monkeypatch.setenv("DVTRIGGER_TASKS__OFFICE_CLOSES", "17:00")
    routing = route(Settings().tasks.policy(), True, friday)
    assert (routing.queue, routing.due_by) == ("edt", friday + timedelta(hours=4))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("OFFICE_OPENS", "18:00"),
        ("OFFICE_WEEKDAYS", "[]"),
        ("OFFICE_WEEKDAYS", "[7]"),
        ("OFFICE_TIMEZONE", "Europe/Atlantis"),
        ("TRIGGER_DUE_WORKING_DAYS", "0"),
        ("REVIEW_DUE_WORKING_HOURS", "0"),
        ("EMERGENCY_DUE_HOURS", "-1"),
        ("EMERGENCY_DUTY_QUEUE", ""),
        ("CLOSURE_DAYS", '["2026-02-30"]'),
    ],
)
def test_invalid_values_are_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(f"DVTRIGGER_TASKS__{name}", value)
    with pytest.raises(ValidationError):
        Settings()


@pytest.mark.parametrize(
    ("name", "instead"),
    [
        ("TRIGGER_DUE_HOURS", "DVTRIGGER_TASKS__TRIGGER_DUE_WORKING_DAYS"),
        ("REVIEW_DUE_HOURS", "DVTRIGGER_TASKS__REVIEW_DUE_WORKING_HOURS"),
    ],
)
def test_a_removed_flat_hour_setting_is_refused_saying_what_replaces_it(
    monkeypatch: pytest.MonkeyPatch, name: str, instead: str
) -> None:
    monkeypatch.setenv(f"DVTRIGGER_{name}", "24")
    with pytest.raises(ValidationError, match=f"DVTRIGGER_{name} is no longer read: set {instead}"):
        Settings()


@pytest.mark.parametrize("where", ["compose", "kubernetes"])
def test_the_deploy_files_set_the_defaults(monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    env = (
        compose()["services"]["decide"]["environment"]
        if where == "compose"
        else settings_configmap()
    )
    named = {k: v for k, v in env.items() if k.startswith("DVTRIGGER_TASKS__") and v is not None}
    assert len(named) >= 5
    for name, value in named.items():
        monkeypatch.setenv(name, str(value))
    assert Settings().tasks == TaskSettings()
