"""The allocator a supervisor starts worker processes on (`connectors/cli/allocator.py`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from connectors.cli.allocator import (
    MALLOC_CONF,
    allocator_env,
    describe,
    find_jemalloc,
)

LIBRARY = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"


def test_a_child_is_started_on_jemalloc_when_it_is_there() -> None:
    env = allocator_env({}, library=LIBRARY)
    assert env == {"LD_PRELOAD": LIBRARY, "PYTHONMALLOC": "malloc", "MALLOC_CONF": MALLOC_CONF}
    assert describe(env) == "jemalloc"


def test_the_system_allocator_can_be_chosen() -> None:
    assert allocator_env({"DVTRIGGER_ALLOCATOR": "system"}, library=LIBRARY) == {}
    assert describe({}) == "pymalloc over glibc"


def test_a_preload_already_set_is_kept_after_jemalloc_and_not_doubled() -> None:
    env = allocator_env({"LD_PRELOAD": f"/opt/faketime.so {LIBRARY}"}, library=LIBRARY)
    assert env["LD_PRELOAD"] == f"{LIBRARY} /opt/faketime.so"


def test_the_first_library_there_is_found(tmp_path: Path) -> None:
    there = tmp_path / "b" / "libjemalloc.so.2"
    there.parent.mkdir()
    there.write_bytes(b"")
    missing = str(tmp_path / "a" / "libjemalloc.so.2")
    assert find_jemalloc([missing, str(there)]) == str(there)
    assert find_jemalloc([missing]) is None


@pytest.mark.skipif(find_jemalloc() is None, reason="libjemalloc2 is not installed (make tools)")
def test_a_process_started_with_it_runs_on_jemalloc() -> None:
    maps = "import pathlib; print(pathlib.Path('/proc/self/maps').read_text())"
    env = {"PATH": "/usr/bin:/bin", **allocator_env({})}
    out = subprocess.run(
        [sys.executable, "-c", maps], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert "libjemalloc.so.2" in out
