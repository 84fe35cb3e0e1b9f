"""The composition root: which flows and tables a worker of each role runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from connectors.case_system.http import HttpCaseSystem
from connectors.case_system.memory import InMemoryCaseSystem
from streams.bootstrap import VERSION, build
from streams.config.settings import Settings
from streams.domain.config import RULES_VERSION
from streams.telemetry.metrics import Metrics


def agents_of(role: str) -> tuple[set[str], object]:
    settings = Settings(app_id="roles", web_port=7001, deliver_web_port=7002)
    w = build(settings, InMemoryCaseSystem(), Metrics(CollectorRegistry()), role=role)  # type: ignore[arg-type]
    names = {agent.name.rsplit(".", 1)[-1] for agent in w.app.agents.values()}
    return names, w


def test_a_worker_of_every_role_runs_every_flow() -> None:
    names, w = agents_of("all")
    assert {"ingest-police-incidents", "decide-incidents", "deliver-tasks", "retry-tasks"} <= names
    assert any("register" in n for n in names)
    assert w.app.conf.id == "roles"  # type: ignore[attr-defined]


def test_the_decide_role_leaves_delivery_out() -> None:
    names, w = agents_of("decide")
    assert not {"deliver-tasks", "retry-tasks"} & names
    assert {"ingest-police-incidents", "decide-incidents"} <= names
    assert w.subjects is not None and w.incident_state is not None  # type: ignore[attr-defined]


def test_the_deliver_role_runs_delivery_alone_in_its_own_group_and_port() -> None:
    names, w = agents_of("deliver")
    assert names == {"deliver-tasks", "retry-tasks"}
    conf = w.app.conf  # type: ignore[attr-defined]
    assert conf.id == "roles-deliver"
    assert conf.web_port == 7002
    assert w.subjects is None and w.incident_state is None  # type: ignore[attr-defined]
    assert w.app.tables.data == {}  # type: ignore[attr-defined]  # no table to recover


@pytest.mark.parametrize("role", ["decide", "deliver"])
def test_the_cli_offers_each_role(role: str) -> None:
    from connectors.cli.main import parser

    assert parser().parse_args(["worker", "--role", role]).role == role


def test_a_worker_routes_by_the_councils_in_its_settings() -> None:
    settings = Settings(
        app_id="routes",
        case_system_url="http://front-door.test",
        case_systems={"E09000014": {"url": "http://haringey.test"}},  # type: ignore[dict-item]
    )
    w = build(settings, metrics=Metrics(CollectorRegistry()), role="deliver")
    assert [r.name for r in w.router.routes()] == ["default", "E09000014"]
    default, haringey = (route.case_system for route in w.router.routes())
    assert isinstance(default, HttpCaseSystem) and isinstance(haringey, HttpCaseSystem)


def test_an_injected_case_system_takes_every_task() -> None:
    fake = InMemoryCaseSystem()
    w = build(Settings(app_id="one"), fake, Metrics(CollectorRegistry()), role="deliver")
    assert w.router.route("E09000014").route.case_system is fake


def test_every_worker_says_its_version_and_rules_version() -> None:
    _, w = agents_of("deliver")
    registry = w.metrics.registry  # type: ignore[attr-defined]
    labels = {"version": VERSION, "rules_version": RULES_VERSION}
    assert registry.get_sample_value("dvtrigger_build_info", labels) == 1


def test_each_council_s_route_is_built_with_the_adapter_its_settings_name(tmp_path: Path) -> None:
    from connectors.case_system.fhir import FhirCaseSystem
    from connectors.case_system.mailbox import MailboxCaseSystem

    mail = {
        "smtp_host": "relay.westminster.test",
        "sender": "dvtrigger@westminster.test",
        "recipients": ["mash@westminster.test"],
        "link_base": "https://inbox.test",
    }
    settings = Settings.model_validate(
        {
            "app_id": "adapters",
            "data_dir": tmp_path,
            "case_system_adapter": "fhir",
            "case_system_url": "https://fhir.front-door.test/R4",
            "case_systems": {
                "E09000014": {"url": "http://haringey.test"},
                "E09000033": {"adapter": "email", "url": "http://inbox.test", "mail": mail},
            },
        }
    )
    w = build(settings, metrics=Metrics(CollectorRegistry()), role="deliver")
    default, haringey, westminster = (route.case_system for route in w.router.routes())
    assert isinstance(default, FhirCaseSystem)
    assert isinstance(haringey, HttpCaseSystem)
    assert isinstance(westminster, MailboxCaseSystem)
    assert (tmp_path / "mail" / "E09000033.sqlite").exists()  # its ledger of mails sent


@pytest.mark.parametrize(
    "route",
    [
        {"adapter": "email", "url": "http://inbox.test"},  # no mailbox
        {"adapter": "json", "url": "http://x.test", "mail": {"smtp_host": "h", "sender": "a@b",
         "recipients": ["c@d"], "link_base": "http://x"}},  # a mailbox on a json route
    ],
)  # fmt: skip
def test_a_route_s_adapter_and_options_must_agree(route: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="adapter is `email`"):
        Settings.model_validate({"case_systems": {"E09000033": route}})
