"""OpenID Connect sign-in to the duty inbox: authorization code flow with PKCE, ID token checks,
claims to a principal. Refusals say what went wrong in plain words, never a token or a claim."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus, urlencode

import httpx
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from joserfc import jwt
from joserfc.errors import ClaimError, InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.concurrency import run_in_threadpool

from streams.config.oidc import OidcSettings, RoleName, is_loopback_host

log = logging.getLogger(__name__)

#: Where the flow in progress (state, nonce, PKCE verifier) waits in the session.
FLOW_KEY = "oidc_flow"
#: Asymmetric algorithms only: never `none`, never an HMAC keyed with a public value.
SAFE_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
)

#: Longest user name taken from a claim (Entra UPNs are at most 113 characters).
MAX_USERNAME = 256

StartSession = Callable[[Request, Any], None]
RecordRefusal = Callable[[Request, str], None]

#: After the callback, a page of the inbox's own moves the browser on: a redirect would keep
#: the provider as the navigation's initiator, and the SameSite=Strict session cookie would
#: not be sent with the request for /.
SIGNED_IN_PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8">'
    '<meta http-equiv="refresh" content="0;url=/"><title>Signed in</title></head>'
    '<body><p>Signed in. <a href="/">Continue to the duty inbox</a>.</p></body></html>'
)


@dataclass(frozen=True)
class _SignIn:
    """How the inbox signs a user in, and records a refused sign-in."""

    start_session: StartSession
    make_principal: Callable[[OidcIdentity], Any]
    record_refusal: RecordRefusal


@dataclass(frozen=True)
class OidcIdentity:
    """Who signed in, as far as the duty inbox cares: a name, roles and councils."""

    username: str
    roles: frozenset[RoleName]
    councils: frozenset[str]


class SignInRefused(Exception):
    """A sign-in that did not happen: an HTTP status, a plain message, a log reason code."""

    status = 400
    message = "Sign-in could not be verified. Please start again."

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ProviderUnavailable(SignInRefused):
    """The provider did not answer, or answered what is not OpenID Connect."""

    status = 502
    message = "The identity provider could not complete the sign-in. Please try again later."


class TokenRejected(SignInRefused):
    """The ID token failed a check: signature, issuer, audience, expiry, nonce."""

    status = 401
    message = "The identity provider's answer could not be verified. Please start again."


class NotPermitted(SignInRefused):
    """A genuine user the duty inbox gives no role (or whose domain or group is not allowed)."""

    status = 403
    message = "Your account has no role in the duty inbox. Ask your administrator for one."


class _Discovery(BaseModel):
    """The parts of the provider's discovery document the inbox uses."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    id_token_signing_alg_values_supported: list[str] = ["RS256"]


def verify_id_token(
    id_token: str, keys: KeySet, settings: OidcSettings, nonce: str, algorithms: list[str], now: int
) -> dict[str, Any]:
    """The ID token's claims, once its signature, iss, aud, azp, exp, iat and nonce hold."""
    try:
        token = jwt.decode(id_token, keys, algorithms=algorithms)
        jwt.JWTClaimsRegistry(
            now=now,
            leeway=settings.leeway_s,
            iss={"essential": True, "value": settings.issuer},
            aud={"essential": True, "value": settings.client_id},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
            nonce={"essential": True, "value": nonce},
        ).validate(token.claims)
    except InvalidKeyIdError:
        raise
    except ClaimError as exc:  # the claim's name (one of ours), never its value
        raise TokenRejected(f"{exc.error}:{exc.claim}") from None
    except (JoseError, ValueError) as exc:
        raise TokenRejected(getattr(exc, "error", "invalid_id_token")) from None
    claims = token.claims
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != settings.client_id:
        raise TokenRejected("azp")
    return claims


def identity_from_claims(claims: Mapping[str, Any], settings: OidcSettings) -> OidcIdentity:
    """Map verified claims to roles and councils; refuse a user with no mapped role."""
    username = claims.get(settings.username_claim)
    if not isinstance(username, str) or not 0 < len(username) <= MAX_USERNAME:
        raise NotPermitted("no_username")
    if settings.allowed_email_domains and not _email_allowed(claims, settings):
        raise NotPermitted("email_domain")
    groups = _strings(claims.get(settings.council_map_claim))
    if settings.required_group is not None and settings.required_group not in groups:
        raise NotPermitted("required_group")
    roles = frozenset(
        settings.role_map[value]
        for value in _strings(claims.get(settings.roles_claim))
        if value in settings.role_map
    )
    if not roles:
        raise NotPermitted("no_role")
    councils = {c for g in groups for c in settings.council_map.get(g, ())}
    if settings.councils_claim is not None:
        councils |= _strings(claims.get(settings.councils_claim))
    return OidcIdentity(username, roles, frozenset(councils))


