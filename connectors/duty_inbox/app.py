"""Composition of the duty inbox: store, optional token, JSON API, HTML pages, error handlers."""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import uvicorn
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import SecretStr

from connectors.duty_inbox import api, pages
from connectors.duty_inbox.metrics import InboxMetrics
from connectors.duty_inbox.store import (
    DEFAULT_DB_PATH,
    AlreadyClosed,
    StoreError,
    TaskStore,
    UnknownTask,
    WrongTask,
)

_STORE_ERRORS: dict[type[Exception], tuple[int, str]] = {
    UnknownTask: (404, "unknown task"),
    WrongTask: (422, "the command's idempotency key belongs to another task"),
    AlreadyClosed: (409, "the task is closed"),
}


def create_app(
    db_path: str | Path = DEFAULT_DB_PATH,
    token: SecretStr | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> FastAPI:
    """The duty inbox app on one SQLite file; with a token, every route but /healthz and
    /metrics (counts only, no personal data) needs it."""
    app = FastAPI(title="Duty inbox", version="1")
    app.state.store = TaskStore(db_path, clock)
    app.state.metrics = InboxMetrics(app.state.store, clock=clock)
    app.state.token = token
    app.state.clock = clock
    app.include_router(api.router, dependencies=[Depends(_guard("Bearer"))])
    app.include_router(pages.router, dependencies=[Depends(_guard('Basic realm="Duty inbox"'))])
    app.add_exception_handler(StoreError, _store_error)
    app.add_exception_handler(RequestValidationError, _validation_error)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/metrics")
    def metrics() -> Response:
        """Prometheus metrics, worked out from the tasks now."""
        body = generate_latest(app.state.metrics.registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return app


def _guard(challenge: str) -> Callable[[Request], None]:
    """A dependency that lets a request through when it carries the app's token.

    The API takes `Bearer <token>`; browsers send the token as the password of HTTP Basic.
    """

    def guard(request: Request) -> None:
        token: SecretStr | None = request.app.state.token
        if token is None:
            return
        offered = _offered_token(request.headers.get("Authorization", ""))
        if not secrets.compare_digest(offered.encode(), token.get_secret_value().encode()):
            raise HTTPException(401, "unauthorised", headers={"WWW-Authenticate": challenge})

    return guard


def _offered_token(header: str) -> str:
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(value, validate=True).decode().partition(":")[2]
        except (binascii.Error, UnicodeDecodeError):
            return ""
    return ""


async def _store_error(request: Request, exc: Exception) -> Response:
    status_code, message = _STORE_ERRORS.get(type(exc), (400, "refused"))
    if request.url.path.startswith("/api/"):
        return JSONResponse({"detail": message}, status_code)
    return HTMLResponse(pages.error_page(status_code, message), status_code)


async def _validation_error(request: Request, exc: Exception) -> Response:
    """Like FastAPI's 422, without echoing the values sent (they may be personal data)."""
    assert isinstance(exc, RequestValidationError)
    detail = [{"loc": e["loc"], "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
    return JSONResponse({"detail": detail}, 422)


def serve(
    host: str = "127.0.0.1",
    port: int = 8081,
    db_path: str | Path = DEFAULT_DB_PATH,
    token: SecretStr | None = None,
) -> None:
    """Run the duty inbox under uvicorn until interrupted."""
    uvicorn.run(create_app(db_path, token), host=host, port=port, log_level="info")
