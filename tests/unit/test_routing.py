"""Per-council routing: a task to its council's case system; an unknown council to the default."""

from __future__ import annotations

import json
import logging
import os

import pytest
from pydantic import ValidationError

from connectors.case_system.http import HttpCaseSystem
from connectors.case_system.memory import InMemoryCaseSystem
from streams.bootstrap import router_from_settings
from streams.config.settings import Settings
from streams.domain.ports.case_system import CaseSystemUnavailable
from streams.domain.ports.routing import CaseSystemRouter, Route
from tests.support.fakes import fake_event, make_worker, sample_value
from tests.support.samples import sample_raise_task

CAMDEN, HARINGEY = "E09000007", "E09000014"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("DVTRIGGER_"):
            monkeypatch.delenv(name)


def router() -> tuple[CaseSystemRouter, InMemoryCaseSystem, InMemoryCaseSystem]:
    default, haringey = InMemoryCaseSystem(), InMemoryCaseSystem()
    return CaseSystemRouter(default, {HARINGEY: Route(HARINGEY, haringey)}), default, haringey


def test_a_council_with_a_route_gets_its_own_case_system() -> None:
    r, _, haringey = router()
    routed = r.route(HARINGEY)
    assert routed.route.case_system is haringey and routed.route.name == HARINGEY
    assert routed.unrouted is None


def test_a_subject_of_no_council_goes_to_the_default_quietly() -> None:
    r, default, _ = router()
    routed = r.route(None)
    assert routed.route.case_system is default and routed.route.name == "default"
    assert routed.unrouted is None


def test_an_unknown_council_goes_to_the_default_and_says_so() -> None:
    r, default, _ = router()
    routed = r.route(CAMDEN)
    assert routed.route.case_system is default
    assert routed.unrouted == "unknown_council"


def test_with_no_council_configured_everything_goes_to_the_one_case_system() -> None:
    only = InMemoryCaseSystem()
    assert CaseSystemRouter(only).route(CAMDEN).unrouted is None
    assert CaseSystemRouter(only).route(CAMDEN).route.case_system is only


def test_routes_are_read_from_the_environment_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    routes = {
        HARINGEY: {"url": "https://haringey.example.test", "token": "t0k", "timeout_s": 3},
        CAMDEN: {"url": "https://camden.example.test"},
    }
    monkeypatch.setenv("DVTRIGGER_CASE_SYSTEMS", json.dumps(routes))
    monkeypatch.setenv("DVTRIGGER_CASE_SYSTEM_TIMEOUT_S", "7")
    r = router_from_settings(Settings())
    assert [route.name for route in r.routes()] == ["default", HARINGEY, CAMDEN]
    assert [route.timeout_s for route in r.routes()] == [7.0, 3.0, 7.0]
    clients = [route.case_system for route in r.routes()]
    assert all(isinstance(c, HttpCaseSystem) for c in clients)
    urls = [str(c._client.base_url) for c in clients]  # type: ignore[attr-defined]
    assert urls[1:] == ["https://haringey.example.test", "https://camden.example.test"]
    auth = [c._client.headers.get("Authorization") for c in clients]  # type: ignore[attr-defined]
    assert auth == [None, "Bearer t0k", None]
    assert "t0k" not in repr(Settings())


@pytest.mark.parametrize(
    "routes", ['{"default": {"url": "http://x"}}', '{"E1": {}}', '{"E1": {"url": "u", "x": 1}}']
)
def test_a_bad_route_map_is_refused(monkeypatch: pytest.MonkeyPatch, routes: str) -> None:
    monkeypatch.setenv("DVTRIGGER_CASE_SYSTEMS", routes)
    with pytest.raises(ValidationError):
        Settings()


def event_for(local_authority: str | None, subject_ref: str = "C1") -> object:
    command = sample_raise_task(subject_ref=subject_ref, local_authority=local_authority)
    value = command.model_dump_json().encode()
    return fake_event(value, key=command.idempotency_key.encode(), topic="t")


async def test_deliver_sends_each_task_to_its_councils_case_system(
    caplog: pytest.LogCaptureFixture,
) -> None:
    r, default, haringey = router()
    w = make_worker(router=r)
    caplog.set_level(logging.WARNING)
    await w.deliver.deliver(event_for(HARINGEY, "C1"))
    await w.deliver.deliver(event_for(None, "C2"))
    await w.deliver.deliver(event_for(CAMDEN, "C3"))
    assert [t.task.subject.subject_ref for t in await haringey.list_tasks()] == ["C1"]
    assert sorted(t.task.subject.subject_ref for t in await default.list_tasks()) == ["C2", "C3"]
    assert sample_value(w, "dvtrigger_tasks_unrouted_total", reason="unknown_council") == 1
    assert sample_value(w, "dvtrigger_council_tasks_total", council=HARINGEY, result="created") == 1
    assert (
        sample_value(w, "dvtrigger_council_tasks_total", council="default", result="created") == 2
    )
    assert CAMDEN in caplog.text  # the council code is logged (codes are not personal data)
    assert w.topics.tasks_parked.sent == [] and w.topics.task_retries.sent == []


async def test_each_route_has_its_own_breaker() -> None:
    r, default, haringey = router()
    w = make_worker(settings=Settings(breaker_failures=1, task_inline_budget_s=0.01), router=r)
    haringey.fail_next(CaseSystemUnavailable("POST /api/tasks: 503", "5xx"))
    await w.deliver.deliver(event_for(HARINGEY, "C1"))
    await w.deliver.deliver(event_for(None, "C2"))
    assert sample_value(w, "dvtrigger_case_system_circuit_state", council=HARINGEY) == 2
    assert sample_value(w, "dvtrigger_case_system_circuit_state", council="default") == 0
    assert len(await default.list_tasks()) == 1
