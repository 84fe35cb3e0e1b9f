"""OpenID Connect sign-in end to end against a real provider on loopback, and its claim rules.

The inbox side is a small app of its own (session middleware, the OIDC router, a fake
`start_session`), so these tests do not wait on the duty inbox's own sign-in module.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import SecretStr, ValidationError
from starlette.middleware.sessions import SessionMiddleware

from connectors.duty_inbox.oidc import (
    NotPermitted,
    OidcIdentity,
    ProviderUnavailable,
    SignInRefused,
    TokenRejected,
    identity_from_claims,
    oidc_router,
)
from streams.config.oidc import OidcSettings
from tests.support.oidc_provider import (
    Faults,
    OidcProvider,
    ProviderUser,
    loopback_socket,
    serve_oidc_provider,
    serving,
    socket_url,
)

LOGGER = "connectors.duty_inbox.oidc"
REFUSALS = {
    cls.message for cls in (SignInRefused, ProviderUnavailable, TokenRejected, NotPermitted)
}


@dataclass(frozen=True)
class FakePrincipal:
    """The shape of `connectors.duty_inbox.auth.Principal`."""

    username: str
    roles: frozenset[str]
    councils: frozenset[str]
    via: str


def fake_start_session(request: Request, principal: FakePrincipal) -> None:
    """Like the inbox's: a fresh session holding who signed in."""
    request.session.clear()
    request.session["principal"] = {
        "username": principal.username,
        "roles": sorted(principal.roles),
        "councils": sorted(principal.councils),
        "via": principal.via,
    }


def make_fake_principal(identity: OidcIdentity) -> FakePrincipal:
    return FakePrincipal(identity.username, identity.roles, identity.councils, "oidc")


class Clock:
    """The inbox's clock: real time plus an offset a test may move."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def inbox_app(settings: OidcSettings, clock: Clock, refusals: list[str]) -> FastAPI:
    """A stand-in duty inbox: sessions, the OIDC router, a home page and /whoami."""
    app = FastAPI()
    app.add_middleware(SessionMiddleware, secret_key=secrets.token_urlsafe(32))
    router = oidc_router(
        settings,
        fake_start_session,
        make_principal=make_fake_principal,
        record_refusal=lambda request, reason: refusals.append(reason),
        clock=clock,
    )
    app.include_router(router)

    @app.get("/")
    def home() -> PlainTextResponse:
        return PlainTextResponse("home")

    @app.get("/whoami")
    def whoami(request: Request) -> JSONResponse:
        principal = request.session.get("principal")
        return JSONResponse(principal or {"detail": "not signed in"}, 200 if principal else 401)

    return app


@dataclass
class Inbox:
    url: str
    clock: Clock
    refusals: list[str]


def settings_for(provider: OidcProvider, redirect_url: str, **changes: Any) -> OidcSettings:
    values: dict[str, Any] = {
        "issuer": provider.issuer,
        "client_id": provider.client_id,
        "client_secret": SecretStr(provider.client_secret),
        "redirect_url": redirect_url,
        "council_map": {"group-westminster": ("E09000033",), "group-camden": ("E09000007",)},
    }
    return OidcSettings(**(values | changes))


@contextmanager
def start_inbox(provider: OidcProvider, **changes: Any) -> Iterator[Inbox]:
    """Serve a stand-in inbox on loopback for `provider`, its settings changed by `changes`."""
    sock = loopback_socket()
    redirect_url = socket_url(sock) + "/auth/oidc/callback"
    provider.redirect_uris.add(redirect_url)
    clock, refusals = Clock(), list[str]()
    app = inbox_app(settings_for(provider, redirect_url, **changes), clock, refusals)
    with serving(app, sock) as url:
        yield Inbox(url, clock, refusals)


@pytest.fixture(scope="module")
def provider() -> Iterator[OidcProvider]:
    with serve_oidc_provider() as running:
        yield running


@pytest.fixture(scope="module")
def inbox(provider: OidcProvider) -> Iterator[Inbox]:
    with start_inbox(provider) as running:
        yield running


@pytest.fixture(autouse=True)
def fresh_provider(provider: OidcProvider, inbox: Inbox) -> None:
    """Each test starts with the default user, no faults and no refusals."""
    provider.user = ProviderUser()
    provider.faults = Faults()
    inbox.refusals.clear()


@pytest.fixture
def browser() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


def whoami(browser: httpx.Client, inbox: Inbox) -> httpx.Response:
    return browser.get(f"{inbox.url}/whoami")


def callback_url(browser: httpx.Client, inbox: Inbox) -> str:
    """Start a sign-in and follow it to the provider; the URL it sends the browser back to."""
    to_provider = browser.get(f"{inbox.url}/auth/oidc/login")
    assert to_provider.status_code == 302
    back = browser.get(to_provider.headers["location"])
    assert back.status_code == 302, back.text
    return back.headers["location"]


def logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The reason codes of the refusals logged."""
    prefix = "OpenID Connect sign-in refused: "
    return [r.getMessage().removeprefix(prefix) for r in caplog.records if r.name == LOGGER]


