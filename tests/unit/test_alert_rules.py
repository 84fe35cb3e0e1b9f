"""The alert rules in deploy/prometheus: valid, unit-tested by promtool, documented, and about
metrics the worker and the duty inbox really export."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.prometheus import (
    MISSING_TOOLS,
    PROMETHEUS_DIR,
    ROOT,
    RULE_FILES,
    binary,
    dvtrigger_registries,
    exported,
    recorded_names,
    unknown_selectors,
)

TEST_FILES = sorted((PROMETHEUS_DIR / "tests").glob("*.yml"))
SEVERITIES = {"critical", "warning", "none"}
#: Labels an annotation may show: bounded values only, never personal data.
SHOWN_LABELS = {"source", "reason", "topic", "council", "kind", "job", "instance"}
#: Alerts that cannot be quiet, so have no test where they do not fire.
ALWAYS_FIRING = {"Watchdog"}

needs_promtool = pytest.mark.skipif(binary("promtool") is None, reason=MISSING_TOOLS)


def _rules() -> list[dict[str, Any]]:
    return [
        rule
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
    ]


ALERTS = {rule["alert"]: rule for rule in _rules() if "alert" in rule}


def _promtool(*args: str | Path) -> str:
    done = subprocess.run(
        [str(binary("promtool")), *map(str, args)],
        cwd=PROMETHEUS_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@needs_promtool
def test_promtool_checks_the_rules() -> None:
    _promtool("check", "rules", *RULE_FILES)


@needs_promtool
def test_the_rules_pass_their_promtool_unit_tests() -> None:
    _promtool("test", "rules", *TEST_FILES)


def test_the_alerts_the_issue_asks_for_are_there() -> None:
    assert {
        "DeadLetters",
        "TasksParked",
        "TriggerFreshnessBurnFast",
        "TriggerFreshnessBurnSlow",
        "ConsumerTimeLag",
        "CaseSystemErrorRatio",
        "CaseSystemCircuitOpen",
        "PoliceFeedQuiet",
        "RegisterFeedStale",
        "TasksOverdue",
        "WorkerDown",
        "Watchdog",
    } <= set(ALERTS)


@pytest.mark.parametrize("name", sorted(ALERTS))
def test_every_alert_has_a_severity_a_summary_a_description_and_a_runbook(name: str) -> None:
    rule = ALERTS[name]
    assert rule["labels"]["severity"] in SEVERITIES
    for annotation in ("summary", "description", "runbook"):
        assert len(rule["annotations"].get(annotation, "").split()) >= 4, annotation


@pytest.mark.parametrize("name", sorted(ALERTS))
def test_alert_text_shows_only_bounded_labels(name: str) -> None:
    text = " ".join(ALERTS[name]["annotations"].values())
    shown = set(re.findall(r"\$labels\.(\w+)", text))
    assert shown <= SHOWN_LABELS
    assert "$value" not in text  # a value is a count or a ratio; the labels say the rest


def _cases() -> dict[str, dict[str, int]]:
    """Per alert, how many promtool checks expect it to fire and how many expect silence."""
    cases: dict[str, dict[str, int]] = {}
    for path in TEST_FILES:
        for group in yaml.safe_load(path.read_text())["tests"]:
            for check in group.get("alert_rule_test", []):
                seen = cases.setdefault(check["alertname"], {"fires": 0, "quiet": 0})
                seen["fires" if check.get("exp_alerts") else "quiet"] += 1
    return cases


@pytest.mark.parametrize("name", sorted(ALERTS))
def test_every_alert_has_unit_tests_where_it_fires_and_where_it_does_not(name: str) -> None:
    seen = _cases().get(name, {"fires": 0, "quiet": 0})
    assert seen["fires"] >= 1, f"no promtool test sees {name} fire"
    if name not in ALWAYS_FIRING:
        assert seen["quiet"] >= 1, f"no promtool test sees {name} stay quiet"


def test_unit_tests_name_only_alerts_that_exist() -> None:
    assert set(_cases()) <= set(ALERTS)


def test_every_rule_selects_what_the_worker_or_the_duty_inbox_exports(tmp_path: Path) -> None:
    samples = exported(dvtrigger_registries(tmp_path))
    problems = unknown_selectors([rule["expr"] for rule in _rules()], samples, recorded_names())
    assert not problems, "\n".join(problems)


CONFIGS = ("prometheus.yml", "prometheus-kubernetes.yml")
JOBS = {"dvtrigger-decide", "dvtrigger-deliver", "dvtrigger-duty-inbox"}


@needs_promtool
@pytest.mark.parametrize("name", CONFIGS)
def test_promtool_checks_each_config(name: str) -> None:
    _promtool("check", "config", PROMETHEUS_DIR / name)


@pytest.mark.parametrize("name", CONFIGS)
def test_each_config_scrapes_the_jobs_the_alerts_expect(name: str) -> None:
    config = yaml.safe_load((PROMETHEUS_DIR / name).read_text())
    assert {job["job_name"] for job in config["scrape_configs"]} == JOBS
    assert all(job in ALERTS["WorkerDown"]["expr"] for job in JOBS)
    assert config["rule_files"] == ["rules/*.yml"]


def test_compose_runs_this_config_and_its_targets_are_compose_services() -> None:
    compose = yaml.safe_load((ROOT / "deploy/compose/compose.yaml").read_text())
    prometheus = compose["services"]["prometheus"]
    assert "../prometheus:/etc/prometheus:ro" in prometheus["volumes"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    for job in config["scrape_configs"]:
        for discovery in job["file_sd_configs"]:
            for name in discovery["files"]:
                groups = yaml.safe_load((PROMETHEUS_DIR / name).read_text())
                for target in (t for group in groups for t in group["targets"]):
                    host, port = target.split(":")
                    assert host in compose["services"], target
                    assert port.isdigit()


def test_the_kubernetes_targets_are_the_services_and_their_metrics_ports() -> None:
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus-kubernetes.yml").read_text())
    services = {
        doc["metadata"]["name"]: doc
        for doc in yaml.safe_load_all((ROOT / "deploy/kubernetes/services.yaml").read_text())
        if doc and doc["kind"] == "Service"
    }
    namespace = yaml.safe_load((ROOT / "deploy/kubernetes/kustomization.yaml").read_text())
    for job in config["scrape_configs"]:
        (discovery,) = job["dns_sd_configs"]
        (dns_name,) = discovery["names"]
        service = services[job["job_name"]]
        assert dns_name == f"{job['job_name']}.{namespace['namespace']}.svc.cluster.local"
        annotations = service["metadata"]["annotations"]
        assert str(discovery["port"]) == annotations["prometheus.io/port"]
