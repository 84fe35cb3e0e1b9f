"""Who is calling: a force, by its client certificate, its OAuth2 access token or its API key.

Every credential offered must be valid and all must name the same force: a bad token is
not rescued by a good key. A client certificate that maps to no force is no credential (the
CA may sign others). Nothing here logs or returns a credential: a refusal carries a reason
class only.

API keys are stored as SHA-256 digests. A key is 256 random bits (`new_api_key`), so no
dictionary or brute-force search can invert its digest: a slow password hash (argon2) would
add cost to every request and no safety. Digests are compared with `hmac.compare_digest`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import ssl
import threading
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import authlib.deprecate  # noqa: F401  (sets its warnings to "always": before the filter below)
import httpx
from cryptography import x509
from cryptography.x509.oid import NameOID

from streams.config.ingress import IngressSettings

with warnings.catch_warnings():  # authlib.jose is deprecated for joserfc; it still works
    warnings.simplefilter("ignore")
    from authlib.jose import JsonWebKey, JsonWebToken
    from authlib.jose.errors import JoseError

Method = Literal["mtls", "oauth2", "api_key"]
API_KEY_HEADER = "x-api-key"
API_KEY_PREFIX = "dvt_"
#: Signature algorithms an access token may use: asymmetric only, never `none` or HS*.
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"]
JWKS_TTL_S = 300.0


@dataclass(frozen=True)
class Principal:
    """An authenticated force, and how it proved who it is."""

    force: str
    method: Method


class Unauthenticated(Exception):
    """No credential, or none that names a force; `reason_class` says which, never the value."""

    def __init__(self, reason_class: str) -> None:
        super().__init__(reason_class)
        self.reason_class = reason_class


def hash_api_key(key: str) -> str:
    """The SHA-256 hex digest stored for an API key."""
    return hashlib.sha256(key.encode()).hexdigest()


def new_api_key() -> str:
    """A new API key: 256 random bits, URL-safe."""
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class PeerCertificate:
    """What identifies a client certificate: its subject CN and SHA-256 fingerprint."""

    common_name: str | None
    sha256: str


def peer_certificate(pem: str) -> PeerCertificate:
    """Read the CN and fingerprint of a PEM certificate (already verified by the TLS layer)."""
    der = ssl.PEM_cert_to_DER_cert(pem)
    names = x509.load_der_x509_certificate(der).subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    cn = str(names[0].value) if names else None
    return PeerCertificate(cn, hashlib.sha256(der).hexdigest())


class Jwks:
    """The issuer's signing keys, from a file or an https URL, kept for `JWKS_TTL_S`."""

    def __init__(self, source: str, clock: Callable[[], float] = time.monotonic) -> None:
        self._source = source
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: Any = None
        self._loaded_at = 0.0

    def keys(self) -> Any:
        """The key set, loaded again when older than the TTL."""
        with self._lock:
            if self._keys is None or self._clock() - self._loaded_at > JWKS_TTL_S:
                self._keys = JsonWebKey.import_key_set(self._fetch())
                self._loaded_at = self._clock()
            return self._keys

    def _fetch(self) -> dict[str, Any]:
        if self._source.startswith("https://"):
            response = httpx.get(self._source, timeout=5.0)
            response.raise_for_status()
            return dict(response.json())
        return dict(json.loads(Path(self._source).read_text(encoding="utf-8")))


class Authenticator:
    """Maps a request's credentials to a force, by the ingress settings."""

    def __init__(
        self,
        settings: IngressSettings,
        jwks: Jwks | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._s = settings
        self._now = now
        oauth = settings.oauth_issuer and settings.oauth_audience and settings.oauth_jwks
        self._jwks = jwks or (Jwks(settings.oauth_jwks) if oauth and settings.oauth_jwks else None)
        self._jwt = JsonWebToken(ALGORITHMS)
        self._key_hashes = [
            (force, digest)
            for force, digests in settings.api_key_hashes.items()
            for digest in digests
        ]

    def authenticate(self, headers: Mapping[str, str], cert_pem: str | None) -> Principal:
        """The force behind a request, or `Unauthenticated`."""
        found = []
        if cert_pem is not None:
            force = self._cert_force(peer_certificate(cert_pem))
            if force:
                found.append(Principal(force, "mtls"))
        if "authorization" in headers:
            found.append(Principal(self._token_force(headers["authorization"]), "oauth2"))
        if API_KEY_HEADER in headers:
            found.append(Principal(self._key_force(headers[API_KEY_HEADER]), "api_key"))
        if not found:
            raise Unauthenticated("unknown_certificate" if cert_pem else "no_credentials")
        if len({p.force for p in found}) > 1:
            raise Unauthenticated("conflicting_credentials")
        return found[0]

    def _cert_force(self, cert: PeerCertificate) -> str | None:
        by = self._s.cert_forces
        for key, force in by.items():
            kind, _, value = key.partition(":")
            if kind == "sha256" and value.replace(":", "").lower() == cert.sha256:
                return force
        return by.get(f"cn:{cert.common_name}") if cert.common_name else None

    def _token_force(self, authorization: str) -> str:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("unsupported_scheme")
        if self._jwks is None:
            raise Unauthenticated("oauth2_not_configured")
        options = {
            "iss": {"essential": True, "value": self._s.oauth_issuer},
            "aud": {"essential": True, "value": self._s.oauth_audience},
            "exp": {"essential": True},
        }
        try:
            claims = self._jwt.decode(token.strip(), self._jwks.keys(), claims_options=options)
            claims.validate(now=int(self._now()), leeway=self._s.oauth_leeway_s)
        except (JoseError, ValueError, KeyError, TypeError, OSError, httpx.HTTPError):
            raise Unauthenticated("bad_token") from None
        client = claims.get(self._s.oauth_force_claim)
        force = self._s.oauth_clients.get(client) if isinstance(client, str) else None
        if force is None:
            raise Unauthenticated("unknown_client")
        return force

    def _key_force(self, key: str) -> str:
        digest = hash_api_key(key)
        found = None
        for force, stored in self._key_hashes:  # every digest compared: no early exit
            if hmac.compare_digest(digest, stored):
                found = force
        if found is None:
            raise Unauthenticated("bad_key")
        return found
