"""`make bench`, second part: the register at scale, as one worker holds it.

For registers of 10,000 and 1,000,000 subjects made by the project's simulator
(`iter_register_lines`, as `dvtrigger simulate --subjects N --register-only`
writes them) plus a labelled scenario's families, each size in a fresh process:

- load: parse every register-event/1 line, fold it, write its compact form to a
  dict standing in for the GlobalTable's memory store and index the record with
  those same bytes, as the register agent does (the simulator's own time is not
  counted);
- resident memory of that process (VmRSS) before and after, after a collection:
  the table's dict, the index and the records, as one worker holds them;
- `decide()` over the scenario's incidents: about its families (in the register)
  and about nobody; p50 and p99 of one decision, candidates per incident found
  by the blocking keys, and those read (their scope window holds the incident day);
  also p50 and p99 of the CPU time of one decision (this thread's), steadier than
  the wall clock on a shared machine.

Figures go to stdout and var/bench/register_scale.json; targets are reported,
never failed on.
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

OUT = Path("var/bench/register_scale.json")
SIZES = (10_000, 1_000_000)
#: Targets of issue 3.
P99_MS, RATIO, RSS_MB = 2.0, 1.5, 1536.0


def rss_mb() -> float:
    """This process's resident memory, in MiB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values: list[float], share: float) -> float:
    """The value below which `share` of sorted `values` fall (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def measure(subjects: int, seed: int, incidents: int) -> dict[str, Any]:
    """Load a register of `subjects` and time decisions on it, in this process."""
    from connectors.simulate import iter_register_lines, simulate
    from connectors.simulate.scenario import dumps
    from schemas.police import PoliceIncident
    from schemas.register import RegisterEvent
    from streams.domain.register.codec import encode
    from streams.domain.register.index import RegisterIndex
    from streams.domain.register.records import apply_event
    from streams.domain.rules import decide, incident_day
    from streams.flows import heap

    scenario = simulate(seed + 1, 300, incidents)
    cases = [PoliceIncident.model_validate(m) for m in scenario.incidents]
    with tempfile.TemporaryDirectory(prefix="dvtrigger-register-") as tmp:
        path = Path(tmp) / "register.jsonl"
        with path.open("w", encoding="utf-8") as out:
            for text in iter_register_lines(seed, subjects - 300, workers=2):
                out.write(text)
            out.writelines(dumps(e) + "\n" for e in scenario.register)
        gc.collect()
        before = rss_mb()
        index, events = RegisterIndex(), 0
        store: dict[bytes, bytes] = {}  # the GlobalTable's memory store
        started = time.perf_counter()
        with path.open("rb") as lines:
            for line in lines:
                event = RegisterEvent.model_validate_json(line)
                ref = event.subject.subject_ref
                record = apply_event(index.get(ref), event)
                store[ref.encode()] = value = encode(record)
                index.upsert(record, value)
                events += 1
        index.compact()  # as a worker does once it has recovered the register
        heap.settle()
        load_s = time.perf_counter() - started
    gc.collect()
    after = rss_mb()
    times, cpu, candidates, read = [], [], [], []
    for incident in cases:
        begun, begun_cpu = time.perf_counter(), time.thread_time()
        decide(incident, index)
        times.append((time.perf_counter() - begun) * 1000)
        cpu.append((time.thread_time() - begun_cpu) * 1000)
        candidates.append(len(index.candidates(incident)))
        read.append(len(index.candidates(incident, incident_day(incident))))
    return {
        "subjects": subjects,
        "records": len(index),
        "events": events,
        "load_s": round(load_s, 2),
        "rss_before_mb": round(before, 1),
        "rss_after_mb": round(after, 1),
        "rss_delta_mb": round(after - before, 1),
        "decisions": len(times),
        "p50_ms": round(percentile(times, 0.5), 3),
        "p99_ms": round(percentile(times, 0.99), 3),
        "cpu_p50_ms": round(percentile(cpu, 0.5), 3),
        "cpu_p99_ms": round(percentile(cpu, 0.99), 3),
        "candidates_p50": percentile([float(c) for c in candidates], 0.5),
        "candidates_p99": percentile([float(c) for c in candidates], 0.99),
        "read_p50": percentile([float(c) for c in read], 0.5),
        "read_p99": percentile([float(c) for c in read], 0.99),
    }


def run_size(subjects: int, seed: int, incidents: int) -> dict[str, Any]:
    """`measure` in a fresh interpreter, so its memory is its own."""
    command = [sys.executable, "-m", "tests.bench.register_scale", "--child", str(subjects)]
    command += ["--seed", str(seed), "--incidents", str(incidents)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def verdicts(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Each target, the measured figure and PASS or BELOW."""
    small, large = rows[0], rows[-1]
    ratio = large["p99_ms"] / small["p99_ms"] if small["p99_ms"] else float("inf")
    return {
        "p99_ratio_large_to_small": round(ratio, 2),
        "p99_target": "PASS" if large["p99_ms"] <= P99_MS else "BELOW",
        "ratio_target": "PASS" if ratio <= RATIO else "BELOW",
        "rss_target": "PASS" if large["rss_after_mb"] < RSS_MB else "BELOW",
    }


def table(rows: list[dict[str, Any]], verdict: dict[str, Any]) -> str:
    """The figures as a text table, then the targets."""
    head = f"{'subjects':>10} {'records':>9} {'load s':>8} {'RSS MiB':>8} {'+RSS':>8} "
    head += f"{'p50 ms':>7} {'p99 ms':>7} {'cand p50':>8} {'cand p99':>8} {'read p50':>8}"
    head += f" {'read p99':>8} {'cpu p50':>7} {'cpu p99':>7}"
    lines = [head]
    for r in rows:
        lines.append(
            f"{r['subjects']:>10,} {r['records']:>9,} {r['load_s']:>8.1f} {r['rss_after_mb']:>8.0f}"
            f" {r['rss_delta_mb']:>8.0f} {r['p50_ms']:>7.2f} {r['p99_ms']:>7.2f}"
            f" {r['candidates_p50']:>8.0f} {r['candidates_p99']:>8.0f}"
            f" {r.get('read_p50', float('nan')):>8.0f} {r.get('read_p99', float('nan')):>8.0f}"
            f" {r.get('cpu_p50_ms', float('nan')):>7.2f} {r.get('cpu_p99_ms', float('nan')):>7.2f}"
        )
    lines.append(
        f"p99 {rows[-1]['p99_ms']:.2f} ms (target <= {P99_MS}): {verdict['p99_target']}; "
        f"ratio {verdict['p99_ratio_large_to_small']} (target <= {RATIO}): "
        f"{verdict['ratio_target']}; RSS {rows[-1]['rss_after_mb']:.0f} MiB "
        f"(target < {RSS_MB:.0f}): {verdict['rss_target']}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Measure each size in its own process, print the table, write the JSON."""
    p = argparse.ArgumentParser(prog="python -m tests.bench.register_scale")
    p.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--incidents", type=int, default=3000, help="scenario incidents decided")
    p.add_argument("--child", type=int, help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    if args.child is not None:
        print(json.dumps(measure(args.child, args.seed, args.incidents)))
        return 0
    rows = []
    for size in args.sizes:
        print(f"register_scale: {size:,} subjects ...", file=sys.stderr, flush=True)
        rows.append(run_size(size, args.seed, args.incidents))
    verdict = verdicts(rows)
    print(table(rows, verdict))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"sizes": rows, "targets": verdict}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
