"""Settings of the HTTPS ingress (`dvtrigger ingress`): where it listens and who may publish.

Nested in `Settings.ingress`; from the environment as `DVTRIGGER_INGRESS__<FIELD>`, maps as
JSON. Every force is named by its force code, the `force` of its notifications.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

_FORCE = re.compile(r"^[A-Z]{2,5}$")
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


def _forces(mapping: dict[str, str]) -> dict[str, str]:
    """Check that every value of a map is a force code."""
    for force in mapping.values():
        if not _FORCE.match(force):
            raise ValueError("a value is not a force code (2 to 5 capital letters)")
    return mapping


class IngressSettings(BaseModel):
    """The ingress: TLS, the forces' credentials, and the limits it applies."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = Field("127.0.0.1", description="Bind address of the ingress.")
    port: int = Field(8443, ge=0, le=65535, description="Port of the ingress (HTTPS).")
    metrics_port: int | None = Field(
        9464, ge=0, le=65535, description="Port of /metrics (plain HTTP, on `host`); unset: none."
    )
    tls_cert_file: Path | None = Field(
        None, description="Server certificate chain (PEM). Unset: plain HTTP, loopback only."
    )
    tls_key_file: Path | None = Field(None, description="Private key of the server certificate.")
    client_ca_file: Path | None = Field(
        None,
        description="CA bundle (PEM) that signs forces' client certificates. Set: a client"
        " certificate is asked for (optional at the TLS layer: OAuth2 or API-key forces need"
        " none) and, if offered, must chain to this CA.",
    )
    cert_forces: dict[str, str] = Field(
        default_factory=dict,
        description="Client certificate to force code, as JSON: keys are `cn:<subject CN>` or"
        ' `sha256:<hex fingerprint>`, e.g. {"cn:ingest.met.police.uk": "MPS"}.',
    )
    oauth_issuer: str | None = Field(
        None, description="OAuth2: the `iss` every access token must carry. Unset: no OAuth2."
    )
    oauth_audience: str | None = Field(None, description="OAuth2: the `aud` tokens must carry.")
    oauth_jwks: str | None = Field(
        None, description="OAuth2: the issuer's JWKS, as a file path or an https:// URL."
    )
    oauth_force_claim: str = Field(
        "client_id",
        description="OAuth2: the claim naming the client (looked up in `oauth_clients`).",
    )
    oauth_clients: dict[str, str] = Field(
        default_factory=dict,
        description='OAuth2: client id (the claim\'s value) to force code, as JSON: {"mps-ingest":'
        ' "MPS"}.',
    )
    oauth_leeway_s: int = Field(30, ge=0, le=300, description="Clock skew allowed on `exp`.")
    api_key_hashes: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Fallback: SHA-256 hex of each force's API keys, as JSON:"
        ' {"MPS": ["<64 hex>"]}. `dvtrigger ingress add-key MPS` makes a key and its line.',
    )
    max_body_bytes: int = Field(
        256 * 1024, ge=1024, description="Largest notification accepted; larger: 413."
    )
    rate_per_s: float = Field(
        5.0, gt=0, description="Notifications per second each force may send, sustained."
    )
    burst: int = Field(50, ge=1, description="Notifications a force may send at once.")
    broker_timeout_s: float = Field(
        10.0, gt=0, description="How long a write waits for the broker's ack before 503."
    )

    @field_validator("cert_forces", "oauth_clients")
    @classmethod
    def _force_codes(cls, mapping: dict[str, str]) -> dict[str, str]:
        """Values are force codes."""
        return _forces(mapping)

    @field_validator("cert_forces")
    @classmethod
    def _cert_keys(cls, mapping: dict[str, str]) -> dict[str, str]:
        """Keys say how a certificate is matched."""
        for key in mapping:
            kind, _, value = key.partition(":")
            if kind not in ("cn", "sha256") or not value:
                raise ValueError("keys are `cn:<name>` or `sha256:<hex>`")
            if kind == "sha256" and not _SHA256_HEX.match(value.replace(":", "").lower()):
                raise ValueError("a sha256 key is not 64 hex digits")
        return mapping

    @field_validator("api_key_hashes")
    @classmethod
    def _key_hashes(cls, hashes: dict[str, list[str]]) -> dict[str, list[str]]:
        """Keys are force codes; values SHA-256 hex digests."""
        for force, digests in hashes.items():
            _forces({force: force})
            if not all(_SHA256_HEX.match(d) for d in digests):
                raise ValueError("an API key hash is not 64 lower-case hex digits")
        return hashes
