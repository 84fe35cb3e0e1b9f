"""The Metrics table of docs/operations.md is the catalogue: it and the metrics modules name
the same metrics with the same labels, every metric has a one-line meaning, and every label is
bounded."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase

from connectors.duty_inbox.metrics import InboxMetrics
from connectors.duty_inbox.store import TaskStore
from connectors.file_drop.metrics import DropMetrics
from connectors.ingress.metrics import IngressMetrics
from streams.telemetry.metrics import Metrics
from streams.telemetry.scrape_gauge import ScrapeGauge

CATALOGUE = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
#: Labels whose values come from a fixed, small set (or the councils configured).
BOUNDED_LABELS = {
    "reason",  # reason class
    "path",
    "kind",
    "decision",
    "outcome",
    "rule",
    "result",
    "type",  # register event type
    "flow",  # ingest, decide, register
    "council",  # route name: a council code or `default`
    "error",
    "status",  # status class
    "topic",  # topic role
    "source",  # topic role
    "version",
    "rules_version",
    "force",  # force code: one per force the ingress is configured for
    "stage",  # receipt stage: received, rejected, decided, task_raised, task_acknowledged
    "why",  # why a watch ended: expired, not_found
}
PROCESSES = {"decide", "deliver", "both", "duty inbox", "ingress", "file drop"}
#: Each process that is not a worker, and the prefix of its metrics.
PREFIXES = {
    "duty inbox": "dvtrigger_duty_inbox_",
    "ingress": "dvtrigger_ingress_",
    "file drop": "dvtrigger_file_drop_",
}
_ROW = re.compile(r"^\| `(?P<name>[a-z_]+)(?:\{(?P<labels>[a-z_,]+)\})?` \| (?P<from>[a-z ]+) \|")
_SUFFIX = {"counter": "_total", "info": "_info"}


def catalogue() -> dict[str, tuple[tuple[str, ...], str]]:
    """The Metrics table of docs/operations.md: name -> (labels, process)."""
    text = CATALOGUE.read_text()
    section = text[
        text.index("\n## Metrics\n") : text.index("\n## ", text.index("\n## Metrics\n") + 1)
    ]
    rows: dict[str, tuple[tuple[str, ...], str]] = {}
    for line in section.splitlines():
        found = _ROW.match(line)
        if found:
            assert found["name"] not in rows, f"{found['name']} is listed twice"
            labels = tuple(found["labels"].split(",")) if found["labels"] else ()
            rows[found["name"]] = (labels, found["from"].strip())
    return rows


def declared(owner: Any) -> dict[str, tuple[tuple[str, ...], str]]:
    """The metrics an object declares: exposed name -> (labels, help text)."""
    found: dict[str, tuple[tuple[str, ...], str]] = {}
    for metric in vars(owner).values():
        if isinstance(metric, ScrapeGauge):
            found[metric.name] = (metric.labelnames, metric.documentation)
        elif isinstance(metric, MetricWrapperBase):
            name = metric._name + _SUFFIX.get(metric._type, "")
            found[name] = (_labels(metric), metric._documentation)
    return found


def _labels(metric: MetricWrapperBase) -> tuple[str, ...]:
    """A metric's label names; an Info's are the keys it was given."""
    if metric._type != "info":
        return tuple(metric._labelnames)
    (family,) = metric.collect()
    return tuple(family.samples[0].labels)


def every_metric(tmp_path: Path) -> dict[str, tuple[tuple[str, ...], str]]:
    worker, inbox = Metrics(CollectorRegistry()), InboxMetrics(TaskStore(tmp_path / "i.sqlite3"))
    worker.set_build("0.0.0", "rules/0")
    ingress, drop = IngressMetrics(CollectorRegistry()), DropMetrics(CollectorRegistry())
    owners = (worker, inbox, ingress, drop)
    both: dict[str, tuple[tuple[str, ...], str]] = {}
    for owner in owners:
        both |= declared(owner)
    registered = {m.name for owner in owners for m in owner.registry.collect()}
    exposed = {name.removesuffix("_total").removesuffix("_info") for name in both}
    assert registered == exposed, "a metric is registered that is no attribute, or the reverse"
    return both


def test_the_catalogue_lists_every_metric_and_no_other(tmp_path: Path) -> None:
    metrics = every_metric(tmp_path)
    listed = catalogue()
    assert sorted(set(metrics) - set(listed)) == [], "declared, missing from docs/operations.md"
    assert sorted(set(listed) - set(metrics)) == [], "in docs/operations.md, declared nowhere"


def test_the_catalogue_gives_each_metric_its_labels_and_its_process(tmp_path: Path) -> None:
    metrics = every_metric(tmp_path)
    for name, (labels, process) in catalogue().items():
        assert labels == metrics[name][0], name
        assert process in PROCESSES, name
        for other, prefix in PREFIXES.items():
            assert (process == other) == name.startswith(prefix), name


def test_every_metric_has_a_one_line_meaning_and_bounded_labels(tmp_path: Path) -> None:
    for name, (labels, meaning) in every_metric(tmp_path).items():
        assert name.startswith("dvtrigger_"), name
        assert meaning.strip() and "\n" not in meaning and len(meaning) < 250, name
        assert set(labels) <= BOUNDED_LABELS, f"{name}: {set(labels) - BOUNDED_LABELS}"


def test_the_catalogue_parser_reads_rows_with_and_without_labels() -> None:
    row = "| `dvtrigger_x_total{a,b}` | deliver | Something. |"
    found = _ROW.match(row)
    assert found is not None and (found["name"], found["labels"]) == ("dvtrigger_x_total", "a,b")
    assert _ROW.match("| `dvtrigger_y` | duty inbox | Else. |") is not None
    assert len(catalogue()) >= 30
