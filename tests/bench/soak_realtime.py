"""The real-time soak: a steady load for half an hour, so that a leak shows.

`python -m tests.bench.soak_realtime [--minutes 30] [--rate 20] [--window-minutes 5]`

The pipeline of `tests.bench.latency` (a decide and a deliver worker, a real duty
inbox, the register loaded first) is offered `--rate` notifications a second,
open loop, for `--minutes`. The bench reports the resident memory of each process
(the broker, both workers, the inbox) at the start, at the end of every window and
at the end, with its growth; and per window, p50/p99/max from publish to the task
in the inbox and to the decision logged (timestamps as `tests/bench/steady.py`
says), with the counts. The broker keeps every record in memory (Tansu, memory
storage), so its growth is the data published, not a leak. Beside each memory
sample it reads what the decide worker holds (`dvtrigger_incident_states` and
`dvtrigger_recent_incidents`): on the real clock no incident of half an hour
leaves its windows (90 days re-decided, 120 held), so the decide worker's memory
rightly grows with them, and a leak shows as memory growing faster than they do.
Figures go to stdout and var/bench/soak_realtime.json.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connectors.kafka.publish import producer
from tests.bench.latency import offered
from tests.bench.soak import scrape
from tests.bench.steady import (
    Outputs,
    drain,
    expected_tasks,
    lags,
    rss_mib,
    running_pipeline,
    send_paced,
    spread,
    task_times,
    write_figures,
)
from tests.bench.workload import build_workload

OUT_DIR = Path("var/bench")


def parser() -> argparse.ArgumentParser:
    """The soak's options."""
    p = argparse.ArgumentParser(prog="python -m tests.bench.soak_realtime", description=__doc__)
    p.add_argument("--minutes", type=float, default=30.0, help="how long the load is offered")
    p.add_argument("--rate", type=float, default=20.0, help="notifications a second")
    p.add_argument("--window-minutes", type=float, default=5.0, help="memory and p99 windows")
    p.add_argument("--families", type=int, default=400)
    p.add_argument("--other-subjects", type=int, default=2_000)
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", type=Path, default=OUT_DIR / "soak_realtime.json")
    return p


def say(message: str) -> None:
    """Progress on stderr, so stdout holds the figures only."""
    print(f"soak {time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Start everything, warm up, offer the load, then read what came of it."""
    count = math.ceil(args.rate * args.minutes * 60)
    window_s = args.window_minutes * 60
    say(f"building the workload: {count} notifications")
    work = build_workload(args.seed, count, args.families, args.other_subjects, args.warmup)
    messages, ids = work.measured[:count], work.measured_ids[:count]
    with running_pipeline("soak_realtime", work, say) as (p, children):
        tails = Outputs.tails(p)
        outputs = Outputs()
        try:
            say(f"warm-up: {len(work.warmup)} notifications")
            offered(p, tails, outputs, children, work.warmup, work.warmup_ids, 20.0)
            metrics_url = f"http://127.0.0.1:{p.stage.settings.web_port}/metrics"

            def measured(at_s: float) -> dict[str, Any]:
                held = scrape(metrics_url)
                return {
                    "at_s": round(at_s, 1),
                    "rss_mib": rss_mib(p.pids),
                    "incident_states": int(held.get("dvtrigger_incident_states", -1)),
                    "recent_incidents": int(held.get("dvtrigger_recent_incidents", -1)),
                }

            samples = [measured(0.0)]

            def sample(elapsed: float) -> None:
                if elapsed >= len(samples) * window_s:
                    samples.append(measured(elapsed))
                    say(f"{elapsed / 60:.1f} min: RSS {samples[-1]['rss_mib']}")
                    children.check()

            say(f"{args.rate:g}/s for {args.minutes:g} min: {count} notifications")
            kafka = producer(p.bootstrap)
            try:
                paced = send_paced(
                    kafka, p.topic("police-incidents"), messages, ids, args.rate, sample
                )
            finally:
                kafka.close()
            say("reading what came of it")
            rows = drain(p, tails, outputs, ids, children, timeout=600.0)
            samples.append(measured(time.time() - paced.start))
        finally:
            for tail in tails.values():
                tail.close()
    return windows(args, paced.published, ids, outputs, rows, samples, window_s)


def windows(
    args: argparse.Namespace,
    published: dict[Any, float],
    ids: list[Any],
    outputs: Outputs,
    rows: Any,
    samples: list[dict[str, Any]],
    window_s: float,
) -> dict[str, Any]:
    """Latency per window of publishing, and memory growth per process."""
    in_inbox, _ = task_times(rows, ids)
    per_window = []
    total = math.ceil(len(ids) / (args.rate * window_s))
    for w in range(total):
        part = ids[int(w * args.rate * window_s) : int((w + 1) * args.rate * window_s)]
        expected = expected_tasks(outputs, part)
        timed = [k for k in part if k in in_inbox]
        per_window.append(
            {
                "window": w + 1,
                "notifications": len(part),
                "decisions_missing": sum(1 for k in part if k not in outputs.decided),
                "tasks_expected": len(expected),
                "tasks_missing": len(expected - rows.keys()),
                "to_decision": spread(lags(published, outputs.decided, part)),
                "to_inbox": spread(lags(published, in_inbox, timed)),
            }
        )
    first, last = samples[0]["rss_mib"], samples[-1]["rss_mib"]
    growth = {
        name: {
            "start_mib": first[name],
            "end_mib": last[name],
            "growth_mib": round(last[name] - first[name], 1),
            "growth_pct": round(100.0 * (last[name] / first[name] - 1), 1) if first[name] else None,
        }
        for name in first
    }
    return {"windows": per_window, "rss_samples": samples, "rss_growth": growth}


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def table(result: dict[str, Any]) -> str:
    """Windows, then memory, as plain text."""
    head = (
        f"{'window':>6} {'notes':>6} {'tasks':>6} {'missing':>7} {'dec p99':>8}"
        f" {'inbox p50':>9} {'inbox p99':>9} {'inbox max':>9}"
    )
    lines = [head, "-" * len(head)]
    for w in result["windows"]:
        d, t = w["to_decision"], w["to_inbox"]
        lines.append(
            f"{w['window']:>6} {w['notifications']:>6} {w['tasks_expected']:>6}"
            f" {w['tasks_missing'] + w['decisions_missing']:>7} {_ms(d['p99_ms']):>8}"
            f" {_ms(t['p50_ms']):>9} {_ms(t['p99_ms']):>9} {_ms(t['max_ms']):>9}"
        )
    lines.append("")
    names = list(result["rss_growth"])
    held = f" {'inc states':>10} {'recent':>8}"
    lines.append(f"{'RSS MiB at s':>12} " + " ".join(f"{n:>9}" for n in names) + held)
    for s in result["rss_samples"]:
        lines.append(
            f"{s['at_s']:>12,.0f} "
            + " ".join(f"{s['rss_mib'][n]:>9}" for n in names)
            + f" {s['incident_states']:>10,} {s['recent_incidents']:>8,}"
        )
    growth = result["rss_growth"]
    lines.append(f"{'growth':>12} " + " ".join(f"{growth[n]['growth_mib']:>+9}" for n in names))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the soak, print the table and write the JSON."""
    args = parser().parse_args(argv)
    try:
        result = run(args)
    except KeyboardInterrupt:
        say("interrupted; every child process stopped")
        return 130
    print(table(result))
    document = {
        "params": {
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            **{k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "broker": "tansu (embedded, memory storage: keeps every record)",
        },
        **result,
    }
    write_figures(args.out, document, say)
    return 0


if __name__ == "__main__":
    sys.exit(main())
