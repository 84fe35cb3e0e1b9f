"""`make bench`, third part: how long a decide worker takes to its first decision after a
restart, and a second one joining, with a register of 100,000 and 1,000,000 subjects.

For each size, on one embedded broker:

- the register is put on the register changelog directly: pre-folded subject
  records (what the register agent writes), produced with kafka-python, made
  from the simulator's register (`iter_register_events`, as `dvtrigger
  simulate --subjects N --register-only`) and kept in var/bench/ between runs;
- **full rebuild** (the baseline): a decide worker starts with no snapshot and
  reads the whole changelog, as every restart did before snapshots; it then
  writes its snapshot;
- **restart**: that worker is killed, `--changes` subject records are written to
  the changelog while it is down (as another worker would), and it starts again
  from its snapshot and the changelog after it;
- **join**: a second decide worker (its own data directory, the same snapshot
  directory) joins the running one.

Each figure is from starting the process to the first decision it logs (its
/metrics `dvtrigger_decisions_total`), a probe incident being published every
half second.
Figures go to stdout and var/bench/restart.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import struct
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

OUT = Path("var/bench/restart.json")
CACHE = Path("var/bench")
SIZES = (100_000, 1_000_000)
#: Target of issue 13: back to deciding within a minute at 1,000,000 subjects.
TARGET_S = 60.0
FIRST_DECISION_TIMEOUT_S = 3600.0


def changelog_file(subjects: int, seed: int) -> Path:
    """The folded register of `subjects` (key and value, length-prefixed), made once."""
    path = CACHE / f"restart-register-{subjects}-{seed}.bin"
    if path.exists():
        return path
    from connectors.simulate.stream import iter_register_events
    from schemas.register import RegisterEvent
    from streams.domain.register.codec import encode
    from streams.domain.register.records import SubjectRecord, apply_event

    records: dict[str, SubjectRecord] = {}
    for row in iter_register_events(seed, subjects, workers=2):
        event = RegisterEvent.model_validate(row)
        ref = event.subject.subject_ref
        records[ref] = apply_event(records.get(ref), event)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    with partial.open("wb") as out:
        for ref, record in records.items():
            key, value = ref.encode(), encode(record)
            out.write(struct.pack(">II", len(key), len(value)) + key + value)
    partial.replace(path)
    return path


def read_changelog(path: Path) -> Iterator[tuple[bytes, bytes]]:
    """The (key, value) pairs of a folded register file."""
    with path.open("rb") as source:
        while head := source.read(8):
            key_size, value_size = struct.unpack(">II", head)
            yield source.read(key_size), source.read(value_size)


def produce(bootstrap: str, topic: str, pairs: Iterator[tuple[bytes, bytes]]) -> int:
    """Produce every pair onto `topic`; how many."""
    from connectors.kafka.publish import producer

    kafka = producer(bootstrap)
    count = 0
    try:
        for key, value in pairs:
            kafka.send(topic, key=key, value=value)
            count += 1
        kafka.flush(timeout=600)
    finally:
        kafka.close()
    return count


def decisions(url: str) -> float:
    """The decisions a worker has logged (0 while it does not answer)."""
    try:
        with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return 0.0
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("dvtrigger_decisions_total")
    )


def probe(bootstrap: str, topic: str) -> None:
    """Publish one incident about nobody in the register, with a new id."""
    from connectors.kafka.publish import producer
    from tests.support.samples import sample_incident

    number = uuid.uuid4().int % 1_000_000
    incident = sample_incident(f"MPS-2026-{number:06d}", notification_id=str(uuid.uuid4()))
    kafka = producer(bootstrap)
    try:
        key = incident.incident_id.encode()
        kafka.send(topic, key=key, value=incident.model_dump_json().encode()).get(timeout=30)
    finally:
        kafka.close()


def until_first_decision(process: Any, url: str, bootstrap: str, topic: str) -> float:
    """Seconds from now (the process just started) until it logs a decision."""
    started = time.monotonic()
    while decisions(url) < 1:
        if process.poll() is not None:
            raise RuntimeError(f"the worker exited with {process.returncode}")
        if time.monotonic() - started > FIRST_DECISION_TIMEOUT_S:
            raise TimeoutError("no decision")
        probe(bootstrap, topic)
        time.sleep(0.5)
    return time.monotonic() - started


def snapshot_offset(path: Path) -> int:
    """The changelog offset the snapshot at `path` reflects (-1: none)."""
    from streams.domain.register.snapshot import MAGIC

    try:
        with path.open("rb") as source:
            head = source.read(len(MAGIC) + 4)
            size = int.from_bytes(head[len(MAGIC) :], "big")
            header = json.loads(source.read(size))
    except (FileNotFoundError, ValueError):
        return -1
    return int(header["marks"]["0"][0])


def wait_snapshot(path: Path, offset: int, timeout: float = 3600.0) -> float:
    """Seconds until the snapshot at `path` reflects `offset`."""
    started = time.monotonic()
    while snapshot_offset(path) < offset:
        if time.monotonic() - started > timeout:
            raise TimeoutError("no snapshot")
        time.sleep(0.5)
    return time.monotonic() - started


def measure(bootstrap: str, subjects: int, seed: int, changes: int, root: Path) -> dict[str, Any]:
    """The three figures for one register size."""
    from connectors.kafka.broker import free_port, stop_process
    from connectors.kafka.topics import changelog, ensure_topics
    from streams.config.settings import Settings
    from tests.support.stack import Stack, isolated_env

    folded = changelog_file(subjects, seed)
    name = f"r{uuid.uuid4().hex[:8]}"
    env = {
        **isolated_env(bootstrap, name, root / name),
        "DVTRIGGER_REGISTER_SNAPSHOT_DIR": str(root / name / "snapshots"),
        "DVTRIGGER_REGISTER_SNAPSHOT_INTERVAL_S": "5",
        "DVTRIGGER_LOG_LEVEL": "INFO",
    }
    settings = Settings.model_validate({"app_id": name, "topic_prefix": f"{name}."})
    ensure_topics(settings, bootstrap)
    topic = changelog(settings, "register-subjects")
    incidents = settings.topic("police-incidents")
    (root / name).mkdir(parents=True)
    stack = Stack(settings, bootstrap, "http://127.0.0.1:9", [], env=env, data_dir=root / name)
    url = f"http://127.0.0.1:{env['DVTRIGGER_WEB_PORT']}"
    snapshot = root / name / "snapshots" / f"{topic}.snapshot"
    began = time.monotonic()
    records = produce(bootstrap, topic, read_changelog(folded))
    produce_s = time.monotonic() - began
    try:
        worker = stack.spawn("decide", name="first")
        full_s = until_first_decision(worker, url, bootstrap, incidents)
        snapshot_s = wait_snapshot(snapshot, records - 1)
        worker.kill()
        worker.wait(timeout=30)
        changed = produce(bootstrap, topic, _changes(folded, changes))
        worker = stack.spawn("decide", name="restarted")
        restart_s = until_first_decision(worker, url, bootstrap, incidents)
        second_url = f"http://127.0.0.1:{free_port()}"
        joining = stack.spawn(
            "decide",
            name="joining",
            DVTRIGGER_WEB_PORT=second_url.rsplit(":", 1)[1],
            DVTRIGGER_DATA_DIR=str(root / name / "second"),
        )
        join_s = until_first_decision(joining, second_url, bootstrap, incidents)
    finally:
        for process in stack.started:
            stop_process(process, timeout=30)
        for log in stack.logs:
            log.close()
    logs = {n: (root / name / f"{name}-{n}.log").read_text() for n in ("restarted", "joining")}
    return {
        "subjects": subjects,
        "records": records,
        "changed_while_down": changed,
        "register_on_broker": "pre-folded subject records produced to the changelog",
        "produce_s": round(produce_s, 1),
        "full_rebuild_s": round(full_s, 1),
        "snapshot_written_s": round(snapshot_s, 1),
        "snapshot_mb": round(snapshot.stat().st_size / 2**20, 1),
        "restart_s": round(restart_s, 1),
        "join_s": round(join_s, 1),
        "restart_loaded_snapshot": "register snapshot loaded" in logs["restarted"],
        "join_loaded_snapshot": "register snapshot loaded" in logs["joining"],
        "restart_ratio": round(restart_s / full_s, 3),
        "join_ratio": round(join_s / full_s, 3),
    }


def _changes(folded: Path, count: int) -> Iterator[tuple[bytes, bytes]]:
    """`count` subject records written again (same bytes: a change to read all the same)."""
    for n, pair in enumerate(read_changelog(folded)):
        if n >= count:
            return
        yield pair


def table(rows: list[dict[str, Any]]) -> str:
    """The figures as a text table, then the target."""
    head = f"{'subjects':>10} {'records':>9} {'full s':>7} {'restart s':>9} {'join s':>7}"
    lines = [head + f" {'restart/full':>12} {'snap MiB':>8}"]
    for r in rows:
        lines.append(
            f"{r['subjects']:>10,} {r['records']:>9,} {r['full_rebuild_s']:>7} "
            f"{r['restart_s']:>9} {r['join_s']:>7} {r['restart_ratio']:>12} {r['snapshot_mb']:>8}"
        )
    large = rows[-1]
    verdict = "PASS" if max(large["restart_s"], large["join_s"]) <= TARGET_S else "BELOW"
    lines.append(
        f"target: restart and join <= {TARGET_S:.0f} s at {large['subjects']:,} subjects: {verdict}"
    )
    lines.append("register put on the broker as pre-folded changelog records (kafka-python)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the restart bench for each size on one embedded broker."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--changes", type=int, default=1000)
    args = parser.parse_args(argv)
    import tempfile

    from connectors.kafka.broker import EmbeddedBroker

    rows = []
    root = Path(tempfile.mkdtemp(prefix="dvtrigger-restart-"))  # kept when a run fails: the logs
    with EmbeddedBroker(log_path=root / "tansu.log") as broker:
        for subjects in args.sizes:
            rows.append(measure(broker.bootstrap, subjects, args.seed, args.changes, root))
            print(json.dumps(rows[-1]), flush=True)
    shutil.rmtree(root)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(rows, indent=2) + "\n")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
