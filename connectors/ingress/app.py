"""The ingress app: one POST of one `police-incident/1` notification, answered 202 once durable.

Each request goes through, in order: authentication (401, before any of the body is read),
media type (415), the force's rate (429), the body size while it streams in (413), parsing
at the edge (422; the raw body also goes to the dead-letter topic), authorisation: a force
publishes under its own force code only (403), then the write, acknowledged by every
in-sync replica (202), or not in time (503). Error bodies name fields and reason classes,
never a value sent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from connectors.ingress.auth import Authenticator, Principal, Unauthenticated
from connectors.ingress.limits import RateLimiter
from connectors.ingress.metrics import IngressMetrics
from connectors.ingress.openapi import PATH, install_openapi, responses
from connectors.ingress.sink import BrokerUnavailable, Record, Sink
from schemas.receipt import Receipt
from streams.config.settings import Settings
from streams.domain import receipts
from streams.domain.parsing import Rejected, parse_incident
from streams.flows.deadletter import dead_letter_headers
from streams.flows.receipting import H_CHANNEL, H_RECEIVED_AT, encode

log = logging.getLogger(__name__)

H_FORCE = "dvtrigger-ingress-force"
RETRY_AFTER_BROKER_S = 5


class Refused(Exception):
    """A request answered with an error status; `reason` is its `refused` reason class
    (empty: counted by a metric of its own, as 429 and 503 are)."""

    def __init__(
        self,
        status: int,
        reason: str,
        detail: str,
        extra: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.reason = reason
        self.body: dict[str, object] = {"detail": detail, **(extra or {})}
        self.headers = headers or {}


def create_app(
    settings: Settings,
    sink: Sink,
    authenticator: Authenticator | None = None,
    metrics: IngressMetrics | None = None,
    clock: Callable[[], float] = time.monotonic,
    wall: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> FastAPI:
    """The ingress on one sink; `clock` (monotonic seconds) drives the rate limit, `wall` (UTC)
    stamps receipts."""
    app = FastAPI(title="dvtrigger police ingress", version="1", docs_url=None, redoc_url=None)
    app.state.metrics = metrics or IngressMetrics()
    auth = authenticator or Authenticator(settings.ingress)
    ingress = _Ingress(settings, sink, auth, app.state.metrics, clock, wall)
    app.add_exception_handler(Refused, ingress.refused)

    @app.post(PATH, status_code=202, responses=responses(), operation_id="publishIncident")
    async def publish(request: Request) -> JSONResponse:
        """Publish one police-incident/1 notification; 202 once the broker has it."""
        return await ingress.publish(request)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    install_openapi(app)
    return app


class _Ingress:
    """The steps of one publish, with what they share: limits, sink, metrics."""

    def __init__(
        self,
        settings: Settings,
        sink: Sink,
        auth: Authenticator,
        metrics: IngressMetrics,
        clock: Callable[[], float],
        wall: Callable[[], datetime],
    ) -> None:
        self.metrics = metrics
        self._wall = wall
        self._s = settings
        self._sink = sink
        self._auth = auth
        self._clock = clock
        self._limiter = RateLimiter(settings.ingress.rate_per_s, settings.ingress.burst)
        self._topic = settings.topic("police-incidents")

    async def publish(self, request: Request) -> JSONResponse:
        """Authenticate, check, read, parse, authorise and write one notification."""
        who = await self._authenticate(request)
        _check_media_type(request.headers.get("content-type", ""))
        wait = self._limiter.take(who.force, self._clock())
        if wait is not None:
            self.metrics.rate_limited.labels(who.force).inc()
            raise Refused(429, "", "too many requests", headers={"Retry-After": str(wait)})
        raw = await _read_body(request, self._s.ingress.max_body_bytes)
        now = self._wall()
        try:
            incident = parse_incident(raw)
        except Rejected as rejected:
            told = await self._dead_letter(raw, rejected, who, now)
            extra: dict[str, object] = {
                "reason_class": rejected.reason_class,
                "reason": rejected.detail,
                "receipt": told.model_dump(mode="json", exclude_none=True),
            }
            raise Refused(422, "invalid", "the notification is not valid", extra) from None
        if incident.force != who.force:
            raise Refused(403, "forbidden", "a force may publish under its own force code only")
        key = incident.incident_id.encode()
        headers = [
            (H_FORCE, who.force.encode()),
            (H_CHANNEL, b"ingress"),
            (H_RECEIVED_AT, now.isoformat().encode()),
        ]
        await self._write(Record(self._topic, key, raw, headers))
        self.metrics.accepted.labels(who.force).inc()
        log.info(
            "accepted incident=%s revision=%s force=%s via=%s",
            incident.incident_id,
            incident.revision,
            who.force,
            who.method,
        )
        # The worker reading the notification sends this same receipt to the receipts topic.
        told = receipts.received(incident, now, "ingress", raw)
        answer = {
            "status": "accepted",
            "notification_id": incident.notification_id,
            "incident_id": incident.incident_id,
            "receipt": told.model_dump(mode="json", exclude_none=True),
        }
        return JSONResponse(answer, 202)

    async def _authenticate(self, request: Request) -> Principal:
        chain = request.scope.get("extensions", {}).get("tls", {}).get("client_cert_chain")
        cert = chain[0] if chain else None
        try:
            return await run_in_threadpool(self._auth.authenticate, request.headers, cert)
        except Unauthenticated as exc:
            log.info("refused status=401 reason_class=%s", exc.reason_class)
            challenge = {"WWW-Authenticate": 'Bearer realm="dvtrigger"'}
            raise Refused(401, "unauthenticated", "unauthenticated", headers=challenge) from None

    async def _dead_letter(
        self, raw: bytes, rejected: Rejected, who: Principal, now: datetime
    ) -> Receipt:
        """The raw body and the reason, on the dead-letter topic, for a replay after a fix; then
        its rejected receipt on the receipts topic (the worker never sees this one)."""
        headers = dead_letter_headers(
            rejected.reason_class, rejected.detail, self._topic, None, None
        )
        headers.append((H_FORCE, who.force.encode()))
        await self._write(Record(self._s.topic("dead-letter"), None, raw, headers))
        told = receipts.rejected(raw, rejected, now, "ingress", force=who.force)
        key, value = encode(told)
        await self._write(Record(self._s.topic("receipts"), key, value))
        self.metrics.dead_lettered.labels(rejected.reason_class).inc()
        log.warning(
            "dead-lettered force=%s reason_class=%s reason=%s",
            who.force,
            rejected.reason_class,
            rejected.detail,
        )
        return told

    async def _write(self, record: Record) -> None:
        try:
            await self._sink.write(record)
        except BrokerUnavailable as exc:
            self.metrics.broker_unavailable.inc()
            log.error("broker_unavailable error=%s", exc)
            retry = {"Retry-After": str(RETRY_AFTER_BROKER_S)}
            raise Refused(503, "", "the broker is unavailable; send again", headers=retry) from None

    async def refused(self, request: Request, exc: Exception) -> Response:
        """An error answer, counted by reason class."""
        assert isinstance(exc, Refused)
        if exc.reason:
            self.metrics.refused.labels(exc.reason).inc()
        return JSONResponse(exc.body, exc.status, headers=exc.headers)


def _check_media_type(content_type: str) -> None:
    media_type, _, params = content_type.partition(";")
    charset = params.strip().lower().removeprefix("charset=")
    if media_type.strip().lower() != "application/json" or charset not in ("", "utf-8"):
        raise Refused(415, "unsupported_media_type", "send application/json")


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refused (413) as soon as it passes `limit` bytes, declared or streamed."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise Refused(413, "too_large", f"the body is over {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Refused(413, "too_large", f"the body is over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
