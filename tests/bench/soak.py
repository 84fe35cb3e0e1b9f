"""The time-compressed soak: two simulated years of register events and incidents, month by month.

`python -m tests.bench.soak [--months 24] [--scale 100] [--history-months 24]`

Does what a worker holds stay bounded once retention runs? One embedded broker, a
decide and a deliver worker and a duty inbox, as `tests.bench.steady` starts them,
with the workers' clock read from a file this bench writes (`DVTRIGGER_CLOCK_FILE`,
`streams.flows.clock.FileClock`) and a retention sweep every 2 s of real time.

The load, at national proportions scaled down by `--scale` (default 1:100):
about 600,000 births a year in England and about 1,000,000 police domestic-abuse
notifications, so 500 new register subjects and 833 incidents a simulated month.

- *Register*: one simulated population (`iter_register_events`) whose families
  fall evenly over the history and the soak; each event is published in the
  month its `recorded_at` falls in. Those before the soak (`--history-months`)
  are loaded first, as the register a council holds when it goes live: a soak
  that started from nothing would grow for about two years, as long as a subject
  is held (booked up to 7 months before birth, in scope to the first birthday,
  kept 180 days after).
- *Incidents*: `--about-share` (10 %) are about register families of that month
  (`simulate` with the month as its window: its families' events come too);
  the rest about nobody the register knows (`simulate` with no families: mostly
  strangers, a few babies or pregnancies only the police report names).

Each month: the clock is set to two days after the month's end and runs on in
real time; the month is published; the bench waits until every incident is
decided and every task commanded is in the inbox, the decide worker is idle, and
a retention sweep has started after that; then it reads the decide worker's
`dvtrigger_incident_states` and `dvtrigger_register_subjects`, both changelogs
(records on the topic, and live keys: what compaction would keep, since Tansu
never compacts), and the resident memory of each process. Every series must be
flat within 10 % after month 12: max / min over months 12..N at most 1.10. A
series that is not is printed as FAIL; the exit status is 0 unless the bench
breaks. Figures go to stdout and var/bench/soak.json.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer
from prometheus_client.parser import text_string_to_metric_families

from connectors.cli.allocator import allocator_env, describe
from connectors.kafka.broker import EmbeddedBroker
from connectors.kafka.publish import producer, publish_dicts
from connectors.simulate import iter_register_events, simulate
from tests.bench import memtrace
from tests.bench.children import Children
from tests.bench.probes import wait_idle
from tests.bench.steady import (
    Outputs,
    Pipeline,
    Tail,
    drain,
    inbox_rows,
    rss_mib,
    start_pipeline,
    write_figures,
)
from tests.bench.worker_stage import deliver_url
from tests.bench.workload import Workload

OUT_DIR = Path("var/bench")
#: England, a year: live births (ONS, about 590,000) and police domestic-abuse notifications.
BIRTHS_A_YEAR = 600_000
INCIDENTS_A_YEAR = 1_000_000
#: The soak's first day; months are calendar months from it.
START = date(2025, 1, 1)
#: Seconds between retention sweeps in the soak (real time; production: hourly).
SWEEP_S = 2.0
#: After this month every series must be flat: max / min at most FLAT.
SETTLED_AFTER = 12
FLAT = 1.10
Row = dict[str, Any]


def parser() -> argparse.ArgumentParser:
    """The soak's options; the defaults take 10-15 minutes on two cores."""
    p = argparse.ArgumentParser(prog="python -m tests.bench.soak", description=__doc__)
    p.add_argument("--months", type=int, default=24, help="simulated months measured")
    p.add_argument("--scale", type=float, default=100.0, help="national volumes divided by")
    p.add_argument("--history-months", type=int, default=24, help="register loaded first")
    p.add_argument("--about-share", type=float, default=0.10, help="incidents about families")
    p.add_argument("--seed", type=int, default=16)
    p.add_argument("--out", type=Path, default=OUT_DIR / "soak.json")
    p.add_argument(
        "--trace",
        type=Path,
        default=None,
        help="the decide worker's memory by type of object, a month at a time, in this folder"
        " (python -m tests.bench.memtrace shows and compares them)",
    )
    p.add_argument(
        "--trace-frames",
        type=int,
        default=0,
        help="with --trace: tracemalloc frames, 0 for none (tracing slows the worker tenfold)",
    )
    return p


