"""HttpCaseSystem against the real duty inbox app in process: the contract in the unit run."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from connectors.case_system.http import HttpCaseSystem
from connectors.duty_inbox import create_app
from streams.domain.ports.case_system import CaseSystem
from tests.contract.case_system_contract import CaseSystemContract


class TestHttpCaseSystemOnDutyInboxApp(CaseSystemContract):
    @pytest.fixture
    async def case_system(self, tmp_path: Path) -> AsyncIterator[CaseSystem]:
        app = create_app(tmp_path / "duty-inbox.sqlite3")
        transport = httpx.ASGITransport(app=app)
        client = HttpCaseSystem("http://inbox", timeout=5.0, transport=transport)
        yield client
        await client.aclose()
