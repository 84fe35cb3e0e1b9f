"""Who is asking: the principal of a request, from a signed-in session or an API token.

People sign in (with a password here, or with their organisation account through
`oidc.py`); `start_session` then gives the browser a fresh, signed, HttpOnly session
cookie and a fresh CSRF token. API callers send `Authorization: Bearer <token>` of a
client credential (`users.Client`). `person` and `caller` are the FastAPI dependencies that
resolve a request to a `Principal` or refuse it.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from fastapi import Request
from itsdangerous import BadSignature, Signer

from connectors.duty_inbox.session_store import SessionStore, StoredSession
from connectors.duty_inbox.users import ROLES, Client, Role, UserStore
from streams.domain.ports.audit import AuditEvent, AuditKind, AuditLog

__all__ = ["AuthState", "Principal", "Role", "caller", "end_session", "person", "start_session"]

COOKIE = "dvt_session"
_SCOPE_KEY = "dvtrigger.inbox"


@dataclass(frozen=True)
class Principal:
    """Who a request acts for: a person (password or OIDC) or an API client (token)."""

    username: str
    roles: frozenset[Role]
    councils: frozenset[str]
    via: Literal["password", "oidc", "token"]


@dataclass
class AuthState:
    """What sign-in and authorisation need, kept on `app.state.auth`."""

    users: UserStore
    sessions: SessionStore
    signer: Signer
    audit: AuditLog
    clock: Callable[[], datetime]
    cookie_secure: bool = False
    metrics_token: str | None = None
    oidc: bool = False


class NotSignedIn(Exception):
    """The request carries no live session or valid token."""


class Forbidden(Exception):
    """The principal may not do this (role), or the form's CSRF token is wrong."""


def state(request: Request) -> AuthState:
    """The app's auth state."""
    auth: AuthState = request.app.state.auth
    return auth


def scratch_of_scope(scope: MutableMapping[str, Any]) -> dict[str, object]:
    """Per-request values the headers middleware reads (the cookie to set)."""
    value = scope.setdefault(_SCOPE_KEY, {})
    assert isinstance(value, dict)
    return value


def scratch(request: Request) -> dict[str, object]:
    """This request's scratch values (its principal, the cookie to set)."""
    return scratch_of_scope(request.scope)


def actor(principal: Principal | None) -> str:
    """The audit actor of a principal: `user:<name>` or `system:<client>`."""
    if principal is None:
        return "anonymous"
    return f"{'system' if principal.via == 'token' else 'user'}:{principal.username}"


#: The envelope's reason when a person typed one; the text is in the detail.
TYPED_REASON = "given by the person; in the detail"


def record(
    request: Request,
    kind: AuditKind,
    action: str,
    principal: Principal | None,
    refs: dict[str, list[str]] | None = None,
    reason: str | None = None,
    detail: dict[str, object] | None = None,
) -> None:
    """Append one audit event: who, what, when, from which address, why, about what.

    A reason a person typed may name people and places: it goes in the detail, which
    retention purges, and the envelope, kept as long as the log, says only that one was given.
    """
    auth = state(request)
    if reason is not None:
        detail = {**(detail or {}), "reason": reason}
        reason = TYPED_REASON
    auth.audit.append(
        AuditEvent(
            kind=kind,
            at=auth.clock(),
            actor=actor(principal),
            action=action,
            origin=request.client.host if request.client else None,
            reason=reason,
            refs=refs or {},
            detail=detail or {},
        )
    )


def start_session(request: Request, principal: Principal) -> None:
    """(Re)start the session for this principal with a new id and CSRF token; audit it.

    The caller then redirects; the headers middleware sets the cookie on that response.
    """
    auth = state(request)
    stored = StoredSession(
        username=principal.username,
        roles=tuple(sorted(principal.roles)),
        councils=tuple(sorted(principal.councils)),
        via=principal.via,
        csrf=secrets.token_urlsafe(32),
    )
    auth.sessions.purge(auth.clock())  # sessions long timed out, of anyone
    sid = auth.sessions.start(stored, auth.clock(), _cookie_sid(request))
    scratch(request)["cookie"] = auth.signer.sign(sid).decode()
    request.state.session = stored
    scratch(request)["principal"] = principal
    record(request, "sign_in", "signed_in", principal, detail={"via": principal.via})


def end_session(request: Request) -> Principal | None:
    """End this request's session, if any, and clear the cookie; returns who it was."""
    auth = state(request)
    sid = _cookie_sid(request)
    principal = session_principal(request)
    if sid:
        auth.sessions.end(sid)
    scratch(request)["cookie"] = ""
    return principal


def session_principal(request: Request) -> Principal | None:
    """The principal of this request's live session, if it has one."""
    memo = scratch(request)
    if "principal" in memo:
        cached = memo["principal"]
        return cached if isinstance(cached, Principal) else None
    sid = _cookie_sid(request)
    stored = state(request).sessions.load(sid, state(request).clock()) if sid else None
    principal = None if stored is None else _principal(stored)
    request.state.session = stored
    memo["principal"] = principal
    return principal


def csrf_token(request: Request) -> str:
    """The CSRF token of this request's session; "" without one."""
    session_principal(request)
    stored: StoredSession | None = getattr(request.state, "session", None)
    return "" if stored is None else stored.csrf


def check_csrf(request: Request, offered: str) -> None:
    """Refuse a form whose hidden token is not its session's."""
    expected = csrf_token(request)
    if not expected or not secrets.compare_digest(offered.encode(), expected.encode()):
        record(request, "denied", "csrf_mismatch", session_principal(request))
        raise Forbidden("the form has expired; go back, reload and try again")


def person(request: Request) -> Principal:
    """Dependency: the signed-in person, else `NotSignedIn` (pages send them to sign in)."""
    principal = session_principal(request)
    if principal is None:
        record(request, "denied", "not_signed_in", None, detail={"path": request.url.path})
        raise NotSignedIn
    return principal


def caller(request: Request) -> Principal:
    """Dependency of the JSON API: a client's bearer token, or (to read) a person's session."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        client = state(request).users.client(token.strip())
        if client is None:
            record(request, "denied", "bad_token", None, detail={"path": request.url.path})
            raise NotSignedIn
        request.state.client = client
        return Principal(client.name, frozenset(), client.councils, "token")
    if request.method in ("GET", "HEAD"):
        return person(request)
    record(request, "denied", "no_token", None, detail={"path": request.url.path})
    raise NotSignedIn


def client_of(request: Request) -> Client | None:
    """The API client of this request, when it came with a token."""
    client: Client | None = getattr(request.state, "client", None)
    return client


def _principal(stored: StoredSession) -> Principal:
    via: Literal["password", "oidc", "token"] = "oidc" if stored.via == "oidc" else "password"
    roles = frozenset(role for role in ROLES if role in stored.roles)
    return Principal(stored.username, roles, frozenset(stored.councils), via)


def _cookie_sid(request: Request) -> str | None:
    value = request.cookies.get(COOKIE)
    if not value:
        return None
    try:
        return state(request).signer.unsign(value).decode()
    except BadSignature:
        return None
