"""MailboxCaseSystem with a real duty inbox as its store and a real SMTP server over STARTTLS.

The store is the duty inbox's app through httpx's ASGI transport (one uvicorn inbox serves the
link test); the mail server is aiosmtpd on loopback, offering STARTTLS with a throwaway CA and
requiring it. Every test here sends real SMTP sessions.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
import trustme
from pydantic import SecretStr

from connectors.case_system.http import HttpCaseSystem
from connectors.case_system.mailbox import MailboxCaseSystem
from connectors.case_system.sent_ledger import SentLedger
from connectors.case_system.smtp import NO_STARTTLS, SmtpMailer
from schemas.task import RaiseTask
from streams.domain.ports.case_system import (
    CaseSystem,
    CaseSystemRejected,
    CaseSystemUnavailable,
)
from tests.contract.case_system_contract import CaseSystemContract
from tests.support.duty_inbox import TEST_CLIENT_TOKEN, add_client, add_user, inbox_app, sign_in
from tests.support.mail_sample import sample_mail
from tests.support.samples import HOSTILE_NAME, personal_data_in, sample_raise_task
from tests.support.smtp_server import MailServer, ReceivedMail, mail_server
from tests.support.tls import Pki, make_pki, other_ca

pytestmark = pytest.mark.integration

LINK_BASE = "https://duty-inbox.council.test"
SENDER = "dvtrigger@alerts.council.test"
CREDENTIALS = ("dvtrigger", "smtp-password-for-tests")


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki")


@pytest.fixture
def server(pki: Pki) -> Iterator[MailServer]:
    with mail_server(pki, credentials=CREDENTIALS) as running:
        yield running


def smtp_mailer(server: MailServer, ca: Path, **overrides: object) -> SmtpMailer:
    options: dict[str, object] = {
        "sender_domain": "dvtrigger.council.test",
        "username": CREDENTIALS[0],
        "password": SecretStr(CREDENTIALS[1]),
        "ca_file": ca,
        "timeout": 5.0,
    }
    options |= overrides
    return SmtpMailer(server.host, server.port, **options)  # type: ignore[arg-type]


def asgi_store(db: Path) -> HttpCaseSystem:
    """The duty inbox's app in process, reached as the deliver worker reaches it."""
    app = inbox_app(db)
    add_client(db)
    transport = httpx.ASGITransport(app=app)
    token = SecretStr(TEST_CLIENT_TOKEN)
    return HttpCaseSystem("http://inbox", timeout=5.0, token=token, transport=transport)


def mailbox_of(store: CaseSystem, mailer: SmtpMailer, ledger: SentLedger) -> MailboxCaseSystem:
    return MailboxCaseSystem(
        store,
        mailer,
        ledger,
        link_base=LINK_BASE,
        sender=SENDER,
        recipients=["mash-duty@council.test", "edt@council.test"],
    )


@pytest.fixture
async def mailbox(tmp_path: Path, server: MailServer, pki: Pki) -> AsyncIterator[MailboxCaseSystem]:
    ledger = SentLedger(tmp_path / "sent.sqlite3")
    system = mailbox_of(asgi_store(tmp_path / "inbox.sqlite3"), smtp_mailer(server, pki.ca), ledger)
    yield system
    await system.aclose()
    ledger.close()


def message_ids(server: MailServer) -> list[str]:
    return [str(mail.message["Message-ID"]) for mail in server.received]


class TestMailboxOnDutyInbox(CaseSystemContract):
    """The contract, and after each test: one mail per version, none twice, all over TLS."""

    @pytest.fixture
    async def case_system(
        self, mailbox: MailboxCaseSystem, server: MailServer
    ) -> AsyncIterator[CaseSystem]:
        yield mailbox
        ids = message_ids(server)
        assert len(ids) == len(set(ids)), "a version was mailed twice"
        assert all(mail.over_tls and mail.authenticated for mail in server.received)
        tasks = await mailbox.list_tasks()
        assert len(ids) >= len(tasks)  # every task was announced at least once
        for mail in server.received:
            assert personal_data_in(mail.text, sample_raise_task()) == []


async def test_one_mail_per_new_version_and_none_for_a_repeat(
    mailbox: MailboxCaseSystem, server: MailServer
) -> None:
    versions = [
        (sample_raise_task(), 1),
        (sample_raise_task(), 1),  # a redelivery
        (sample_raise_task(revision=2), 2),
        (sample_raise_task(revision=2, amendment=1), 3),
        (sample_raise_task(revision=2), 3),  # older than the stored (2, 1): not announced
        (sample_raise_task(revision=1, amendment=5), 3),
    ]
    for cmd, mails in versions:
        await mailbox.raise_task(cmd)
        assert len(server.received) == mails
    ids = message_ids(server)
    assert [i.split("@")[0].split(".", 1)[1] for i in ids] == ["r1.a0", "r2.a0", "r2.a1"]
    subjects = [str(mail.message["Subject"]) for mail in server.received]
    assert subjects[0].startswith("[dvtrigger] URGENT child protection investigation due ")
    assert all(s.startswith("[dvtrigger] Updated: URGENT") for s in subjects[1:])


