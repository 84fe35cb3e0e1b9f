"""Prometheus in tests: the metric names a query uses, what dvtrigger exports, a real server.

`selectors` reads enough PromQL (rule expressions, dashboard queries) to name every series
it selects and the labels it matches on. `exported` lists every sample name the worker and
the duty inbox can export, with its label names: a counter `X` exports `X_total`, a
histogram `X_bucket`, `X_count` and `X_sum`. `serve_prometheus` runs Debian's `prometheus`
on a loopback port.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from connectors.kafka.broker import free_port, stop_process

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
RULE_FILES = sorted((PROMETHEUS_DIR / "rules").glob("*.yml"))
MISSING_TOOLS = "promtool/prometheus not installed: `make tools` installs Debian's prometheus"

#: Sample suffixes of each metric type (prometheus_client's exposition).
SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "info": ("_info",),
    "stateset": ("",),
    "unknown": ("",),
}
#: Labels every scraped series has, and those of particular samples.
TARGET_LABELS = frozenset({"job", "instance"})
SAMPLE_LABELS = {"_bucket": frozenset({"le"})}
#: Series Prometheus makes itself.
PROMETHEUS_SERIES = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped", "ALERTS"})

_KEYWORDS = frozenset(
    {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right"}
    | {"bool", "offset", "inf", "nan"}
)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_GRAFANA_VARIABLE = re.compile(r"\$\{[^}]*\}|\$\w+")
_RANGE = re.compile(r"\[[^\]]*\]")
_OFFSET = re.compile(r"\b(offset|@)\s+-?[\w.]+", re.IGNORECASE)
_LABEL_LIST = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_TOKEN = re.compile(r"\{[^}]*\}|(?<![\w.])([A-Za-z_:][A-Za-z0-9_:]*)\s*(\{[^}]*\})?\s*(\()?")
_MATCHER = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)\s*\"")


@dataclass(frozen=True)
class Selector:
    """One series selector in a query: the metric name and the label names it matches on."""

    name: str
    labels: frozenset[str]


def selectors(expr: str) -> list[Selector]:
    """Every series selector of a PromQL expression (Grafana variables allowed)."""
    text = _GRAFANA_VARIABLE.sub("1", expr)
    text = _STRING.sub(lambda m: '"' + "_" * (len(m.group()) - 2) + '"', text)
    for pattern in (_RANGE, _OFFSET, _LABEL_LIST):
        text = pattern.sub(" ", text)
    found = []
    for token in _TOKEN.finditer(text):
        name, braces, call = token.groups()
        if name is None or call or name.lower() in _KEYWORDS:
            continue  # a bare {...}, a function or aggregation, or a keyword
        found.append(Selector(name, frozenset(_MATCHER.findall(braces or ""))))
    return found


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects."""
    return {s.name for s in selectors(expr)}


def exported(registries: Iterable[CollectorRegistry]) -> dict[str, frozenset[str]]:
    """Every sample name the registries can export, with the label names it can carry."""
    samples: dict[str, frozenset[str]] = {}
    for registry in registries:
        for collector in list(registry._collector_to_names):  # the registry's collectors
            declared = _label_names(collector)
            for family in collector.describe() or collector.collect():
                seen = {k for sample in family.samples for k in sample.labels}
                for suffix in SUFFIXES[family.type]:
                    labels = declared | seen | SAMPLE_LABELS.get(suffix, frozenset())
                    samples[family.name + suffix] = frozenset(labels) | TARGET_LABELS
    return samples


def _label_names(collector: Any) -> frozenset[str]:
    """Declared label names: prometheus_client's `_labelnames`, a ScrapeGauge's `labelnames`."""
    return frozenset(
        getattr(collector, "_labelnames", None) or getattr(collector, "labelnames", ())
    )


def dvtrigger_registries(tmp_path: Path) -> list[CollectorRegistry]:
    """The worker's registry and the duty inbox's (on an empty database in `tmp_path`)."""
    from connectors.duty_inbox.metrics import InboxMetrics
    from connectors.duty_inbox.store import TaskStore
    from streams.telemetry.metrics import Metrics

    return [Metrics().registry, InboxMetrics(TaskStore(tmp_path / "inbox.sqlite3")).registry]


def recorded_names() -> set[str]:
    """Series that the rule files record."""
    import yaml

    names = set()
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            names |= {rule["record"] for rule in group["rules"] if "record" in rule}
    return names


def unknown_selectors(
    exprs: Iterable[str], samples: dict[str, frozenset[str]], recorded: set[str]
) -> list[str]:
    """What the expressions select that nobody exports, or by a label it does not have."""
    problems = []
    for expr in exprs:
        for selector in selectors(expr):
            if selector.name in recorded or selector.name in PROMETHEUS_SERIES:
                continue
            labels = samples.get(selector.name)
            if labels is None:
                problems.append(f"{selector.name} is not exported (in {expr!r})")
            elif not selector.labels <= labels | {"__name__"}:
                extra = sorted(selector.labels - labels)
                problems.append(f"{selector.name} has no label {extra} (in {expr!r})")
    return problems


def binary(name: str) -> str | None:
    """The path of `promtool` or `prometheus`, or None when not installed."""
    return shutil.which(name)


@contextmanager
def serve_prometheus(config_file: Path, data_dir: Path) -> Iterator[str]:
    """Run prometheus with `config_file` on a free loopback port; yield its URL; stop it."""
    prometheus = binary("prometheus")
    assert prometheus, MISSING_TOOLS
    port = free_port()
    log = (data_dir / "prometheus.log").open("ab")
    process = subprocess.Popen(
        [
            prometheus,
            f"--config.file={config_file}",
            f"--storage.tsdb.path={data_dir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(process, url)
        yield url
    finally:
        stop_process(process, timeout=10)
        log.close()


def _wait_ready(process: subprocess.Popen[bytes], url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise AssertionError(f"prometheus exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError("prometheus was not ready in time")
        time.sleep(0.2)


def api(url: str, path: str, **params: str) -> Any:
    """The `data` of a Prometheus HTTP API answer."""
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    with urllib.request.urlopen(f"{url}/api/v1/{path}{query}", timeout=5) as response:
        answer = json.loads(response.read())
    assert answer["status"] == "success", answer
    return answer["data"]


def alert_rule(url: str, name: str) -> dict[str, Any]:
    """One alerting rule as Prometheus evaluates it: `state` and its active `alerts`."""
    for group in api(url, "rules", type="alert")["groups"]:
        for rule in group["rules"]:
            if rule["name"] == name:
                return dict(rule)
    raise AssertionError(f"no alerting rule {name} loaded")
