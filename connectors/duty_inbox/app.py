"""Composition of the duty inbox: stores, sign-in, JSON API, HTML pages, headers, errors."""

from __future__ import annotations

import asyncio
import logging
import secrets
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import uvicorn
from argon2 import PasswordHasher
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from itsdangerous import Signer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import SecretStr
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware.sessions import SessionMiddleware

from connectors.audit import FileAuditLog
from connectors.duty_inbox import admin, api, api_history, audit_view, pages, signin
from connectors.duty_inbox.auth import (
    AuthState,
    Forbidden,
    NotSignedIn,
    Principal,
    record,
    scratch,
)
from connectors.duty_inbox.headers import InboxHeaders
from connectors.duty_inbox.metrics import InboxMetrics
from connectors.duty_inbox.openapi import Problem, document
from connectors.duty_inbox.retention import InboxRetention, Pause
from connectors.duty_inbox.session_store import SessionStore, Timeouts
from connectors.duty_inbox.store import (
    DEFAULT_DB_PATH,
    AlreadyClosed,
    BadCursor,
    OutcomeIncomplete,
    OutcomeNotFitting,
    StoreError,
    TaskStore,
    UnknownTask,
    WrongTask,
)
from connectors.duty_inbox.users import UserError, UserStore
from streams.config.settings import RetentionSettings
from streams.domain.ports.audit import AuditLog, NoAudit

_NO_AUDIT = NoAudit()
log = logging.getLogger(__name__)

#: SQLite's result codes for a database that cannot be used for now: busy or locked, read-only,
#: an I/O error, full, or not openable. The request is answered 503, to be tried again.
_STORAGE_DOWN = {5, 6, 8, 10, 13, 14}

_STORE_ERRORS: dict[type[Exception], tuple[int, str]] = {
    UnknownTask: (404, "unknown task"),
    WrongTask: (422, "the command's idempotency key belongs to another task"),
    AlreadyClosed: (409, "the task is closed"),
    OutcomeNotFitting: (409, ""),  # the store's words: acknowledge first, or the wrong type
    OutcomeIncomplete: (422, ""),  # the store's words: what the outcome lacks
    BadCursor: (422, "the cursor is not one of this inbox"),
}


def create_app(
    db_path: str | Path = DEFAULT_DB_PATH,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    *,
    audit: AuditLog = _NO_AUDIT,
    audit_dir: Path | None = None,
    session_secret: SecretStr | None = None,
    timeouts: Timeouts | None = None,
    cookie_secure: bool = False,
    metrics_token: SecretStr | None = None,
    password_hasher: PasswordHasher | None = None,
    oidc_router: APIRouter | None = None,
    retention: RetentionSettings | None = None,
    retention_pause: Pause = asyncio.sleep,
) -> FastAPI:
    """The duty inbox on one SQLite file: tasks, users, clients and sessions.

    Every route but /healthz, /sign-in and (without `metrics_token`) /metrics needs a
    signed-in person or a client token. Without `session_secret`, sessions last as long as
    this app object. Auditors query the audit chains in `audit_dir` (by default the
    directory of `audit` when it is a `FileAuditLog`; with none, there is no audit query).
    With `retention` (and its `inbox_purge` on), the app purges its closed tasks and its
    audit chain's old details while it runs (`connectors.duty_inbox.retention`).
    """
    app = FastAPI(
        title="Duty inbox", version="1", docs_url=None, redoc_url=None, lifespan=_lifespan
    )
    app.state.store = TaskStore(db_path, clock)
    app.state.metrics = InboxMetrics(app.state.store, clock=clock)
    app.state.clock = clock
    secret = session_secret.get_secret_value() if session_secret else secrets.token_hex(32)
    users = UserStore(db_path, clock, password_hasher)
    timeouts = timeouts or Timeouts()
    app.state.auth = AuthState(
        users=users,
        sessions=SessionStore(db_path, timeouts),
        signer=Signer(secret, salt="dvtrigger.duty-inbox.session"),
        audit=audit,
        clock=clock,
        cookie_secure=cookie_secure,
        metrics_token=metrics_token.get_secret_value() if metrics_token else None,
        oidc=oidc_router is not None,
    )
    if audit_dir is None and isinstance(audit, FileAuditLog):
        audit_dir = audit.directory
    app.state.audit_dir = audit_dir
    app.state.retention = (
        InboxRetention(db_path, retention, clock, audit, audit_dir=audit_dir, pause=retention_pause)
        if retention is not None and retention.inbox_purge
        else None
    )
    routers = [
        (signin.router, False),
        *([(oidc_router, False)] if oidc_router is not None else []),
        (api.router, True),
        (api_history.router, True),
        (pages.router, False),
        (admin.router, False),
        *([(audit_view.router, True)] if audit_dir is not None else []),
    ]
    for router, documented in routers:  # the pages people use are not in the API's document
        app.include_router(router, include_in_schema=documented)
    app.state.routers = [router for router, _ in routers]
    _handle_errors(app)
    _open_routes(app)
    app.openapi = lambda: document(app)  # type: ignore[method-assign]
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret,
        session_cookie="dvt_pre",
        max_age=900,
        same_site="lax",
        https_only=cookie_secure,
    )
    max_age = int(timeouts.absolute.total_seconds())
    app.add_middleware(InboxHeaders, cookie_secure=cookie_secure, max_age_s=max_age)
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Run the inbox's retention, if it has one, for as long as the app serves."""
    retention: InboxRetention | None = app.state.retention
    if retention is not None:
        retention.start()
    try:
        yield
    finally:
        if retention is not None:
            await retention.stop()