def say(message: str) -> None:
    """Progress on stderr, so stdout holds the figures only."""
    print(f"soak {time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def add_months(day: date, months: int) -> date:
    """The first of the month `months` after `day`'s month."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def midnight(day: date) -> datetime:
    """Midnight UTC at the start of `day`."""
    return datetime.combine(day, dtime(0), UTC)


class ClockFile:
    """The simulated time the workers read: an anchor the bench sets, running on in real time.

    Written every 0.1 s (to a temporary file, then renamed over, so a reader never
    sees half a number). Running on lets the bench tell a sweep that started after
    a moment from one that finished just after it.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._anchor = 0.0
        self._since = time.monotonic()
        self._stop = threading.Event()
        self._writing = threading.Lock()  # `set` and the thread write the same file
        self._thread = threading.Thread(target=self._run, daemon=True)

    def set(self, moment: datetime) -> None:
        """Make `moment` the time now, and write it at once."""
        self._anchor, self._since = moment.timestamp(), time.monotonic()
        self._write()

    def now(self) -> float:
        """The simulated time now, Unix seconds."""
        return self._anchor + time.monotonic() - self._since

    def _write(self) -> None:
        with self._writing:
            part = self.path.with_suffix(".part")
            part.write_text(f"{self.now():.3f}\n", encoding="ascii")
            part.replace(self.path)

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            self._write()

    def __enter__(self) -> ClockFile:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Load:
    """What the soak publishes: the register before it, and each month's events and incidents."""

    history: list[Row]
    months: list[tuple[list[Row], list[Row]]]
    about_families: int


def build_load(args: argparse.Namespace) -> Load:
    """The population's events by month, and each month's incidents (see the module doc)."""
    births = BIRTHS_A_YEAR / 12 / args.scale
    incidents = round(INCIDENTS_A_YEAR / 12 / args.scale)
    about = round(incidents * args.about_share)
    families = max(1, about // 2)
    first = add_months(START, -args.history_months)
    # A family's events fall up to about 10 months before the day its window places it,
    # so the window runs a year past the soak: the soak's months then get as many new
    # subjects each (the later families' events are cut at the soak's end).
    span_months = args.history_months + args.months + 12
    span = (add_months(first, span_months) - first).days
    subjects = round(births * span_months)
    population = list(iter_register_events(args.seed, subjects, start=first, days=span, workers=2))
    population.sort(key=lambda e: (e["recorded_at"][:19], e["event_id"]))
    history = [e for e in population if e["recorded_at"][:10] < START.isoformat()]
    months = []
    for m in range(args.months):
        lo, hi = add_months(START, m).isoformat(), add_months(START, m + 1).isoformat()
        events = [e for e in population if lo <= e["recorded_at"][:10] < hi]
        days = (add_months(START, m + 1) - add_months(START, m)).days
        start = add_months(START, m)
        seed = args.seed * 1000 + m
        named = simulate(seed, families, about, start=start, days=days)
        nobody = simulate(seed + 500, 0, incidents - about, start=start, days=days)
        notes = [_tagged(n, f"m{m:02d}a") for n in named.incidents]
        notes += [_tagged(n, f"m{m:02d}b") for n in nobody.incidents]
        notes.sort(key=lambda n: (n["reported_at"], n["incident_id"], n["revision"]))
        months.append((named.register + events, notes))
    return Load(history, months, families)


def _tagged(message: Row, tag: str) -> Row:
    """A notification whose incident and notification ids cannot repeat another month's."""
    return {
        **message,
        "incident_id": f"{message['incident_id']}-{tag}",
        "notification_id": str(
            uuid.uuid5(uuid.NAMESPACE_URL, f"{message['notification_id']}{tag}")
        ),
    }


def subjects_in(events: list[Row]) -> int:
    """How many subjects `events` are about."""
    return len({e["subject"]["subject_ref"] for e in events})


@dataclass
class Changelog:
    """One table's changelog read as it grows: records on the topic, and keys still live."""

    tail: Tail
    records: int = 0
    live: dict[bytes, bool] = field(default_factory=dict)

    def read(self) -> dict[str, int]:
        """Take in what is new: records so far, and keys whose last record is not a tombstone."""
        for _, key, value in self.tail.read():
            self.records += 1
            if key is not None:
                self.live[key] = bool(value)
        return {"records": self.records, "live_keys": sum(self.live.values())}


def changelog_topics(bootstrap: str, app_id: str) -> dict[str, str]:
    """The changelog topics of the decide worker's two tables, by table."""
    names = {
        "register": f"{app_id}-register-subjects-changelog",
        "incidents": f"{app_id}-incident-state-changelog",
    }
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        deadline = time.monotonic() + 60
        while not set(names.values()) <= consumer.topics():
            if time.monotonic() > deadline:
                raise TimeoutError(f"no changelog topics {sorted(names.values())}")
            time.sleep(0.5)
    finally:
        consumer.close()
    return names


def scrape(url: str) -> dict[str, float]:
    """A worker's samples as `name{label=value,...}` -> value, and by bare name summed."""
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            out[f"{sample.name}{{{labels}}}"] = sample.value
            out[sample.name] = out.get(sample.name, 0.0) + sample.value
    return out


def wait_sweep(p: Pipeline, clock: ClockFile, children: Children, timeout: float = 60.0) -> None:
    """Wait until a retention sweep that started after now has finished.

    The sweep stamps its end with the workers' clock, which runs on from the month's
    anchor in real time: a stamp two intervals past now is a sweep begun after now.
    """
    after = clock.now() + 2 * SWEEP_S
    url = f"http://127.0.0.1:{p.stage.settings.web_port}/metrics"
    deadline = time.monotonic() + timeout
    while scrape(url).get("dvtrigger_retention_last_sweep_timestamp_seconds", 0.0) < after:
        if time.monotonic() > deadline:
            raise TimeoutError("no retention sweep")
        children.check()
        time.sleep(0.5)


def measure(
    p: Pipeline, month: int, logs: dict[str, Changelog], counts: dict[str, float]
) -> dict[str, Any]:
    """One month's row: what the worker holds, the changelogs, and each process's memory."""
    decide = scrape(f"http://127.0.0.1:{p.stage.settings.web_port}/metrics")
    deliver = scrape(deliver_url(p.stage, "metrics"))
    register = logs["register"].read()
    incidents = logs["incidents"].read()
    return {
        "month": month,
        "incident_states": int(decide.get("dvtrigger_incident_states", -1)),
        "register_subjects": int(decide.get("dvtrigger_register_subjects", -1)),
        "recent_incidents": int(decide.get("dvtrigger_recent_incidents", -1)),
        "register_changelog_records": register["records"],
        "register_changelog_live_keys": register["live_keys"],
        "incident_changelog_records": incidents["records"],
        "incident_changelog_live_keys": incidents["live_keys"],
        "tasks_awaiting_ack": int(deliver.get("dvtrigger_tasks_awaiting_acknowledgement", -1)),
        "inbox_tasks": len(inbox_rows(p.inbox_db)),
        "purged_subjects_total": int(
            decide.get("dvtrigger_retention_purged_total{kind=register_subject}", 0)
        ),
        "purged_incident_states_total": int(
            decide.get("dvtrigger_retention_purged_total{kind=incident_state}", 0)
        ),
        **{f"rss_mib_{name}": mib for name, mib in rss_mib(p.pids).items()},
        **counts,
    }


#: The series issue 16 asks to be flat after the first year.
SERIES = (
    "incident_states",
    "register_subjects",
    "register_changelog_records",
    "register_changelog_live_keys",
    "incident_changelog_records",
    "incident_changelog_live_keys",
    "rss_mib_decide",
    "rss_mib_deliver",
    "rss_mib_inbox",
    "rss_mib_broker",
)


def flatness(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each series' max / min over the months from SETTLED_AFTER on, and PASS or FAIL."""
    settled = [r for r in rows if r["month"] >= SETTLED_AFTER]
    out: dict[str, dict[str, Any]] = {}
    for name in SERIES:
        values = [r[name] for r in settled if name in r]
        if not values:
            out[name] = {"ratio": None, "verdict": "NOT MEASURED"}
            continue
        low, high = min(values), max(values)
        ratio = high / low if low > 0 else (1.0 if high == 0 else float("inf"))
        out[name] = {
            "min": low,
            "max": high,
            "ratio": round(ratio, 3),
            "verdict": "PASS" if ratio <= FLAT else "FAIL",
        }
    return out


def run(args: argparse.Namespace, load: Load) -> list[dict[str, Any]]:
    """Start everything on the simulated clock, load the history, then run month by month."""
    logs_dir = OUT_DIR / "logs" / "soak"
    logs_dir.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryDirectory(prefix="dvtrigger-soak-") as tmp,
        ClockFile(Path(tmp) / "clock") as clock,
        EmbeddedBroker(log_path=logs_dir / "broker.log") as broker,
        Children(logs_dir) as children,
    ):
        # The history loads with the clock well before it ends, so no sweep purges a subject
        # while the bench counts them in; the first month's sweep purges what is past its time.
        clock.set(midnight(add_months(START, -args.history_months - 12)))
        history = Workload(load.history, subjects_in(load.history), [], [], [], [])
        proc = getattr(broker, "_proc", None)
        say(f"loading the history: {len(load.history)} events, {history.subjects} subjects")
        p = start_pipeline(
            broker.bootstrap,
            proc.pid if proc else None,
            str(os.getpid()),
            Path(tmp),
            history,
            children,
            DVTRIGGER_CLOCK_FILE=str(clock.path),
            DVTRIGGER_RETENTION__PURGE_INTERVAL_S=str(SWEEP_S),
            DVTRIGGER_REGISTER_SNAPSHOT_INTERVAL_S="0",
            **(memtrace.env(args.trace, "decide", args.trace_frames) if args.trace else {}),
        )
        app_id = p.stage.settings.app_id
        topics = changelog_topics(broker.bootstrap, app_id)
        changelogs = {name: Changelog(Tail(broker.bootstrap, t)) for name, t in topics.items()}
        tails = Outputs.tails(p)
        outputs = Outputs()
        kafka = producer(broker.bootstrap)
        if args.trace:  # tracing starts once the register is loaded
            memtrace.request(args.trace, "month-00")
        try:
            for m, (events, notes) in enumerate(load.months, start=1):
                rows.append(
                    month(p, m, events, notes, clock, kafka, tails, outputs, children, changelogs)
                )
                r = rows[-1]
                if args.trace:
                    memtrace.request(args.trace, f"month-{m:02d}")
                say(
                    f"month {m:2d}: {r['incident_states']} incident states,"
                    f" {r['register_subjects']} subjects, decide {r['rss_mib_decide']} MiB"
                    f" ({r['month_seconds']:.0f} s)"
                )
        finally:
            kafka.close()
            for tail in [*tails.values(), *(c.tail for c in changelogs.values())]:
                tail.close()
    return rows


def month(
    p: Pipeline,
    m: int,
    events: list[Row],
    notes: list[Row],
    clock: ClockFile,
    kafka: Any,
    tails: dict[str, Tail],
    outputs: Outputs,
    children: Children,
    changelogs: dict[str, Changelog],
) -> dict[str, Any]:
    """Publish one simulated month, wait until it is processed and swept, and measure."""
    began = time.monotonic()
    clock.set(midnight(add_months(START, m)) + timedelta(days=2))
    published = publish_dicts("register", events, p.topic("register-events"), kafka)
    sent = publish_dicts("incidents", notes, p.topic("police-incidents"), kafka)
    if published.rejected or sent.rejected:
        raise RuntimeError(f"refused: {len(published.rejected)} events, {len(sent.rejected)} notes")
    ids = [(n["incident_id"], n["revision"]) for n in notes]
    drain(p, tails, outputs, ids, children, timeout=600.0)
    missing = sum(1 for k in ids if k not in outputs.decided)
    wait_idle(p.pids["decide"], 600.0, quiet_s=2)
    try:
        wait_sweep(p, clock, children, timeout=120.0)
        swept = 1
    except TimeoutError:  # reported, not fatal: what the month holds is still measured
        say(f"month {m}: no retention sweep stamped within 120 s of the month's end")
        swept = 0
    counts: dict[str, float] = {
        "register_events": len(events),
        "notifications": len(notes),
        "decisions_missing": missing,
        "swept": swept,
        "month_seconds": round(time.monotonic() - began, 1),
    }
    return measure(p, m, changelogs, counts)


COLUMNS = (
    ("month", "month"),
    ("incident_states", "inc states"),
    ("register_subjects", "subjects"),
    ("register_changelog_records", "reg log"),
    ("register_changelog_live_keys", "reg live"),
    ("incident_changelog_records", "inc log"),
    ("incident_changelog_live_keys", "inc live"),
    ("rss_mib_decide", "decide MiB"),
    ("rss_mib_deliver", "deliver MiB"),
    ("rss_mib_inbox", "inbox MiB"),
    ("rss_mib_broker", "broker MiB"),
)


def table(rows: list[dict[str, Any]], flat: dict[str, dict[str, Any]]) -> str:
    """The months as a plain-text table, and each series' verdict under it."""
    head = " ".join(f"{title:>11}" for _, title in COLUMNS)
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(" ".join(f"{r.get(name, '-'):>11,}" for name, _ in COLUMNS))
    lines.append("")
    lines.append(f"flat after month {SETTLED_AFTER} (max / min <= {FLAT:.2f}):")
    for name, v in flat.items():
        ratio = "-" if v["ratio"] is None else f"{v['ratio']:.3f}"
        lines.append(f"  {name:<32} {ratio:>7}  {v['verdict']}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the soak, print the table and write the JSON."""
    args = parser().parse_args(argv)
    try:
        say("building the load")
        load = build_load(args)
        rows = run(args, load)
    except KeyboardInterrupt:
        say("interrupted; every child process stopped")
        return 130
    flat = flatness(rows)
    print(table(rows, flat))
    document = {
        "params": {
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            **{k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
            "start": START.isoformat(),
            "sweep_interval_s": SWEEP_S,
            "history_events": len(load.history),
            "history_subjects": subjects_in(load.history),
            "about_families_a_month": load.about_families,
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "allocator": describe({**os.environ, **allocator_env()}),
            "broker": "tansu (embedded, memory storage, never compacts)",
        },
        "flat_after_month": SETTLED_AFTER,
        "flat_max_over_min": FLAT,
        "series": flat,
        "months": rows,
    }
    write_figures(args.out, document, say)
    return 0


if __name__ == "__main__":
    sys.exit(main())
