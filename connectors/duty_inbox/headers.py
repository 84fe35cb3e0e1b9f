"""Response headers of every duty inbox response: the session cookie and the security headers.

Pages get a strict Content-Security-Policy (no script at all; the layout's one style block
by its hash); every response says `Cache-Control: no-store`, since pages and API responses
carry personal data.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from connectors.duty_inbox.auth import COOKIE, scratch_of_scope
from connectors.duty_inbox.render import style_hash


def content_security_policy() -> str:
    """The pages' policy: nothing but the layout's style; forms post to this site only."""
    return (
        f"default-src 'none'; style-src {style_hash()}; form-action 'self';"
        " frame-ancestors 'none'; base-uri 'none'"
    )


class InboxHeaders:
    """ASGI middleware adding the security headers and setting or clearing the session cookie."""

    def __init__(self, app: ASGIApp, cookie_secure: bool, max_age_s: int) -> None:
        self.app = app
        self.cookie_secure = cookie_secure
        self.max_age_s = max_age_s
        self.csp = content_security_policy()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; add the headers to the response's start."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        memo = scratch_of_scope(scope)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Content-Security-Policy"] = self.csp
                headers["X-Content-Type-Options"] = "nosniff"
                # same-origin, not no-referrer: under no-referrer a browser sends `Origin: null`
                # on a form post, which the pages' same-origin check must refuse.
                headers["Referrer-Policy"] = "same-origin"
                headers["X-Frame-Options"] = "DENY"
                headers["Cache-Control"] = "no-store"
                cookie = memo.get("cookie")
                if isinstance(cookie, str):
                    headers.append("Set-Cookie", self._cookie(cookie))
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _cookie(self, value: str) -> str:
        """The session cookie; an empty value clears it."""
        age = self.max_age_s if value else 0
        secure = "; Secure" if self.cookie_secure else ""
        return f"{COOKIE}={value}; Path=/; Max-Age={age}; HttpOnly; SameSite=Strict{secure}"
