"""Schemathesis against the live ingress: no 5xx, nothing invalid accepted, the document exact.

`st run --checks all` on the HTTPS ingress (uvicorn on loopback, the session broker),
authenticated by a force's API key; the `ignored_auth` check also sends requests without
it. The case count and failures are printed (`pytest -s`) and kept in the JSON report.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from connectors.kafka.topics import ensure_topics
from streams.domain.parsing import parse_incident
from tests.conftest import record_figures
from tests.support.ingress import API_KEYS, live_ingress
from tests.support.topics import read_topic

pytestmark = pytest.mark.integration
MAX_EXAMPLES = int(os.environ.get("INGRESS_FUZZ_EXAMPLES", "300"))
SEED = os.environ.get("INGRESS_FUZZ_SEED", "20261203")


def test_schemathesis_finds_no_server_error_and_no_accepted_invalid_input(
    pytestconfig: pytest.Config, broker: str, tmp_path: Path
) -> None:
    fast = {"rate_per_s": 1e6, "burst": 1_000_000}
    with live_ingress(broker, tmp_path, **fast) as live:
        ensure_topics(live.settings, broker)
        report = tmp_path / "schemathesis.json"
        st = Path(sys.executable).with_name("st")
        command = [
            str(st),
            "run",
            f"{live.url}/openapi.json",
            "--checks=all",
            f"--max-examples={MAX_EXAMPLES}",
            f"--seed={SEED}",
            f"--header=x-api-key: {API_KEYS['MPS']}",
            f"--tls-verify={live.pki.server_ca}",
            "--generation-database=none",
            "--request-timeout=30",
            "--report=json",
            f"--report-json-path={report}",
            "--no-color",
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path)
        accepted = read_topic(broker, live.settings.topic("police-incidents"))
    print(done.stdout[-3000:])
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    cases = json.loads(report.read_text())["test_cases"]
    print(f"schemathesis on the ingress: {cases}")
    record_figures(pytestconfig, "schemathesis, ingress (--checks=all)", cases)
    assert cases["generated"] > 0
    assert cases["with_failures"] == cases["errored"] == 0
    print(f"written to the feed: {len(accepted)}")
    assert accepted, "no valid notification was accepted (the document's example at least)"
    for record in accepted:  # everything on the feed is valid, keyed by its incident
        assert parse_incident(record.value).incident_id.encode() == record.key
