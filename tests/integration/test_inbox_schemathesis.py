"""Schemathesis against the live duty inbox: no 5xx, nothing invalid accepted, nothing valid
refused, the OpenAPI document exact.

`st run --checks all` on the inbox (uvicorn on loopback), once with a client's bearer
token and once each with a signed-in duty worker's and auditor's session cookie and CSRF
token; `ignored_auth` also sends requests without them. Phases: examples, fuzzing and
stateful (the coverage phase alone takes minutes; run it by hand with
`INBOX_FUZZ_PHASES=examples,coverage,fuzzing,stateful`). Case counts and failures are
printed (`pytest -s`) and kept in the JSON report.

This module is also the run's hook module (`SCHEMATHESIS_HOOKS`): it keeps the generated
valid requests to the three rules OpenAPI cannot state, that `Idempotency-Key` repeats the
body's key, that a PATCH carries the key of the task it names, and that a strategy
discussion's date is not in the future.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis

from connectors.audit import FileAuditLog
from connectors.duty_inbox.auth import COOKIE
from connectors.duty_inbox.store import TaskStore
from tests.conftest import record_figures
from tests.support.duty_inbox import TEST_CLIENT_TOKEN, add_user, serve_duty_inbox, sign_in
from tests.support.samples import sample_raise_task

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
MAX_EXAMPLES = int(os.environ.get("INBOX_FUZZ_EXAMPLES", "30"))
SEED = os.environ.get("INBOX_FUZZ_SEED", "20261203")
PHASES = os.environ.get("INBOX_FUZZ_PHASES", "examples,fuzzing,stateful")
#: Task id -> idempotency key of the tasks in the inbox under test (the hooks' memory).
KEYS_ENV = "INBOX_FUZZ_KEYS"
KEYS: dict[str, str] = json.loads(os.environ.get(KEYS_ENV, "{}"))


def _positive(case: Any) -> bool:
    return case.meta is None or bool(case.meta.generation.mode.is_positive)


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    """A valid POST's body repeats its header's key; a valid PATCH carries its task's key."""
    if not _positive(case) or not isinstance(case.body, dict):
        return
    if case.method == "POST" and case.path == "/api/tasks":
        key = (case.headers or {}).get("Idempotency-Key")
        if isinstance(key, str):
            case.body = {**case.body, "idempotency_key": key}
    elif case.method == "PATCH":
        known = KEYS.get(str((case.path_parameters or {}).get("task_id")))
        if known is not None:
            case.body = {**case.body, "idempotency_key": known}
    elif case.path.endswith("/outcome") and isinstance(case.body.get("held_on"), str):
        today = datetime.now(UTC).date().isoformat()
        case.body = {**case.body, "held_on": min(case.body["held_on"], today)}


@schemathesis.hook
def after_call(context: Any, case: Any, response: Any) -> None:
    """Remember the key of each task a POST created."""
    created = case.method == "POST" and case.path == "/api/tasks" and response.status_code < 300
    if created and isinstance(case.body, dict):
        KEYS[str(response.json()["task_id"])] = str(case.body["idempotency_key"])


async def _session(url: str, role: str) -> dict[str, str]:
    """The credentials of a signed-in person of `role`: session cookie and CSRF token."""
    async with httpx.AsyncClient(base_url=url) as browser:
        csrf = await sign_in(browser, role)
        cookie = browser.cookies.get(COOKIE)
    assert cookie and csrf
    return {"session": cookie, "csrf": csrf}


def _auth_config(directory: Path, credentials: dict[str, str]) -> None:
    """A schemathesis.toml giving each security scheme of the document its credential.

    Given by scheme, not as raw headers, so `ignored_auth` knows which are the real ones.
    """
    lines = []
    for scheme, value in credentials.items():
        kind = "bearer" if scheme == "clientToken" else "api_key"
        lines += [f"[auth.openapi.{scheme}]", f"{kind} = {json.dumps(value)}", ""]
    (directory / "schemathesis.toml").write_text("\n".join(lines), encoding="utf-8")


@pytest.mark.parametrize("who", ["client", "duty_worker", "auditor"])
def test_schemathesis_finds_no_failure(
    who: str, tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    db = tmp_path / "inbox.sqlite3"
    for role in ("duty_worker", "auditor"):
        add_user(db, role, [role])
    seeded = sample_raise_task("MPS-1")
    keys = {TaskStore(db).raise_task(seeded).task_id: seeded.idempotency_key}
    report = tmp_path / "schemathesis.json"
    with (
        FileAuditLog(tmp_path / "audit", "inbox", sync=False) as audit,
        serve_duty_inbox(db, audit=audit) as url,
    ):
        if who == "client":
            credentials = {"clientToken": TEST_CLIENT_TOKEN}
        else:
            credentials = asyncio.run(_session(url, who))
        _auth_config(tmp_path, credentials)
        command = [
            str(Path(sys.executable).with_name("st")),
            "run",
            f"{url}/openapi.json",
            "--checks=all",
            f"--phases={PHASES}",
            f"--max-examples={MAX_EXAMPLES}",
            f"--seed={SEED}",
            "--generation-database=none",
            "--request-timeout=30",
            "--workers=1",
            "--report=json",
            f"--report-json-path={report}",
            "--no-color",
        ]
        env = {
            **os.environ,
            "SCHEMATHESIS_HOOKS": "tests.integration.test_inbox_schemathesis",
            "PYTHONPATH": str(ROOT),
            KEYS_ENV: json.dumps(keys),
        }
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env
        )
    print(done.stdout[-3000:])
    assert done.returncode == 0, done.stdout[-8000:] + done.stderr[-2000:]
    cases = json.loads(report.read_text())["test_cases"]
    print(f"schemathesis on the duty inbox as {who}: {cases}")
    record_figures(pytestconfig, f"schemathesis, duty inbox as {who} (--checks=all)", cases)
    assert cases["generated"] > 0
    assert cases["with_failures"] == cases["errored"] == 0
