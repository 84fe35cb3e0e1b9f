"""What a stage's process did while it was measured: CPU time, machine load, a profile."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds `pid` has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def machine_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine so far."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


@contextmanager
def watched(pid: int, figures: dict[str, Any], profile: Path | None = None) -> Iterator[None]:
    """Measure `pid` over the block into `figures`.

    With `profile`, py-spy samples `pid` (idle frames included, so waiting shows)
    and writes collapsed stacks there.
    """
    spy = _py_spy(pid, profile) if profile else None
    cpu0, (busy0, total0), t0 = process_cpu_s(pid), machine_ticks(), time.monotonic()
    try:
        yield
    finally:
        wall = time.monotonic() - t0
        busy1, total1 = machine_ticks()
        figures["process_cpu_share"] = round((process_cpu_s(pid) - cpu0) / wall, 3)
        figures["machine_busy_share"] = round((busy1 - busy0) / max(1, total1 - total0), 3)
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=30)
            figures["profile"] = str(profile)


def _py_spy(pid: int, out: Path) -> subprocess.Popen[bytes] | None:
    """Start py-spy on `pid`, or say why not and return None."""
    binary = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(binary).exists():
        print("bench: py-spy is not installed; no profile", file=sys.stderr)
        return None
    out.parent.mkdir(parents=True, exist_ok=True)
    args = [binary, "record", "--pid", str(pid), "--format", "raw", "--output", str(out)]
    args += ["--rate", "100", "--idle"]
    spy = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)  # let it attach before the clock starts
    return spy


def wait_idle(pid: int, timeout: float, share: float = 0.15, quiet_s: int = 3) -> float:
    """Wait until `pid` has used under `share` of a core for `quiet_s` seconds running.

    The worker answers /healthz with the full register count before it has read the
    changelog of its own writes back, sometimes after a pause; the bench waits for
    that work to end too. Returns the seconds waited.
    """
    start = time.monotonic()
    quiet = 0
    while quiet < quiet_s:
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"process {pid} still busy after {timeout}s")
        before = process_cpu_s(pid)
        time.sleep(1.0)
        quiet = quiet + 1 if process_cpu_s(pid) - before < share else 0
    return time.monotonic() - start - quiet_s
