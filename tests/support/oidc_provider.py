"""A minimal but real OpenID provider on a loopback port, for sign-in tests.

It serves discovery, a JWKS with an RSA key made per provider, /authorize (auto-approves the
configured user and redirects back with code and state) and /token (checks the client's
credentials, the redirect URI and the PKCE verifier, and returns an RS256 ID token). Faults can
be set to make it issue a bad ID token: wrong nonce, audience or issuer, expired, or signed by
another key. PKCE is checked with hashlib here, not with the client's library, so a mistake in
one does not hide in the other.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import unquote, urlencode

import uvicorn
from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.support.loopback import loopback_socket, serve_config, socket_url

KEY_ID = "test-key-1"


@dataclass(frozen=True)
class ProviderUser:
    """The user /authorize approves, and the claims their ID token carries."""

    sub: str = "00000000-0000-0000-0000-000000000001"
    preferred_username: str = "duty.worker@council.test"
    email: str = "duty.worker@council.test"
    roles: tuple[str, ...] = ("duty_worker",)
    councils: tuple[str, ...] = ("E09000033",)
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class Faults:
    """What to get wrong in the next ID tokens (nothing, by default)."""

    nonce: str | None = None
    audience: str | None = None
    issuer: str | None = None
    expired: bool = False
    foreign_key: bool = False


@dataclass
class _Grant:
    client_id: str
    redirect_uri: str
    nonce: str
    challenge: str
    user: ProviderUser
    faults: Faults


@dataclass
class OidcProvider:
    """The provider's state: its client, its user, its faults, the codes it has issued."""

    client_id: str = "duty-inbox"
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    redirect_uris: set[str] = field(default_factory=set)
    user: ProviderUser = field(default_factory=ProviderUser)
    faults: Faults = field(default_factory=Faults)
    issuer: str = ""
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, {"kid": KEY_ID}))
    foreign_key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, {"kid": KEY_ID}))
    token_requests: int = 0
    _grants: dict[str, _Grant] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> Starlette:
        """The provider's HTTP face."""
        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self._discovery),
                Route("/jwks", self._jwks),
                Route("/authorize", self._authorize),
                Route("/token", self._token, methods=["POST"]),
            ]
        )

    async def _discovery(self, request: Request) -> Response:
        return JSONResponse(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                ],
            }
        )

    async def _jwks(self, request: Request) -> Response:
        return JSONResponse({"keys": [self.key.as_dict(private=False)]})

    async def _authorize(self, request: Request) -> Response:
        q = request.query_params
        redirect_uri = q.get("redirect_uri", "")
        if q.get("client_id") != self.client_id or redirect_uri not in self.redirect_uris:
            return PlainTextResponse("unknown client or redirect_uri", 400)
        scopes = q.get("scope", "").split()
        if q.get("response_type") != "code" or "openid" not in scopes:
            return PlainTextResponse("not an OpenID Connect code request", 400)
        if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            return PlainTextResponse("PKCE S256 required", 400)
        if not q.get("state") or not q.get("nonce"):
            return PlainTextResponse("state and nonce required", 400)
        code = secrets.token_urlsafe(32)
        grant = _Grant(
            self.client_id, redirect_uri, q["nonce"], q["code_challenge"], self.user, self.faults
        )
        with self._lock:
            self._grants[code] = grant
        query = urlencode({"code": code, "state": q["state"]})
        return RedirectResponse(f"{redirect_uri}?{query}", status_code=302)

    async def _token(self, request: Request) -> Response:
        form = await request.form()
        with self._lock:
            self.token_requests += 1
            grant = self._grants.pop(str(form.get("code", "")), None)
        client_id, client_secret = _client_credentials(request, form)
        if client_id != self.client_id or not secrets.compare_digest(
            client_secret.encode(), self.client_secret.encode()
        ):
            return JSONResponse({"error": "invalid_client"}, 401)
        if form.get("grant_type") != "authorization_code" or grant is None:
            return JSONResponse({"error": "invalid_grant"}, 400)
        if form.get("redirect_uri") != grant.redirect_uri or grant.client_id != client_id:
            return JSONResponse({"error": "invalid_grant"}, 400)
        if s256(str(form.get("code_verifier", ""))) != grant.challenge:
            return JSONResponse({"error": "invalid_grant", "error_description": "PKCE"}, 400)
        return JSONResponse(
            {
                "access_token": secrets.token_urlsafe(24),
                "token_type": "Bearer",
                "expires_in": 300,
                "id_token": self.id_token(grant.user, grant.nonce, grant.faults),
            },
            headers={"Cache-Control": "no-store"},
        )

    def id_token(self, user: ProviderUser, nonce: str, faults: Faults) -> str:
        """An RS256 ID token for `user`, got wrong as `faults` say."""
        now = int(time.time()) - (3600 if faults.expired else 0)
        claims: dict[str, Any] = {
            "iss": faults.issuer or self.issuer,
            "sub": user.sub,
            "aud": faults.audience or self.client_id,
            "iat": now,
            "exp": now + 300,
            "nonce": faults.nonce or nonce,
            "preferred_username": user.preferred_username,
            "email": user.email,
            "roles": list(user.roles),
            "councils": list(user.councils),
            "groups": list(user.groups),
        }
        key = self.foreign_key if faults.foreign_key else self.key
        return jwt.encode({"alg": "RS256", "kid": KEY_ID}, claims, key, algorithms=["RS256"])

    def set_user(self, **changes: Any) -> None:
        """Change the user the next /authorize approves."""
        self.user = replace(self.user, **changes)


def s256(verifier: str) -> str:
    """The PKCE S256 challenge of a verifier (RFC 7636 section 4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _client_credentials(request: Request, form: Any) -> tuple[str, str]:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "basic":
        user, _, password = base64.b64decode(value).decode().partition(":")
        return unquote(user), unquote(password)
    return str(form.get("client_id", "")), str(form.get("client_secret", ""))


@contextmanager
def serving(app: Any, sock: socket.socket) -> Iterator[str]:
    """Serve an ASGI app on a bound socket in a thread; yield its URL; stop on exit."""
    config = uvicorn.Config(app, log_level="warning", lifespan="off")
    with serve_config(config, sock) as url:
        yield url


@contextmanager
def serve_oidc_provider(client_id: str = "duty-inbox") -> Iterator[OidcProvider]:
    """An OpenID provider on 127.0.0.1; add the client's redirect URI to `redirect_uris`."""
    provider = OidcProvider(client_id=client_id)
    sock = loopback_socket()
    provider.issuer = socket_url(sock)
    with serving(provider.app(), sock):
        yield provider
