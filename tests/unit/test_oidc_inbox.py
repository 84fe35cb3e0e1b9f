"""OpenID Connect sign-in to the real duty inbox (its sessions, cookie and audit log), with a
provider on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from connectors.duty_inbox.oidc import NotPermitted, oidc_router
from streams.config.oidc import OidcSettings
from tests.support.duty_inbox import MemoryAudit, inbox_app
from tests.support.oidc_provider import (
    OidcProvider,
    loopback_socket,
    serve_oidc_provider,
    serving,
    socket_url,
)


@pytest.fixture
def provider() -> Iterator[OidcProvider]:
    with serve_oidc_provider() as running:
        yield running


@pytest.fixture
def audit() -> MemoryAudit:
    return MemoryAudit()


@pytest.fixture
def inbox(provider: OidcProvider, audit: MemoryAudit, tmp_path: Path) -> Iterator[str]:
    """The duty inbox with the OIDC router mounted as the lead's composition root would."""
    sock = loopback_socket()
    redirect_url = socket_url(sock) + "/auth/oidc/callback"
    provider.redirect_uris.add(redirect_url)
    settings = OidcSettings(
        issuer=provider.issuer,
        client_id=provider.client_id,
        client_secret=SecretStr(provider.client_secret),
        redirect_url=redirect_url,
    )
    app = inbox_app(tmp_path / "inbox.sqlite3", audit=audit, oidc_router=oidc_router(settings))
    with serving(app, sock) as url:
        yield url


def test_a_duty_worker_signs_in_to_the_inbox_with_their_organisation_account(
    inbox: str, audit: MemoryAudit
) -> None:
    with httpx.Client(timeout=10, follow_redirects=True) as browser:
        sign_in = browser.get(f"{inbox}/")
        assert sign_in.url.path == "/sign-in"
        assert 'href="/auth/oidc/login"' in sign_in.text
        landed = browser.get(f"{inbox}/auth/oidc/login")
        assert landed.status_code == 200
        assert "dvt_session" in browser.cookies
        home = browser.get(f"{inbox}/")
    assert home.status_code == 200
    assert home.url.path == "/"
    signed_in = [e for e in audit.events if (e.kind, e.action) == ("sign_in", "signed_in")]
    assert [(e.actor, e.detail) for e in signed_in] == [
        ("user:duty.worker@council.test", {"via": "oidc"})
    ]


def test_a_user_without_a_role_is_refused_and_the_refusal_audited(
    inbox: str, provider: OidcProvider, audit: MemoryAudit
) -> None:
    provider.set_user(roles=("Directory.Reader",))
    with httpx.Client(timeout=10, follow_redirects=True) as browser:
        refused = browser.get(f"{inbox}/auth/oidc/login")
        assert (refused.status_code, refused.text) == (403, NotPermitted.message)
        assert "dvt_session" not in browser.cookies
        assert browser.get(f"{inbox}/").url.path == "/sign-in"
    assert ("sign_in", "signed_in") not in audit.kinds()
    failed = [e for e in audit.events if (e.kind, e.action) == ("sign_in", "sign_in_failed")]
    assert [(e.actor, e.detail) for e in failed] == [
        ("anonymous", {"result": "failed", "via": "oidc", "reason": "no_role"})
    ]
