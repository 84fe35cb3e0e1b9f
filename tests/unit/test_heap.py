"""The worker's heap policy: full collections leave the decisions' path for a timer."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from streams.flows import heap
from tests.support.fakes import TimerApp, make_worker


class Cyclic:
    """An object in a reference cycle: only the collector frees it."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture
def collector() -> Iterator[None]:
    """Nothing left frozen after the test (the suite's `_gc_thresholds` puts the
    thresholds back)."""
    yield
    gc.unfreeze()


def old_garbage() -> weakref.ref[Cyclic]:
    """A cycle that has reached the oldest generation and is then dropped."""
    cycle = Cyclic()
    gc.collect(1)
    gc.collect(1)  # survived twice: in the oldest generation
    return weakref.ref(cycle)


def enough_survivors() -> int:
    """How many young objects kept alive make CPython start a full collection on its own.

    It starts one after ten collections of the middle generation, once the objects
    that survived them exceed a quarter of those the last full collection left.
    """
    gc.collect()  # what it leaves: the oldest generation now
    return len(gc.get_objects(2)) // 4 + 100_000


def test_settle_keeps_the_young_thresholds_and_holds_full_collections(collector: None) -> None:
    gc.set_threshold(700, 10, 10)
    heap.settle()
    assert gc.get_threshold()[:2] == (700, 10) and heap.full_collections_held()
    assert gc.get_freeze_count() > 0


def test_after_settle_old_cyclic_garbage_waits_for_collect_and_collect_frees_it(
    collector: None,
) -> None:
    gc.set_threshold(700, 10, 10)
    heap.settle()
    count = enough_survivors()
    ref = old_garbage()
    kept = [[n] for n in range(count)]  # a full collection, by CPython's default
    assert ref() is not None, "a full collection ran on its own"
    assert heap.collect() >= 0 and ref() is None
    assert len(kept) == count


def test_without_settle_cpython_collects_the_old_garbage_by_itself(collector: None) -> None:
    """The control of the test above: its allocations do start a full collection."""
    gc.set_threshold(700, 10, 10)
    count = enough_survivors()
    ref = old_garbage()
    kept = [[n] for n in range(count)]
    assert ref() is None
    assert not heap.full_collections_held() and len(kept) == count


async def test_every_decide_worker_collects_on_a_timer_once_its_register_is_settled(
    collector: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = make_worker()
    assert w.register is not None
    app = TimerApp()
    w.register.install(app)
    interval, options, tick = app.timers["heap-collect"]
    assert interval == heap.FULL_COLLECTION_INTERVAL_S and options["on_leader"] is False
    runs: list[bool] = []
    monkeypatch.setattr(heap, "collect", lambda: runs.append(True) or 0.0)
    gc.set_threshold(700, 10, 10)
    await tick()
    assert runs == []  # CPython still collects by itself: nothing to do
    heap.hold_full_collections()
    await tick()
    assert runs == [True]
