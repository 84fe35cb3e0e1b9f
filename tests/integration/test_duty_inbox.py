"""HttpCaseSystem against a real duty inbox served by uvicorn on loopback, signed in."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from connectors.case_system.http import HttpCaseSystem
from streams.domain.ports.case_system import CaseSystem, CaseSystemRejected
from tests.contract.case_system_contract import CaseSystemContract
from tests.support.duty_inbox import TEST_CLIENT_TOKEN, add_user, serve_duty_inbox, sign_in
from tests.support.samples import sample_raise_task

pytestmark = pytest.mark.integration


@pytest.fixture
def duty_inbox(tmp_path: Path) -> Iterator[str]:
    with serve_duty_inbox(tmp_path / "duty-inbox.sqlite3") as base_url:
        yield base_url


class TestHttpCaseSystemOnDutyInbox(CaseSystemContract):
    @pytest.fixture
    async def case_system(self, duty_inbox: str) -> AsyncIterator[CaseSystem]:
        client = HttpCaseSystem(duty_inbox, timeout=5.0, token=SecretStr(TEST_CLIENT_TOKEN))
        yield client
        await client.aclose()


async def test_a_client_token_is_required_and_sent(duty_inbox: str) -> None:
    for token in (None, SecretStr("not-a-token-of-this-inbox-0123456789")):
        refused = HttpCaseSystem(duty_inbox, token=token)
        with pytest.raises(CaseSystemRejected) as caught:
            await refused.raise_task(sample_raise_task())
        assert caught.value.status_code == 401
        await refused.aclose()
    client = HttpCaseSystem(duty_inbox, token=SecretStr(TEST_CLIENT_TOKEN))
    assert (await client.raise_task(sample_raise_task())).created
    await client.aclose()


async def test_the_page_lists_a_raised_task(duty_inbox: str, tmp_path: Path) -> None:
    client = HttpCaseSystem(duty_inbox, token=SecretStr(TEST_CLIENT_TOKEN))
    receipt = await client.raise_task(sample_raise_task())
    await client.aclose()
    add_user(tmp_path / "duty-inbox.sqlite3")
    async with httpx.AsyncClient(base_url=duty_inbox) as browser:
        assert (await browser.get("/")).headers["location"] == "/sign-in"
        await sign_in(browser)
        page = await browser.get("/")
        detail = await browser.get(f"/tasks/{receipt.task_id}")
    assert page.status_code == 200 and receipt.task_id in page.text
    assert "Wilhelmina Quarrington" in page.text
    assert detail.status_code == 200 and "People in the incident" in detail.text
    assert "History (last 12 months)" in detail.text


def test_module_serves_from_the_command_line(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "connectors.duty_inbox", "--port", str(port)]
    command += ["--db", str(tmp_path / "cli.sqlite3")]
    env = {**os.environ, "DVTRIGGER_CASE_SYSTEM_TOKEN": ""}
    process = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    try:
        assert _healthy(f"http://127.0.0.1:{port}/healthz")
        assert (tmp_path / "cli.sqlite3").exists()
        assert httpx.get(f"http://127.0.0.1:{port}/api/tasks").status_code == 401
        key = tmp_path / "duty-inbox-session.key"
        assert key.stat().st_mode & 0o777 == 0o600 and len(key.read_text()) == 64
    finally:
        process.terminate()
        process.wait(timeout=10)


def _healthy(url: str, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return httpx.get(url).json() == {"status": "ok"}
        except httpx.TransportError:
            time.sleep(0.1)
    return False