def assert_refused(response: httpx.Response, status: int, provider: OidcProvider) -> None:
    """Refused with a plain, fixed message that echoes no token, code or claim."""
    assert response.status_code == status
    assert response.text in REFUSALS
    assert provider.user.preferred_username not in response.text
    assert "eyJ" not in response.text  # no JWT
    assert response.headers["cache-control"] == "no-store"


# End to end


def test_a_duty_worker_signs_in_and_gets_a_session(
    browser: httpx.Client, inbox: Inbox, provider: OidcProvider
) -> None:
    provider.set_user(groups=("group-camden",))
    assert whoami(browser, inbox).status_code == 401
    landed = browser.get(f"{inbox.url}/auth/oidc/login", follow_redirects=True)
    assert landed.status_code == 200
    assert landed.url.path == "/auth/oidc/callback"
    assert '<meta http-equiv="refresh" content="0;url=/">' in landed.text
    assert browser.get(f"{inbox.url}/").text == "home"
    assert whoami(browser, inbox).json() == {
        "username": "duty.worker@council.test",
        "roles": ["duty_worker"],
        "councils": ["E09000007", "E09000033"],
        "via": "oidc",
    }


def test_the_login_redirect_asks_for_a_code_with_pkce_state_and_nonce(
    browser: httpx.Client, inbox: Inbox, provider: OidcProvider
) -> None:
    to_provider = browser.get(f"{inbox.url}/auth/oidc/login")
    location = urlsplit(to_provider.headers["location"])
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{provider.issuer}/authorize"
    assert query["response_type"] == "code"
    assert query["code_challenge_method"] == "S256"
    assert set(query["scope"].split()) == {"openid", "profile", "email"}
    assert len(query["state"]) >= 32 and len(query["nonce"]) >= 32
    assert query["state"] != query["nonce"]


def test_a_callback_is_good_once(
    browser: httpx.Client, inbox: Inbox, provider: OidcProvider
) -> None:
    back = callback_url(browser, inbox)
    assert browser.get(back).status_code == 200
    browser.cookies.clear()
    assert_refused(browser.get(back), 400, provider)
    assert whoami(browser, inbox).status_code == 401


def test_a_tampered_state_is_refused_and_the_code_never_exchanged(
    browser: httpx.Client, inbox: Inbox, provider: OidcProvider
) -> None:
    back = urlsplit(callback_url(browser, inbox))
    query = {k: v[0] for k, v in parse_qs(back.query).items()}
    tampered = back._replace(query=urlencode(query | {"state": query["state"][:-2] + "xx"}))
    exchanges = provider.token_requests
    assert_refused(browser.get(tampered.geturl()), 400, provider)
    assert whoami(browser, inbox).status_code == 401
    # The flow was spent: the genuine callback now fails too.
    assert_refused(browser.get(back.geturl()), 400, provider)
    assert inbox.refusals == ["state_mismatch", "no_flow"]
    assert provider.token_requests == exchanges
    assert whoami(browser, inbox).status_code == 401


def test_a_callback_from_another_browser_is_refused(
    browser: httpx.Client, inbox: Inbox, provider: OidcProvider
) -> None:
    back = callback_url(browser, inbox)
    with httpx.Client(timeout=10) as other:
        assert_refused(other.get(back), 400, provider)
        assert whoami(other, inbox).status_code == 401


def test_a_sign_in_slower_than_the_flow_ttl_is_refused(
    browser: httpx.Client, inbox: Inbox, provider: OidcProvider
) -> None:
    back = callback_url(browser, inbox)
    inbox.clock.offset = 601
    try:
        assert_refused(browser.get(back), 400, provider)
    finally:
        inbox.clock.offset = 0
    assert whoami(browser, inbox).status_code == 401


