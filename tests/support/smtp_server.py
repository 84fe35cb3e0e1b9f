"""A real SMTP server for tests: aiosmtpd on 127.0.0.1, offering STARTTLS with a trustme CA.

`MailServer` binds its loopback port when made and listens only once started, so a client
pointed at it before `start` (or after `stop`) is refused, and the port is the same again on
restart. By default it offers STARTTLS and requires it before MAIL (`require_starttls`);
`credentials` makes it require AUTH too. Its `Mailbox` handler keeps every message it accepted
(envelope, raw bytes, the parsed message, whether the session was over TLS), counts every MAIL
command (so a test sees that nothing was sent in clear), and can be told to refuse.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.support.tls import Pki

Step = Literal["RCPT", "DATA"]


@dataclass(frozen=True)
class ReceivedMail:
    """One message the server accepted, as it arrived."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    message: EmailMessage
    over_tls: bool
    tls_version: str | None
    authenticated: bool

    @property
    def text(self) -> str:
        """The message as received (RFC 5322), for reading or printing."""
        return self.raw.decode("utf-8", "replace").replace("\r\n", "\n")

    @property
    def body(self) -> str:
        """The text/plain body, decoded, with newlines for line ends."""
        part = self.message.get_body(("plain",))
        assert part is not None, "no text/plain body"
        return str(part.get_content()).replace("\r\n", "\n")


class Mailbox:
    """An aiosmtpd handler that keeps what it accepts and refuses when told to."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.received: list[ReceivedMail] = []
        #: MAIL commands seen, accepted or not: 0 means no envelope was ever begun.
        self.mail_commands = 0
        self._refusal: tuple[Step, str] | None = None

    def refuse(self, reply: str, at: Step = "DATA") -> None:
        """Answer RCPT or DATA with `reply` (e.g. '451 4.3.0 try later') until `accept`."""
        self._refusal = (at, reply)

    def accept(self) -> None:
        """Accept again."""
        self._refusal = None

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        with self._lock:
            self.mail_commands += 1
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self._refusal is not None and self._refusal[0] == "RCPT":
            return self._refusal[1]
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self._refusal is not None and self._refusal[0] == "DATA":
            return self._refusal[1]
        raw = envelope.original_content or b""
        parsed = BytesParser(policy=policy.default).parsebytes(raw)
        assert isinstance(parsed, EmailMessage)
        tls = session.ssl or {}
        cipher = tls.get("cipher")
        mail = ReceivedMail(
            mail_from=envelope.mail_from or "",
            rcpt_tos=tuple(envelope.rcpt_tos),
            raw=raw,
            message=parsed,
            over_tls=session.ssl is not None,
            tls_version=cipher[1] if cipher else None,
            authenticated=bool(session.authenticated),
        )
        with self._lock:
            self.received.append(mail)
        return "250 2.0.0 accepted"


class _BoundController(Controller):
    """aiosmtpd's controller serving a socket bound beforehand."""

    def __init__(self, handler: Mailbox, sock: socket.socket, **kwargs: Any) -> None:
        host, port = sock.getsockname()
        super().__init__(handler, hostname=host, port=port, **kwargs)
        self._sock = sock

    def _create_server(self) -> Any:
        return self.loop.create_server(self._factory_invoker, sock=self._sock)


class MailServer:
    """An SMTP server on a loopback port of its own; STARTTLS with `pki`'s server certificate."""

    host = "127.0.0.1"

    def __init__(
        self,
        pki: Pki | None,
        credentials: tuple[str, str] | None = None,
    ) -> None:
        self.mailbox = Mailbox()
        self._pki = pki
        self._credentials = credentials
        self._sock: socket.socket | None = _bound(0)
        self.port: int = self._sock.getsockname()[1]
        self._controller: _BoundController | None = None

    @property
    def received(self) -> list[ReceivedMail]:
        """Every message accepted so far."""
        return self.mailbox.received

    def start(self) -> None:
        """Listen (again) on the server's port."""
        assert self._controller is None, "already started"
        sock = self._sock or _bound(self.port)
        self._sock = None
        self._controller = _BoundController(self.mailbox, sock, **self._smtp_options())
        self._controller.start()

    def stop(self) -> None:
        """Stop listening: a client is refused until `start`."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _smtp_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"server_hostname": "mail.test", "ident": "test MTA"}
        if self._pki is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(self._pki.server_cert, self._pki.server_key)
            options |= {"tls_context": context, "require_starttls": True}
        if self._credentials is not None:
            options |= {"auth_required": True, "authenticator": self._authenticate}
        return options

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert self._credentials is not None
        login, password = self._credentials
        ok = isinstance(data, LoginPassword) and data == (login.encode(), password.encode())
        return AuthResult(success=ok, handled=False, auth_data=data)


@contextmanager
def mail_server(
    pki: Pki | None, credentials: tuple[str, str] | None = None, started: bool = True
) -> Iterator[MailServer]:
    """A `MailServer`, listening unless `started` is False; stopped on exit."""
    server = MailServer(pki, credentials)
    try:
        if started:
            server.start()
        yield server
    finally:
        server.stop()


def _bound(port: int) -> socket.socket:
    """A TCP socket bound to a loopback port, not yet listening (a client is refused)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    return sock
