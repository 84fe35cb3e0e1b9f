"""A broker outage is reported once, kept in a gauge, and reported again when it ends.

The worker runs on a broker of its own, which the test takes away: stopped (connections
refused, aiokafka's flood: 60 to 100 ERROR lines a second per process before the outage was
tracked) or frozen with SIGSTOP (connections hang, aiokafka logs nothing: only the probe can
tell). Both processes must log the outage's start once at ERROR and its end once, show
`dvtrigger_broker_reachable` 0 during it and 1 after, and /readyz false during it.
"""

from __future__ import annotations

import os
import re
import signal
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.kafka.broker import EmbeddedBroker
from tests.conftest import record_fault
from tests.support.duty_inbox import serve_duty_inbox
from tests.support.stack import Stack, metric_value, running_stack, wait_for

pytestmark = pytest.mark.integration

#: A probe every 2 s, unanswered after 3 s: a frozen broker is seen within about 5 s.
PROBE = {"DVTRIGGER_BROKER_PROBE_INTERVAL_S": "2", "DVTRIGGER_BROKER_PROBE_TIMEOUT_S": "3"}
OUTAGE_S = 15.0
#: ERROR lines a process may write over an outage: its start, and a stray one or two.
MOST_ERRORS = 3


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    """A broker for this test alone: it is stopped and started again on the same port."""
    broker = EmbeddedBroker(log_path=tmp_path / "tansu.log").start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def outage_stack(own_broker: EmbeddedBroker, tmp_path: Path) -> Iterator[Stack]:
    with (
        serve_duty_inbox(tmp_path / "inbox.sqlite3") as inbox,
        running_stack(own_broker.bootstrap, inbox, tmp_path, **PROBE) as stack,
    ):
        yield stack


def gauge(url: str, name: str) -> float | None:
    """One label-less sample of a process's /metrics; None when it cannot be read."""
    try:
        with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
            return metric_value(response.read().decode(), name)
    except OSError:
        return None


def ready(url: str) -> bool | None:
    """Whether a process's /readyz says ready; None when it does not answer."""
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=5) as response:
            return bool(response.status == 200)
    except urllib.error.HTTPError as refused:
        return False if refused.code == 503 else None
    except OSError:
        return None


def log_lines(stack: Stack, since: dict[Path, int]) -> dict[str, list[str]]:
    """Each process's log lines written after `since` (byte offsets), by role."""
    found = {}
    for path in sorted(stack.data_dir.glob(f"{stack.settings.app_id}-*.log")):
        text = path.read_bytes()[since.get(path, 0) :].decode(errors="replace")
        found[path.stem.rsplit("-", 1)[1]] = text.splitlines()
    return found


def errors(lines: list[str]) -> list[str]:
    return [line for line in lines if re.search(r"\[(ERROR|CRITICAL)\]", line)]


@pytest.mark.parametrize("fault", ["stopped", "frozen"])
def test_a_broker_outage_is_logged_once_and_kept_in_a_gauge(
    fault: str, outage_stack: Stack, own_broker: EmbeddedBroker, request: pytest.FixtureRequest
) -> None:
    stack = outage_stack
    urls = stack.web_urls
    wait_for("both processes ready", lambda: all(ready(url) for url in urls), timeout=90)
    assert all(gauge(url, "dvtrigger_broker_reachable") == 1.0 for url in urls)
    since = {path: path.stat().st_size for path in stack.data_dir.glob("*.log")}

    began = time.monotonic()
    process = own_broker._proc
    assert process is not None
    if fault == "stopped":
        own_broker.stop()
    else:
        os.kill(process.pid, signal.SIGSTOP)
    try:
        wait_for(
            "the outage in both processes' gauges",
            lambda: all(gauge(url, "dvtrigger_broker_reachable") == 0.0 for url in urls),
            timeout=OUTAGE_S,
        )
        not_ready = [ready(url) for url in urls]
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - began)))
    finally:
        if fault == "stopped":
            own_broker.start()  # the same port; memory storage: the topics are gone
        else:
            os.kill(process.pid, signal.SIGCONT)
    back = time.monotonic()
    wait_for(
        "the broker reachable again in both processes' gauges",
        lambda: all(gauge(url, "dvtrigger_broker_reachable") == 1.0 for url in urls),
        timeout=60,
    )
    recovered = time.monotonic() - back
    suppressed = {url: gauge(url, "dvtrigger_log_records_suppressed_total") or 0.0 for url in urls}
    time.sleep(2)  # the last lines flushed
    logs = log_lines(stack, since)
    seen = {
        role: f"{len(errors(lines))} ERROR of {len(lines)} lines" for role, lines in logs.items()
    }
    record_fault(
        request.config,
        {
            "fault": f"broker {fault} {OUTAGE_S:.0f} s: log lines",
            "recover s": f"{recovered:.1f}",
            "the fault, as the proxy saw it": f"{seen}; suppressed {sorted(suppressed.values())}",
        },
    )
    detail = {"seen": seen, "suppressed": suppressed, "logs": logs}
    assert not_ready == [False, False], detail
    assert set(logs) == {"decide", "deliver"}, detail
    for role, lines in logs.items():
        opened = [line for line in lines if "broker unreachable: " in line]
        closed = [line for line in lines if "broker reachable again after " in line]
        assert len(opened) == 1 and "[ERROR]" in opened[0], (role, detail)
        assert len(closed) == 1, (role, detail)
        assert len(errors(lines)) <= MOST_ERRORS, (role, errors(lines)[:20])
    if fault == "stopped":  # refused connections: the flood was there, and was counted
        assert all(count >= 100 for count in suppressed.values()), detail
    assert all(ready(url) for url in urls), detail
