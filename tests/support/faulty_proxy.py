"""A real HTTP server on loopback in front of the duty inbox that plants faults on request.

The deliver worker talks to the proxy as it would to a council's case system. The test arms
one fault at a time: answer 500/503 without forwarding, forward and then hold the answer past
the client's timeout, forward and then reset the connection half way through the answer, or
forward and answer slowly. Every exchange is recorded (what the inbox answered, what the
client got, whether it gave up), so a test can show the fault really happened. One request
per connection (`Connection: close`), so a fault never leaks into the next request.

`tally` reads the inbox's tasks and counts what a fault test asserts: found, missing,
duplicates.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import socket
import struct
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from streams.domain.ports.case_system import TaskList, TaskRecord
from tests.support.duty_inbox import TEST_CLIENT_TOKEN

TASKS_PATH = "/api/tasks"


@dataclass
class Fault:
    """One armed fault: what to do, to which requests, and for how long."""

    kind: str  # "fail", "hold", "reset", "slow"
    statuses: tuple[int, ...] = (503,)
    hold_s: float = 0.0
    delay_s: tuple[float, float] = (0.0, 0.0)
    until: float | None = None  # monotonic end of the fault, or None: until the budget is spent
    budget: int | None = None  # how many more requests it applies to
    once_per_key: bool = False  # at most once for each idempotency key
    keys: set[str] = field(default_factory=set)
    used: int = 0

    def applies(self, key: str | None, now: float) -> bool:
        """Whether this fault takes the request now (and, if so, spends one of its budget)."""
        if self.until is not None and now >= self.until:
            return False
        if self.budget is not None and self.used >= self.budget:
            return False
        if self.once_per_key and (key is None or key in self.keys):
            return False
        self.used += 1
        if key is not None:
            self.keys.add(key)
        return True


@dataclass
class Exchange:
    """One request through the proxy and what became of it."""

    at: float
    method: str
    path: str
    key: str | None
    fault: str | None = None
    upstream_status: int | None = None  # None: not forwarded
    status: int | None = None  # sent to the client; None: nothing complete was sent
    client_gone: bool = False  # the client closed before the answer (it timed out)
    done_at: float = 0.0
    pid: int | None = None  # the process that sent it, among `FaultyProxy.watch_pids`


class FaultyProxy:
    """The proxy's state and controls; `serve_faulty_proxy` runs it."""

    def __init__(self, upstream: str, seed: int = 0) -> None:
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.url = ""
        self.exchanges: list[Exchange] = []
        self.on_created: Callable[[str], None] | None = None
        #: Processes that may call; each request is traced to one of them (Linux /proc).
        self.watch_pids: list[int] = []
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._rng = random.Random(seed)

    # -- controls (test thread) --------------------------------------------------------------

    def fail(
        self,
        statuses: tuple[int, ...] = (500, 503),
        seconds: float | None = None,
        requests: int | None = None,
    ) -> Fault:
        """Answer POSTs with these statuses in turn, without forwarding them."""
        return self._arm(Fault("fail", statuses=statuses), seconds, requests)

    def hold(self, hold_s: float, keys: int) -> Fault:
        """Forward the first POST of `keys` keys, then sit on the answer for `hold_s`."""
        return self._arm(Fault("hold", hold_s=hold_s, once_per_key=True), None, keys)

    def reset(self, keys: int) -> Fault:
        """Forward the first POST of `keys` keys, send part of the answer, then reset."""
        return self._arm(Fault("reset", once_per_key=True), None, keys)

    def slow(self, low_s: float, high_s: float, seconds: float) -> Fault:
        """Forward each POST, then wait a random time in [low_s, high_s] before answering."""
        return self._arm(Fault("slow", delay_s=(low_s, high_s)), seconds, None)

    def clear(self) -> None:
        """Disarm every fault."""
        with self._lock:
            self._faults.clear()

    def _arm(self, fault: Fault, seconds: float | None, requests: int | None) -> Fault:
        fault.until = None if seconds is None else time.monotonic() + seconds
        fault.budget = requests
        with self._lock:
            self._faults.append(fault)
        return fault

    # -- what happened (test thread) ---------------------------------------------------------

    def posts(self) -> list[Exchange]:
        """Every finished POST of a task, in the order they arrived."""
        with self._lock:
            return [e for e in self.exchanges if e.method == "POST" and e.done_at]

    def statuses(self) -> Counter[int | None]:
        """Statuses the client got, by code (None: no complete answer)."""
        return Counter(e.status for e in self.posts())

    def created(self) -> list[Exchange]:
        """POSTs the inbox answered 201: a task was created."""
        return [e for e in self.posts() if e.upstream_status == 201]

    def faulted(self, kind: str) -> list[Exchange]:
        """POSTs this kind of fault took."""
        return [e for e in self.posts() if e.fault == kind]

    def answered_later(self, exchange: Exchange, status: int = 200) -> bool:
        """Whether a later POST with the same key got `status` from the inbox and the client."""
        return any(
            e.key == exchange.key
            and e.at > exchange.at
            and e.upstream_status == status
            and e.status == status
            for e in self.posts()
        )

    def idle_for(self) -> float:
        """Seconds since the last request arrived or finished."""
        with self._lock:
            if not self.exchanges:
                return float("inf")
            last = max(max(e.at, e.done_at) for e in self.exchanges)
            in_flight = any(not e.done_at for e in self.exchanges)
        return 0.0 if in_flight else time.monotonic() - last

    # -- serving (proxy thread) --------------------------------------------------------------

    def _pick(self, method: str, key: str | None, now: float) -> Fault | None:
        """The fault that takes a request arriving at `now` (the time its exchange records:
        one clock reading, so a request recorded before a fault's end is always taken)."""
        if method != "POST":
            return None
        with self._lock:
            return next((f for f in self._faults if f.applies(key, now)), None)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one request on this connection, planting the armed fault if one applies."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            method, path, headers = _parse_head(head)
            body = await reader.readexactly(int(headers.get("content-length", "0")))
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        key = headers.get("idempotency-key")
        exchange = Exchange(at=time.monotonic(), method=method, path=path, key=key)
        if self.watch_pids:
            peer, local = writer.get_extra_info("peername"), writer.get_extra_info("sockname")
            exchange.pid = caller_pid(peer[1], local[1], list(self.watch_pids))
        with self._lock:
            self.exchanges.append(exchange)
        try:
            fault = self._pick(method, key, exchange.at)
            await self._serve(exchange, fault, head, body, reader, writer)
        except ConnectionError:
            exchange.client_gone = True
        finally:
            exchange.done_at = time.monotonic()
            if not writer.is_closing():
                writer.close()

    async def _serve(
        self,
        exchange: Exchange,
        fault: Fault | None,
        head: bytes,
        body: bytes,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        exchange.fault = fault.kind if fault else None
        if fault is not None and fault.kind == "fail":
            status = fault.statuses[(fault.used - 1) % len(fault.statuses)]
            await _answer(writer, _error_response(status))
            exchange.status = status
            return
        status, response = await self._forward(head, body)
        exchange.upstream_status = status
        if status == 201 and self.on_created is not None and exchange.key is not None:
            self.on_created(exchange.key)
        if fault is not None and fault.kind == "hold":
            exchange.client_gone = await _client_leaves(reader, fault.hold_s)
            return  # close without an answer
        if fault is not None and fault.kind == "reset":
            writer.write(response[: len(response) - max(1, len(response) // 3)])
            await writer.drain()
            _reset(writer)
            return
        if fault is not None and fault.kind == "slow":
            low, high = fault.delay_s
            if await _client_leaves(reader, self._rng.uniform(low, high)):
                exchange.client_gone = True
                return
        await _answer(writer, response)
        exchange.status = status

    async def _forward(self, head: bytes, body: bytes) -> tuple[int, bytes]:
        """Send the request to the inbox; its status and the answer to pass on (one connection)."""
        up_reader, up_writer = await asyncio.open_connection(self.upstream_host, self.upstream_port)
        try:
            up_writer.write(_rewrite_head(head, f"{self.upstream_host}:{self.upstream_port}"))
            up_writer.write(body)
            await up_writer.drain()
            raw = await up_reader.read(-1)
        finally:
            up_writer.close()
        response_head, _, response_body = raw.partition(b"\r\n\r\n")
        status_line, *lines = response_head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ")[1])
        kept = [ln for ln in lines if ln.split(":")[0].lower() not in HOP_HEADERS]
        rebuilt = "\r\n".join([status_line, *kept, f"content-length: {len(response_body)}"])
        return status, (rebuilt + "\r\nconnection: close\r\n\r\n").encode("latin-1") + response_body


def caller_pid(peer_port: int, own_port: int, pids: list[int]) -> int | None:
    """Which of `pids` holds the loopback socket from `peer_port` to `own_port` (Linux only)."""
    inode = None
    with contextlib.suppress(OSError), open("/proc/net/tcp") as table:
        for row in table.read().splitlines()[1:]:
            fields = row.split()
            local, remote = fields[1].split(":")[1], fields[2].split(":")[1]
            if int(local, 16) == peer_port and int(remote, 16) == own_port:
                inode = fields[9]
                break
    if inode is None:
        return None
    target = f"socket:[{inode}]"
    for pid in pids:
        with contextlib.suppress(OSError):
            fds = f"/proc/{pid}/fd"
            if any(_readlink(f"{fds}/{fd}") == target for fd in os.listdir(fds)):
                return pid
    return None


def _readlink(path: str) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return ""


HOP_HEADERS = {"connection", "content-length", "transfer-encoding", "keep-alive"}


def _parse_head(head: bytes) -> tuple[str, str, dict[str, str]]:
    request_line, *lines = head.decode("latin-1").rstrip("\r\n").split("\r\n")
    method, path, _ = request_line.split(" ", 2)
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return method, path, headers


def _rewrite_head(head: bytes, host: str) -> bytes:
    """The request for the inbox: its own Host, and one request per connection."""
    request_line, *lines = head.decode("latin-1").rstrip("\r\n").split("\r\n")
    kept = [ln for ln in lines if ln.split(":")[0].lower() not in {"host", "connection"}]
    return "\r\n".join([request_line, f"host: {host}", *kept, "connection: close", "", ""]).encode(
        "latin-1"
    )


def _error_response(status: int) -> bytes:
    body = json.dumps({"detail": f"planted {status}"}).encode()
    reason = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
    head = f"HTTP/1.1 {status} {reason.get(status, 'Error')}\r\ncontent-type: application/json\r\n"
    head += f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    return head.encode() + body


async def _answer(writer: asyncio.StreamWriter, response: bytes) -> None:
    writer.write(response)
    await writer.drain()


async def _client_leaves(reader: asyncio.StreamReader, seconds: float) -> bool:
    """Wait up to `seconds`; true as soon as the client closes its end (it gave up)."""
    try:
        data = await asyncio.wait_for(reader.read(1), timeout=seconds)
    except TimeoutError:
        return False
    except ConnectionError:
        return True
    return data == b""


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with SO_LINGER 0: the peer gets a TCP RST, not a FIN."""
    sock = writer.get_extra_info("socket")
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@contextmanager
def serve_faulty_proxy(upstream: str, seed: int = 0) -> Iterator[FaultyProxy]:
    """Serve a FaultyProxy for `upstream` on 127.0.0.1 in a background thread; stop it on exit."""
    proxy = FaultyProxy(upstream, seed)
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: dict[str, asyncio.Server] = {}

    async def start() -> None:
        server = await asyncio.start_server(proxy.handle, "127.0.0.1", 0)
        holder["server"] = server
        proxy.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        started.set()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        loop.run_forever()

    thread = threading.Thread(target=run, name="faulty-proxy", daemon=True)
    thread.start()
    if not started.wait(10):
        raise RuntimeError("faulty proxy did not start")
    try:
        yield proxy
    finally:
        loop.call_soon_threadsafe(holder["server"].close)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)


# -- the inbox's tasks, counted --------------------------------------------------------------


def read_tasks(inbox_url: str) -> list[TaskRecord]:
    """Every task in the inbox, read straight from it (not through the proxy) as the test client."""
    request = urllib.request.Request(
        f"{inbox_url}{TASKS_PATH}?limit=1000",
        headers={"Authorization": f"Bearer {TEST_CLIENT_TOKEN}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return TaskList.model_validate_json(response.read()).tasks


@dataclass(frozen=True)
class Tally:
    """What the inbox holds against what was expected."""

    found: int  # tasks in the inbox
    distinct: int  # distinct (incident, subject) pairs among them
    duplicates: int  # tasks beyond the first for one (incident, subject) or idempotency key
    missing: frozenset[str]  # expected idempotency keys with no task
    unexpected: frozenset[str]  # keys of tasks that were not expected (and not withdrawn)
    withdrawn: frozenset[str]  # keys of withdrawn tasks that were not expected


def _pair(record: TaskRecord) -> tuple[str, str | None]:
    subject = record.task.subject
    return record.task.incident_id, subject.subject_ref or subject.person_ref


def fault_row(
    name: str,
    sent: int,
    task_commands: int,
    expected: int,
    counted: Tally,
    recover_s: float,
    evidence: str,
) -> dict[str, Any]:
    """One fault test's row of the faults table (`tests.conftest.FAULT_COLUMNS`)."""
    return {
        "fault": name,
        "messages sent": sent,
        "task commands": task_commands,
        "tasks expected": expected,
        "tasks found": counted.found,
        "duplicates": counted.duplicates,
        "missing": len(counted.missing),
        "recover s": f"{max(0.0, recover_s):.1f}",
        "the fault, as the proxy saw it": evidence,
    }


def tally(tasks: Iterable[TaskRecord], expected: Iterable[str]) -> Tally:
    """Count found, distinct, duplicate, missing and unexpected tasks."""
    tasks = list(tasks)
    by_pair = Counter(_pair(t) for t in tasks)
    by_key = Counter(t.task.idempotency_key for t in tasks)
    duplicates = max(sum(n - 1 for n in by_pair.values()), sum(n - 1 for n in by_key.values()))
    wanted = set(expected)
    withdrawn = {t.task.idempotency_key for t in tasks if t.task.outcome == "withdrawn"}
    return Tally(
        found=len(tasks),
        distinct=len(by_pair),
        duplicates=duplicates,
        missing=frozenset(wanted - set(by_key)),
        unexpected=frozenset(set(by_key) - wanted - withdrawn),
        withdrawn=frozenset(withdrawn - wanted),
    )


def summary(exchanges: Iterable[Exchange]) -> dict[str, Any]:
    """Counts for a failure message: requests, forwarded, statuses, faults, clients gone."""
    exchanges = list(exchanges)
    return {
        "requests": len(exchanges),
        "forwarded": sum(e.upstream_status is not None for e in exchanges),
        "upstream": dict(Counter(e.upstream_status for e in exchanges)),
        "client": dict(Counter(e.status for e in exchanges)),
        "faults": dict(Counter(e.fault for e in exchanges if e.fault)),
        "client_gone": sum(e.client_gone for e in exchanges),
    }
