"""/readyz stays false on a restarted decide worker until its register is loaded, while
/healthz (liveness) answers from the first second."""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from connectors.simulate import simulate
from tests.conftest import record_fault
from tests.support.stack import Stack, running_stack, wait_for

pytestmark = pytest.mark.integration

#: Enough families that reading the register's changelog takes a moment.
FAMILIES = 2000


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=2):
            return True
    except OSError:
        return False


def readings_until_ready(stack: Stack, timeout: float = 120.0) -> list[dict[str, Any]]:
    """/readyz as often as it answers, from the first answer of /healthz until it says ready."""
    deadline = time.monotonic() + timeout
    wait_for("the restarted worker's /healthz", lambda: healthy(stack.web_url), timeout=60)
    readings: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        found = stack.readiness()
        if found is not None:
            readings.append(found)
            if found["ready"]:
                return readings
        time.sleep(0.05)
    raise AssertionError(f"/readyz never said ready: {readings[-3:]}")


def test_readyz_is_false_until_the_register_is_loaded(
    broker: str, inbox: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    # No snapshot: a restart reads the register's whole changelog.
    extra = {"DVTRIGGER_REGISTER_SNAPSHOT_INTERVAL_S": "0"}
    with running_stack(broker, inbox, tmp_path, **extra) as stack:
        wait_for("both processes ready", stack.ready, timeout=90)
        events = simulate(5, FAMILIES, 0).register
        stack.publish("register", events)
        subjects = len({event["subject"]["subject_ref"] for event in events})
        wait_for("the register", lambda: stack.register_size() == subjects, timeout=120)

        stack.workers[0].kill()  # as a crash would
        stack.workers[0].wait(timeout=10)
        began = time.monotonic()
        stack.workers[0] = stack.spawn("decide", name="decide-again")
        readings = readings_until_ready(stack)
        took = time.monotonic() - began

        first_ready = readings[-1]
        waiting = [r for r in readings if not r["ready"]]
        print(f"{len(waiting)} of {len(readings)} readings not ready; ready after {took:.1f} s")
        assert first_ready["role"] == "decide"
        # Recovery is slower than the web server's start (a few seconds at 2,000 families):
        # /healthz answered while /readyz said what it waited for.
        assert waiting, readings
        for reading in waiting:
            assert reading["waiting_for"], reading
            assert set(reading["waiting_for"]) <= {"recovery", "register", "broker"}, reading
        assert any("register" in r["waiting_for"] for r in waiting), waiting[-3:]
        wait_for("the whole register", lambda: stack.register_size() == subjects, timeout=60)
    record_fault(
        request.config,
        {
            "fault": f"decide killed, restarted on {subjects} subjects: /readyz",
            "recover s": f"{took:.1f}",
            "the fault, as the proxy saw it": f"{len(waiting)} of {len(readings)} /readyz"
            f" readings not ready; ready with {first_ready['register_subjects']} subjects",
        },
    )

    # The register recovery barrier (`streams.flows.barrier`) makes recovery read the whole
    # changelog, which Tansu reports short: ready means every subject is in the index.
    assert first_ready["register_subjects"] == subjects, first_ready
