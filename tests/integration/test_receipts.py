"""Receipts on a real broker: every stage of a notification on the receipts topic, for the force."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from connectors.duty_inbox.store import TaskStore
from schemas.receipt import Receipt
from tests.support.fakes import birth
from tests.support.samples import sample_incident
from tests.support.stack import Stack, running_stack, wait_for

pytestmark = pytest.mark.integration


def receipts_on(stack: Stack) -> list[tuple[bytes | None, Receipt]]:
    """Every receipt on the topic with its key, duplicates (same receipt_id) dropped."""
    seen: dict[str, tuple[bytes | None, Receipt]] = {}
    for record in stack.read_topic("receipts"):
        receipt = Receipt.model_validate_json(record.value)
        seen.setdefault(receipt.receipt_id, (record.key, receipt))
    return list(seen.values())


def stages(stack: Stack) -> list[str]:
    return sorted(receipt.stage for _, receipt in receipts_on(stack))


def as_dict(model: Any) -> dict[str, Any]:
    return json.loads(model.model_dump_json(by_alias=True))


async def test_every_stage_of_a_notification_gets_its_receipt(
    broker: str, inbox: str, tmp_path: Path
) -> None:
    extra = {"DVTRIGGER_RECEIPTS__ACK_POLL_INTERVAL_S": "1"}
    with running_stack(broker, inbox, tmp_path, **extra) as stack:
        stack.publish("register", [as_dict(birth("C1"))])
        wait_for("the register subject", lambda: stack.register_size() == 1)
        stack.publish("incidents", [as_dict(sample_incident())])
        stack.produce_raw("police-incidents", b'{"incident_id": "MPS-2026-000009", "force": "MPS"}')
        wanted = ["decided", "received", "rejected", "task_raised"]
        wait_for("received, rejected, decided and task_raised", lambda: stages(stack) == wanted)

        found = {receipt.stage: (key, receipt) for key, receipt in receipts_on(stack)}
        key, raised = found["task_raised"]
        assert key == b"MPS-2026-000001" and raised.council == "default"
        assert found["decided"][1].decision == "trigger"
        rejected_key, rejected = found["rejected"]
        assert (rejected_key, rejected.reason_class) == (b"MPS-2026-000009", "schema")
        assert rejected.errors and all(":" in error for error in rejected.errors)

        # The watch is the receipts topic folded: a deliver worker SIGKILLed and started again
        # still asks after the task it raised before.
        stack.kill_deliver()
        stack.restart_deliver()
        store = TaskStore(tmp_path / "inbox.sqlite3")
        assert raised.task_ref is not None
        store.acknowledge(raised.task_ref)
        wait_for("the task_acknowledged receipt", lambda: "task_acknowledged" in stages(stack))
        acknowledged = {r.stage: r for _, r in receipts_on(stack)}["task_acknowledged"]
        assert (acknowledged.task_ref, acknowledged.task_status) == (
            raised.task_ref,
            "acknowledged",
        )
        assert stack.metric("dvtrigger_receipts_total", stage="task_acknowledged") >= 1
    for _, receipt in receipts_on(stack):
        text = receipt.model_dump_json()
        assert "Quuxley" not in text and "Zebedee" not in text and "4857773456" not in text
