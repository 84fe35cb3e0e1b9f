"""Latency as a person feels it: publish to decision and to task in the inbox, at a steady load.

`python -m tests.bench.latency [--rates 5 50] [--seconds 120]`

One embedded broker, a real worker (a decide and a deliver process) and a real
duty inbox, the register loaded first (`tests.bench.steady`). For each rate in
turn, notifications are published open loop, each at its scheduled moment and
never waiting for results, for `--seconds`; then the bench waits until every one
is decided and every task commanded for them is in the inbox, and reports p50,
p99 and max from publish to the decision logged and to the task in the inbox,
with the counts (every expected task must arrive: the missing are reported).
Which timestamps are used, and why: `tests/bench/steady.py`.

Target (issue 16): at 50 notifications a second, p99 <= 1 s from publish to the
task in the inbox. A miss is reported, not failed: the exit status is 0 unless
the bench itself breaks. Figures go to stdout and var/bench/latency.json.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from collections.abc import Sequence
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connectors.kafka.publish import producer
from tests.bench.children import Children
from tests.bench.probes import watched
from tests.bench.steady import (
    Key,
    Outputs,
    Paced,
    Pipeline,
    Tail,
    drain,
    expected_tasks,
    lags,
    request_figures,
    request_histogram,
    rss_mib,
    running_pipeline,
    send_paced,
    spread,
    task_times,
    write_figures,
)
from tests.bench.workload import Message, Workload, build_workload

OUT_DIR = Path("var/bench")
#: Issue 16's target: p99 from publish to the task in the inbox, at TARGET_RATE a second.
TARGET_RATE = 50.0
TARGET_P99_MS = 1000.0


def parser() -> argparse.ArgumentParser:
    """The bench's options; the defaults take about six minutes on two cores."""
    p = argparse.ArgumentParser(prog="python -m tests.bench.latency", description=__doc__)
    p.add_argument("--rates", type=float, nargs="+", default=[5.0, 50.0], help="per second")
    p.add_argument("--seconds", type=float, default=120.0, help="how long each rate is offered")
    p.add_argument("--families", type=int, default=400, help="register families incidents name")
    p.add_argument("--other-subjects", type=int, default=2_000, help="more register subjects")
    p.add_argument("--warmup", type=int, default=50, help="notifications before the clock")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument(
        "--worker-env",
        nargs="*",
        default=[],
        metavar="NAME=VALUE",
        help="worker settings to try, e.g. DVTRIGGER_RECEIPTS__ACK_POLL_INTERVAL_S=3600",
    )
    p.add_argument("--out", type=Path, default=OUT_DIR / "latency.json")
    return p


