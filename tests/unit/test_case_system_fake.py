"""The in-memory case system keeps the contract, and can be told to fail."""

from __future__ import annotations

from datetime import UTC, datetime

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


async def test_ties_in_duty_order_list_the_first_created_first() -> None:
    moment = datetime(2026, 8, 1, 9, 0, tzinfo=UTC)
    fake = InMemoryCaseSystem(clock=lambda: moment)  # as the duty inbox store does
    first = (await fake.raise_task(sample_raise_task("MPS-2026-A"))).task_id
    second = (await fake.raise_task(sample_raise_task("MPS-2026-B"))).task_id
    await fake.raise_task(sample_raise_task("MPS-2026-A", revision=2))  # same time: still a tie
    assert [r.task_id for r in await fake.list_tasks()] == [first, second]
