"""Memory of a decide worker's flows, month by month, without a broker: does it grow?

`python -m tests.bench.memory_growth [--months 12] [--trace 4,12] [--audit]`

The time-compressed soak (`tests.bench.soak`) sees the decide worker's resident
memory grow while what it holds is flat. This bench feeds the same load (the
soak's `build_load`: the register history, then each month's register events and
incidents) through the flows of one decide worker built on fakes
(`tests.support.fakes.make_worker`): register events applied and echoed back from
the changelog, incidents ingested and decided in batches of 50, the clock set to
two days after each month's end, a retention sweep each month (its tombstones
echoed back). It prints, each month, what is held, the resident memory, the lru
caches' entries, and (with `--trace`) the memory tracemalloc sees, and compares
tracemalloc snapshots taken after the two months given. What grows here grows in
the flows; what grows only in the soak grows in faust, aiokafka or the broker's
clients.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import json
import pkgutil
import sys
import tempfile
import tracemalloc
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import streams.domain.matching as matching
from streams.bootstrap import Worker
from streams.config.settings import Settings
from tests.bench import soak
from tests.support.fakes import FakeClock, FakeCluster, fake_event, make_worker

#: The topics the fake consumer says this worker is assigned partition 0 of (the only one).
ASSIGNED = ("dvtrigger.incidents", "dvtrigger.register-events", "dvtrigger.police-incidents")
CHANGELOG = "dvtrigger-register-subjects-changelog"


def parser() -> argparse.ArgumentParser:
    """The bench's options."""
    p = argparse.ArgumentParser(prog="python -m tests.bench.memory_growth", description=__doc__)
    p.add_argument("--months", type=int, default=12)
    p.add_argument("--scale", type=float, default=100.0)
    p.add_argument("--history-months", type=int, default=24)
    p.add_argument("--seed", type=int, default=16)
    p.add_argument("--trace", default="", help="two months to compare, e.g. 4,12")
    p.add_argument("--frames", type=int, default=1, help="tracemalloc frames kept")
    p.add_argument("--audit", action="store_true", help="account decisions to a file chain")
    return p


def rss_mib() -> float:
    """This process's resident memory."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
    return -1.0


def lru_entries() -> int:
    """Entries held by the matching modules' lru caches."""
    total = 0
    for info in pkgutil.iter_modules(matching.__path__):
        module = importlib.import_module(f"{matching.__name__}.{info.name}")
        for value in vars(module).values():
            if hasattr(value, "cache_info") and getattr(value, "__module__", "") == module.__name__:
                total += value.cache_info().currsize
    return total


def worker(clock: FakeClock, audit: bool) -> Worker:
    """A decide worker on fakes whose consumer owns every key (partition 0 of each topic)."""
    log = None
    if audit:
        from connectors.audit import FileAuditLog

        log = FileAuditLog(Path(tempfile.mkdtemp(prefix="dvtrigger-memory-")), "decide")
    w = make_worker(Settings(), clock=clock, role="decide", audit=log)
    consumer = FakeCluster({name: 1 for name in ASSIGNED}, lambda key: 0)
    consumer.assignment = lambda: [SimpleNamespace(topic=t, partition=0) for t in ASSIGNED]  # type: ignore[attr-defined]
    w.app.consumer = consumer  # type: ignore[assignment]
    return w


async def apply_register(w: Worker, events: list[dict[str, Any]]) -> None:
    """Apply register events, each write echoed back from the changelog as faust would."""
    assert w.register is not None
    for offset, e in enumerate(events):
        key = e["subject"]["subject_ref"].encode()
        value = json.dumps(e).encode()
        await w.register.handle(fake_event(value, key=key, topic="dvtrigger.register-events"))
        written = w.subjects.get(key)
        if written is not None and key in w.register.own_writes:
            await w.register.on_changelog(
                fake_event(written, key=key, topic=CHANGELOG, offset=offset)
            )


def forget_sent(w: Worker) -> None:
    """Drop what the fake topics recorded (a broker would have taken it)."""
    for topic in vars(w.topics).values():
        topic.sent.clear()


async def run(args: argparse.Namespace) -> None:
    """Load the history, then each month: events, incidents, a sweep; print and compare."""
    load = soak.build_load(load_options(args))
    clock = FakeClock(soak.midnight(soak.add_months(soak.START, -args.history_months - 12)))
    w = worker(clock, args.audit)
    assert w.ingest and w.retention and w.decide and w.register
    await apply_register(w, load.history)
    forget_sent(w)
    compare = [int(m) for m in args.trace.split(",")] if args.trace else []
    if compare:
        tracemalloc.start(args.frames)
    snapshots: dict[int, tracemalloc.Snapshot] = {}
    for m, (events, notes) in enumerate(load.months, start=1):
        clock.set(soak.midnight(soak.add_months(soak.START, m)) + timedelta(days=2))
        await apply_register(w, events)
        for start in range(0, len(notes), 50):
            batch = [
                fake_event(json.dumps(n).encode(), key=n["incident_id"].encode(), offset=start + i)
                for i, n in enumerate(notes[start : start + 50])
            ]
            await w.ingest.handle_batch(batch)
        held = set(w.subjects)
        swept = await w.retention.sweep()
        for key in held - set(w.subjects):
            await w.register.on_changelog(fake_event(None, key=key, topic=CHANGELOG))
        forget_sent(w)
        gc.collect()
        traced = tracemalloc.get_traced_memory()[0] / 2**20 if compare else 0.0
        print(
            f"month {m:2d}: subjects {len(w.subjects):,} incident states {len(w.incident_state):,}"
            f" recent {len(w.decide.incidents.recent):,} purged {swept.subjects}+{swept.incidents}"
            f" lru entries {lru_entries():,} rss {rss_mib():.0f} MiB traced {traced:.1f} MiB",
            flush=True,
        )
        if m in compare:
            snapshots[m] = tracemalloc.take_snapshot()
    if len(snapshots) == 2:
        first, last = (snapshots[m] for m in compare)
        print(f"=== grown from month {compare[0]} to month {compare[1]}, by line ===")
        for stat in last.compare_to(first, "lineno")[:25]:
            print(stat)


def load_options(args: argparse.Namespace) -> argparse.Namespace:
    """The options `soak.build_load` reads."""
    return argparse.Namespace(
        months=args.months,
        scale=args.scale,
        history_months=args.history_months,
        about_share=0.10,
        seed=args.seed,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the bench."""
    asyncio.run(run(parser().parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
