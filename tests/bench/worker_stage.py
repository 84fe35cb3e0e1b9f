"""Stage C: a real dvtrigger worker, with a real duty inbox as its case system.

The worker runs as `make run` runs it: one `--role decide` process (ingest,
register, decisions) and one `--role deliver` process (tasks to the inbox).

The register is published and folded first: the worker's /healthz counts its
subjects, and then the worker must fall idle (it reads its own register changelog
back after counting). Then the stage is measured like baseline B, on the decision log.
"""

from __future__ import annotations

import time
import urllib.request
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from connectors.kafka.broker import free_port
from connectors.kafka.publish import producer, publish_dicts
from tests.bench.children import Children, get_json, wait_json
from tests.bench.kafka_io import topic_size
from tests.bench.probes import wait_idle, watched
from tests.bench.report import StageResult
from tests.bench.stages import DECISIONS, Stage, measure_flow, stage
from tests.bench.workload import Workload
from tests.support.duty_inbox import TEST_CLIENT_TOKEN, add_client

REGISTER_TIMEOUT_S = 300.0
TASKS_TIMEOUT_S = 240.0
#: The worker's counters the bench reports; dvtrigger_tasks* together count every command.
COUNTED = {
    "dvtrigger_decisions",
    "dvtrigger_tasks",
    "dvtrigger_tasks_parked",
    "dvtrigger_incidents_rejected",
    "dvtrigger_incidents_routed",
}


def pipeline(
    bootstrap: str,
    run_id: str,
    data_dir: Path,
    work: Workload,
    children: Children,
    profile: Path | None = None,
) -> tuple[StageResult, StageResult]:
    """Start a duty inbox and a worker, load the register, then time the notifications.

    The second result times the same notifications until their tasks are delivered
    too: what the worker sustains, since it decides and delivers on one event loop.
    """
    inbox = start_duty_inbox(children, data_dir / "pipeline")
    s = stage(
        run_id,
        "pipeline",
        bootstrap,
        data_dir,
        DVTRIGGER_CASE_SYSTEM_URL=inbox,
        DVTRIGGER_CASE_SYSTEM_TOKEN=TEST_CLIENT_TOKEN,
        DVTRIGGER_DELIVER_WEB_PORT=str(free_port()),
    )
    worker_args = ["-m", "connectors.cli", "worker", "--role"]
    worker = children.python("worker", [*worker_args, "decide"], s.env)
    children.python("deliver", [*worker_args, "deliver"], s.env)
    wait_json(s.health_url, children=children)
    wait_json(deliver_url(s, "healthz"), children=children)
    loaded_in = load_register(s, work, children)
    settled_in = wait_idle(worker.pid, REGISTER_TIMEOUT_S)
    load: dict[str, Any] = {}
    probe = partial(watched, worker.pid, load, profile)
    result = measure_flow("C  dvtrigger pipeline", s, work, children, DECISIONS, during=probe)
    commands = topic_size(bootstrap, s.settings.topic("task-commands"))
    delivered_at = wait_tasks_delivered(s, commands, children)
    tasks = StageResult(
        "C+ pipeline until tasks delivered",
        result.messages,
        delivered_at - result.notes["publish_start"],
        notes={"task_commands": commands},
    )
    notes = {
        **result.notes,
        "register_subjects": work.subjects,
        "register_events": len(work.register),
        "register_loaded_in_s": round(loaded_in, 2),
        "register_settled_after_s": round(settled_in, 2),
        "worker": load,
        "worker_metrics": {**metric_totals(s), **metric_totals(s, deliver=True)},
    }
    return replace(result, notes=notes), tasks


def start_duty_inbox(children: Children, folder: Path) -> str:
    """Serve a duty inbox on a free port with a fresh database; its base URL.

    The database gets the test API client first: the worker must send its token
    (`DVTRIGGER_CASE_SYSTEM_TOKEN`), or the inbox refuses every task and the worker parks it.
    """
    folder.mkdir(parents=True, exist_ok=True)
    add_client(folder / "duty-inbox.sqlite3")
    port = free_port()
    args = ["-m", "connectors.duty_inbox", "--port", str(port)]
    env = {"DVTRIGGER_DATA_DIR": str(folder)}
    children.python("duty-inbox", [*args, "--db", str(folder / "duty-inbox.sqlite3")], env)
    url = f"http://127.0.0.1:{port}"
    wait_json(f"{url}/healthz", children=children)
    return url


def load_register(s: Stage, work: Workload, children: Children) -> float:
    """Publish the register and wait until the worker holds every subject; seconds taken."""
    start = time.monotonic()
    kafka = producer(s.env["KAFKA_BOOTSTRAP_SERVERS"])
    report = publish_dicts("register", work.register, s.settings.topic("register-events"), kafka)
    kafka.close()
    if report.rejected:
        raise RuntimeError(f"{len(report.rejected)} register events refused by the publisher")
    deadline = start + REGISTER_TIMEOUT_S
    while (held := get_json(s.health_url)["register_subjects"]) < work.subjects:
        if time.monotonic() > deadline:
            raise TimeoutError(f"register: {held} of {work.subjects} subjects after the timeout")
        children.check()
        time.sleep(0.25)
    return time.monotonic() - start


def deliver_url(s: Stage, page: str) -> str:
    """A page of the deliver-role worker."""
    return f"http://127.0.0.1:{s.settings.deliver_web_port}/{page}"


def metric_totals(s: Stage, deliver: bool = False) -> dict[str, int]:
    """A worker's non-zero counters of decisions, tasks and dead letters, by their one label."""
    url = (
        deliver_url(s, "metrics") if deliver else f"http://127.0.0.1:{s.settings.web_port}/metrics"
    )
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    counts: dict[str, int] = {}
    for family in text_string_to_metric_families(text):
        if family.name in COUNTED:
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    label = next(iter(sample.labels.values()), "")
                    if sample.value:
                        counts[f"{family.name}{{{label}}}"] = int(sample.value)
    return counts


def wait_tasks_delivered(s: Stage, commands: int, children: Children) -> float:
    """Wait until the worker has delivered or parked `commands` task commands; when (epoch)."""
    deadline = time.monotonic() + TASKS_TIMEOUT_S
    while True:
        totals = metric_totals(s, deliver=True)
        done = sum(n for name, n in totals.items() if name.startswith("dvtrigger_tasks"))
        if done >= commands:
            return time.time()
        if time.monotonic() > deadline:
            raise TimeoutError(f"tasks: {done} of {commands} delivered after the timeout")
        children.check()
        time.sleep(0.1)
