"""`dvtrigger run`: everything on one machine, started in order and stopped cleanly.

Broker (embedded Tansu unless KAFKA_BOOTSTRAP_SERVERS is set), topics, the duty
inbox, a worker in two processes (decide: ingest, register and decisions; deliver:
tasks to the case system) and, by default, a demo feed of synthetic register events and
incidents. Ctrl-C stops them in reverse order.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connectors.cli.allocator import allocator_env
from connectors.cli.ingress import start_demo_ingress
from connectors.cli.users import demo_credentials
from connectors.kafka.broker import EmbeddedBroker, stop_process
from connectors.kafka.topics import ensure_topics
from streams.config.settings import Settings

DEMO_INCIDENTS_PER_SECOND = 2.0


def _spawn(args: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """Start a child process with its output in a log file."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    out = log_path.open("ab")
    # A session of its own: Ctrl-C reaches the supervisor only, which stops children in order.
    return subprocess.Popen(
        args, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
    )


def _wait_http(url: str, timeout: float = 60.0) -> dict[str, Any]:
    """Wait until `url` answers 200 with JSON, and return it."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return dict(json.loads(response.read() or b"{}"))
        except (OSError, ValueError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def _drop(settings: Settings) -> Path:
    """The folder `make run`'s file drop watches: var/drop/."""
    return settings.data_dir / "drop"


def _banner(
    settings: Settings,
    bootstrap: str,
    inbox: str,
    demo: bool,
    sign_in: tuple[str, str] = ("", ""),
    ingress: str = "",
) -> None:
    """Tell the person at the terminal where to look, and how to sign in to the duty inbox."""
    var = settings.data_dir
    print(
        "\n dvtrigger is running\n"
        f"   duty inbox   {inbox}/\n"
        f"   sign in as   {sign_in[0]}, password {sign_in[1]} (new each run;"
        " more users: dvtrigger users add)\n"
        f"   metrics      http://{settings.web_host}:{settings.web_port}/metrics (decide),"
        f" http://{settings.web_host}:{settings.deliver_web_port}/metrics (deliver)\n"
        f"   broker       {bootstrap}\n"
        f"   logs         {var}/worker.log, {var}/deliver.log, {var}/duty-inbox.log,"
        f" {var}/broker.log\n"
        f"   file drop    {_drop(settings)}/ (*.jsonl or *.csv: write as *.partial, then rename;"
        " receipts/ says what became of each)\n"
        f"{ingress}"
        f"   demo feed    {'on' if demo else 'off (--no-demo)'}\n"
        " Ctrl-C stops everything.\n",
        flush=True,
    )


def run_all(settings: Settings, demo: bool = True) -> int:
    """Start everything, wait for Ctrl-C or SIGTERM, then stop everything."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    broker = None
    bootstrap = settings.kafka_bootstrap_servers
    if not bootstrap:
        if settings.kafka.security_protocol != "PLAINTEXT":  # the embedded broker has no TLS
            sys.exit("dvtrigger: the embedded broker is plaintext: set KAFKA_BOOTSTRAP_SERVERS")
        broker = EmbeddedBroker(log_path=settings.data_dir / "broker.log").start()
        bootstrap = broker.bootstrap
    children: list[subprocess.Popen[bytes]] = []
    feed: threading.Thread | None = None
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):  # also when started with SIGINT ignored
        signal.signal(signum, lambda *_: stop.set())
    try:
        ensure_topics(settings, bootstrap)
        inbox = f"http://{settings.duty_inbox_host}:{settings.duty_inbox_port}"
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "DVTRIGGER_CASE_SYSTEM_URL": inbox,
        }
        user, password, token = demo_credentials(settings.duty_inbox_db)
        children.append(_start_inbox(settings, env))
        _wait_http(f"{inbox}/healthz")
        worker = [sys.executable, "-m", "connectors.cli", "worker", "--role"]
        workers_env = {**env, **allocator_env()}  # jemalloc where installed, as in the image
        children.append(_spawn([*worker, "decide"], workers_env, settings.data_dir / "worker.log"))
        deliver_env = {**workers_env, "DVTRIGGER_CASE_SYSTEM_TOKEN": token}  # its credential
        children.append(
            _spawn([*worker, "deliver"], deliver_env, settings.data_dir / "deliver.log")
        )
        drop = [sys.executable, "-m", "connectors.cli", "file-drop", "--dir", str(_drop(settings))]
        children.append(_spawn(drop, env, settings.data_dir / "file-drop.log"))
        ingress, ingress_banner = start_demo_ingress(settings, env, _spawn)
        children += ingress
        _wait_http(f"http://{settings.web_host}:{settings.web_port}/healthz")
        _wait_http(f"http://{settings.web_host}:{settings.deliver_web_port}/healthz")
        _banner(settings, bootstrap, inbox, demo, (user, password), ingress_banner)
        if demo:
            feed = threading.Thread(target=demo_feed, args=(settings, bootstrap, stop), daemon=True)
            feed.start()
        while not stop.wait(0.5):
            if any(child.poll() is not None for child in children):
                print("dvtrigger: a component stopped; see the logs in var/", file=sys.stderr)
                return 1
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        stop.set()
        if feed is not None:
            feed.join(timeout=10)
        for child in reversed(children):
            stop_process(child)
        if broker is not None:
            broker.stop()
        print("dvtrigger stopped.", flush=True)


def _start_inbox(settings: Settings, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Start the duty inbox service; it reads its users and API clients from its database."""
    args = [sys.executable, "-m", "connectors.duty_inbox", "--host", settings.duty_inbox_host]
    args += ["--port", str(settings.duty_inbox_port), "--db", str(settings.duty_inbox_db)]
    return _spawn(args, env, settings.data_dir / "duty-inbox.log")


def demo_feed(settings: Settings, bootstrap: str, stop: threading.Event, seed: int = 7) -> None:
    """Publish the synthetic register first, then incidents at a steady pace, each as if it
    had just happened: reported now, on today's date in London (its world is built so)."""
    from connectors.kafka.publish import producer, publish_dicts
    from connectors.kafka.security import client_options
    from connectors.simulate import REGISTER, iter_demo_on, retimed
    from connectors.simulate.clock import LONDON

    kafka = producer(bootstrap, client_options(settings))
    register: list[dict[str, Any]] = []
    incidents: list[dict[str, Any]] = []
    today = datetime.now(LONDON).date()
    for role, message in iter_demo_on(seed, today):
        (register if role == REGISTER else incidents).append(message)
    publish_dicts("register", register, settings.topic("register-events"), kafka)
    subjects = len({event["subject"]["subject_ref"] for event in register})
    health = f"http://{settings.web_host}:{settings.web_port}/healthz"
    while not stop.wait(0.5) and _wait_http(health)["register_subjects"] < subjects:
        pass  # the first incidents should meet a loaded register
    occurred: dict[str, str] = {}  # a later revision keeps its first one's occurred_at
    for message in incidents:
        if stop.wait(1.0 / DEMO_INCIDENTS_PER_SECOND):
            break
        live = retimed(message, datetime.now(UTC), today, occurred.get(message["incident_id"]))
        occurred.setdefault(live["incident_id"], live["occurred_at"])
        publish_dicts("incidents", [live], settings.topic("police-incidents"), kafka)
    kafka.close()
