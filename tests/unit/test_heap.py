"""The worker's heap policy: full collections leave the decisions' path for a timer."""

from __future__ import annotations

import gc
import platform
import weakref
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from streams.bootstrap import Worker
from streams.domain.register.records import apply_event
from streams.flows import heap
from tests.support.fakes import TimerApp, birth, make_worker
from tests.support.samples import sample_incident


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


def heap_timer() -> tuple[Worker, float, dict[str, Any], Callable[[], Awaitable[None]]]:
    """A decide worker on fakes, and its heap timer: interval, options and one tick."""
    w = make_worker()
    assert w.register is not None
    app = TimerApp()
    w.register.install(app)
    interval, options, tick = app.timers["heap-collect"]
    return w, interval, options, tick


async def test_every_decide_worker_collects_on_a_timer_once_its_register_is_settled(
    collector: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, interval, options, tick = heap_timer()
    assert interval == heap.FULL_COLLECTION_INTERVAL_S and options["on_leader"] is False
    runs: list[bool] = []
    monkeypatch.setattr(heap, "collect", lambda: runs.append(True) or 0.0)
    gc.set_threshold(700, 10, 10)
    await tick()
    assert runs == []  # CPython still collects by itself: nothing to do
    heap.hold_full_collections()
    await tick()
    assert runs == [True]


async def test_the_collection_timer_sorts_the_register_memtable_into_a_run(
    collector: None,
) -> None:
    """At a council's rate of register events the memtable would hold postings for months."""
    w, _, _, tick = heap_timer()
    assert w.register is not None
    index = w.register.index
    index.upsert(apply_event(None, birth("C1")))
    before = index._postings.runs
    await tick()  # whether or not the register was settled: a worker that started empty is not
    assert index._postings.runs == before + 1
    assert [r.subject_ref for r in index.candidates(sample_incident())] == ["C1"]


def heap_resident() -> int:
    """Resident bytes of glibc's brk heap, from /proc/self/smaps (0 when there is none)."""
    rss, in_heap = 0, False
    for line in Path("/proc/self/smaps").read_text(encoding="ascii", errors="replace").splitlines():
        head = line.split()
        if head and "-" in head[0] and not head[0].endswith(":"):
            in_heap = head[-1] == "[heap]"
        elif in_heap and head[:1] == ["Rss:"]:
            rss += int(head[1]) * 1024
    return rss


@pytest.mark.skipif(
    not Path("/proc/self/smaps").exists() or platform.libc_ver()[0] != "glibc",
    reason="reads glibc's heap from Linux's /proc/self/smaps",
)
def test_collect_hands_back_the_free_pages_between_live_blocks(collector: None) -> None:
    """Blocks freed between ones still alive stay resident until `collect` trims the heap."""
    blocks = [bytes(3000) for _ in range(20_000)]  # about 60 MiB from malloc, not pymalloc
    kept = blocks[::32]  # one block in 32 stays: glibc cannot shrink the heap past them
    del blocks
    before = heap_resident()
    heap.collect()
    after = heap_resident()
    assert before - after > 40 * 2**20, (before, after)
    assert len(kept) == 625