def test_a_provider_error_is_refused_without_echoing_it(
    browser: httpx.Client, inbox: Inbox, provider: OidcProvider
) -> None:
    browser.get(f"{inbox.url}/auth/oidc/login")
    query = urlencode({"error": "access_denied", "error_description": "<script>x</script>"})
    refused = browser.get(f"{inbox.url}/auth/oidc/callback?{query}")
    assert_refused(refused, 400, provider)
    assert "script" not in refused.text
    assert whoami(browser, inbox).status_code == 401


@pytest.mark.parametrize(
    ("faults", "reason"),
    [
        pytest.param(Faults(nonce="another-nonce"), "invalid_claim:nonce", id="wrong-nonce"),
        pytest.param(Faults(foreign_key=True), "bad_signature", id="signed-by-another-key"),
        pytest.param(Faults(audience="another-client"), "invalid_claim:aud", id="wrong-audience"),
        pytest.param(Faults(expired=True), "expired_token:exp", id="expired"),
        pytest.param(
            Faults(issuer="https://login.example.test/other"),
            "invalid_claim:iss",
            id="wrong-issuer",
        ),
    ],
)
def test_a_bad_id_token_is_refused_and_leaves_no_session(
    faults: Faults,
    reason: str,
    browser: httpx.Client,
    inbox: Inbox,
    provider: OidcProvider,
    caplog: pytest.LogCaptureFixture,
) -> None:
    provider.faults = faults
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        refused = browser.get(f"{inbox.url}/auth/oidc/login", follow_redirects=True)
    assert_refused(refused, 401, provider)
    assert inbox.refusals == logged(caplog) == [reason]
    assert whoami(browser, inbox).status_code == 401


def test_the_same_flow_without_faults_signs_in(
    browser: httpx.Client, inbox: Inbox, provider: OidcProvider
) -> None:
    """The control for the test above: what it refuses is the fault, not the flow."""
    browser.get(f"{inbox.url}/auth/oidc/login", follow_redirects=True)
    assert whoami(browser, inbox).status_code == 200


def test_a_user_with_no_mapped_role_is_refused_with_403(
    browser: httpx.Client, inbox: Inbox, provider: OidcProvider
) -> None:
    provider.set_user(roles=("Directory.Reader",))
    refused = browser.get(f"{inbox.url}/auth/oidc/login", follow_redirects=True)
    assert_refused(refused, 403, provider)
    assert refused.text == NotPermitted.message
    assert inbox.refusals == ["no_role"]
    assert whoami(browser, inbox).status_code == 401


def test_a_wrong_client_secret_is_refused_with_502(
    browser: httpx.Client, provider: OidcProvider
) -> None:
    with start_inbox(provider, client_secret=SecretStr("not-the-secret")) as inbox:
        refused = browser.get(f"{inbox.url}/auth/oidc/login", follow_redirects=True)
        assert_refused(refused, 502, provider)
        assert inbox.refusals == ["post_failed"]
        assert whoami(browser, inbox).status_code == 401


def test_a_secret_from_a_file_posted_in_the_body_signs_in(
    browser: httpx.Client, provider: OidcProvider, tmp_path: Path
) -> None:
    secret_file = tmp_path / "client-secret"
    secret_file.write_text(provider.client_secret + "\n")
    changes = {
        "client_secret": None,
        "client_secret_file": secret_file,
        "token_auth_method": "client_secret_post",
        "role_map": {"duty_worker": "team_manager"},
    }
    with start_inbox(provider, **changes) as inbox:
        browser.get(f"{inbox.url}/auth/oidc/login", follow_redirects=True)
        assert whoami(browser, inbox).json()["roles"] == ["team_manager"]


def test_a_provider_whose_discovery_names_another_issuer_is_refused(
    browser: httpx.Client, provider: OidcProvider
) -> None:
    with start_inbox(provider, issuer=provider.issuer + "/") as inbox:
        refused = browser.get(f"{inbox.url}/auth/oidc/login")
        assert_refused(refused, 502, provider)
        assert inbox.refusals == ["discovery_mismatch"]


# Claims to roles and councils (no network)


