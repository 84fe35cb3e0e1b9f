"""Mail sent over SMTP with STARTTLS, its failures turned into the case system error tree.

Every send connects in plain text, says EHLO, and upgrades with STARTTLS, verifying the
server's certificate and name against `ca_file` (or the system's store); only then does it
authenticate (if it has credentials) and send. A server that does not offer STARTTLS gets
nothing: that is a configuration fault, refused for good (`CaseSystemRejected`, 530), never a
fall back to plain text. The one exception is a relay on this host (`require_starttls=False`,
loopback only, no credentials), where the mail never crosses a network in clear.

A 4xx reply, a refused or lost connection, a timeout or a failed TLS handshake is
`CaseSystemUnavailable` (retried); a 5xx reply is `CaseSystemRejected` with the SMTP code (the
task is parked). A message names the SMTP step and the code only, never the server's words
(they can echo addresses) nor anything of the message.
"""

from __future__ import annotations

import contextlib
import ipaddress
import ssl
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
from pydantic import SecretStr

from streams.domain.ports.case_system import (
    CaseSystemBadResponse,
    CaseSystemError,
    CaseSystemRejected,
    CaseSystemUnavailable,
)

#: The code of our own refusal of a server without STARTTLS (RFC 3207's "must issue STARTTLS").
NO_STARTTLS = 530
#: The code of our own refusal of a server that offers no AUTH while we hold credentials.
NO_AUTH = 504


class SmtpMailer:
    """Sends each message in its own SMTP session, over STARTTLS."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        sender_domain: str | None = None,
        username: str | None = None,
        password: SecretStr | None = None,
        ca_file: Path | None = None,
        timeout: float = 10.0,
        require_starttls: bool = True,
    ) -> None:
        if (username is None) != (password is None):
            raise ValueError("SMTP credentials need both a username and a password")
        if not require_starttls and (username is not None or not _is_loopback(host)):
            raise ValueError("mail may go without STARTTLS only to a relay on this host")
        self._host = host
        self._port = port
        #: The name this client gives in EHLO; None: the host's fully qualified name.
        self._ehlo_name = sender_domain
        self._username = username
        self._password = password
        self._timeout = timeout
        self._require_starttls = require_starttls
        self._tls = ssl.create_default_context(cafile=None if ca_file is None else str(ca_file))
        self._tls.minimum_version = ssl.TLSVersion.TLSv1_2

    async def send(self, message: EmailMessage) -> None:
        """Send `message` to its To recipients in one session; the error tree on failure."""
        smtp = aiosmtplib.SMTP(
            hostname=self._host,
            port=self._port,
            local_hostname=self._ehlo_name,
            timeout=self._timeout,
            start_tls=False,
            tls_context=self._tls,
        )
        step = _Step()
        try:
            await self._session(smtp, message, step)
        except CaseSystemError:
            raise
        except Exception as exc:
            raise _mapped(step.name, exc) from exc
        finally:
            smtp.close()

    async def _session(self, smtp: aiosmtplib.SMTP, message: EmailMessage, step: _Step) -> None:
        """Connect, STARTTLS, AUTH, send, QUIT; `step` names where it got to."""
        step.name = "connect"
        await smtp.connect()
        step.name = "EHLO"
        await smtp.ehlo()
        await self._starttls(smtp, step)
        if self._username is not None and self._password is not None:
            step.name = "AUTH"
            if not smtp.supports_extension("auth"):
                raise CaseSystemRejected("SMTP AUTH: not offered by the server", NO_AUTH)
            await smtp.login(self._username, self._password.get_secret_value())
        step.name = "send"
        refused, _ = await smtp.send_message(message)
        if refused:  # some recipients took it, some did not: every one must, or it is retried
            raise _recipients([response.code for response in refused.values()])
        step.name = "QUIT"
        with contextlib.suppress(aiosmtplib.SMTPException, OSError):
            await smtp.quit()  # the message was accepted; a lost goodbye changes nothing

    async def _starttls(self, smtp: aiosmtplib.SMTP, step: _Step) -> None:
        """Upgrade to TLS, verifying the server; refuse a server that will not."""
        step.name = "STARTTLS"
        if not smtp.supports_extension("starttls"):
            if self._require_starttls:
                raise CaseSystemRejected(
                    "SMTP STARTTLS: not offered by the server; nothing was sent", NO_STARTTLS
                )
            return
        await smtp.starttls(tls_context=self._tls)
        if smtp.get_transport_info("sslcontext") is None:
            raise CaseSystemRejected("SMTP STARTTLS: the session is not encrypted", NO_STARTTLS)
        step.name = "EHLO"
        await smtp.ehlo()  # RFC 3207: what the server offers is asked again, under TLS


class _Step:
    """Where an SMTP session got to, for the error's message."""

    name = "connect"


def _mapped(step: str, exc: Exception) -> CaseSystemError:
    """An aiosmtplib, TLS or socket failure as the case system error tree; codes only."""
    where = f"SMTP {step}"
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return _recipients([refused.code for refused in exc.recipients])
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return _reply(where, exc.code)
    if isinstance(exc, aiosmtplib.SMTPTimeoutError | TimeoutError):
        return CaseSystemUnavailable(f"{where}: timed out", "timeout")
    if isinstance(exc, ssl.SSLError):
        return CaseSystemUnavailable(f"{where}: TLS failed ({type(exc).__name__})", "connect")
    if isinstance(exc, aiosmtplib.SMTPConnectError | aiosmtplib.SMTPServerDisconnected):
        return CaseSystemUnavailable(f"{where}: {type(exc).__name__}", "connect")
    if isinstance(exc, OSError):
        return CaseSystemUnavailable(f"{where}: {type(exc).__name__}", "connect")
    return CaseSystemBadResponse(f"{where}: {type(exc).__name__}")


def _reply(where: str, code: int) -> CaseSystemError:
    """A server's reply code: 4xx is 'try later', 5xx a refusal for good."""
    if 400 <= code < 500:
        return CaseSystemUnavailable(f"{where}: {code}", "5xx")
    if code >= 500:
        return CaseSystemRejected(f"{where}: {code}", code)
    return CaseSystemBadResponse(f"{where}: unexpected reply {code}")


def _recipients(codes: list[int]) -> CaseSystemError:
    """Refused recipients: for good if any refusal is permanent, else try later."""
    permanent = [code for code in codes if code >= 500]
    where = f"SMTP RCPT: {len(codes)} recipients refused"
    if permanent:
        return CaseSystemRejected(f"{where}: {permanent[0]}", permanent[0])
    return CaseSystemUnavailable(f"{where}: {codes[0]}", "5xx")


def _is_loopback(host: str) -> bool:
    """Whether `host` is this machine: 'localhost' or a loopback address."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
