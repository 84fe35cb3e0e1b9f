"""The layers hold: the import-linter contracts pass, and the pure parts load nothing impure.

`make lint` runs the same contracts (`lint-imports`); these tests make `make test` fail too
when the domain gains an import of the broker, HTTP, metrics or a database.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = ROOT / "streams" / "domain"
#: What no pure module may load, even indirectly.
IMPURE = ("faust", "mode", "aiokafka", "kafka", "httpx", "fastapi", "prometheus_client", "sqlite3")


def _loaded_after(statement: str) -> set[str]:
    """Top-level modules a fresh interpreter holds after running `statement`."""
    listing = "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    probe = f"{statement}\nimport sys\n{listing}"
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return set(out.stdout.split())


def test_the_import_contracts_are_kept() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_every_domain_module_loads_without_broker_http_metrics_or_database() -> None:
    modules = sorted(
        ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for path in DOMAIN.rglob("*.py")
    )
    assert "streams.domain.rules" in modules
    loaded = _loaded_after("\n".join(f"import {module}" for module in modules))
    assert sorted(loaded & set(IMPURE)) == []


def test_the_duty_inbox_loads_without_the_matcher() -> None:
    loaded = _loaded_after("import connectors.duty_inbox.app")
    assert "numpy" not in loaded
    assert "faust" not in loaded


@pytest.mark.parametrize("path", sorted(DOMAIN.rglob("*.py")), ids=lambda p: p.name)
def test_the_domain_never_reads_the_clock(path: Path) -> None:
    """Time is passed in: no `now()`, `today()`, `utcnow()` or `time()` call in the domain."""
    calls = [
        node.func.attr
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in {"now", "today", "utcnow", "time", "monotonic"}
    ]
    assert calls == []
