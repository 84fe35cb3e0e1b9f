"""MailboxCaseSystem on fakes: the contract, and which versions it mails, once each."""

from __future__ import annotations

import asyncio
from email.message import EmailMessage

import pytest
from pydantic import SecretStr

from connectors.case_system.mailbox import MailboxCaseSystem
from connectors.case_system.memory import InMemoryCaseSystem
from connectors.case_system.sent_ledger import SentLedger
from connectors.case_system.smtp import SmtpMailer
from streams.domain.ports.case_system import (
    CaseSystem,
    CaseSystemError,
    CaseSystemRejected,
    CaseSystemUnavailable,
)
from tests.contract.case_system_contract import CaseSystemContract
from tests.support.samples import sample_raise_task


class FakeMailer:
    """Keeps every message; fails the next sends when told to."""

    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []
        self._failures: list[CaseSystemError] = []

    def fail_next(self, *errors: CaseSystemError) -> None:
        self._failures.extend(errors)

    async def send(self, message: EmailMessage) -> None:
        await asyncio.sleep(0)  # a real send yields; concurrent raises interleave here
        if self._failures:
            raise self._failures.pop(0)
        self.sent.append(message)

    def versions(self) -> list[str]:
        """'r1.a0' for each message sent, in order."""
        return [str(m["Message-ID"]).split("@")[0].split(".", 1)[1] for m in self.sent]


def mailbox_of(store: CaseSystem, mailer: FakeMailer) -> MailboxCaseSystem:
    return MailboxCaseSystem(
        store,
        mailer,
        SentLedger.memory(),
        link_base="https://inbox.test",
        sender="dvtrigger@alerts.test",
        recipients=["duty@council.test"],
    )


@pytest.fixture
def mailer() -> FakeMailer:
    return FakeMailer()


@pytest.fixture
def store() -> InMemoryCaseSystem:
    return InMemoryCaseSystem()


@pytest.fixture
def mailbox(store: InMemoryCaseSystem, mailer: FakeMailer) -> MailboxCaseSystem:
    return mailbox_of(store, mailer)


class TestMailboxOnFakes(CaseSystemContract):
    @pytest.fixture
    def case_system(self, mailbox: MailboxCaseSystem) -> CaseSystem:
        return mailbox


async def test_each_version_the_store_takes_is_mailed_once(
    mailbox: MailboxCaseSystem, mailer: FakeMailer
) -> None:
    for cmd in [
        sample_raise_task(),
        sample_raise_task(),
        sample_raise_task(amendment=1),
        sample_raise_task(),  # (1, 0) after (1, 1): an unchanged receipt of the same revision
        sample_raise_task(revision=2),
        sample_raise_task(amendment=3),  # (1, 3) after (2, 0): the receipt says revision 2
        sample_raise_task(revision=2),
    ]:
        await mailbox.raise_task(cmd)
    assert mailer.versions() == ["r1.a0", "r1.a1", "r2.a0"]


async def test_concurrent_copies_of_one_command_mail_once(
    mailbox: MailboxCaseSystem, mailer: FakeMailer
) -> None:
    cmd = sample_raise_task()
    await asyncio.gather(*(mailbox.raise_task(cmd) for _ in range(5)))
    other = sample_raise_task(subject_ref="U2")
    await asyncio.gather(mailbox.raise_task(other), mailbox.raise_task(cmd))
    assert len(mailer.sent) == 2


async def test_a_failed_send_is_raised_and_the_redelivery_mails(
    mailbox: MailboxCaseSystem, mailer: FakeMailer, store: InMemoryCaseSystem
) -> None:
    mailer.fail_next(CaseSystemUnavailable("SMTP connect: SMTPConnectError", "connect"))
    with pytest.raises(CaseSystemUnavailable):
        await mailbox.raise_task(sample_raise_task())
    assert len(await store.list_tasks()) == 1 and mailer.sent == []
    receipt = await mailbox.raise_task(sample_raise_task())
    assert not receipt.created and mailer.versions() == ["r1.a0"]
    assert "State:        new" in str(mailer.sent[0].get_content())


async def test_a_refused_update_is_raised_and_its_redelivery_still_says_updated(
    mailbox: MailboxCaseSystem, mailer: FakeMailer
) -> None:
    await mailbox.raise_task(sample_raise_task())
    mailer.fail_next(CaseSystemRejected("SMTP RCPT: 1 recipients refused: 550", 550))
    with pytest.raises(CaseSystemRejected):
        await mailbox.raise_task(sample_raise_task(revision=2))
    await mailbox.raise_task(sample_raise_task(revision=2))
    assert mailer.versions() == ["r1.a0", "r2.a0"]
    assert str(mailer.sent[1]["Subject"]).startswith("[dvtrigger] Updated: ")


async def test_a_store_that_fails_mails_nothing(
    mailbox: MailboxCaseSystem, mailer: FakeMailer, store: InMemoryCaseSystem
) -> None:
    store.fail_next(CaseSystemUnavailable("POST /api/tasks: 503", "5xx"))
    with pytest.raises(CaseSystemUnavailable):
        await mailbox.raise_task(sample_raise_task())
    assert mailer.sent == []


async def test_reads_come_from_the_store(
    mailbox: MailboxCaseSystem, store: InMemoryCaseSystem
) -> None:
    receipt = await store.raise_task(sample_raise_task())
    assert (await mailbox.get_task(receipt.task_id)).task_id == receipt.task_id
    assert [r.task_id for r in await mailbox.list_tasks(status="open")] == [receipt.task_id]


@pytest.mark.parametrize(("sender", "recipients"), [("no-at-sign", ["d@c.test"]), ("a@b.test", [])])
def test_a_mailbox_needs_a_sender_and_recipients(sender: str, recipients: list[str]) -> None:
    with pytest.raises(ValueError):
        MailboxCaseSystem(
            InMemoryCaseSystem(),
            FakeMailer(),
            SentLedger.memory(),
            link_base="https://inbox.test",
            sender=sender,
            recipients=recipients,
        )


@pytest.mark.parametrize(
    ("host", "options"),
    [
        ("smtp.council.test", {"require_starttls": False}),
        ("127.0.0.1", {"require_starttls": False, "username": "u", "password": SecretStr("p")}),
        ("smtp.council.test", {"username": "u"}),
    ],
    ids=["plain text over a network", "credentials in plain text", "a username alone"],
)
def test_the_smtp_mailer_refuses_an_unsafe_configuration(
    host: str, options: dict[str, object]
) -> None:
    with pytest.raises(ValueError):
        SmtpMailer(host, 25, **options)  # type: ignore[arg-type]


def test_plain_text_is_allowed_to_a_relay_on_this_host_only() -> None:
    for host in ("127.0.0.1", "::1", "localhost"):
        SmtpMailer(host, 25, require_starttls=False)
