"""A worker's /readyz: 503 with what it waits for (faust's recovery, the register index, the
broker) until it can work, then 200; /healthz answers all along."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from streams.bootstrap import Worker, waiting_for
from streams.telemetry.broker_outage import BrokerOutage
from tests.support.fakes import make_worker


class FakeWeb:
    """faust's `web` as a page uses it: JSON with a status."""

    def json(self, value: Any, status: int = 200) -> tuple[int, Any]:
        return status, value


def page(worker: Worker, path: str) -> tuple[int, Any]:
    handler = worker.app.pages[path]  # type: ignore[attr-defined]
    found: tuple[int, Any] = asyncio.run(handler(FakeWeb(), SimpleNamespace(headers={})))
    return found


def recovering(worker: Worker) -> asyncio.Event:
    """Give the fake app faust's recovery service; its `completed` event, not yet set."""
    completed = asyncio.Event()
    worker.app.tables = SimpleNamespace(recovery=SimpleNamespace(completed=completed))  # type: ignore[assignment]
    return completed


def test_a_decide_worker_is_ready_once_recovered_and_its_register_rebuilt() -> None:
    worker = make_worker(role="decide")
    completed = recovering(worker)
    assert page(worker, "/healthz")[0] == 200
    assert page(worker, "/readyz") == (
        503,
        {
            "ready": False,
            "role": "decide",
            "register_subjects": 0,
            "waiting_for": ["recovery", "register"],
        },
    )
    assert worker.register is not None
    asyncio.run(worker.register.rebuild_index())  # faust calls it as the table recovers
    assert waiting_for(worker) == ["recovery"]
    completed.set()
    assert page(worker, "/readyz") == (
        200,
        {"ready": True, "role": "decide", "register_subjects": 0},
    )


def test_a_worker_in_a_broker_outage_is_not_ready_but_is_alive() -> None:
    worker = make_worker(role="deliver")
    recovering(worker).set()
    assert waiting_for(worker) == []
    assert isinstance(worker.outage, BrokerOutage)
    worker.outage.failed("refused")
    status, found = page(worker, "/readyz")
    assert (status, found["waiting_for"]) == (503, ["broker"])
    assert page(worker, "/healthz")[0] == 200
    worker.outage.since = None  # reachable again
    assert page(worker, "/readyz")[0] == 200
