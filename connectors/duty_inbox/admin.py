"""The administrator's page: the local users, and disabling one. Administrators see no tasks."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from connectors.duty_inbox.access import person_may
from connectors.duty_inbox.auth import Principal, check_csrf, csrf_token, record, state
from connectors.duty_inbox.render import account_html, esc, hidden_csrf, page, when
from connectors.duty_inbox.users import User

router = APIRouter(prefix="/admin")

Admin = Annotated[Principal, Depends(person_may("manage_users"))]


def _row(user: User, csrf: str) -> str:
    seen = when(user.last_sign_in) if user.last_sign_in else "never"
    action = (
        "disabled"
        if user.disabled
        else f'<form class="inline" method="post"'
        f' action="/admin/users/{esc(quote(user.username, safe=""))}/disable">'
        f'{hidden_csrf(csrf)}<button type="submit" class="secondary">Disable'
        "</button></form>"
    )
    cells = [
        esc(user.username),
        esc(", ".join(sorted(user.roles))),
        esc(", ".join(sorted(user.councils))),
        esc(seen),
        action,
    ]
    return "<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"


@router.get("/users", response_class=HTMLResponse)
async def users(request: Request, principal: Admin) -> HTMLResponse:
    """Every local user; add them with `dvtrigger users add`."""
    listed = await run_in_threadpool(state(request).users.users)
    csrf = csrf_token(request)
    head = "".join(
        f'<th scope="col">{label}</th>'
        for label in ("User", "Roles", "Councils", "Last signed in", "")
    )
    rows = "".join(_row(user, csrf) for user in listed)
    content = f"<h1>Users</h1><table><thead><tr>{head}</tr></thead>{rows}</table>"
    now = state(request).clock()
    return HTMLResponse(page("Users", content, now, account_html(principal.username, csrf)))


@router.post("/users/{username}/disable")
async def disable(
    request: Request, principal: Admin, username: str, csrf: Annotated[str, Form()] = ""
) -> RedirectResponse:
    """Disable a user: they cannot sign in, and their sessions end."""
    check_csrf(request, csrf)
    await run_in_threadpool(state(request).users.disable, username)
    refs = {"user": [username]}
    await run_in_threadpool(record, request, "user_admin", "disabled", principal, refs)
    return RedirectResponse("/admin/users", status_code=303)