async def test_the_mail_came_over_starttls_with_auth_to_every_recipient(
    mailbox: MailboxCaseSystem, server: MailServer
) -> None:
    await mailbox.raise_task(sample_raise_task())
    (mail,) = server.received
    assert mail.over_tls and mail.tls_version in ("TLSv1.2", "TLSv1.3")
    assert mail.authenticated
    assert mail.mail_from == SENDER
    assert mail.rcpt_tos == ("mash-duty@council.test", "edt@council.test")


@pytest.mark.parametrize("given_name", ["Wilhelmina", HOSTILE_NAME])
async def test_the_mail_carries_references_and_the_link_but_no_personal_data(
    mailbox: MailboxCaseSystem, server: MailServer, given_name: str
) -> None:
    cmd = sample_raise_task()
    cmd = cmd.model_copy(
        update={"subject": cmd.subject.model_copy(update={"given_name": given_name})}
    )
    receipt = await mailbox.raise_task(cmd)
    (mail,) = server.received
    subject = str(mail.message["Subject"])
    for text in (subject, mail.body, mail.text):
        assert personal_data_in(text, cmd) == []
        assert given_name not in text and "script" not in text
    assert subject.endswith(f"- task {receipt.task_id}") and "due Fri 31 Jul 07:22" in subject
    assert f"{LINK_BASE}/tasks/{receipt.task_id}\n" in mail.body
    for expected in [
        "Priority:     Urgent",
        "Due:          Fri 31 Jul 2026, 07:22 BST (Europe/London)",
        "Council:      E09000014",
        "Police force: MPS",
        "Incident:     MPS-2026-000001",
        "Version:      revision 1, amendment 0",
        "State:        new",
    ]:
        assert expected in mail.body


async def test_a_server_that_is_down_is_retried_and_the_retry_mails_once(
    tmp_path: Path, pki: Pki
) -> None:
    with mail_server(pki, credentials=CREDENTIALS, started=False) as server:
        ledger = SentLedger(tmp_path / "sent.sqlite3")
        store = asgi_store(tmp_path / "inbox.sqlite3")
        mailbox = mailbox_of(store, smtp_mailer(server, pki.ca), ledger)
        cmd = sample_raise_task()
        with pytest.raises(CaseSystemUnavailable) as caught:
            await mailbox.raise_task(cmd)
        assert caught.value.kind == "connect"
        assert len(await mailbox.list_tasks()) == 1  # stored, not yet announced
        server.start()
        for _ in range(3):  # the retry, and two more redeliveries
            receipt = await mailbox.raise_task(cmd)
        assert (receipt.created, receipt.updated) == (False, False)
        assert len(server.received) == 1
        await mailbox.aclose()


async def test_a_transient_refusal_is_retried_and_then_mailed_once(
    mailbox: MailboxCaseSystem, server: MailServer
) -> None:
    server.mailbox.refuse("451 4.3.0 try again later", at="DATA")
    with pytest.raises(CaseSystemUnavailable) as caught:
        await mailbox.raise_task(sample_raise_task())
    assert (caught.value.kind, str(caught.value)) == ("5xx", "SMTP send: 451")
    server.mailbox.accept()
    await mailbox.raise_task(sample_raise_task())
    await mailbox.raise_task(sample_raise_task())
    assert len(server.received) == 1


async def test_a_bad_recipient_is_refused_for_good(
    mailbox: MailboxCaseSystem, server: MailServer
) -> None:
    server.mailbox.refuse("550 5.1.1 no such mailbox", at="RCPT")
    with pytest.raises(CaseSystemRejected) as caught:
        await mailbox.raise_task(sample_raise_task())
    assert caught.value.status_code == 550
    assert "mash" not in str(caught.value) and "council" not in str(caught.value)
    assert server.received == []


async def test_a_server_without_starttls_gets_nothing(tmp_path: Path, pki: Pki) -> None:
    with mail_server(None) as plain:
        mailer = smtp_mailer(plain, pki.ca, username=None, password=None)
        store = asgi_store(tmp_path / "inbox.sqlite3")
        mailbox = mailbox_of(store, mailer, SentLedger.memory())
        with pytest.raises(CaseSystemRejected) as caught:
            await mailbox.raise_task(sample_raise_task())
        await mailbox.aclose()
    assert caught.value.status_code == NO_STARTTLS
    assert "STARTTLS" in str(caught.value)
    assert (plain.mailbox.mail_commands, plain.received) == (0, [])


