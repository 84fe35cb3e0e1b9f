"""Serving the ingress under uvicorn, with the TLS client certificate in the ASGI scope.

uvicorn verifies a client certificate (`ssl_cert_reqs`, `ssl_ca_certs`) but does not pass
it to the app. `PeerCertProtocol` reads it from the TLS transport once per connection and
puts it where the ASGI TLS extension says: `scope["extensions"]["tls"]["client_cert_chain"]`
(PEM, the peer's certificate first). Python's `ssl` gives the leaf only, which is what
the force mapping needs.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import ssl
from typing import Any

import uvicorn
from prometheus_client import start_http_server
from uvicorn.protocols.http.h11_impl import H11Protocol

from connectors.ingress.app import create_app
from connectors.ingress.auth import Authenticator
from connectors.ingress.metrics import IngressMetrics
from connectors.ingress.sink import KafkaSink
from streams.config.ingress import IngressSettings
from streams.config.settings import Settings

log = logging.getLogger(__name__)
ASGIApp = Any


class PeerCertProtocol(H11Protocol):
    """uvicorn's h11 protocol, adding the verified client certificate to each request's scope."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Read the peer certificate, if any, and wrap the app to pass it on."""
        super().connection_made(transport)
        tls = transport.get_extra_info("ssl_object")
        der = tls.getpeercert(binary_form=True) if tls is not None else None
        if der:
            self.app = _with_client_cert(self.app, ssl.DER_cert_to_PEM_cert(der))


def _with_client_cert(app: ASGIApp, pem: str) -> ASGIApp:
    """`app`, seeing `pem` as the client certificate of every request of this connection."""

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        extensions = scope.setdefault("extensions", {})
        extensions["tls"] = {**extensions.get("tls", {}), "client_cert_chain": [pem]}
        await app(scope, receive, send)

    return wrapped


def uvicorn_config(app: ASGIApp, ingress: IngressSettings) -> uvicorn.Config:
    """uvicorn's settings: TLS (and client certificates) when configured, else loopback only."""
    tls: dict[str, Any] = {}
    if ingress.tls_cert_file:
        tls = {"ssl_certfile": str(ingress.tls_cert_file)}
        tls["ssl_keyfile"] = str(ingress.tls_key_file) if ingress.tls_key_file else None
        if ingress.client_ca_file:
            tls["ssl_ca_certs"] = str(ingress.client_ca_file)
            tls["ssl_cert_reqs"] = ssl.CERT_OPTIONAL
    elif not _is_loopback(ingress.host):
        raise ValueError("plain HTTP is for loopback only: set the ingress TLS certificate")
    return uvicorn.Config(
        app,
        host=ingress.host,
        port=ingress.port,
        http=PeerCertProtocol,
        lifespan="off",
        server_header=False,
        proxy_headers=False,
        log_level="warning",
        **tls,
    )


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def serve(settings: Settings, bootstrap: str) -> None:
    """Run the ingress until interrupted, with its metrics on a port of their own."""
    metrics = IngressMetrics()
    port = settings.ingress.metrics_port
    if port is not None:
        start_http_server(port, settings.ingress.host, registry=metrics.registry)
    sink = KafkaSink(settings, bootstrap, settings.ingress.broker_timeout_s)
    app = create_app(settings, sink, Authenticator(settings.ingress), metrics)
    try:
        uvicorn.Server(uvicorn_config(app, settings.ingress)).run()
    finally:
        sink.close()
