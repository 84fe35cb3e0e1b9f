"""The sign-in and sign-out pages of the duty inbox (password sign-in; OIDC is `oidc.py`).

A failed sign-in always shows the same message, whether the user is unknown, disabled,
locked out or mistyped their password, and is recorded in the audit log.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from connectors.duty_inbox.access import may
from connectors.duty_inbox.auth import (
    Forbidden,
    Principal,
    check_csrf,
    end_session,
    record,
    start_session,
    state,
)
from connectors.duty_inbox.render import esc, page

router = APIRouter()

FAILED = "The username or password is not right, or this account cannot sign in now."
_FORM_KEY = "sign_in_csrf"


def sign_in_page(request: Request, error: str = "") -> str:
    """The sign-in form, with a fresh form token kept in the pre-sign-in cookie."""
    token = request.session.setdefault(_FORM_KEY, secrets.token_urlsafe(32))
    oidc = (
        '<p><a href="/auth/oidc/login">Sign in with your organisation account</a></p>'
        if state(request).oidc
        else ""
    )
    message = f'<p class="error" role="alert">{esc(error)}</p>' if error else ""
    content = (
        f"<h1>Sign in</h1>{message}{oidc}"
        '<form class="sign-in" method="post" action="/sign-in">'
        f'<input type="hidden" name="csrf" value="{esc(token)}">'
        '<label for="username">Username</label>'
        '<input id="username" name="username" autocomplete="username" required>'
        '<label for="password">Password</label>'
        '<input id="password" name="password" type="password"'
        ' autocomplete="current-password" required>'
        '<p><button type="submit">Sign in</button></p></form>'
    )
    return page("Sign in", content, state(request).clock())


@router.get("/sign-in", response_class=HTMLResponse)
async def sign_in_form(request: Request) -> HTMLResponse:
    """The sign-in form."""
    return HTMLResponse(sign_in_page(request))


@router.post("/sign-in", response_model=None)
async def sign_in(
    request: Request,
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf: Annotated[str, Form()] = "",
) -> HTMLResponse | RedirectResponse:
    """Check the password; on success start a session and go to the inbox."""
    expected = str(request.session.get(_FORM_KEY, ""))
    if not expected or not secrets.compare_digest(csrf.encode(), expected.encode()):
        record(request, "denied", "csrf_mismatch", None, detail={"path": "/sign-in"})
        raise Forbidden("the form has expired; go back, reload and try again")
    address = request.client.host if request.client else ""
    user = await run_in_threadpool(state(request).users.verify, username, password, address)
    if user is None:
        await run_in_threadpool(
            record, request, "sign_in", "sign_in_failed", None, None, None,
            {"result": "failed", "username": username},
        )  # fmt: skip
        return HTMLResponse(sign_in_page(request, FAILED), 401)
    request.session.pop(_FORM_KEY, None)
    principal = Principal(user.username, user.roles, user.councils, "password")
    await run_in_threadpool(start_session, request, principal)
    return RedirectResponse("/" if may(principal, "view_tasks") else "/admin/users", 303)


@router.post("/sign-out")
async def sign_out(request: Request, csrf: Annotated[str, Form()] = "") -> RedirectResponse:
    """End the session and go back to the sign-in page."""
    check_csrf(request, csrf)
    principal = await run_in_threadpool(end_session, request)
    await run_in_threadpool(record, request, "sign_out", "signed_out", principal)
    return RedirectResponse("/sign-in", status_code=303)