def base_settings(**changes: Any) -> OidcSettings:
    values: dict[str, Any] = {
        "issuer": "https://login.microsoftonline.com/tenant/v2.0",
        "client_id": "client",
        "redirect_url": "https://inbox.example/auth/oidc/callback",
        "role_map": {"DutyInbox.Worker": "duty_worker", "DutyInbox.Manager": "team_manager"},
        "council_map": {"g-wm": ("E09000033",)},
    }
    return OidcSettings(**(values | changes))


CLAIMS = {
    "preferred_username": "m.manager@council.test",
    "email": "m.manager@council.test",
    "roles": ["DutyInbox.Manager", "Unrelated"],
    "groups": ["g-wm", "g-other"],
    "councils": "E09000007",
}


def test_claims_map_to_roles_and_councils() -> None:
    identity = identity_from_claims(CLAIMS, base_settings())
    assert identity == OidcIdentity(
        "m.manager@council.test", frozenset({"team_manager"}), frozenset({"E09000033", "E09000007"})
    )


def test_councils_claim_can_be_turned_off() -> None:
    identity = identity_from_claims(CLAIMS, base_settings(councils_claim=None))
    assert identity.councils == {"E09000033"}


@pytest.mark.parametrize(
    ("changes", "claims", "reason"),
    [
        ({}, CLAIMS | {"roles": ["Unrelated"]}, "no_role"),
        ({}, CLAIMS | {"roles": "DutyInbox"}, "no_role"),
        ({}, {k: v for k, v in CLAIMS.items() if k != "preferred_username"}, "no_username"),
        ({}, CLAIMS | {"preferred_username": "x" * 257}, "no_username"),
        ({"required_group": "g-duty"}, CLAIMS, "required_group"),
        ({"allowed_email_domains": ("@Other.test",)}, CLAIMS, "email_domain"),
        (
            {"allowed_email_domains": ("council.test",)},
            CLAIMS | {"email_verified": False},
            "email_domain",
        ),
    ],
)
def test_claims_that_grant_nothing_are_refused(
    changes: dict[str, Any], claims: dict[str, Any], reason: str
) -> None:
    with pytest.raises(NotPermitted) as refused:
        identity_from_claims(claims, base_settings(**changes))
    assert refused.value.reason == reason
    assert "m.manager" not in str(refused.value)


def test_allowed_domain_and_required_group_let_in_who_has_them() -> None:
    settings = base_settings(allowed_email_domains=("Council.test",), required_group="g-wm")
    assert identity_from_claims(CLAIMS, settings).roles == {"team_manager"}


# Settings


@pytest.mark.parametrize(
    "changes",
    [
        {"issuer": "http://login.example.test/tenant"},
        {"redirect_url": "http://inbox.example/auth/oidc/callback"},
        {"scopes": ("profile", "email")},
        {"client_secret": "s", "client_secret_file": "/run/secrets/oidc"},
        {"role_map": {}},
        {"role_map": {"DutyInbox.Worker": "superuser"}},
    ],
)
def test_unsafe_or_incomplete_settings_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        base_settings(**changes)


def test_plain_http_is_allowed_on_loopback_only() -> None:
    settings = base_settings(
        issuer="http://127.0.0.1:9000", redirect_url="http://localhost:8081/auth/oidc/callback"
    )
    assert settings.discovery_url() == "http://127.0.0.1:9000/.well-known/openid-configuration"


def test_settings_read_oidc_from_nested_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from streams.config.settings import Settings

    for name, value in [
        ("ISSUER", "https://login.microsoftonline.com/tenant/v2.0"),
        ("CLIENT_ID", "client"),
        ("CLIENT_SECRET", "s3cret"),
        ("REDIRECT_URL", "https://inbox.example/auth/oidc/callback"),
        ("ROLE_MAP", '{"DutyInbox.Worker": "duty_worker"}'),
        ("COUNCIL_MAP", '{"g-wm": ["E09000033"]}'),
    ]:
        monkeypatch.setenv(f"DVTRIGGER_OIDC__{name}", value)
    oidc = Settings().oidc
    assert oidc is not None
    assert oidc.role_map == {"DutyInbox.Worker": "duty_worker"}
    assert oidc.council_map == {"g-wm": ("E09000033",)}
    assert "s3cret" not in repr(oidc)


def test_the_role_names_match_the_inbox_roles() -> None:
    from typing import get_args

    from streams.config.oidc import RoleName

    auth = pytest.importorskip("connectors.duty_inbox.auth", reason="auth.py not there yet")
    assert set(get_args(auth.Role)) == set(get_args(RoleName))
