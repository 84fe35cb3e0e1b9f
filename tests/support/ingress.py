"""The ingress in tests: trustme certificates, signed access tokens, a real server on loopback."""

from __future__ import annotations

import json
import ssl
import time
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import trustme
from cryptography.hazmat.primitives.asymmetric import rsa
from prometheus_client import CollectorRegistry

from connectors.ingress.app import create_app
from connectors.ingress.auth import hash_api_key
from connectors.ingress.metrics import IngressMetrics
from connectors.ingress.openapi import PATH
from connectors.ingress.server import uvicorn_config
from connectors.ingress.sink import KafkaSink
from streams.config.ingress import IngressSettings
from streams.config.settings import Settings
from tests.support.loopback import loopback_socket, serve_config
from tests.support.samples import sample_incident

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from authlib.jose import JsonWebKey, JsonWebToken

#: API keys of the tests, by force; settings hold only their digests.
API_KEYS = {"MPS": "dvt_test-key-of-the-met", "GMP": "dvt_test-key-of-manchester"}
ISSUER = "https://idp.test.invalid/"
AUDIENCE = "dvtrigger-ingress"


def key_hashes() -> dict[str, list[str]]:
    """The settings' `api_key_hashes` for `API_KEYS`."""
    return {force: [hash_api_key(key)] for force, key in API_KEYS.items()}


def incident_bytes(force: str = "MPS", number: int = 1, **overrides: Any) -> bytes:
    """A valid notification of `force`, as a force would POST it."""
    incident = sample_incident(f"{force}-2026-{number:06d}", **overrides)
    return incident.model_dump_json(by_alias=True).encode()


@dataclass(frozen=True)
class Certificates:
    """PEM files of a test PKI: the server's, the CA of clients, and how to make a client."""

    server_cert: Path
    server_key: Path
    server_ca: Path
    client_ca: Path
    directory: Path
    _client_authority: trustme.CA

    def client(self, common_name: str) -> tuple[Path, Path]:
        """A client certificate (chain, key) with subject CN `common_name`, signed by the CA."""
        leaf = self._client_authority.issue_cert(common_name, common_name=common_name)
        cert = self.directory / f"{common_name}.pem"
        key = self.directory / f"{common_name}.key"
        leaf.cert_chain_pems[0].write_to_path(str(cert))
        leaf.private_key_pem.write_to_path(str(key))
        return cert, key

    def context(self, client: tuple[Path, Path] | None = None) -> ssl.SSLContext:
        """A client's TLS context: trusts the server, presents `client` if given."""
        ctx = ssl.create_default_context(cafile=str(self.server_ca))
        if client is not None:
            ctx.load_cert_chain(str(client[0]), str(client[1]))
        return ctx


def certificates(directory: Path) -> Certificates:
    """A server certificate for 127.0.0.1 and a separate CA for clients, in `directory`."""
    server_authority, client_authority = trustme.CA(), trustme.CA()
    server = server_authority.issue_cert("127.0.0.1", "localhost")
    paths = {n: directory / f"{n}.pem" for n in ("server", "server-key", "server-ca", "client-ca")}
    server.cert_chain_pems[0].write_to_path(str(paths["server"]))
    server.private_key_pem.write_to_path(str(paths["server-key"]))
    server_authority.cert_pem.write_to_path(str(paths["server-ca"]))
    client_authority.cert_pem.write_to_path(str(paths["client-ca"]))
    return Certificates(
        paths["server"],
        paths["server-key"],
        paths["server-ca"],
        paths["client-ca"],
        directory,
        client_authority,
    )


class Issuer:
    """An OAuth2 authorisation server's signing key: its JWKS file and the tokens it mints."""

    def __init__(self, directory: Path, kid: str = "test-1") -> None:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.key = JsonWebKey.import_key(private, {"kid": kid, "kty": "RSA"})
        self.kid = kid
        self.jwks = directory / "jwks.json"
        public = self.key.as_dict(is_private=False)
        self.jwks.write_text(json.dumps({"keys": [{**public, "kid": kid, "alg": "RS256"}]}))

    def token(self, client_id: str = "mps-ingest", ttl_s: int = 300, **claims: Any) -> str:
        """A signed access token for `client_id`, valid for `ttl_s` from now."""
        now = int(time.time())
        payload = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "client_id": client_id,
            "iat": now,
            "exp": now + ttl_s,
            **claims,
        }
        header = {"alg": "RS256", "kid": self.kid}
        raw = JsonWebToken(["RS256"]).encode(header, payload, self.key)
        return raw.decode() if isinstance(raw, bytes) else str(raw)


@contextmanager
def serve_ingress(app: Any, ingress: IngressSettings) -> Iterator[str]:
    """Serve `app` with `ingress`'s TLS settings on a free loopback port; yield its base URL."""
    scheme = "https" if ingress.tls_cert_file else "http"
    config = uvicorn_config(app, ingress)
    with serve_config(config, loopback_socket(), scheme, what="ingress") as url:
        yield url


@dataclass
class Live:
    url: str
    settings: Settings
    pki: Certificates
    metrics: IngressMetrics

    def post(self, body: bytes, force: str = "MPS") -> httpx.Response:
        """POST `body` with `force`'s API key."""
        headers = {"content-type": "application/json", "x-api-key": API_KEYS[force]}
        with httpx.Client(verify=self.pki.context(), timeout=30) as client:
            return client.post(f"{self.url}{PATH}", content=body, headers=headers)


@contextmanager
def live_ingress(
    bootstrap: str, directory: Path, timeout_s: float = 10.0, **ingress: object
) -> Iterator[Live]:
    """An HTTPS ingress on loopback writing to `bootstrap`, with topics of its own."""
    pki = certificates(directory)
    values = {
        "tls_cert_file": pki.server_cert,
        "tls_key_file": pki.server_key,
        "api_key_hashes": key_hashes(),
        **ingress,
    }
    settings = Settings(
        topic_prefix=f"ingress-{uuid.uuid4().hex[:8]}.", ingress=IngressSettings(**values)
    )
    metrics = IngressMetrics(CollectorRegistry())
    sink = KafkaSink(settings, bootstrap, timeout_s)
    try:
        with serve_ingress(create_app(settings, sink, metrics=metrics), settings.ingress) as url:
            yield Live(url, settings, pki, metrics)
    finally:
        sink.close()
