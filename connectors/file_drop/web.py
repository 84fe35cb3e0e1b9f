"""The file drop's HTTP side: /metrics for Prometheus, /healthz for the orchestrator."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app

from connectors.file_drop.metrics import DropMetrics

StartResponse = Callable[..., Any]
HEARTBEAT = "dvtrigger_file_drop_heartbeat_timestamp_seconds"


class _Quiet(WSGIRequestHandler):
    """No access log line per scrape."""

    def log_message(self, format: str, *args: Any) -> None:
        return


def application(
    metrics: DropMetrics, stale_after_s: float, clock: Callable[[], float] = time.time
) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """/metrics; /healthz answers 200 while the folder was looked at within `stale_after_s`."""
    scrape = make_wsgi_app(metrics.registry)

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/healthz":
            beat = metrics.registry.get_sample_value(HEARTBEAT) or 0.0
            age = clock() - beat
            healthy = age <= stale_after_s
            status = "200 OK" if healthy else "503 Service Unavailable"
            start_response(status, [("Content-Type", "application/json")])
            return [json.dumps({"status": "ok" if healthy else "stale"}).encode()]
        if environ.get("PATH_INFO") == "/metrics":
            return scrape(environ, start_response)  # type: ignore[no-any-return]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found\n"]

    return app


def serve(host: str, port: int, app: Callable[..., Iterable[bytes]]) -> WSGIServer:
    """Serve `app` on host:port in a daemon thread; `shutdown()` stops it."""
    server = make_server(host, port, app, handler_class=_Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