def _strings(value: object) -> set[str]:
    """A claim as a set of strings: a list of them, or one (space-separated values stay one)."""
    if isinstance(value, str):
        return {value}
    if isinstance(value, list):
        return {v for v in value if isinstance(v, str)}
    return set()


def _email_allowed(claims: Mapping[str, Any], settings: OidcSettings) -> bool:
    email = claims.get("email")
    if not isinstance(email, str) or "@" not in email or claims.get("email_verified") is False:
        return False
    return email.rsplit("@", 1)[1].lower() in settings.allowed_email_domains


class _Provider:
    """The OpenID provider as the inbox sees it: discovery and keys cached, one HTTP choke point."""

    def __init__(self, settings: OidcSettings, secret: str | None) -> None:
        self.settings = settings
        self.secret = secret
        self._discovery: _Discovery | None = None
        self._keys: KeySet | None = None

    async def _request(self, method: str, url: str, **kwargs: Any) -> Any:
        """The one place the inbox talks to the provider: a JSON answer, or ProviderUnavailable."""
        try:
            async with httpx.AsyncClient(timeout=self.settings.http_timeout_s) as client:
                response = await client.request(method, url, **kwargs)
                response.raise_for_status()
                return response.json()
        except (httpx.HTTPError, ValueError):
            raise ProviderUnavailable(f"{method.lower()}_failed") from None

    async def discovery(self) -> _Discovery:
        """The discovery document, read once; its issuer must be the configured one."""
        if self._discovery is None:
            try:
                found = _Discovery.model_validate(
                    await self._request("GET", self.settings.discovery_url())
                )
            except ValidationError:
                raise ProviderUnavailable("discovery_invalid") from None
            urls = (found.authorization_endpoint, found.token_endpoint, found.jwks_uri)
            if found.issuer != self.settings.issuer or not all(map(_secure, urls)):
                raise ProviderUnavailable("discovery_mismatch")
            self._discovery = found
        return self._discovery

    async def keys(self, refresh: bool = False) -> KeySet:
        """The provider's signing keys (JWKS), read again when asked (a key was rotated)."""
        if self._keys is None or refresh:
            jwks_uri = (await self.discovery()).jwks_uri
            try:
                self._keys = KeySet.import_key_set(await self._request("GET", jwks_uri))
            except (JoseError, ValueError, TypeError, KeyError):
                raise ProviderUnavailable("jwks_invalid") from None
        return self._keys

    async def authorization_url(self, state: str, nonce: str, verifier: str) -> str:
        """Where to send the browser: a code request with PKCE S256, state and nonce."""
        endpoint = (await self.discovery()).authorization_endpoint
        query = {
            "response_type": "code",
            "client_id": self.settings.client_id,
            "redirect_uri": self.settings.redirect_url,
            "scope": " ".join(self.settings.scopes),
            "state": state,
            "nonce": nonce,
            "code_challenge": create_s256_code_challenge(verifier),
            "code_challenge_method": "S256",
        }
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(query)}"

    async def exchange(self, code: str, verifier: str) -> str:
        """The ID token the token endpoint gives for this code and PKCE verifier."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.settings.redirect_url,
            "code_verifier": verifier,
            "client_id": self.settings.client_id,
        }
        auth: httpx.Auth | None = None
        if self.secret is not None and self.settings.token_auth_method == "client_secret_post":
            form["client_secret"] = self.secret
        elif self.secret is not None:  # RFC 6749 2.3.1: each part form-encoded, then Basic
            auth = httpx.BasicAuth(quote_plus(self.settings.client_id), quote_plus(self.secret))
        token_endpoint = (await self.discovery()).token_endpoint
        answer = await self._request("POST", token_endpoint, data=form, auth=auth)
        id_token = answer.get("id_token") if isinstance(answer, dict) else None
        if not isinstance(id_token, str):
            raise ProviderUnavailable("no_id_token")
        return id_token


def _secure(url: str) -> bool:
    parts = httpx.URL(url)
    return parts.scheme == "https" or (parts.scheme == "http" and is_loopback_host(parts.host))


def oidc_router(
    settings: OidcSettings,
    start_session: StartSession | None = None,
    *,
    make_principal: Callable[[OidcIdentity], Any] | None = None,
    record_refusal: RecordRefusal | None = None,
    clock: Callable[[], float] = time.time,
) -> APIRouter:
    """GET /auth/oidc/login and /auth/oidc/callback, signing users in with `start_session`.

    By default `start_session`, the principal and the audit of refusals are the duty inbox's
    own (`auth`); tests pass their own. A client secret file is read now, so a missing one
    fails at start. The flow waits in the pre-sign-in session (`request.session`).
    """
    sign_in = _inbox_sign_in(start_session, make_principal, record_refusal)
    provider = _Provider(settings, _client_secret(settings))
    router = APIRouter(prefix="/auth/oidc", tags=["sign-in"])

    @router.get("/login")
    async def login(request: Request) -> Response:
        """Start a sign-in: remember state, nonce and verifier; send the user to the provider."""
        state, nonce, verifier = (secrets.token_urlsafe(n) for n in (32, 32, 48))
        try:
            url = await provider.authorization_url(state, nonce, verifier)
        except SignInRefused as refused:
            return await _refusal(request, refused, sign_in.record_refusal)
        request.session[FLOW_KEY] = {
            "state": state, "nonce": nonce, "verifier": verifier, "started": int(clock())
        }  # fmt: skip
        return RedirectResponse(url, status_code=302, headers={"Cache-Control": "no-store"})

    @router.get("/callback")
    async def callback(request: Request) -> Response:
        """Finish a sign-in: check the flow, exchange the code, verify the ID token, sign in."""
        flow = request.session.pop(FLOW_KEY, None)
        try:
            identity = await _finish(provider, request.query_params, flow, int(clock()))
        except SignInRefused as refused:
            return await _refusal(request, refused, sign_in.record_refusal)
        principal = sign_in.make_principal(identity)
        await run_in_threadpool(sign_in.start_session, request, principal)
        return HTMLResponse(SIGNED_IN_PAGE, headers={"Cache-Control": "no-store"})

    return router


async def _finish(
    provider: _Provider, query: Mapping[str, str], flow: object, now: int
) -> OidcIdentity:
    settings = provider.settings
    if "error" in query:
        raise SignInRefused("provider_error")
    if not isinstance(flow, dict) or not all(
        isinstance(flow.get(k), str) for k in ("state", "nonce", "verifier")
    ):
        raise SignInRefused("no_flow")
    if not secrets.compare_digest(query.get("state", "").encode(), flow["state"].encode()):
        raise SignInRefused("state_mismatch")
    if not isinstance(flow.get("started"), int) or now - flow["started"] > settings.flow_ttl_s:
        raise SignInRefused("flow_expired")
    code = query.get("code", "")
    if not code:
        raise SignInRefused("no_code")
    id_token = await provider.exchange(code, flow["verifier"])
    discovery = await provider.discovery()
    algorithms = [
        a for a in discovery.id_token_signing_alg_values_supported if a in SAFE_ALGORITHMS
    ]
    if not algorithms:
        raise ProviderUnavailable("no_safe_algorithm")
    try:
        claims = verify_id_token(
            id_token, await provider.keys(), settings, flow["nonce"], algorithms, now
        )
    except InvalidKeyIdError:
        keys = await provider.keys(refresh=True)
        try:
            claims = verify_id_token(id_token, keys, settings, flow["nonce"], algorithms, now)
        except InvalidKeyIdError:
            raise TokenRejected("unknown_key") from None
    return identity_from_claims(claims, settings)


async def _refusal(request: Request, refused: SignInRefused, record: RecordRefusal) -> Response:
    log.warning("OpenID Connect sign-in refused: %s", refused.reason)
    await run_in_threadpool(record, request, refused.reason)
    return PlainTextResponse(
        refused.message, status_code=refused.status, headers={"Cache-Control": "no-store"}
    )


def _client_secret(settings: OidcSettings) -> str | None:
    if settings.client_secret_file is not None:
        return settings.client_secret_file.read_text(encoding="utf-8").strip()
    if settings.client_secret is not None:
        return settings.client_secret.get_secret_value()
    return None


def _inbox_sign_in(
    start_session: StartSession | None,
    make_principal: Callable[[OidcIdentity], Any] | None,
    record_refusal: RecordRefusal | None,
) -> _SignIn:
    """What was given, and the duty inbox's own (`auth`) for the rest, imported only then."""
    if start_session and make_principal and record_refusal:
        return _SignIn(start_session, make_principal, record_refusal)
    from connectors.duty_inbox import auth

    def principal(identity: OidcIdentity) -> auth.Principal:
        return auth.Principal(identity.username, identity.roles, identity.councils, "oidc")

    def refused(request: Request, reason: str) -> None:
        detail: dict[str, object] = {"result": "failed", "via": "oidc", "reason": reason}
        auth.record(request, "sign_in", "sign_in_failed", None, detail=detail)

    return _SignIn(
        start_session or auth.start_session, make_principal or principal, record_refusal or refused
    )
