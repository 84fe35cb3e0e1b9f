"""Mutual TLS for real: uvicorn on loopback with trustme certificates, httpx with a client cert."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from connectors.ingress.app import create_app
from connectors.ingress.openapi import PATH
from connectors.ingress.server import uvicorn_config
from connectors.ingress.sink import MemorySink
from streams.config.ingress import IngressSettings
from streams.config.settings import Settings
from tests.support.ingress import (
    API_KEYS,
    Certificates,
    certificates,
    incident_bytes,
    key_hashes,
    serve_ingress,
)

JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return certificates(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def served(pki: Certificates) -> Iterator[tuple[str, MemorySink]]:
    ingress = IngressSettings(
        tls_cert_file=pki.server_cert,
        tls_key_file=pki.server_key,
        client_ca_file=pki.client_ca,
        cert_forces={"cn:ingest.mps.test": "MPS"},
        api_key_hashes=key_hashes(),
    )
    sink = MemorySink()
    app = create_app(Settings(topic_prefix="t.", ingress=ingress), sink)
    with serve_ingress(app, ingress) as url:
        yield url, sink


def post(url: str, ctx: ssl.SSLContext, force: str = "MPS", **headers: str) -> httpx.Response:
    with httpx.Client(verify=ctx) as client:
        return client.post(f"{url}{PATH}", content=incident_bytes(force), headers=JSON | headers)


def test_a_mapped_client_certificate_publishes_as_its_force(
    served: tuple[str, MemorySink], pki: Certificates
) -> None:
    url, sink = served
    before = len(sink.records)
    response = post(url, pki.context(pki.client("ingest.mps.test")))
    assert response.status_code == 202
    assert len(sink.records) == before + 1
    assert post(url, pki.context(pki.client("ingest.mps.test")), "GMP").status_code == 403


def test_a_certificate_of_the_ca_that_maps_to_no_force_is_401(
    served: tuple[str, MemorySink], pki: Certificates
) -> None:
    url, _ = served
    assert post(url, pki.context(pki.client("ingest.stranger.test"))).status_code == 401


def test_no_client_certificate_falls_back_to_the_api_key(
    served: tuple[str, MemorySink], pki: Certificates
) -> None:
    url, _ = served
    assert post(url, pki.context()).status_code == 401
    assert post(url, pki.context(), "GMP", **{"x-api-key": API_KEYS["GMP"]}).status_code == 202


def test_a_certificate_from_another_ca_fails_the_handshake(
    served: tuple[str, MemorySink], pki: Certificates, tmp_path: Path
) -> None:
    url, _ = served
    outsider = certificates(tmp_path).client("ingest.mps.test")  # same CN, wrong CA
    with pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)):
        post(url, pki.context(outsider))


def test_plain_http_is_refused_off_loopback() -> None:
    with pytest.raises(ValueError, match="loopback"):
        uvicorn_config(object(), IngressSettings(host="0.0.0.0"))
    assert uvicorn_config(object(), IngressSettings(host="127.0.0.1")).ssl_certfile is None
