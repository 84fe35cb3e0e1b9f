"""What every CaseSystem adapter must do; subclass it and provide a `case_system` fixture."""

from __future__ import annotations

import asyncio

import pytest

from streams.domain.ports.case_system import CaseSystem, TaskNotFound
from tests.support.samples import personal_data_in, sample_raise_task


class CaseSystemContract:
    """Contract tests for a `CaseSystem`; a subclass's fixture yields a fresh, empty one."""

    @pytest.fixture
    def case_system(self) -> CaseSystem:
        raise NotImplementedError

    async def test_raise_creates_one_open_task(self, case_system: CaseSystem) -> None:
        cmd = sample_raise_task()
        receipt = await case_system.raise_task(cmd)
        assert (receipt.created, receipt.updated, receipt.revision) == (True, False, 1)
        record = await case_system.get_task(receipt.task_id)
        assert record.task == cmd
        assert (record.status, record.revision, record.created_revision) == ("open", 1, 1)
        assert record.revised_at is None

    async def test_same_key_twice_is_one_task(self, case_system: CaseSystem) -> None:
        cmd = sample_raise_task()
        first = await case_system.raise_task(cmd)
        again = await case_system.raise_task(cmd)
        assert again.task_id == first.task_id
        assert (again.created, again.updated, again.revision) == (False, False, 1)
        assert [r.task_id for r in await case_system.list_tasks()] == [first.task_id]

    async def test_concurrent_raises_with_one_key_make_one_task(
        self, case_system: CaseSystem
    ) -> None:
        cmd = sample_raise_task()
        receipts = await asyncio.gather(*(case_system.raise_task(cmd) for _ in range(5)))
        assert len({r.task_id for r in receipts}) == 1
        assert sum(r.created for r in receipts) == 1
        assert len(await case_system.list_tasks()) == 1

    async def test_higher_revision_updates_the_same_task(self, case_system: CaseSystem) -> None:
        first = await case_system.raise_task(sample_raise_task(outcome="review"))
        revised = sample_raise_task(revision=2, outcome="trigger", changes=["subject_confirmed"])
        receipt = await case_system.raise_task(revised)
        assert receipt.task_id == first.task_id
        assert (receipt.created, receipt.updated, receipt.revision) == (False, True, 2)
        record = await case_system.get_task(first.task_id)
        assert record.task == revised
        assert (record.revision, record.created_revision) == (2, 1)
        assert record.revised_at is not None
        assert len(await case_system.list_tasks()) == 1

    async def test_lower_revision_is_ignored(self, case_system: CaseSystem) -> None:
        latest = sample_raise_task(revision=3, outcome="withdrawn")
        first = await case_system.raise_task(latest)
        receipt = await case_system.raise_task(sample_raise_task(revision=2))
        assert receipt.task_id == first.task_id
        assert (receipt.created, receipt.updated, receipt.revision) == (False, False, 3)
        assert (await case_system.get_task(first.task_id)).task == latest

    async def test_other_subject_of_the_same_incident_is_another_task(
        self, case_system: CaseSystem
    ) -> None:
        one = await case_system.raise_task(sample_raise_task(subject_ref="C1"))
        two = await case_system.raise_task(sample_raise_task(subject_ref="U2"))
        assert one.task_id != two.task_id
        assert two.created

    async def test_list_puts_trigger_before_review_then_newest_first(
        self, case_system: CaseSystem
    ) -> None:
        ids = {}
        for name in ["old-review", "old-trigger", "new-review", "new-trigger"]:
            outcome = "review" if name.endswith("review") else "trigger"
            cmd = sample_raise_task(incident_id=f"MPS-2026-{name}", outcome=outcome)
            ids[(await case_system.raise_task(cmd)).task_id] = name
            await asyncio.sleep(0.002)
        listed = [ids[r.task_id] for r in await case_system.list_tasks()]
        assert listed == ["new-trigger", "old-trigger", "new-review", "old-review"]
        limited = await case_system.list_tasks(status="open", limit=2)
        assert [ids[r.task_id] for r in limited] == ["new-trigger", "old-trigger"]
        assert await case_system.list_tasks(status="closed") == []

    async def test_a_revision_counts_as_newest(self, case_system: CaseSystem) -> None:
        first = await case_system.raise_task(sample_raise_task(incident_id="MPS-2026-A"))
        await asyncio.sleep(0.002)
        await case_system.raise_task(sample_raise_task(incident_id="MPS-2026-B"))
        await asyncio.sleep(0.002)
        await case_system.raise_task(sample_raise_task(incident_id="MPS-2026-A", revision=2))
        assert (await case_system.list_tasks())[0].task_id == first.task_id

    async def test_unknown_task_id_is_not_found(self, case_system: CaseSystem) -> None:
        with pytest.raises(TaskNotFound) as caught:
            await case_system.get_task("no-such-task")
        assert caught.value.status_code == 404

    async def test_receipts_carry_no_personal_data(self, case_system: CaseSystem) -> None:
        cmd = sample_raise_task()
        receipt = await case_system.raise_task(cmd)
        assert personal_data_in(receipt.model_dump_json(), cmd) == []
        assert personal_data_in(cmd.title, cmd) == []
