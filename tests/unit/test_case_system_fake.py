"""The in-memory case system keeps the contract, and can be told to fail."""

from __future__ import annotations

import pytest

from connectors.case_system.memory import InMemoryCaseSystem
from streams.domain.ports.case_system import CaseSystem, CaseSystemUnavailable
from tests.contract.case_system_contract import CaseSystemContract
from tests.support.samples import sample_raise_task


class TestInMemoryCaseSystem(CaseSystemContract):
    @pytest.fixture
    def case_system(self) -> CaseSystem:
        return InMemoryCaseSystem()


async def test_fail_next_raises_then_recovers() -> None:
    fake = InMemoryCaseSystem()
    fake.fail_next(CaseSystemUnavailable("POST /api/tasks: 503", "5xx"))
    with pytest.raises(CaseSystemUnavailable):
        await fake.raise_task(sample_raise_task())
    assert (await fake.raise_task(sample_raise_task())).created
