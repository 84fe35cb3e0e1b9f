"""One task notice as a council's mail server receives it, for docs and closing notes.

`python -m tests.support.mail_sample` raises the sample task through a `MailboxCaseSystem`
(an in-memory store, the real `SmtpMailer`) to a loopback aiosmtpd server over STARTTLS with
AUTH, and prints the message exactly as the server received it (RFC 5322).
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from datetime import UTC
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from connectors.case_system.mailbox import MailboxCaseSystem
from connectors.case_system.memory import InMemoryCaseSystem
from connectors.case_system.sent_ledger import SentLedger
from connectors.case_system.smtp import SmtpMailer
from tests.support.samples import OCCURRED_AT, sample_raise_task
from tests.support.smtp_server import ReceivedMail, mail_server
from tests.support.tls import make_pki

SENDER = "dvtrigger@alerts.council.example"
RECIPIENTS = ("mash-duty@council.example",)
LINK_BASE = "https://duty-inbox.council.example"
CREDENTIALS = ("dvtrigger", "smtp-password-for-tests")
#: The Date of the sample notice: soon after the sample incident was reported.
SENT_AT = OCCURRED_AT.replace(hour=9, minute=30).astimezone(UTC)


async def sample_mail(directory: Path, **overrides: Any) -> ReceivedMail:
    """Raise `sample_raise_task(**overrides)` and return its notice as the server received it."""
    pki = make_pki(directory)
    with mail_server(pki, credentials=CREDENTIALS) as server:
        mailer = SmtpMailer(
            server.host,
            server.port,
            sender_domain="dvtrigger.council.example",
            username=CREDENTIALS[0],
            password=SecretStr(CREDENTIALS[1]),
            ca_file=pki.ca,
            timeout=5.0,
        )
        mailbox = MailboxCaseSystem(
            InMemoryCaseSystem(clock=lambda: SENT_AT),
            mailer,
            SentLedger.memory(),
            link_base=LINK_BASE,
            sender=SENDER,
            recipients=RECIPIENTS,
            clock=lambda: SENT_AT,
        )
        await mailbox.raise_task(sample_raise_task(**overrides))
        (mail,) = server.received
        return mail


def main() -> None:
    """Print the sample notice as received."""
    logging.getLogger("mail.log").setLevel(logging.ERROR)  # aiosmtpd's own deprecation notes
    with tempfile.TemporaryDirectory() as directory:
        print(asyncio.run(sample_mail(Path(directory))).text, end="")


if __name__ == "__main__":
    main()
