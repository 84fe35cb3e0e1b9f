"""A TCP proxy on loopback between Kafka clients and the broker, to cut them off on request.

The broker advertises the proxy's port (`EmbeddedBroker(advertised_port=...)`), so every
client, the workers and the test's own, reaches the broker only through it. Three modes:

- pass: bytes go both ways;
- blackhole: nothing is forwarded. Open connections stall (the proxy stops reading, so TCP
  holds the bytes, as on a cut network), new ones are accepted and never connected to the
  broker, so clients time out. When it heals, held bytes flow again (a client that gave up
  in the meantime has closed its connection; the broker then sees it close);
- drop: open connections are reset, new ones are reset as they come.

`partition(pid)` blackholes one client process only: a connection's process is found by its
client port (psutil), at accept and when the partition starts. Everything the proxy cut is
counted, so a test can show the fault happened.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import psutil

Mode = str  # "pass", "blackhole", "drop"
POLL_S = 0.1


@dataclass
class Link:
    """One client connection through the proxy."""

    client: socket.socket
    peer_port: int
    opened_at: float
    pid: int | None = None
    upstream: socket.socket | None = None
    forwarded: int = 0  # bytes, both ways
    held_since: float | None = None  # while blackholed: since when
    held_s: float = 0.0
    was_held: bool = False
    held_before_connect: bool = False  # accepted while blackholed: never reached the broker then
    reset: bool = False
    closed: bool = False


@dataclass
class KafkaProxy:
    """The proxy's state; served by `serve_kafka_proxy`."""

    upstream_port: int
    port: int = 0
    mode: Mode = "pass"
    partitioned: set[int] = field(default_factory=set)
    watch_pids: list[int] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    # -- faults ---------------------------------------------------------------------------------

    def blackhole(self) -> None:
        """Forward nothing, for every client, until `heal`."""
        self.mode = "blackhole"

    def drop(self) -> None:
        """Reset every connection, open and new, until `heal`."""
        self.mode = "drop"

    def partition(self, pid: int) -> None:
        """Blackhole the connections of one client process (and its children) until `heal`."""
        self.partitioned.add(pid)
        ports = self._client_ports(pid)
        with self.lock:
            for link in self.links:
                if link.peer_port in ports:
                    link.pid = pid

    def watch(self, *pids: int) -> None:
        """Note which of these processes holds each connection, open and new."""
        self.watch_pids = list(pids)
        for pid in pids:
            ports = self._client_ports(pid)
            with self.lock:
                for link in self.links:
                    if link.pid is None and link.peer_port in ports:
                        link.pid = pid

    def forget(self) -> None:
        """Start counting afresh: closed connections dropped, the others' counts cleared."""
        with self.lock:
            self.links = [k for k in self.links if not k.closed]
            for link in self.links:
                link.was_held = link.held_before_connect = link.reset = False
                link.held_s, link.forwarded = 0.0, 0
        self.watch_pids = []

    def heal(self) -> None:
        """Forward everything again."""
        self.mode = "pass"
        self.partitioned.clear()

    # -- what happened --------------------------------------------------------------------------

    def held(self, pid: int | None = None) -> list[Link]:
        """Connections that were blackholed (of one process, or all)."""
        return [k for k in list(self.links) if k.was_held and (pid is None or k.pid == pid)]

    def resets(self) -> int:
        """Connections the proxy reset."""
        return sum(k.reset for k in list(self.links))

    def forwarded_by(self) -> Counter[int | None]:
        """Bytes forwarded, by client process (None: not a watched one)."""
        counts: Counter[int | None] = Counter()
        for link in list(self.links):
            counts[link.pid] += link.forwarded
        return counts

    def describe(self, pid: int | None = None) -> str:
        """The fault as the proxy saw it, in a few words."""
        held = self.held(pid)
        new = sum(k.held_before_connect for k in held)
        now = time.monotonic()
        seconds = sum(k.held_s + (now - k.held_since if k.held_since else 0.0) for k in held)
        who = f" of pid {pid}" if pid else ""
        return (
            f"{len(held)} connections{who} blackholed ({new} opened during it),"
            f" {seconds:.0f} connection-s held, {self.resets()} reset"
        )

    # -- the proxy ------------------------------------------------------------------------------

    def _client_ports(self, pid: int) -> set[int]:
        """The local ports of `pid`'s (and its children's) connections to the proxy."""
        ports: set[int] = set()
        try:
            process = psutil.Process(pid)
            family = [process, *process.children(recursive=True)]
        except psutil.NoSuchProcess:
            return ports
        for member in family:
            with contextlib.suppress(psutil.Error):
                for conn in member.net_connections(kind="tcp"):
                    if conn.raddr and conn.raddr.port == self.port:
                        ports.add(conn.laddr.port)
        return ports

    def _owner(self, peer_port: int) -> int | None:
        for pid in [*self.partitioned, *self.watch_pids]:
            if peer_port in self._client_ports(pid):
                return pid
        return None

    def _blocked(self, link: Link) -> bool:
        return self.mode == "blackhole" or (link.pid is not None and link.pid in self.partitioned)

    def _hold(self, link: Link, now: float) -> None:
        if link.held_since is None:
            link.held_since = now
            link.was_held = True

    def _release(self, link: Link, now: float) -> None:
        if link.held_since is not None:
            link.held_s += now - link.held_since
            link.held_since = None

    def serve(self, link: Link, broker: tuple[str, int]) -> None:
        """Carry one connection until either side closes or the proxy resets it."""
        try:
            if not self._wait_until_open(link):
                return
            link.upstream = socket.create_connection(broker, timeout=10)
            self._pump(link)
        except OSError:
            pass
        finally:
            self._close(link)

    def _wait_until_open(self, link: Link) -> bool:
        while not link.closed:
            now = time.monotonic()
            if self.mode == "drop":
                self._reset(link)
                return False
            if not self._blocked(link):
                self._release(link, now)
                return True
            self._hold(link, now)
            link.held_before_connect = True
            time.sleep(POLL_S)
        return False

    def _pump(self, link: Link) -> None:
        assert link.upstream is not None
        other = {link.client: link.upstream, link.upstream: link.client}
        with selectors.DefaultSelector() as selector:
            for sock in other:
                sock.setblocking(True)
                selector.register(sock, selectors.EVENT_READ)
            while not link.closed:
                now = time.monotonic()
                if self.mode == "drop":
                    self._reset(link)
                    return
                if self._blocked(link):
                    self._hold(link, now)  # stop reading: TCP holds the bytes, both ways
                    time.sleep(POLL_S)
                    continue
                self._release(link, now)
                for key, _ in selector.select(timeout=POLL_S):
                    source = key.fileobj
                    assert isinstance(source, socket.socket)
                    data = source.recv(65536)
                    if not data:
                        return
                    other[source].sendall(data)
                    link.forwarded += len(data)

    def _reset(self, link: Link) -> None:
        """Close both sides with RST (linger 0), as a dropped connection looks to a client."""
        link.reset = True
        for sock in (link.client, link.upstream):
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self._close(link)

    def _close(self, link: Link) -> None:
        link.closed = True
        self._release(link, time.monotonic())
        for sock in (link.client, link.upstream):
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.close()


@contextmanager
def serve_kafka_proxy(upstream_port: int, port: int) -> Iterator[KafkaProxy]:
    """Listen on 127.0.0.1:`port`, forward to the broker at 127.0.0.1:`upstream_port`."""
    proxy = KafkaProxy(upstream_port, port)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(128)
    listener.settimeout(POLL_S)
    stopping = threading.Event()

    def accept() -> None:
        while not stopping.is_set():
            try:
                client, (_, peer_port) = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            link = Link(client, peer_port, time.monotonic())
            if proxy.partitioned or proxy.watch_pids:
                link.pid = proxy._owner(peer_port)
            with proxy.lock:
                proxy.links.append(link)
            broker = ("127.0.0.1", upstream_port)
            threading.Thread(target=proxy.serve, args=(link, broker), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        stopping.set()
        thread.join(timeout=5)
        listener.close()
        for link in list(proxy.links):
            proxy._close(link)