def _open_routes(app: FastAPI) -> None:
    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        """Liveness: the process answers; nothing more."""
        return {"status": "ok"}

    @app.get(
        "/metrics",
        response_class=Response,
        responses={
            200: {"content": {"text/plain": {"schema": {"type": "string"}}}},
            401: {"model": Problem, "description": "The metrics token is set and not sent."},
        },
        openapi_extra={"security": [{}, {"metricsToken": []}]},
    )
    def metrics(request: Request) -> Response:
        """Prometheus metrics (counts only), behind `metrics_token` when it is set."""
        token = app.state.auth.metrics_token
        offered = request.headers.get("Authorization", "")
        if token and not secrets.compare_digest(offered.encode(), f"Bearer {token}".encode()):
            return JSONResponse({"detail": "unauthorised"}, 401, {"WWW-Authenticate": "Bearer"})
        body = generate_latest(app.state.metrics.registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)


def _handle_errors(app: FastAPI) -> None:
    app.add_exception_handler(StoreError, _store_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(NotSignedIn, _not_signed_in)
    app.add_exception_handler(Forbidden, _forbidden)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(UserError, _user_error)
    app.add_exception_handler(sqlite3.OperationalError, _storage_down)


def _api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _refusal(request: Request, status_code: int, message: str) -> Response:
    """A refusal as JSON for the API, as a page for people; the message is never a value sent."""
    if _api(request):
        return JSONResponse({"detail": message}, status_code)
    return HTMLResponse(pages.error_page(status_code, message), status_code)


async def _store_error(request: Request, exc: Exception) -> Response:
    status_code, message = _STORE_ERRORS.get(type(exc), (400, "refused"))
    message = message or str(exc)
    if isinstance(exc, UnknownTask):  # unknown, or another council's: the same answer
        principal = scratch(request).get("principal")
        who = principal if isinstance(principal, Principal) else None
        refs = {"task": [str(exc)]}
        await run_in_threadpool(record, request, "denied", "task_not_found", who, refs)
    return _refusal(request, status_code, message)


async def _not_signed_in(request: Request, exc: Exception) -> Response:
    if _api(request):
        headers = {"WWW-Authenticate": "Bearer"}
        return JSONResponse({"detail": "sign in or send a client token"}, 401, headers)
    return RedirectResponse("/sign-in", status_code=303)


async def _forbidden(request: Request, exc: Exception) -> Response:
    return _refusal(request, 403, str(exc) or "refused")


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    headers = exc.headers
    if exc.status_code == 405:  # a path served by several routes allows all their methods
        headers = {**(headers or {}), "Allow": ", ".join(_allowed(request))}
    if _api(request):
        return JSONResponse({"detail": exc.detail}, exc.status_code, headers)
    response = _refusal(request, exc.status_code, str(exc.detail))
    response.headers.update(headers or {})
    return response


def _allowed(request: Request) -> list[str]:
    """The methods of every route whose path matches this request's."""
    routers: list[APIRouter] = request.app.state.routers
    methods: set[str] = set()
    for route in [*request.app.routes, *(r for router in routers for r in router.routes)]:
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.match(request.scope["path"]):
            methods |= getattr(route, "methods", None) or set()
    return sorted(methods)


async def _storage_down(request: Request, exc: Exception) -> Response:
    """The database cannot be written or read now (disk full, read-only, I/O error, locked):
    503, so a client tries again, and nothing was stored (its transaction was rolled back).
    Any other SQLite error is the inbox's own: 500."""
    assert isinstance(exc, sqlite3.OperationalError)
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None and code & 0xFF in _STORAGE_DOWN:  # extended codes carry it low
        log.error("duty inbox database unavailable: %s", getattr(exc, "sqlite_errorname", code))
        return _refusal(request, 503, "the inbox cannot store or read tasks now; try again")
    log.error("duty inbox database error: %s", getattr(exc, "sqlite_errorname", "unknown"))
    return _refusal(request, 500, "internal error")


async def _user_error(request: Request, exc: Exception) -> Response:
    return _refusal(request, 404, "unknown user")


async def _validation_error(request: Request, exc: Exception) -> Response:
    """Like FastAPI's 422, without echoing the values sent (they may be personal data)."""
    assert isinstance(exc, RequestValidationError)
    detail = [{"loc": e["loc"], "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
    return JSONResponse({"detail": detail}, 422)


class PathsOnly(logging.Filter):
    """Access log lines without query strings: the list's search may hold a name or NHS number."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Cut the query string off the path argument of uvicorn's access line; keep the line."""
        args = record.args
        if isinstance(args, tuple) and len(args) > 2 and isinstance(args[2], str):
            record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
        return True


def serve(host: str, port: int, app: FastAPI) -> None:
    """Run a duty inbox app under uvicorn until interrupted; its access log has no queries."""
    config = uvicorn.Config(app, host=host, port=port, log_level="info", proxy_headers=False)
    logging.getLogger("uvicorn.access").addFilter(PathsOnly())  # after Config set logging up
    uvicorn.Server(config).run()
