"""A running dvtrigger for integration tests: a worker against a real broker and inbox.

The worker runs as `make run` runs it: a `--role decide` and a `--role deliver` process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from pydantic import SecretStr

from connectors.case_system.http import HttpCaseSystem
from connectors.cli.allocator import allocator_env
from connectors.kafka.broker import free_port, stop_process
from connectors.kafka.publish import producer, publish_dicts
from connectors.kafka.topics import ensure_topics
from streams.config.settings import Settings
from streams.domain.ports.case_system import TaskRecord
from tests.support.duty_inbox import TEST_CLIENT_TOKEN
from tests.support.topics import read_topic

ROOT = Path(__file__).resolve().parents[2]
#: How long a test waits for a worker's /metrics: a worker busy on a loaded machine is slow.
SCRAPE_TIMEOUT_S = 15


def wait_for(what: str, check: Callable[[], bool], timeout: float = 60.0) -> None:
    """Poll `check` until it is true; fail the test with `what` after `timeout` seconds.

    A check that cannot reach a page (a worker too busy to answer a scrape in time, one
    restarting) counts as not yet: only the deadline fails the test, naming the last error.
    """
    deadline = time.monotonic() + timeout
    last_error: OSError | None = None
    while True:
        try:
            if check():
                return
        except OSError as exc:  # urllib's errors and socket timeouts
            last_error = exc
        if time.monotonic() > deadline:
            unreachable = f" (last poll: {last_error!r})" if last_error is not None else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {what}{unreachable}")
        time.sleep(0.25)


@dataclass
class Stack:
    """One worker (decide and deliver processes) with its own topics on the session's broker."""

    settings: Settings
    bootstrap: str
    inbox_url: str
    workers: list[subprocess.Popen[bytes]]  # the decide process, then the deliver process
    env: dict[str, str] = field(default_factory=dict)
    data_dir: Path = Path(".")
    #: Every process this stack started (restarts and extra deliverers too): stopped on exit.
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[IO[bytes]] = field(default_factory=list)

    @property
    def web_url(self) -> str:
        """The decide process's pages."""
        return f"http://127.0.0.1:{self.settings.web_port}"

    @property
    def web_urls(self) -> list[str]:
        """The pages of both processes."""
        return [self.web_url, f"http://127.0.0.1:{self.settings.deliver_web_port}"]

    def get_json(self, path: str) -> Any:
        with urllib.request.urlopen(f"{self.web_url}{path}", timeout=5) as response:
            return json.loads(response.read())

    def metrics_text(self) -> str:
        """Both processes' /metrics, one after the other."""
        texts = []
        for url in self.web_urls:
            with urllib.request.urlopen(f"{url}/metrics", timeout=SCRAPE_TIMEOUT_S) as response:
                texts.append(response.read().decode())
        return "\n".join(texts)

    async def inbox_tasks(self) -> list[TaskRecord]:
        """Every task in the duty inbox, read through its API."""
        client = HttpCaseSystem(self.inbox_url, token=SecretStr(TEST_CLIENT_TOKEN))
        try:
            return await client.list_tasks(limit=1000)
        finally:
            await client.aclose()

    async def the_task_created(self, what: str) -> TaskRecord:
        """Wait until one task has been created; that task, as the duty inbox holds it."""
        wait_for(what, lambda: self.metric("dvtrigger_tasks_total", result="created") == 1)
        (task,) = await self.inbox_tasks()
        return task

    def metric(self, name: str, **labels: str) -> float:
        """The sum of one sample over both processes' /metrics (0 when absent)."""
        return metric_value(self.metrics_text(), name, **labels)

    @property
    def deliver(self) -> subprocess.Popen[bytes]:
        """The current deliver process."""
        return self.workers[1]

    def spawn(
        self, role: str, name: str | None = None, **overrides: str
    ) -> subprocess.Popen[bytes]:
        """Start one more worker process of `role` with this stack's settings and `overrides`."""
        env = {**self.env, **overrides}
        log = (self.data_dir / f"{self.settings.app_id}-{name or role}.log").open("ab")
        self.logs.append(log)
        process = subprocess.Popen(
            [sys.executable, "-m", "connectors.cli", "worker", "--role", role],
            env=_worker_env(env),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.data_dir,
        )
        self.started.append(process)
        return process

    def kill_deliver(self) -> None:
        """SIGKILL the deliver process, as a crash or an OOM kill would: no shutdown at all."""
        self.deliver.kill()
        self.deliver.wait(timeout=10)

    def stop_deliver(self, timeout: float = 30.0) -> bool:
        """SIGTERM the deliver process and wait; whether it stopped by itself within `timeout`."""
        return stop_gracefully(self.deliver, timeout)

    def restart_deliver(self) -> None:
        """Start a new deliver process in place of the stopped one; wait until it answers."""
        assert self.deliver.poll() is not None, "the deliver process is still running"
        self.workers[1] = self.spawn("deliver", name=f"deliver-{len(self.started)}")
        url = f"http://127.0.0.1:{self.settings.deliver_web_port}"
        wait_for("the new deliver process", lambda: _process_answers(self.deliver, url))

    def add_deliver(self) -> Deliverer:
        """Start a second deliver process in the same consumer group; wait until it answers."""
        port = free_port()
        data_dir = self.data_dir / f"deliver-{len(self.started)}"
        data_dir.mkdir()
        process = self.spawn(
            "deliver",
            name=data_dir.name,
            DVTRIGGER_DELIVER_WEB_PORT=str(port),
            DVTRIGGER_DATA_DIR=str(data_dir),
        )
        extra = Deliverer(process, f"http://127.0.0.1:{port}")
        wait_for("the second deliver process", lambda: _process_answers(process, extra.web_url))
        return extra

    def readiness(self, url: str | None = None) -> dict[str, Any] | None:
        """A process's /readyz (the decide process's by default): its JSON, ready or not;
        None while it does not answer."""
        try:
            with urllib.request.urlopen(f"{url or self.web_url}/readyz", timeout=5) as response:
                return dict(json.loads(response.read()))
        except urllib.error.HTTPError as refused:
            if refused.code != 503:
                raise
            return dict(json.loads(refused.read()))
        except OSError:
            return None

    def ready(self) -> bool:
        """Whether both processes say they are ready (/readyz): recovered, register loaded,
        broker reachable."""
        return all((self.readiness(url) or {}).get("ready") is True for url in self.web_urls)

    def register_size(self) -> int:
        return int(self.get_json("/healthz")["register_subjects"])

    def publish(self, feed: str, messages: Iterable[dict[str, Any]]) -> int:
        """Validate and produce messages to the feed's topic; how many were produced."""
        role = "police-incidents" if feed == "incidents" else "register-events"
        kafka = producer(self.bootstrap)
        try:
            report = publish_dicts(feed, messages, self.settings.topic(role), kafka)  # type: ignore[arg-type]
        finally:
            kafka.close()
        assert not report.rejected, report.rejected
        return report.produced

    def produce_raw(self, role: str, value: bytes, key: bytes | None = None) -> None:
        """Produce bytes as they are, bypassing the publisher's validation."""
        self.produce_many(role, [value], key)

    def produce_many(self, role: str, values: Iterable[bytes], key: bytes | None = None) -> int:
        """Produce many values as they are, all with one key; how many were produced."""
        kafka = producer(self.bootstrap)
        try:
            futures = [kafka.send(self.settings.topic(role), key=key, value=v) for v in values]
            for future in futures:
                future.get(timeout=30)
        finally:
            kafka.close()
        return len(futures)

    def read_topic(self, role: str) -> list[Any]:
        """Every record now on a topic, from the beginning (no consumer group)."""
        return read_topic(self.bootstrap, self.settings.topic(role))