async def test_a_certificate_of_another_ca_fails_the_handshake_before_any_mail(
    tmp_path: Path, server: MailServer
) -> None:
    mailer = smtp_mailer(server, other_ca(tmp_path / "other-ca.pem"))
    mailbox = mailbox_of(asgi_store(tmp_path / "inbox.sqlite3"), mailer, SentLedger.memory())
    with pytest.raises(CaseSystemUnavailable) as caught:
        await mailbox.raise_task(sample_raise_task())
    await mailbox.aclose()
    assert caught.value.kind == "connect" and "TLS" in str(caught.value)
    assert (server.mailbox.mail_commands, server.received) == (0, [])


async def test_a_certificate_for_another_name_fails_the_handshake(tmp_path: Path) -> None:
    ca = trustme.CA(organization_name="dvtrigger tests")
    elsewhere = ca.issue_cert("mail.elsewhere.test")
    pki = Pki(tmp_path / "ca.pem", tmp_path / "s.pem", tmp_path / "s.key", Path(), Path(), "")
    ca.cert_pem.write_to_path(str(pki.ca))
    elsewhere.cert_chain_pems[0].write_to_path(str(pki.server_cert))
    elsewhere.private_key_pem.write_to_path(str(pki.server_key))
    with mail_server(pki) as server:
        mailer = smtp_mailer(server, pki.ca, username=None, password=None)
        with pytest.raises(CaseSystemUnavailable) as caught:
            await mailer.send(EmailMessage())
    assert caught.value.kind == "connect" and "TLS" in str(caught.value)
    assert server.mailbox.mail_commands == 0


async def test_a_wrong_password_is_refused_for_good(
    tmp_path: Path, server: MailServer, pki: Pki
) -> None:
    mailer = smtp_mailer(server, pki.ca, password=SecretStr("not the password"))
    mailbox = mailbox_of(asgi_store(tmp_path / "inbox.sqlite3"), mailer, SentLedger.memory())
    with pytest.raises(CaseSystemRejected) as caught:
        await mailbox.raise_task(sample_raise_task())
    await mailbox.aclose()
    assert caught.value.status_code == 535
    assert "not the password" not in str(caught.value)
    assert server.received == []


class LedgerLostOnce(SentLedger):
    """A ledger whose first write is lost: the process died after the server accepted."""

    lost = False

    async def record(self, *args: object, **kwargs: object) -> None:
        if not self.lost:
            self.lost = True
            raise RuntimeError("crash before the ledger was written")
        await super().record(*args, **kwargs)  # type: ignore[arg-type]


async def test_a_crash_before_the_ledger_mails_again_with_the_same_message_id(
    tmp_path: Path, server: MailServer, pki: Pki
) -> None:
    ledger = LedgerLostOnce(tmp_path / "sent.sqlite3")
    mailer = smtp_mailer(server, pki.ca)
    mailbox = mailbox_of(asgi_store(tmp_path / "inbox.sqlite3"), mailer, ledger)
    with pytest.raises(RuntimeError):
        await mailbox.raise_task(sample_raise_task())
    for _ in range(2):
        await mailbox.raise_task(sample_raise_task())
    await mailbox.aclose()
    first, again = message_ids(server)
    assert first == again


async def test_the_link_opens_the_task_page_of_a_real_duty_inbox(
    inbox: str, tmp_path: Path, server: MailServer, pki: Pki
) -> None:
    store = HttpCaseSystem(inbox, timeout=5.0, token=SecretStr(TEST_CLIENT_TOKEN))
    mailbox = MailboxCaseSystem(
        store,
        smtp_mailer(server, pki.ca),
        SentLedger(tmp_path / "sent.sqlite3"),
        link_base=inbox,
        sender=SENDER,
        recipients=["mash-duty@council.test"],
    )
    cmd: RaiseTask = sample_raise_task()
    receipt = await mailbox.raise_task(cmd)
    await mailbox.aclose()
    (mail,) = server.received
    link = next(line for line in mail.body.splitlines() if line.startswith(inbox))
    add_user(tmp_path / "inbox.sqlite3")
    async with httpx.AsyncClient(base_url=inbox) as browser:
        await sign_in(browser)
        page = await browser.get(link)
    assert page.status_code == 200
    assert receipt.task_id in page.text and "Wilhelmina" in page.text  # the inbox has the name


async def test_the_sample_mail_prints_as_received(tmp_path: Path) -> None:
    mail: ReceivedMail = await sample_mail(tmp_path)
    assert mail.text.startswith("From: dvtrigger@alerts.council.example\n")
    assert "Message-ID: <" in mail.text and "Content-Transfer-Encoding: 7bit" in mail.text
    assert personal_data_in(mail.text, sample_raise_task()) == []