def say(message: str) -> None:
    """Progress on stderr, so stdout holds the figures only."""
    print(f"bench {time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def slices(work: Workload, counts: Sequence[int]) -> list[tuple[list[Message], list[Key]]]:
    """The measured notifications cut into consecutive runs of `counts`."""
    out = []
    at = 0
    for count in counts:
        out.append((work.measured[at : at + count], work.measured_ids[at : at + count]))
        at += count
    if at > len(work.measured):
        raise ValueError(f"the workload has {len(work.measured)} notifications, {at} wanted")
    return out


def offered(
    p: Pipeline,
    tails: dict[str, Tail],
    outputs: Outputs,
    children: Children,
    messages: list[Message],
    ids: list[Key],
    rate: float,
) -> dict[str, Any]:
    """Offer `messages` at `rate` a second, wait for their outputs, and measure them."""
    kafka = producer(p.stage.env["KAFKA_BOOTSTRAP_SERVERS"])
    cpu: dict[str, dict[str, Any]] = {name: {} for name in ("decide", "deliver", "inbox")}
    before = request_histogram(p)
    try:
        with ExitStack() as stack:
            for name, figures in cpu.items():
                stack.enter_context(watched(p.pids[name], figures))
            paced = send_paced(kafka, p.topic("police-incidents"), messages, ids, rate)
            rows = drain(p, tails, outputs, ids, children)
    finally:
        kafka.close()
    result = measured(rate, paced, outputs, rows, ids, cpu, rss_mib(p.pids))
    result["case_system_requests"] = request_figures(before, request_histogram(p))
    return result


def measured(
    rate: float,
    paced: Paced,
    outputs: Outputs,
    rows: Any,
    ids: list[Key],
    cpu: dict[str, dict[str, Any]],
    rss: dict[str, float],
) -> dict[str, Any]:
    """The figures of one offered rate."""
    published = paced.published
    in_inbox, task_of = task_times(rows, ids)
    expected = expected_tasks(outputs, ids)
    commanded = {k for sent in outputs.commands.values() for k in sent if k in published}
    command_at = {
        k: outputs.commands[task_of[k]][k] for k in in_inbox if k in outputs.commands[task_of[k]]
    }
    receipt_at = {
        k: outputs.raised[(task_of[k], k[1])]
        for k in in_inbox
        if (task_of[k], k[1]) in outputs.raised
    }
    return {
        "rate_per_s": rate,
        "offered_s": round(paced.seconds, 1),
        "notifications": len(ids),
        "publish_late_ms": spread(paced.late_s),
        "decisions_missing": sum(1 for k in ids if k not in outputs.decided),
        "to_decision": spread(lags(published, outputs.decided, ids)),
        "tasks_expected": len(expected),
        "tasks_in_inbox": len(expected & rows.keys()),
        "tasks_missing": len(expected - rows.keys()),
        "notifications_commanding_a_task": len(commanded),
        "task_arrivals_timed": len(in_inbox),
        "to_inbox": spread(lags(published, in_inbox, in_inbox)),
        "to_task_raised_receipt": spread(lags(published, receipt_at, receipt_at)),
        "hops": {
            "decision_to_command": spread(lags(outputs.decided, command_at, command_at)),
            "command_to_inbox": spread(lags(command_at, in_inbox, command_at)),
            "inbox_to_receipt": spread(lags(in_inbox, receipt_at, receipt_at)),
        },
        "to_inbox_p99_ms_by_10s": by_window(paced, in_inbox, 10.0),
        "cpu_share": {name: figures.get("process_cpu_share") for name, figures in cpu.items()},
        "machine_busy_share": cpu["decide"].get("machine_busy_share"),
        "rss_mib_after": rss,
    }


def by_window(paced: Paced, done: dict[Key, float], window_s: float) -> list[float | None]:
    """p99 from publish to `done`, per `window_s` of publishing: a stall shows as a spike."""
    buckets: dict[int, list[float]] = {}
    for key, at in done.items():
        sent = paced.published.get(key)
        if sent is not None:
            buckets.setdefault(int((sent - paced.start) // window_s), []).append(at - sent)
    last = max(buckets, default=-1)
    return [spread(buckets.get(w, []))["p99_ms"] for w in range(last + 1)]


def verdict(results: list[dict[str, Any]]) -> str:
    """Whether the target rate's p99 to the inbox is within target, every task arrived."""
    at_target = [r for r in results if r["rate_per_s"] == TARGET_RATE]
    if not at_target:
        return f"NOT MEASURED ({TARGET_RATE:g}/s not among the rates)"
    r = at_target[0]
    p99 = r["to_inbox"]["p99_ms"]
    if r["tasks_missing"] or r["decisions_missing"]:
        return "FAIL (outputs missing)"
    return "MET" if p99 is not None and p99 <= TARGET_P99_MS else "NOT MET"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def table(results: list[dict[str, Any]]) -> str:
    """The figures as a plain-text table, the target and the verdict under it."""
    head = (
        f"{'rate/s':>6} {'notes':>6} {'path':<20} {'n':>6} {'p50 ms':>8} {'p99 ms':>8}"
        f" {'max ms':>8} {'missing':>8}"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        rows = [
            ("publish->decision", r["to_decision"], r["decisions_missing"]),
            ("publish->inbox", r["to_inbox"], r["tasks_missing"]),
            ("publish->receipt", r["to_task_raised_receipt"], None),
        ]
        for path, s, missing in rows:
            lines.append(
                f"{r['rate_per_s']:>6g} {r['notifications']:>6} {path:<20} {s['n']:>6}"
                f" {_ms(s['p50_ms']):>8} {_ms(s['p99_ms']):>8} {_ms(s['max_ms']):>8}"
                f" {'' if missing is None else missing:>8}"
            )
        late = r["publish_late_ms"]
        cpu = r["cpu_share"]
        lines.append(
            f"{'':>6} tasks {r['tasks_in_inbox']}/{r['tasks_expected']} in the inbox;"
            f" sends late p99 {_ms(late['p99_ms'])} ms; CPU decide {cpu['decide']},"
            f" deliver {cpu['deliver']}, inbox {cpu['inbox']} of a core;"
            f" machine busy {r['machine_busy_share']}"
        )
        req = r["case_system_requests"]
        lines.append(
            f"{'':>6} case-system requests {req['requests']}: mean {_ms(req['mean_ms'])} ms,"
            f" p99 <= {_ms(req['p99_le_ms'])} ms (deliver handles them one at a time)"
        )
    lines.append("")
    lines.append(
        f"target: p99 publish->inbox <= {TARGET_P99_MS:,.0f} ms at {TARGET_RATE:g}/s:"
        f" {verdict(results)}"
    )
    return "\n".join(lines)


def run(args: argparse.Namespace, work: Workload) -> list[dict[str, Any]]:
    """Start everything, warm up, then offer each rate in turn."""
    counts = [math.ceil(rate * args.seconds) for rate in args.rates]
    parts = slices(work, counts)
    worker_env = dict(pair.split("=", 1) for pair in args.worker_env)
    with running_pipeline("latency", work, say, **worker_env) as (p, children):
        tails = Outputs.tails(p)
        outputs = Outputs()
        try:
            say(f"warm-up: {len(work.warmup)} notifications")
            offered(p, tails, outputs, children, work.warmup, work.warmup_ids, 20.0)
            results = []
            for rate, (messages, ids) in zip(args.rates, parts, strict=True):
                say(f"{rate:g}/s for {args.seconds:g} s: {len(messages)} notifications")
                results.append(offered(p, tails, outputs, children, messages, ids, rate))
        finally:
            for tail in tails.values():
                tail.close()
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """Run the bench, print the table and write the JSON."""
    args = parser().parse_args(argv)
    total = sum(math.ceil(rate * args.seconds) for rate in args.rates)
    try:
        say(f"building the workload: {total} notifications")
        work = build_workload(args.seed, total, args.families, args.other_subjects, args.warmup)
        results = run(args, work)
    except KeyboardInterrupt:
        say("interrupted; every child process stopped")
        return 130
    print(table(results))
    document = {
        "params": {
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "rates": args.rates,
            "seconds": args.seconds,
            "register_subjects": work.subjects,
            "seed": args.seed,
            "worker_env": args.worker_env,
            "python_path": os.environ.get("PYTHONPATH", ""),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "timestamps": "publish: producer record timestamp; decision: decision record"
            " timestamp; inbox: task created_at/revised_at (tests/bench/steady.py)",
        },
        "target": {"rate_per_s": TARGET_RATE, "p99_ms_to_inbox": TARGET_P99_MS},
        "verdict": verdict(results),
        "rates": results,
    }
    write_figures(args.out, document, say)
    return 0


if __name__ == "__main__":
    sys.exit(main())
