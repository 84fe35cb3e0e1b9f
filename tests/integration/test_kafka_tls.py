"""Kafka over TLS and mutual TLS, end to end: kafka-python clients and a worker, through stunnel.

Tansu cannot serve TLS itself, so each broker here is a Tansu of its own behind
stunnel (tests/support/tls.py), advertising stunnel's port: every client has to
come through TLS. SASL is not tested against a live broker: Tansu 0.6 keeps SCRAM
users in its storage, only its memory storage runs here, and with --authentication
on it refuses to create a user over an unauthenticated connection, so no user can
ever exist (tests/unit/test_kafka_security.py covers the SASL options instead).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from connectors.cli.main import main
from connectors.kafka.broker import BrokerStartError, free_port, stop_process, wait_until_ready
from connectors.kafka.publish import producer, publish_dicts
from connectors.kafka.security import client_options, security_options, tls_problem
from connectors.kafka.topics import ensure_topics
from schemas.decision import Decision
from streams.config.kafka_security import KafkaSecurity
from streams.config.settings import Settings
from tests.support.samples import sample_incident
from tests.support.stack import ROOT, wait_for
from tests.support.tls import STUNNEL, Pki, make_pki, other_ca, tls_broker
from tests.support.topics import read_topic

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not Path(STUNNEL).exists(), reason="stunnel4 is not installed: make tools"),
]

SASL_PASSWORD = "sasl-pw-never-shown-7f3a"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def server_tls(pki: Pki) -> KafkaSecurity:
    """TLS with the broker's certificate checked against the test CA, host name included."""
    return KafkaSecurity(security_protocol="SSL", ssl_cafile=pki.ca)


def mutual_tls(pki: Pki, password_file: Path) -> KafkaSecurity:
    """TLS with a client certificate; its key's password in a file, as Kubernetes mounts it."""
    password_file.write_text(pki.client_key_password + "\n")
    return KafkaSecurity.model_validate(
        {
            "security_protocol": "SSL",
            "ssl_cafile": pki.ca,
            "ssl_certfile": pki.client_cert,
            "ssl_keyfile": pki.client_key,
            "ssl_key_password_file": password_file,
        }
    )


