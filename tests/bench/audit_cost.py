"""What the audit log costs the decide flow: incidents decided per second, without and with it.

In process, on fakes (no broker): a simulated register and its incidents are decided
in batches of `BATCH_SIZE`, by a worker with no audit log, then with a file audit log
(one fsync a batch), alternately, `--rounds` times each; the median is reported.

    .venv/bin/python -m tests.bench.audit_cost --incidents 3000
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from connectors.audit import FileAuditLog
from schemas.register import RegisterEvent
from streams.domain.ports.audit import AuditLog
from streams.domain.register.index import RegisterIndex
from streams.domain.register.records import SubjectRecord, apply_event
from streams.flows.decide import BATCH_SIZE
from tests.bench.workload import build_workload
from tests.support.fakes import fake_event, make_worker


def register_index(events: list[dict[str, object]]) -> RegisterIndex:
    """The register the events make."""
    records: dict[str, SubjectRecord] = {}
    for body in events:
        event = RegisterEvent.model_validate(body)
        ref = event.subject.subject_ref
        records[ref] = apply_event(records.get(ref), event)
    return RegisterIndex(records.values())


async def decide_all(
    index: RegisterIndex, messages: list[tuple[bytes, bytes]], audit: AuditLog | None
) -> tuple[float, float]:
    """Seconds (wall clock, and CPU of this process) to decide every message in batches."""
    w = make_worker(index=index, audit=audit)
    events = [fake_event(value, key=key, offset=n) for n, (key, value) in enumerate(messages)]
    start, cpu = time.perf_counter(), time.process_time()
    for at in range(0, len(events), BATCH_SIZE):
        await w.decide.decide_parsed([(e, None) for e in events[at : at + BATCH_SIZE]])
    return time.perf_counter() - start, time.process_time() - cpu


def main(argv: list[str] | None = None) -> int:
    """Print incidents a second without and with the audit log, and the audit log's size."""
    p = argparse.ArgumentParser(prog="python -m tests.bench.audit_cost", description=__doc__)
    p.add_argument("--incidents", type=int, default=3000)
    p.add_argument("--families", type=int, default=600)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args(argv)
    work = build_workload(args.seed, args.incidents, args.families, 0, 0)
    index = register_index(work.register)
    runs: dict[str, list[tuple[float, float]]] = {"none": [], "file": [], "file, no fsync": []}
    size = 0
    for _ in range(args.rounds):
        runs["none"].append(asyncio.run(decide_all(index, work.measured, None)))
        for name, sync in (("file", True), ("file, no fsync", False)):
            with tempfile.TemporaryDirectory() as directory:
                with FileAuditLog(directory, "decide", sync=sync) as log:
                    runs[name].append(asyncio.run(decide_all(index, work.measured, log)))
                size = (Path(directory) / "decide.jsonl").stat().st_size
    count = len(work.measured)
    print(f"{count} notifications, register of {len(index)} subjects, batches of {BATCH_SIZE}")
    wall = statistics.median(w for w, _ in runs["none"])
    cpu = statistics.median(c for _, c in runs["none"])
    for name, seconds in runs.items():
        w, c = (statistics.median(s[i] for s in seconds) for i in (0, 1))
        print(
            f"audit {name:>15}: {count / w:6.0f} /s wall ({wall / w - 1:+.0%}),"
            f" {c / count * 1e6:5.0f} us CPU each ({c / cpu - 1:+.0%})"
        )
    print(f"audit log: {size / count / 1024:.1f} KiB a notification")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
