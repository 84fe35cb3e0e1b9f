"""OpenID Connect sign-in to the duty inbox: the provider, the client, and how claims map to
dvtrigger's roles and councils (Entra ID app roles by default)."""

from __future__ import annotations

from ipaddress import ip_address
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

#: The duty inbox's roles (the same four names as `connectors.duty_inbox.auth.Role`).
RoleName = Literal["duty_worker", "team_manager", "auditor", "administrator"]

_IDENTITY_ROLE_MAP: dict[str, RoleName] = {
    "duty_worker": "duty_worker",
    "team_manager": "team_manager",
    "auditor": "auditor",
    "administrator": "administrator",
}


def is_loopback_host(host: str | None) -> bool:
    """True for localhost and loopback addresses, where plain http is allowed (tests, dev)."""
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def _https_or_loopback(url: str, field: str) -> str:
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and is_loopback_host(parts.hostname):
        return url
    raise ValueError(f"{field} must be an https URL (http only on loopback)")


class OidcSettings(BaseModel):
    """Where the OpenID provider is, who the inbox is to it, and which claims grant what.

    A user signs in only with at least one claim value in `role_map`; councils come from
    `councils_claim` (codes as issued) and `council_map` (e.g. Entra group ids to codes).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    issuer: str = Field(
        description="Issuer URL, exactly as in the ID token's `iss`; discovery is read from"
        " `<issuer>/.well-known/openid-configuration`. Entra ID:"
        " https://login.microsoftonline.com/<tenant id>/v2.0."
    )
    client_id: str = Field(min_length=1, description="The inbox's client (application) id.")
    client_secret: SecretStr | None = Field(None, description="Client secret, if not in a file.")
    client_secret_file: Path | None = Field(
        None, description="File holding the client secret (a mounted secret); read at start."
    )
    token_auth_method: Literal["client_secret_basic", "client_secret_post"] = Field(
        "client_secret_basic", description="How the client authenticates at the token endpoint."
    )
    redirect_url: str = Field(
        description="The inbox's callback as registered at the provider:"
        " https://<inbox host>/auth/oidc/callback."
    )
    scopes: tuple[str, ...] = Field(
        ("openid", "profile", "email"), description="Scopes asked for; must include openid."
    )
    username_claim: str = Field(
        "preferred_username", description="Claim naming the user in the inbox and its audit log."
    )
    roles_claim: str = Field("roles", description="Claim holding role values (Entra app roles).")
    role_map: dict[str, RoleName] = Field(
        default_factory=lambda: dict(_IDENTITY_ROLE_MAP),
        description="Value of `roles_claim` to dvtrigger role, as JSON;"
        ' e.g. {"DutyInbox.Worker": "duty_worker"}. Default: the role names themselves.',
    )
    councils_claim: str | None = Field(
        "councils", description="Claim holding council codes as issued; unset: none read."
    )
    council_map_claim: str = Field(
        "groups", description="Claim whose values `council_map` maps to councils."
    )
    council_map: dict[str, tuple[str, ...]] = Field(
        default_factory=dict,
        description='Value of `council_map_claim` to council codes, as JSON; e.g. {"<group id>":'
        ' ["E09000033"]}.',
    )
    required_group: str | None = Field(
        None, description="If set, only users whose `council_map_claim` holds it may sign in."
    )
    allowed_email_domains: tuple[str, ...] = Field(
        (),
        description="If set, only users whose `email` claim is in one of these domains may sign"
        " in; an extra filter, not a substitute for roles (email claims can be unverified).",
    )
    leeway_s: int = Field(60, ge=0, le=300, description="Clock skew allowed on exp, iat, nbf.")
    flow_ttl_s: int = Field(
        600, gt=0, description="How long a started sign-in may take before its callback."
    )
    http_timeout_s: float = Field(10.0, gt=0, description="Timeout of requests to the provider.")

    @field_validator("issuer")
    @classmethod
    def _issuer_is_https(cls, value: str) -> str:
        return _https_or_loopback(value, "issuer")

    @field_validator("redirect_url")
    @classmethod
    def _redirect_is_https(cls, value: str) -> str:
        return _https_or_loopback(value, "redirect_url")

    @field_validator("scopes")
    @classmethod
    def _openid_scope(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if "openid" not in value:
            raise ValueError("scopes must include openid")
        return value

    @field_validator("allowed_email_domains")
    @classmethod
    def _lower_domains(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(domain.lower().lstrip("@") for domain in value)

    @model_validator(mode="after")
    def _one_secret(self) -> OidcSettings:
        if self.client_secret is not None and self.client_secret_file is not None:
            raise ValueError("set client_secret or client_secret_file, not both")
        if not self.role_map:
            raise ValueError("role_map must map at least one claim value to a role")
        return self

    def discovery_url(self) -> str:
        """The provider's discovery document."""
        return self.issuer.rstrip("/") + "/.well-known/openid-configuration"
