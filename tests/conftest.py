"""Suite-wide hooks: figures measured by tests are printed in the terminal summary, and the
fault tests are kept to one process when the suite runs in several (pytest-xdist)."""

from __future__ import annotations

import json
from pathlib import PurePosixPath
from typing import Any

import pytest

FIGURES = pytest.StashKey[dict[str, Any]]()
FAULTS = pytest.StashKey[list[dict[str, Any]]]()
#: The columns of the delivery faults table, in order.
FAULT_COLUMNS = (
    "fault",
    "messages sent",
    "task commands",
    "tasks expected",
    "tasks found",
    "duplicates",
    "missing",
    "recover s",
    "the fault, as the proxy saw it",
)


def record_figures(config: pytest.Config, name: str, figures: Any) -> None:
    """Keep figures (e.g. the dev-set score) to print at the end of the run."""
    config.stash.setdefault(FIGURES, {})[name] = figures


def record_fault(config: pytest.Config, row: dict[str, Any]) -> None:
    """Keep one fault test's figures (keys: FAULT_COLUMNS) for the delivery faults table."""
    config.stash.setdefault(FAULTS, []).append(row)


def fault_table(rows: list[dict[str, Any]]) -> list[str]:
    """The delivery faults as a Markdown table, one row per fault test."""
    cells = [[str(row.get(column, "")) for column in FAULT_COLUMNS] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(FAULT_COLUMNS)]

    def line(values: list[str] | tuple[str, ...]) -> str:
        return "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return [line(FAULT_COLUMNS), rule, *(line(r) for r in cells)]


#: Modules whose tests plant faults in a running stack, stop processes and wait out outages:
#: under `make test` (pytest-xdist) they run one after another in one process, while the rest
#: of the suite shares the other core. Two of them at once would each slow the other's
#: workers and make the timings they wait on less certain.
SERIAL_MODULES = frozenset(
    {
        "test_broker_faults",
        "test_broker_outage_logs",
        "test_delivery_faults",
        "test_readiness",
        "test_register_restart",
        "test_retry_shutdown",
        "test_s3_broker",
        "test_worker_faults",
    }
)
#: The key of the figures a pytest-xdist worker hands to the controller when it finishes.
WORKER_OUTPUT = "dvtrigger_figures"


def scope_of(nodeid: str) -> str:
    """What pytest-xdist hands to one process whole: the fault modules together, any other
    module on its own (its module-scoped broker, replay or browser is set up once)."""
    module = nodeid.split("::", 1)[0]
    return "faults" if PurePosixPath(module).stem in SERIAL_MODULES else module


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Schedule by `scope_of`. (Not `--dist loadgroup` with `xdist_group` marks: pytest 9.2
    ignores the node ids pytest-xdist 3.8 rewrites for them, pytest-xdist#1386.)"""
    from xdist.scheduler import LoadScopeScheduling

    class SuiteScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return scope_of(nodeid)

    return SuiteScheduling(config, log)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """In a pytest-xdist worker: hand this process's figures to the controller."""
    config = session.config
    output = getattr(config, "workeroutput", None)
    if output is not None:
        figures = {"figures": config.stash.get(FIGURES, {}), "faults": config.stash.get(FAULTS, [])}
        output[WORKER_OUTPUT] = json.dumps(figures, default=str)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """In the pytest-xdist controller: keep the figures a worker handed over."""
    handed = getattr(node, "workeroutput", {}).get(WORKER_OUTPUT)
    if handed:
        figures = json.loads(handed)
        for name, value in figures["figures"].items():
            record_figures(node.config, name, value)
        for row in figures["faults"]:
            record_fault(node.config, row)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Print every figure the tests recorded, so CI logs carry them."""
    figures = config.stash.get(FIGURES, {})
    if figures:
        terminalreporter.section("dvtrigger figures")
        for name, value in figures.items():
            terminalreporter.write_line(f"{name}: {value}")
    faults = config.stash.get(FAULTS, [])
    if faults:
        terminalreporter.section("delivery faults")
        for text in fault_table(sorted(faults, key=lambda row: str(row["fault"]))):
            terminalreporter.write_line(text)


@pytest.fixture(autouse=True)
def _gc_thresholds() -> Any:
    """Each test starts with the collector's thresholds as the last left them: a flow that
    settles the heap (`streams.flows.heap.settle`) changes them for the whole process."""
    import gc

    thresholds = gc.get_threshold()
    yield
    gc.set_threshold(*thresholds)
