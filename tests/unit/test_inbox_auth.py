"""Sign-in to the duty inbox: passwords, sessions and their timeouts, CSRF, throttling, headers."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from pydantic import SecretStr

from connectors.duty_inbox.__main__ import session_secret
from connectors.duty_inbox.auth import Principal, start_session
from connectors.duty_inbox.session_store import Timeouts
from connectors.duty_inbox.signin import FAILED
from connectors.duty_inbox.users import UserError, UserStore
from streams.config.settings import Settings
from tests.support.duty_inbox import (
    FAST_HASHER,
    PASSWORD,
    MemoryAudit,
    add_client,
    add_user,
    bearer,
    hidden_csrf,
    inbox_app,
    sign_in,
)

START = datetime(2026, 7, 30, 8, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


class Inbox:
    """An inbox app, its audit log and clock, and a browser on it."""

    def __init__(self, tmp_path: Path, **kwargs: object) -> None:
        self.db = tmp_path / "inbox.sqlite3"
        self.audit = MemoryAudit()
        self.clock = Clock()
        timeouts = Timeouts(idle=timedelta(minutes=30), absolute=timedelta(hours=10))
        self.app = inbox_app(
            self.db, clock=self.clock, audit=self.audit, timeouts=timeouts, **kwargs
        )
        add_user(self.db)

    def browser(self, base_url: str = "http://inbox") -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app, client=("127.0.0.7", 5000))
        return httpx.AsyncClient(transport=transport, base_url=base_url)


@pytest.fixture
async def inbox(tmp_path: Path) -> Inbox:
    return Inbox(tmp_path)


@pytest.fixture
async def browser(inbox: Inbox) -> AsyncIterator[httpx.AsyncClient]:
    async with inbox.browser() as client:
        yield client


async def attempt(browser: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    form = await browser.get("/sign-in")
    data = {"username": username, "password": password, "csrf": hidden_csrf(form.text)}
    return await browser.post("/sign-in", data=data)


async def test_pages_send_a_stranger_to_sign_in(browser: httpx.AsyncClient) -> None:
    for path in ("/", "/tasks/any", "/admin/users"):
        response = await browser.get(path)
        assert (response.status_code, response.headers["location"]) == (303, "/sign-in")
    api = await browser.get("/api/tasks")
    assert api.status_code == 401 and api.headers["WWW-Authenticate"] == "Bearer"


async def test_sign_in_then_out(inbox: Inbox, browser: httpx.AsyncClient) -> None:
    csrf = await sign_in(browser)
    home = await browser.get("/")
    assert home.status_code == 200 and "Signed in as dana" in home.text
    assert inbox.audit.kinds()[0] == ("sign_in", "signed_in")
    assert inbox.audit.events[0].actor == "user:dana"
    assert inbox.audit.events[0].origin == "127.0.0.7"
    signed_out = await browser.post("/sign-out", data={"csrf": csrf})
    assert (signed_out.status_code, signed_out.headers["location"]) == (303, "/sign-in")
    assert any(c.startswith("dvt_session=;") for c in signed_out.headers.get_list("set-cookie"))
    assert (await browser.get("/")).status_code == 303
    assert ("sign_out", "signed_out") in inbox.audit.kinds()


async def test_the_session_cookie_is_signed_httponly_and_strict(browser: httpx.AsyncClient) -> None:
    form = await browser.get("/sign-in")
    data = {"username": "dana", "password": PASSWORD, "csrf": hidden_csrf(form.text)}
    response = await browser.post("/sign-in", data=data)
    cookie = session_cookie(response)
    assert cookie.startswith("dvt_session=") and "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie and "Secure" not in cookie
    value = browser.cookies["dvt_session"]
    browser.cookies.set("dvt_session", value[:-2] + "xx", domain="inbox.local")
    assert (await browser.get("/")).status_code == 303


async def test_cookies_are_secure_when_set(tmp_path: Path) -> None:
    inbox = Inbox(tmp_path, cookie_secure=True)
    async with inbox.browser("https://inbox") as browser:
        form = await browser.get("/sign-in")
        data = {"username": "dana", "password": PASSWORD, "csrf": hidden_csrf(form.text)}
        response = await browser.post("/sign-in", data=data)
    assert session_cookie(response).endswith("; Secure")


def session_cookie(response: httpx.Response) -> str:
    (cookie,) = [c for c in response.headers.get_list("set-cookie") if c.startswith("dvt_session")]
    return cookie


async def test_sign_in_rotates_the_session(inbox: Inbox, browser: httpx.AsyncClient) -> None:
    await sign_in(browser)
    first = browser.cookies["dvt_session"]
    async with inbox.browser() as thief:
        thief.cookies.set("dvt_session", first, domain="inbox.local")
        assert (await thief.get("/")).status_code == 200
        await sign_in(browser)
        assert browser.cookies["dvt_session"] != first
        assert (await thief.get("/")).status_code == 303  # the old id ended


async def test_a_wrong_password_or_user_gets_one_message(
    inbox: Inbox, browser: httpx.AsyncClient
) -> None:
    UserStore(inbox.db, hasher=FAST_HASHER).add_user("gone", PASSWORD, ["duty_worker"], ["X"])
    UserStore(inbox.db, hasher=FAST_HASHER).disable("gone")
    answers = [
        await attempt(browser, "dana", "not the password at all"),
        await attempt(browser, "nobody", PASSWORD),
        await attempt(browser, "gone", PASSWORD),
    ]
    assert {(r.status_code, FAILED in r.text) for r in answers} == {(401, True)}
    assert len({r.text.replace(hidden_csrf(r.text), "") for r in answers}) == 1
    failed = [e for e in inbox.audit.events if e.action == "sign_in_failed"]
    assert len(failed) == 3 and all(e.detail["result"] == "failed" for e in failed)
    assert all(PASSWORD not in str(e.model_dump()) for e in inbox.audit.events)


async def test_repeated_failures_lock_the_user_at_that_address_out(
    inbox: Inbox, browser: httpx.AsyncClient
) -> None:
    for _ in range(5):
        assert (await attempt(browser, "dana", "wrong password here")).status_code == 401
    locked = await attempt(browser, "dana", PASSWORD)
    assert locked.status_code == 401 and FAILED in locked.text
    transport = httpx.ASGITransport(app=inbox.app, client=("127.0.0.8", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://inbox") as elsewhere:
        assert (await attempt(elsewhere, "dana", PASSWORD)).status_code == 303
    inbox.clock.now += timedelta(minutes=16)
    assert (await attempt(browser, "dana", PASSWORD)).status_code == 303


async def test_the_sign_in_form_needs_its_token(browser: httpx.AsyncClient) -> None:
    data = {"username": "dana", "password": PASSWORD, "csrf": "forged"}
    assert (await browser.post("/sign-in", data=data)).status_code == 403
    assert (await browser.get("/")).status_code == 303


async def test_sign_out_needs_the_session_token(browser: httpx.AsyncClient) -> None:
    await sign_in(browser)
    assert (await browser.post("/sign-out", data={"csrf": "forged"})).status_code == 403
    assert (await browser.get("/")).status_code == 200


async def test_a_session_ends_when_idle(inbox: Inbox, browser: httpx.AsyncClient) -> None:
    await sign_in(browser)
    inbox.clock.now += timedelta(minutes=29)
    assert (await browser.get("/")).status_code == 200
    inbox.clock.now += timedelta(minutes=31)
    assert (await browser.get("/")).status_code == 303


async def test_a_session_ends_at_its_absolute_timeout(
    inbox: Inbox, browser: httpx.AsyncClient
) -> None:
    await sign_in(browser)
    for _ in range(21):  # busy all day: never idle
        inbox.clock.now += timedelta(minutes=29)
        await browser.get("/")
    assert inbox.clock.now - START > timedelta(hours=10)
    assert (await browser.get("/")).status_code == 303


async def test_disabling_a_user_ends_their_sessions(
    inbox: Inbox, browser: httpx.AsyncClient
) -> None:
    await sign_in(browser)
    UserStore(inbox.db, hasher=FAST_HASHER).disable("dana")
    assert (await browser.get("/")).status_code == 303


def test_passwords_are_argon2_hashes_rehashed_when_parameters_change(tmp_path: Path) -> None:
    db = tmp_path / "inbox.sqlite3"
    old = UserStore(db, hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    old.add_user("dana", PASSWORD, ["duty_worker"], ["E1"])
    stored = _hash(db)
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    new = UserStore(db, hasher=PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1))
    assert new.verify("dana", PASSWORD, "127.0.0.1") is not None
    assert "m=2048,t=2" in _hash(db)
    assert new.user("dana").last_sign_in is not None


def _hash(db: Path) -> str:
    import sqlite3

    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT password_hash FROM users").fetchone()
    return str(row[0])


def test_users_are_validated(tmp_path: Path) -> None:
    store = UserStore(tmp_path / "db.sqlite3", hasher=FAST_HASHER)
    with pytest.raises(UserError):
        store.add_user("dana", "short", ["duty_worker"], ["E1"])
    with pytest.raises(UserError):
        store.add_user("dana", PASSWORD, ["superuser"], ["E1"])
    with pytest.raises(UserError):
        store.add_user("dana", PASSWORD, ["duty_worker"], ["*"])  # a person's councils by name
    store.add_user("dana", PASSWORD, ["duty_worker", "auditor"], ["E1", "E2"])
    with pytest.raises(UserError):
        store.add_user("dana", PASSWORD, ["duty_worker"], ["E1"])
    user = store.users()[0]
    assert (user.roles, user.councils) == ({"duty_worker", "auditor"}, {"E1", "E2"})


def test_client_tokens_are_stored_as_digests(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite3"
    store = UserStore(db, hasher=FAST_HASHER)
    token = store.add_client("deliver", ["E1"], may_raise_tasks=True)
    assert len(token) >= 40 and token.encode() not in db.read_bytes()
    client = store.client(token)
    assert client is not None and (client.name, client.may_raise_tasks) == ("deliver", True)
    assert store.client(token + "x") is None
    reissued = store.add_client("deliver", ["E1"], may_raise_tasks=True, replace=True)
    assert store.client(token) is None and store.client(reissued) is not None


async def test_metrics_need_the_metrics_token_when_set(tmp_path: Path) -> None:
    inbox = Inbox(tmp_path, metrics_token=SecretStr("metrics-secret"))
    async with inbox.browser() as browser:
        assert (await browser.get("/metrics")).status_code == 401
        await sign_in(browser)  # a person's session is not the metrics token
        assert (await browser.get("/metrics")).status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert (await browser.get("/metrics", headers=wrong)).status_code == 401
        right = {"Authorization": "Bearer metrics-secret"}
        assert (await browser.get("/metrics", headers=right)).status_code == 200


async def test_healthz_is_open_and_says_only_status(browser: httpx.AsyncClient) -> None:
    response = await browser.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_pages_send_strict_security_headers(browser: httpx.AsyncClient) -> None:
    await sign_in(browser)
    for path in ("/", "/sign-in", "/tasks/unknown", "/api/tasks"):
        headers = (await browser.get(path)).headers
        policy = headers["Content-Security-Policy"]
        for directive in (
            "default-src 'none'",
            "style-src 'sha256-",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
        ):
            assert directive in policy
        assert "unsafe-inline" not in policy and "script-src" not in policy
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "same-origin"
        assert headers["Cache-Control"] == "no-store"


async def test_the_style_hash_matches_the_page(browser: httpx.AsyncClient) -> None:
    import base64
    import hashlib

    response = await browser.get("/sign-in")
    css = response.text.split("<style>", 1)[1].split("</style>", 1)[0]
    digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
    assert f"'sha256-{digest}'" in response.headers["Content-Security-Policy"]


def _oidc_router() -> APIRouter:
    """A stand-in for oidc.py: signs in whoever reaches its callback, through start_session."""
    router = APIRouter(prefix="/auth/oidc")

    @router.get("/callback")
    def callback(request: Request) -> RedirectResponse:
        principal = Principal("ola", frozenset({"duty_worker"}), frozenset({"E1"}), "oidc")
        start_session(request, principal)
        return RedirectResponse("/", status_code=303)

    return router


async def test_an_oidc_router_is_offered_and_starts_sessions(tmp_path: Path) -> None:
    inbox = Inbox(tmp_path, oidc_router=_oidc_router())
    async with inbox.browser() as browser:
        form = await browser.get("/sign-in")
        assert 'href="/auth/oidc/login">Sign in with your organisation account' in form.text
        await browser.get("/auth/oidc/callback")
        home = await browser.get("/")
    assert home.status_code == 200 and "Signed in as ola" in home.text
    signed_in = [e for e in inbox.audit.events if e.kind == "sign_in"]
    assert [(e.actor, e.detail["via"]) for e in signed_in] == [("user:ola", "oidc")]


async def test_without_oidc_no_link_is_shown(browser: httpx.AsyncClient) -> None:
    assert "organisation account" not in (await browser.get("/sign-in")).text


def test_the_session_secret_is_made_once_owner_only(tmp_path: Path) -> None:
    db = tmp_path / "data" / "inbox.sqlite3"
    first = session_secret(Settings(), db)
    key = tmp_path / "data" / "duty-inbox-session.key"
    assert os.stat(key).st_mode & 0o777 == 0o600
    assert session_secret(Settings(), db).get_secret_value() == first.get_secret_value()
    given = Settings(duty_inbox_session_secret=SecretStr("from-the-environment"))
    assert session_secret(given, db).get_secret_value() == "from-the-environment"


async def test_a_client_token_does_not_open_the_pages(inbox: Inbox) -> None:
    token = add_client(inbox.db, token=None)
    async with inbox.browser() as browser:
        assert (await browser.get("/", headers=bearer(token))).status_code == 303
