"""Suite-wide hooks: figures measured by tests are printed in the terminal summary."""

from __future__ import annotations

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