@pytest.fixture(scope="module")
def tls(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A broker reachable only through TLS."""
    with tls_broker(pki, tmp_path_factory.mktemp("tls"), server_tls(pki)) as bootstrap:
        yield bootstrap


@pytest.fixture(scope="module")
def mtls(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, KafkaSecurity]]:
    """A broker reachable only through TLS with a client certificate of the test CA."""
    workdir = tmp_path_factory.mktemp("mtls")
    security = mutual_tls(pki, workdir / "key-password")
    with tls_broker(pki, workdir, security, require_client_cert=True) as bootstrap:
        yield bootstrap, security


def _settings(security: KafkaSecurity, **values: Any) -> Settings:
    return Settings.model_validate({"kafka": security, **values})


def _publish_incident(bootstrap: str, settings: Settings, incident_id: str) -> None:
    kafka = producer(bootstrap, client_options(settings))
    try:
        incident = json.loads(sample_incident(incident_id).model_dump_json())
        report = publish_dicts("incidents", [incident], settings.topic("police-incidents"), kafka)
    finally:
        kafka.close()
    assert report.produced == 1, report.rejected


def test_publish_and_consume_through_tls(tls: str, pki: Pki) -> None:
    settings = _settings(server_tls(pki), topic_prefix=f"t{uuid.uuid4().hex[:8]}.")
    ensure_topics(settings, tls)  # the admin client, through TLS too
    _publish_incident(tls, settings, "MPS-2026-000101")

    records = read_topic(
        tls, settings.topic("police-incidents"), **security_options(settings.kafka)
    )

    assert [r.key for r in records] == [b"MPS-2026-000101"]


def test_the_command_line_provisions_publishes_and_replays_through_tls(
    tls: str, pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}."
    monkeypatch.setenv("DVTRIGGER_TOPIC_PREFIX", prefix)
    monkeypatch.setenv("DVTRIGGER_KAFKA__SECURITY_PROTOCOL", "SSL")
    monkeypatch.setenv("DVTRIGGER_KAFKA__SSL_CAFILE", str(pki.ca))
    feed = tmp_path / "incidents.jsonl"
    feed.write_text(sample_incident("MPS-2026-000404").model_dump_json() + "\n")

    assert main(["topics", "create", "--bootstrap", tls]) == 0
    assert main(["publish", "incidents", str(feed), "--bootstrap", tls]) == 0
    assert main(["dead-letter", "replay", "--bootstrap", tls]) == 0  # nothing yet: 0 sent
    assert main(["parked", "replay", "--bootstrap", tls]) == 0

    records = read_topic(tls, f"{prefix}police-incidents", **security_options(server_tls(pki)))
    assert [r.key for r in records] == [b"MPS-2026-000404"]
    out = capsys.readouterr().out
    assert "produced 1" in out and "replayed 0 dead letters" in out


def test_a_plaintext_client_gets_nothing_from_the_tls_port(tls: str) -> None:
    with pytest.raises(BrokerStartError):
        wait_until_ready(tls, deadline_s=2)


def test_a_worker_decides_an_incident_read_through_mutual_tls(
    mtls: tuple[str, KafkaSecurity], tmp_path: Path
) -> None:
    bootstrap, security = mtls
    name = f"t{uuid.uuid4().hex[:8]}"
    port = free_port()
    settings = _settings(security, app_id=name, topic_prefix=f"{name}.", web_port=port)
    ensure_topics(settings, bootstrap)
    worker = _spawn_worker(bootstrap, security, name, port, tmp_path)
    try:
        health = f"http://127.0.0.1:{port}/healthz"
        wait_for("the TLS worker's /healthz", lambda: _healthy(worker, health), timeout=90)
        _publish_incident(bootstrap, settings, "MPS-2026-000202")

        def decided() -> bool:
            records = read_topic(
                bootstrap, settings.topic("decisions"), **security_options(settings.kafka)
            )
            found = [Decision.model_validate_json(r.value) for r in records]
            return any(d.incident_id == "MPS-2026-000202" for d in found)

        wait_for("a decision read back through mutual TLS", decided, timeout=90)
    finally:
        stop_process(worker, timeout=20)
    assert security.ssl_key_password is not None
    assert security.ssl_key_password.get_secret_value() not in (tmp_path / "worker.log").read_text()


def _spawn_worker(
    bootstrap: str, security: KafkaSecurity, name: str, port: int, data_dir: Path
) -> subprocess.Popen[bytes]:
    """`dvtrigger worker --role decide`, configured by the environment as in production:
    certificate, key, and the key's password in a file."""
    assert security.ssl_key_password is not None
    password_file = data_dir / "key-password"
    password_file.write_text(security.ssl_key_password.get_secret_value())
    env = {k: v for k, v in os.environ.items() if not k.startswith("DVTRIGGER_")}
    env |= {
        "PYTHONPATH": str(ROOT),
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "DVTRIGGER_APP_ID": name,
        "DVTRIGGER_TOPIC_PREFIX": f"{name}.",
        "DVTRIGGER_WEB_PORT": str(port),
        "DVTRIGGER_DATA_DIR": str(data_dir),
        "DVTRIGGER_LOG_LEVEL": "WARNING",
        "DVTRIGGER_KAFKA__SECURITY_PROTOCOL": "SSL",
        "DVTRIGGER_KAFKA__SSL_CAFILE": str(security.ssl_cafile),
        "DVTRIGGER_KAFKA__SSL_CERTFILE": str(security.ssl_certfile),
        "DVTRIGGER_KAFKA__SSL_KEYFILE": str(security.ssl_keyfile),
        "DVTRIGGER_KAFKA__SSL_KEY_PASSWORD_FILE": str(password_file),
    }
    log = (data_dir / "worker.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "connectors.cli", "worker", "--role", "decide"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=data_dir,
    )


def _healthy(worker: subprocess.Popen[bytes], url: str) -> bool:
    if worker.poll() is not None:
        raise AssertionError(f"the TLS worker exited with {worker.returncode}; see worker.log")
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(json.loads(response.read())["status"] == "ok")
    except OSError:
        return False


def test_mutual_tls_refuses_a_client_without_a_certificate(
    mtls: tuple[str, KafkaSecurity], pki: Pki
) -> None:
    bootstrap, _ = mtls
    no_certificate = server_tls(pki)

    problem = tls_problem(bootstrap, no_certificate)
    with pytest.raises(BrokerStartError) as refused:
        wait_until_ready(bootstrap, deadline_s=2, security=no_certificate)

    assert problem is not None and "wants a client certificate (ssl_certfile)" in problem
    assert "CERTIFICATE_REQUIRED" in str(refused.value).upper()


def test_mutual_tls_accepts_a_client_with_its_certificate(
    mtls: tuple[str, KafkaSecurity],
) -> None:
    bootstrap, security = mtls
    settings = _settings(security, topic_prefix=f"t{uuid.uuid4().hex[:8]}.")
    assert tls_problem(bootstrap, security) is None
    ensure_topics(settings, bootstrap)
    _publish_incident(bootstrap, settings, "MPS-2026-000303")

    records = read_topic(
        bootstrap, settings.topic("police-incidents"), **security_options(security)
    )

    assert [r.key for r in records] == [b"MPS-2026-000303"]
    assert security.ssl_key_password is not None
    assert security.ssl_key_password.get_secret_value() not in repr(settings)


def test_a_client_trusting_another_ca_is_refused_and_told_why_without_secrets(
    tls: str, tmp_path: Path
) -> None:
    wrong = KafkaSecurity(
        security_protocol="SASL_SSL",
        ssl_cafile=other_ca(tmp_path / "other-ca.pem"),
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="dvtrigger-worker",
        sasl_password=SecretStr(SASL_PASSWORD),
    )

    with pytest.raises(BrokerStartError) as refused:
        wait_until_ready(tls, deadline_s=2, security=wrong)

    message = str(refused.value)
    assert "certificate" in message and "issuer" in message
    assert SASL_PASSWORD not in message
    assert SASL_PASSWORD not in repr(_settings(wrong))
    assert SASL_PASSWORD not in str(_settings(wrong))
