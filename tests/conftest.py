"""Suite-wide hooks: figures measured by tests are printed in the terminal summary."""

from __future__ import annotations

from typing import Any

import pytest

FIGURES = pytest.StashKey[dict[str, Any]]()


def record_figures(config: pytest.Config, name: str, figures: Any) -> None:
    """Keep figures (e.g. the dev-set score) to print at the end of the run."""
    config.stash.setdefault(FIGURES, {})[name] = figures


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Print every figure the tests recorded, so CI logs carry them."""
    figures = config.stash.get(FIGURES, {})
    if not figures:
        return
    terminalreporter.section("dvtrigger figures")
    for name, value in figures.items():
        terminalreporter.write_line(f"{name}: {value}")