@dataclass
class Deliverer:
    """An extra deliver process and its own pages (/metrics, /healthz)."""

    process: subprocess.Popen[bytes]
    web_url: str


def metric_value(text: str, name: str, **labels: str) -> float:
    """The sum of one sample in Prometheus text (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    key = f"{name}{{{wanted}}}" if labels else name
    return sum(
        float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(key + " ")
    )


def _get_text(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return str(response.read().decode())


def _process_answers(process: subprocess.Popen[bytes], url: str) -> bool:
    if process.poll() is not None:
        raise AssertionError(f"worker {process.args} exited with {process.returncode}")
    try:
        _get_text(f"{url}/healthz")
        return True
    except OSError:
        return False


def stop_gracefully(process: subprocess.Popen[bytes], timeout: float = 30.0) -> bool:
    """SIGTERM a process and wait; SIGKILL it after `timeout`. Whether it stopped by itself."""
    if process.poll() is not None:
        return True
    process.terminate()
    try:
        process.wait(timeout=timeout)
        return True
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return False


def _worker_env(settings_env: dict[str, str]) -> dict[str, str]:
    """The environment of a worker: ours without settings, its settings, the repository on
    PYTHONPATH (after any PYTHONPATH of its own, such as a test's sitecustomize), and the
    allocator the image runs it on (jemalloc, before any LD_PRELOAD of its own)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DVTRIGGER_")}
    path = os.pathsep.join(p for p in (settings_env.get("PYTHONPATH"), str(ROOT)) if p)
    allocator = allocator_env({**os.environ, **settings_env})
    return {**env, **settings_env, **allocator, "PYTHONPATH": path}


def isolated_env(bootstrap: str, name: str, data_dir: Path) -> dict[str, str]:
    """A worker's settings of its own: app id and topic prefix `name`, free ports, `data_dir`."""
    return {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "DVTRIGGER_APP_ID": name,
        "DVTRIGGER_TOPIC_PREFIX": f"{name}.",
        "DVTRIGGER_WEB_PORT": str(free_port()),
        "DVTRIGGER_DELIVER_WEB_PORT": str(free_port()),
        "DVTRIGGER_DATA_DIR": str(data_dir),
    }


@contextmanager
def running_stack(bootstrap: str, inbox_url: str, data_dir: Path, **extra: str) -> Iterator[Stack]:
    """Start a worker with a unique app id and topic prefix; stop it on exit."""
    name = f"t{uuid.uuid4().hex[:8]}"
    env = {
        **isolated_env(bootstrap, name, data_dir),
        "DVTRIGGER_CASE_SYSTEM_URL": inbox_url,
        "DVTRIGGER_CASE_SYSTEM_TOKEN": TEST_CLIENT_TOKEN,  # serve_duty_inbox's client
        "DVTRIGGER_LOG_LEVEL": "WARNING",
        **extra,
    }
    settings = Settings.model_validate(
        {
            "app_id": name,
            "topic_prefix": f"{name}.",
            "web_port": int(env["DVTRIGGER_WEB_PORT"]),
            "deliver_web_port": int(env["DVTRIGGER_DELIVER_WEB_PORT"]),
        }
    )
    ensure_topics(settings, bootstrap)
    stack = Stack(settings, bootstrap, inbox_url, workers=[], env=env, data_dir=data_dir)
    try:
        stack.workers = [stack.spawn(role) for role in ("decide", "deliver")]
        wait_for("the worker's /healthz", lambda: _answers(stack), timeout=60)
        yield stack
    finally:
        for process in stack.started:
            stop_process(process, timeout=20)
        for log in stack.logs:
            log.close()


def _answers(stack: Stack) -> bool:
    for worker in stack.workers:
        if worker.poll() is not None:
            raise AssertionError(f"worker {worker.args} exited with {worker.returncode}")
    try:
        stack.register_size()
        stack.metrics_text()
        return True
    except OSError:
        return False
