"""`make bench`: the worker's throughput and latency against the limits of its clients.

On one embedded Tansu broker started here, three stages each on their own topics:

A. a bare kafka-python consumer reading pre-published notifications (the client's limit);
B. a faust agent that does nothing but mark each notification, in a subprocess;
C. a real worker with a real duty inbox, its register loaded first; C+ is the same
   run timed until every task command has reached the duty inbox.

B and C are measured alike: notifications are published as fast as the producer
takes them; throughput is notifications over (last output record's timestamp -
publish start); latency is each output record's timestamp - its notification's.
Figures go to stdout and var/bench/pipeline.json. A pipeline below target is
reported, not failed: the exit status is 0 unless the bench itself breaks.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from connectors.kafka.broker import EmbeddedBroker
from tests.bench.children import Children
from tests.bench.report import StageResult, ratios, table, write_json
from tests.bench.stages import bare_consumer, faust_agent
from tests.bench.worker_stage import pipeline
from tests.bench.workload import Workload, build_workload

OUT_DIR = Path("var/bench")


def parser() -> argparse.ArgumentParser:
    """The bench's options; the defaults keep a run under five minutes on two cores."""
    p = argparse.ArgumentParser(prog="python -m tests.bench.pipeline", description=__doc__)
    p.add_argument("--incidents", type=int, default=4000, help="incidents measured")
    p.add_argument("--families", type=int, default=400, help="register families they are about")
    p.add_argument(
        "--other-subjects",
        type=int,
        default=2_000,
        help="more register subjects (the worker folds its register in time that grows"
        " with its square today; 10,000 takes minutes)",
    )
    p.add_argument("--warmup", type=int, default=50, help="notifications before the clock")
    p.add_argument("--bare-messages", type=int, default=20_000, help="stage A's read")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--profile", type=Path, help="py-spy the worker into this collapsed-stack file")
    p.add_argument("--out", type=Path, default=OUT_DIR / "pipeline.json")
    return p


def say(message: str) -> None:
    """Progress on stderr, so stdout holds the figures only."""
    print(f"bench {time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace, work: Workload) -> list[StageResult]:
    """Start the broker and run the three stages on it; every child stops on the way out."""
    run_id = f"{os.getpid()}"
    logs = OUT_DIR / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="dvtrigger-bench-") as tmp,
        EmbeddedBroker(log_path=logs / "broker.log") as broker,
        Children(logs) as children,
    ):
        data = Path(tmp)
        say(f"broker at {broker.bootstrap}; A: bare consumer, {args.bare_messages} messages")
        bare = bare_consumer(broker.bootstrap, run_id, data, work, args.bare_messages)
        say(f"B: do-nothing faust agent, {len(work.measured)} notifications")
        noop = faust_agent(broker.bootstrap, run_id, data, work, children)
        say(f"C: pipeline, register of {work.subjects} subjects, then the notifications")
        full, tasks = pipeline(broker.bootstrap, run_id, data, work, children, args.profile)
    return [bare, noop, full, tasks]


def params(args: argparse.Namespace, work: Workload) -> dict[str, Any]:
    """What the figures were measured on."""
    return {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "incidents": args.incidents,
        "notifications": len(work.measured),
        "warmup_notifications": len(work.warmup),
        "register_events": len(work.register),
        "register_subjects": work.subjects,
        "bare_messages": args.bare_messages,
        "seed": args.seed,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "faust": version("faust-streaming"),
        "broker": "tansu (embedded, memory storage)",
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run the bench, print the table and write the JSON."""
    args = parser().parse_args(argv)
    try:
        say("building the workload")
        work = build_workload(
            args.seed, args.incidents, args.families, args.other_subjects, args.warmup
        )
        results = run(args, work)
    except KeyboardInterrupt:
        say("interrupted; every child process stopped")
        return 130
    shares = ratios(*results[:3])
    print(table(results, shares))
    write_json(args.out, results, shares, params(args, work))
    say(f"figures written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
