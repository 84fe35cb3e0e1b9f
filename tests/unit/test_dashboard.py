"""The provisioned Grafana dashboard: every panel is titled, has a data source, and queries only
metrics the worker and the duty inbox really export (or the rules record)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.prometheus import (
    ROOT,
    dvtrigger_registries,
    exported,
    recorded_names,
    unknown_selectors,
)

GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARD = json.loads((GRAFANA / "dashboards" / "dvtrigger.json").read_text())
#: The rows the operations issue asks for, by a word of their title.
ROWS = ("Flow in", "Decisions", "Tasks", "Freshness", "Lag", "Errors", "Duty inbox")


def _all_panels(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every panel, those inside collapsed rows too."""
    found = []
    for panel in panels:
        found.append(panel)
        found.extend(_all_panels(panel.get("panels", [])))
    return found


PANELS = _all_panels(DASHBOARD["panels"])
QUERY_PANELS = [panel for panel in PANELS if panel["type"] != "row"]


def _panel_id(panel: dict[str, Any]) -> str:
    return f"{panel['id']}-{panel.get('title', '')}"


def test_panel_ids_are_unique() -> None:
    repeated = [i for i, n in Counter(p["id"] for p in PANELS).items() if n > 1]
    assert not repeated


def test_the_dashboard_has_the_rows_the_issue_asks_for() -> None:
    titles = [panel["title"] for panel in PANELS if panel["type"] == "row"]
    for wanted in ROWS:
        assert any(title.startswith(wanted) for title in titles), wanted


@pytest.mark.parametrize("panel", QUERY_PANELS, ids=_panel_id)
def test_every_panel_has_a_title_a_data_source_and_queries(panel: dict[str, Any]) -> None:
    assert panel.get("title", "").strip()
    assert panel.get("description", "").strip()
    variables = {v["name"] for v in DASHBOARD["templating"]["list"] if v["type"] == "datasource"}
    sources = [panel.get("datasource")] + [t.get("datasource") for t in panel["targets"]]
    for source in sources:
        assert source and source["type"] == "prometheus"
        assert source["uid"].strip("${}") in variables | {_provisioned_uid()}
    assert panel["targets"]
    refs = [target["refId"] for target in panel["targets"]]
    assert len(refs) == len(set(refs))
    assert all(target.get("expr", "").strip() for target in panel["targets"])


def test_every_query_names_a_metric_the_worker_or_the_duty_inbox_exports(tmp_path: Path) -> None:
    samples = exported(dvtrigger_registries(tmp_path))
    exprs = [target["expr"] for panel in QUERY_PANELS for target in panel["targets"]]
    problems = unknown_selectors(exprs, samples, recorded_names())
    assert not problems, "\n".join(problems)


def test_panels_do_not_overlap() -> None:
    taken: dict[tuple[int, int], str] = {}
    for panel in DASHBOARD["panels"]:
        box = panel["gridPos"]
        assert box["x"] + box["w"] <= 24, panel["title"]
        for x in range(box["x"], box["x"] + box["w"]):
            for y in range(box["y"], box["y"] + box["h"]):
                assert (x, y) not in taken, f"{panel['title']} overlaps {taken[(x, y)]}"
                taken[(x, y)] = panel["title"]


def _provisioned_uid() -> str:
    sources = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yml").read_text())
    (source,) = sources["datasources"]
    return str(source["uid"])


def test_the_provisioning_matches_the_compose_mounts_and_the_datasource_variable() -> None:
    compose = yaml.safe_load((ROOT / "deploy/compose/compose.yaml").read_text())
    mounts = dict(volume.split(":")[:2] for volume in compose["services"]["grafana"]["volumes"])
    providers = yaml.safe_load((GRAFANA / "provisioning/dashboards/dvtrigger.yml").read_text())
    (provider,) = providers["providers"]
    assert mounts["../grafana/dashboards"] == provider["options"]["path"]
    assert mounts["../grafana/provisioning"] == "/etc/grafana/provisioning"
    sources = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yml").read_text())
    assert sources["datasources"][0]["url"] == "http://prometheus:9090"
    assert "prometheus" in compose["services"]
    (variable,) = DASHBOARD["templating"]["list"]
    assert variable["current"]["value"] == _provisioned_uid()
