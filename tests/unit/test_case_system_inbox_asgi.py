"""HttpCaseSystem against the real duty inbox app in process: the contract in the unit run.

The client sends the bearer token of a client credential, as the deliver worker does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from connectors.case_system.http import HttpCaseSystem
from streams.domain.ports.case_system import CaseSystem
from tests.contract.case_system_contract import CaseSystemContract
from tests.support.duty_inbox import TEST_CLIENT_TOKEN, add_client, inbox_app


class TestHttpCaseSystemOnDutyInboxApp(CaseSystemContract):
    @pytest.fixture
    async def case_system(self, tmp_path: Path) -> AsyncIterator[CaseSystem]:
        app = inbox_app(tmp_path / "duty-inbox.sqlite3")
        add_client(tmp_path / "duty-inbox.sqlite3")
        transport = httpx.ASGITransport(app=app)
        token = SecretStr(TEST_CLIENT_TOKEN)
        client = HttpCaseSystem("http://inbox", timeout=5.0, token=token, transport=transport)
        yield client
        await client.aclose()
