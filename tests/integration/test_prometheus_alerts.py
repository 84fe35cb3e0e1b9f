"""A real Prometheus scrapes a running worker and its duty inbox with the real deploy/prometheus
config and rules, and sees DeadLetters go from inactive to firing when a poison message lands.
The same server runs every query of the Grafana dashboard."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml
from pydantic import SecretStr

from tests.conftest import record_figures
from tests.support.duty_inbox import serve_duty_inbox
from tests.support.prometheus import (
    MISSING_TOOLS,
    PROMETHEUS_DIR,
    ROOT,
    alert_rule,
    api,
    binary,
    serve_prometheus,
)
from tests.support.stack import Stack, wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(binary("prometheus") is None, reason=MISSING_TOOLS),
]
#: The duty inbox's metrics token here: Prometheus must send it (deploy/prometheus's
#: `authorization: credentials_file:`) for the inbox to be scraped at all.
METRICS_TOKEN = "test-metrics-token-0123456789"


@pytest.fixture
def inbox(tmp_path: Path) -> Iterator[str]:
    """The stack's duty inbox, with its /metrics behind a token."""
    db = tmp_path / "inbox.sqlite3"
    with serve_duty_inbox(db, metrics_token=SecretStr(METRICS_TOKEN)) as url:
        yield url


def _config(stack: Stack, tmp_path: Path) -> Path:
    """A copy of deploy/prometheus with this stack as targets, scraping and evaluating each 1 s."""
    copy = tmp_path / "prometheus"
    shutil.copytree(PROMETHEUS_DIR, copy, ignore=shutil.ignore_patterns("tests"))
    inbox = urlparse(stack.inbox_url).netloc
    targets = {
        "decide": f"127.0.0.1:{stack.settings.web_port}",
        "deliver": f"127.0.0.1:{stack.settings.deliver_web_port}",
        "duty-inbox": inbox,
    }
    for name, target in targets.items():
        (copy / "targets" / f"{name}.yml").write_text(yaml.safe_dump([{"targets": [target]}]))
    config_file = copy / "prometheus.yml"
    config = yaml.safe_load(config_file.read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    token_file = copy / "metrics-token"
    token_file.write_text(METRICS_TOKEN)
    for job in config["scrape_configs"]:
        if "authorization" in job:  # the deployed path, here in the copy
            job["authorization"]["credentials_file"] = str(token_file)
    config_file.write_text(yaml.safe_dump(config))
    return config_file


@pytest.fixture
def prometheus(stack: Stack, tmp_path: Path) -> Iterator[str]:
    """Prometheus on a loopback port, scraping `stack`."""
    with serve_prometheus(_config(stack, tmp_path), tmp_path) as url:
        yield url


def _targets_up(url: str) -> bool:
    active = api(url, "targets", state="active")["activeTargets"]
    return len(active) == 3 and all(target["health"] == "up" for target in active)


def _evaluated_since(url: str, name: str, moment: float) -> dict[str, Any]:
    """The alerting rule once Prometheus has evaluated it after `moment` (Unix time)."""
    rule: dict[str, Any] = {}

    def evaluated() -> bool:
        nonlocal rule
        rule = alert_rule(url, name)
        stamp = rule.get("lastEvaluation", "")[:19]  # RFC 3339 in UTC, to the second
        return (
            bool(stamp) and datetime.fromisoformat(stamp).replace(tzinfo=UTC).timestamp() > moment
        )

    wait_for(f"an evaluation of {name}", evaluated, timeout=15)
    return rule


def _dashboard_queries() -> list[str]:
    """Every query of the dashboard, Grafana's interval variables given values."""
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/dvtrigger.json").read_text())
    panels = [p for row in dashboard["panels"] for p in [row, *row.get("panels", [])]]
    exprs = [t["expr"] for p in panels for t in p.get("targets", [])]
    return [e.replace("$__rate_interval", "1m").replace("$__range", "1h") for e in exprs]


def test_a_poison_message_fires_dead_letters(
    stack: Stack, prometheus: str, request: pytest.FixtureRequest
) -> None:
    wait_for("all three targets scraped", lambda: _targets_up(prometheus), timeout=20)
    assert _evaluated_since(prometheus, "DeadLetters", time.time() + 1)["state"] == "inactive"
    assert alert_rule(prometheus, "WorkerDown")["state"] == "inactive"
    assert alert_rule(prometheus, "Watchdog")["state"] == "firing"
    for query in _dashboard_queries():  # each is valid PromQL: the API answers success
        api(prometheus, "query", query=query)

    planted = time.monotonic()
    stack.produce_raw("police-incidents", b"{not json", key=b"poison")
    wait_for(
        "DeadLetters firing",
        lambda: alert_rule(prometheus, "DeadLetters")["state"] == "firing",
        timeout=30,
    )
    fired = time.monotonic() - planted
    (alert,) = alert_rule(prometheus, "DeadLetters")["alerts"]
    assert alert["labels"]["source"] == "police-incidents"
    assert alert["labels"]["reason"] == "not_json"
    counted = api(prometheus, "query", query="sum(dvtrigger_dead_letters_total)")["result"]
    assert float(counted[0]["value"][1]) == 1
    record_figures(request.config, "prometheus DeadLetters, poison to firing", f"{fired:.1f} s")
