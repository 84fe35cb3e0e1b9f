"""Throwaway TLS for tests: a trustme CA and certificates, and stunnel as a TLS front on loopback.

`make_pki` writes a CA, a server certificate for 127.0.0.1 and localhost, and a client
certificate whose key is encrypted with a password. `stunnel` listens on a free
loopback port with the server certificate and forwards plain TCP to a backend port;
`require_client_cert` makes it refuse clients without a certificate of the CA
(mutual TLS). Tansu cannot serve TLS itself, so the Kafka TLS tests put this in front.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import trustme
from cryptography.hazmat.primitives import serialization

from connectors.kafka.broker import EmbeddedBroker, free_port, stop_process
from streams.config.kafka_security import KafkaSecurity

STUNNEL = shutil.which("stunnel4") or shutil.which("stunnel") or "/usr/bin/stunnel4"


@dataclass(frozen=True)
class Pki:
    """Where the PEM files of one throwaway CA are."""

    ca: Path  # the CA certificate a client trusts
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path  # encrypted with `client_key_password`
    client_key_password: str


def make_pki(directory: Path, client_key_password: str = "key-pass-for-tests") -> Pki:
    """A new CA, a server certificate for 127.0.0.1/localhost and a client certificate."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="dvtrigger tests")
    server = ca.issue_cert("127.0.0.1", "localhost")
    client = ca.issue_cert("dvtrigger-worker.test", common_name="dvtrigger-worker")
    pki = Pki(
        ca=directory / "ca.pem",
        server_cert=directory / "server.pem",
        server_key=directory / "server.key",
        client_cert=directory / "client.pem",
        client_key=directory / "client.key",
        client_key_password=client_key_password,
    )
    ca.cert_pem.write_to_path(str(pki.ca))
    server.private_key_pem.write_to_path(str(pki.server_key))
    pki.server_cert.write_bytes(b"".join(blob.bytes() for blob in server.cert_chain_pems))
    client.cert_chain_pems[0].write_to_path(str(pki.client_cert))
    key = serialization.load_pem_private_key(client.private_key_pem.bytes(), password=None)
    encrypted = serialization.BestAvailableEncryption(client_key_password.encode())
    pki.client_key.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encrypted)
    )
    return pki


def other_ca(path: Path) -> Path:
    """The certificate of a CA that signed nothing here: a client trusting it is refused."""
    trustme.CA(organization_name="someone else").cert_pem.write_to_path(str(path))
    return path


def stunnel_config(pki: Pki, front_port: int, backend_port: int, require_client_cert: bool) -> str:
    """stunnel's configuration: TLS on loopback `front_port`, plain TCP to `backend_port`."""
    lines = [
        "foreground = yes",
        "pid =",
        "debug = notice",
        "[kafka]",
        f"accept = 127.0.0.1:{front_port}",
        f"connect = 127.0.0.1:{backend_port}",
        f"cert = {pki.server_cert}",
        f"key = {pki.server_key}",
    ]
    if require_client_cert:
        lines += ["verify = 2", f"CAfile = {pki.ca}"]
    return "\n".join(lines) + "\n"


@contextmanager
def stunnel(
    pki: Pki,
    backend_port: int,
    workdir: Path,
    front_port: int | None = None,
    require_client_cert: bool = False,
) -> Iterator[int]:
    """Run stunnel in front of `backend_port`; yield its TLS port; stop it on exit."""
    port = front_port or free_port()
    config = workdir / f"stunnel-{port}.conf"
    config.write_text(stunnel_config(pki, port, backend_port, require_client_cert))
    with (workdir / f"stunnel-{port}.log").open("ab") as log:
        process = subprocess.Popen(
            [STUNNEL, str(config)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            _wait_listening(process, port)
            yield port
        finally:
            stop_process(process, timeout=5)


@contextmanager
def tls_broker(
    pki: Pki, workdir: Path, security: KafkaSecurity, require_client_cert: bool = False
) -> Iterator[str]:
    """A Tansu broker of its own behind stunnel, advertising the TLS port; yield bootstrap.

    Every client must come through TLS: metadata names only the stunnel port. The
    broker is ready once a client with `security` gets metadata through it.
    """
    backend = free_port()
    with (
        stunnel(pki, backend, workdir, require_client_cert=require_client_cert) as front,
        EmbeddedBroker(
            port=backend,
            advertised_port=front,
            security=security,
            log_path=workdir / f"tansu-{front}.log",
        ) as broker,
    ):
        yield broker.bootstrap


def _wait_listening(process: subprocess.Popen[bytes], port: int, timeout: float = 15.0) -> None:
    """Wait until stunnel listens on `port` (fail if it exits)."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise AssertionError(f"stunnel exited with {process.returncode}; see its log")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise AssertionError(f"stunnel did not listen on {port} in {timeout}s") from None
            time.sleep(0.05)
