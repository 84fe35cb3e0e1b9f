"""What every CaseSystem adapter must do; subclass it and provide a `case_system` fixture."""

from __future__ import annotations

import asyncio
import itertools
from datetime import timedelta

import pytest

from streams.domain.ports.case_system import CaseSystem, TaskNotFound
from tests.support.samples import OCCURRED_AT, Outcome, personal_data_in, sample_raise_task


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

    async def test_list_puts_urgent_before_high_then_the_task_due_soonest(
        self, case_system: CaseSystem
    ) -> None:
        ids = {}
        due = {"soon": OCCURRED_AT + timedelta(hours=2), "late": OCCURRED_AT + timedelta(hours=9)}
        for name in ["high-late", "urgent-late", "high-soon", "urgent-soon"]:
            priority, when = name.split("-")
            cmd = sample_raise_task(
                incident_id=f"MPS-2026-{name}", priority=priority, due_by=due[when]
            )
            ids[(await case_system.raise_task(cmd)).task_id] = name
        listed = [ids[r.task_id] for r in await case_system.list_tasks()]
        assert listed == ["urgent-soon", "urgent-late", "high-soon", "high-late"]
        limited = await case_system.list_tasks(status="open", limit=2)
        assert [ids[r.task_id] for r in limited] == ["urgent-soon", "urgent-late"]
        assert await case_system.list_tasks(status="closed") == []

    async def test_a_revision_takes_the_place_of_its_priority_and_due_time(
        self, case_system: CaseSystem
    ) -> None:
        later = OCCURRED_AT + timedelta(hours=30)  # after the sample task's due time
        a = sample_raise_task(incident_id="MPS-2026-A", priority="high", due_by=later)
        first = await case_system.raise_task(a)
        await case_system.raise_task(sample_raise_task(incident_id="MPS-2026-B", priority="high"))
        assert (await case_system.list_tasks())[1].task_id == first.task_id
        revised = a.model_copy(update={"revision": 2, "priority": "urgent"})
        await case_system.raise_task(revised)
        assert (await case_system.list_tasks())[0].task_id == first.task_id

    async def test_a_higher_amendment_of_the_same_revision_updates_the_same_task(
        self, case_system: CaseSystem
    ) -> None:
        first = await case_system.raise_task(sample_raise_task(outcome="review"))
        amended = sample_raise_task(outcome="trigger", amendment=1, changes=["late knowledge"])
        receipt = await case_system.raise_task(amended)
        assert receipt.task_id == first.task_id
        assert (receipt.created, receipt.updated, receipt.revision) == (False, True, 1)
        record = await case_system.get_task(first.task_id)
        assert record.task == amended
        assert (record.status, record.revision, record.created_revision) == ("open", 1, 1)
        assert record.revised_at is not None
        assert len(await case_system.list_tasks()) == 1

    async def test_an_equal_or_lower_amendment_changes_nothing(
        self, case_system: CaseSystem
    ) -> None:
        first = await case_system.raise_task(sample_raise_task(outcome="review"))
        amended = sample_raise_task(outcome="trigger", amendment=1)
        await case_system.raise_task(amended)
        revised_at = (await case_system.get_task(first.task_id)).revised_at
        for cmd in [amended, sample_raise_task(outcome="review")]:
            receipt = await case_system.raise_task(cmd)
            assert receipt.task_id == first.task_id
            assert (receipt.created, receipt.updated, receipt.revision) == (False, False, 1)
        record = await case_system.get_task(first.task_id)
        assert (record.task, record.revised_at) == (amended, revised_at)

    async def test_a_higher_revision_beats_any_amendment(self, case_system: CaseSystem) -> None:
        first = await case_system.raise_task(sample_raise_task(outcome="review"))
        await case_system.raise_task(sample_raise_task(outcome="trigger", amendment=1))
        revised = sample_raise_task(revision=2, outcome="review")  # (2, 0) is after (1, 1)
        receipt = await case_system.raise_task(revised)
        assert receipt.task_id == first.task_id
        assert (receipt.created, receipt.updated, receipt.revision) == (False, True, 2)
        record = await case_system.get_task(first.task_id)
        assert (record.task, record.revision, record.created_revision) == (revised, 2, 1)

    async def test_a_withdrawal_updates_the_task_and_lists_it_last(
        self, case_system: CaseSystem
    ) -> None:
        raised = []
        for cmd in [
            sample_raise_task("MPS-2026-A"),
            sample_raise_task("MPS-2026-B", outcome="review"),
            sample_raise_task("MPS-2026-C"),
        ]:
            raised.append((await case_system.raise_task(cmd)).task_id)
            await asyncio.sleep(0.002)
        withdrawn_id, review_id, trigger_id = raised
        withdrawal = sample_raise_task("MPS-2026-A", revision=2, outcome="withdrawn")
        receipt = await case_system.raise_task(withdrawal)
        assert receipt.task_id == withdrawn_id
        assert (receipt.created, receipt.updated, receipt.revision) == (False, True, 2)
        in_order = [trigger_id, review_id, withdrawn_id]
        assert [r.task_id for r in await case_system.list_tasks()] == in_order
        for late in [sample_raise_task("MPS-2026-A"), sample_raise_task("MPS-2026-A", amendment=3)]:
            receipt = await case_system.raise_task(late)
            assert (receipt.task_id, receipt.updated, receipt.revision) == (withdrawn_id, False, 2)
        record = await case_system.get_task(withdrawn_id)
        assert (record.task, record.revision) == (withdrawal, 2)
        assert [r.task_id for r in await case_system.list_tasks()] == in_order

    async def test_list_puts_withdrawn_last_and_ties_in_the_order_raised(
        self, case_system: CaseSystem
    ) -> None:
        ids: dict[str, str] = {}
        outcomes: list[Outcome] = ["withdrawn", "review", "trigger"]
        for age, outcome in itertools.product(["old", "new"], outcomes):
            name = f"{age}-{outcome}"
            cmd = sample_raise_task(
                incident_id=f"MPS-2026-{name}", outcome=outcome, priority="urgent"
            )
            ids[(await case_system.raise_task(cmd)).task_id] = name
            await asyncio.sleep(0.002)
        revised = sample_raise_task(
            incident_id="MPS-2026-old-review", revision=2, outcome="review", priority="urgent"
        )
        assert (await case_system.raise_task(revised)).updated
        listed = [ids[r.task_id] for r in await case_system.list_tasks()]
        assert listed == [
            "old-review",
            "old-trigger",
            "new-review",
            "new-trigger",
            "old-withdrawn",
            "new-withdrawn",
        ]
        limited = await case_system.list_tasks(status="open", limit=3)
        assert [ids[r.task_id] for r in limited] == ["old-review", "old-trigger", "new-review"]
        assert [ids[r.task_id] for r in await case_system.list_tasks(limit=1)] == ["old-review"]
        assert await case_system.list_tasks(status="acknowledged") == []

    async def test_unknown_task_id_is_not_found(self, case_system: CaseSystem) -> None:
        with pytest.raises(TaskNotFound) as caught:
            await case_system.get_task("no-such-task")
        assert caught.value.status_code == 404

    async def test_receipts_carry_no_personal_data(self, case_system: CaseSystem) -> None:
        cmd = sample_raise_task()
        receipt = await case_system.raise_task(cmd)
        assert personal_data_in(receipt.model_dump_json(), cmd) == []
        assert personal_data_in(cmd.title, cmd) == []
