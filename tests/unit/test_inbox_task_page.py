"""The task page a duty worker acts on: purpose first, who, flags, history; the evidence last."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import date, timedelta
from html import unescape
from pathlib import Path

import httpx
import pytest

from connectors.duty_inbox.briefing import age_text
from schemas.task import RaiseTask, TaskPerson
from tests.support.duty_inbox import MemoryAudit, add_client, add_user, bearer, inbox_app, sign_in
from tests.support.samples import OCCURRED_AT, sample_incident, sample_raise_task, sample_subject

INCIDENT_DAY = date(2026, 7, 30)
MOTHER = TaskPerson(
    person_ref="P1",
    role="victim",
    known_as="the baby's mother",
    how="same name and date of birth",
    score=0.97,
)
STRANGER = TaskPerson(person_ref="P2", role="suspect", how="not matched to the family")
DOUBT = "the register now records the child as born on 11 Feb 2025"


def test_a_childs_age_is_in_weeks_on_the_incident_day_and_today() -> None:
    child = sample_subject(date_of_birth=date(2026, 2, 11))  # 169 days before the incident
    assert age_text(child, INCIDENT_DAY, INCIDENT_DAY + timedelta(days=6)) == (
        "24 weeks and 1 day old on the incident day; 25 weeks old today"
    )
    newborn = sample_subject(date_of_birth=INCIDENT_DAY - timedelta(days=3))
    assert age_text(newborn, INCIDENT_DAY, INCIDENT_DAY).startswith("0 weeks and 3 days old")
    later = sample_subject(date_of_birth=INCIDENT_DAY + timedelta(days=2))
    assert age_text(later, INCIDENT_DAY, INCIDENT_DAY + timedelta(days=9)) == (
        "not yet born on the incident day; 1 week old today"
    )
    assert age_text(sample_subject(date_of_birth=None), INCIDENT_DAY, INCIDENT_DAY) == (
        "age not known (no date of birth)"
    )


def test_a_pregnancy_is_40_weeks_at_its_expected_date_of_delivery() -> None:
    def weeks(due: date, today: date = INCIDENT_DAY) -> str:
        unborn = sample_subject(kind="unborn", date_of_birth=None, expected_delivery_date=due)
        return age_text(unborn, INCIDENT_DAY, today)

    assert weeks(INCIDENT_DAY + timedelta(days=35)).startswith("35 weeks pregnant on the")
    assert weeks(INCIDENT_DAY).startswith("40 weeks pregnant on the incident day")
    assert weeks(INCIDENT_DAY + timedelta(days=280)).startswith("0 weeks pregnant")
    assert weeks(INCIDENT_DAY + timedelta(days=100), INCIDENT_DAY + timedelta(days=1)) == (
        "25 weeks and 5 days pregnant on the incident day; 25 weeks and 6 days pregnant today"
    )
    assert weeks(INCIDENT_DAY, INCIDENT_DAY + timedelta(days=9)).endswith(
        "41 weeks and 2 days pregnant (past the expected date of delivery) today"
    )


class Inbox:
    """A signed-in duty worker, the deliver worker's token, and the audit log."""

    def __init__(self, client: httpx.AsyncClient, audit: MemoryAudit) -> None:
        self.client, self.audit = client, audit

    async def raise_task(self, cmd: RaiseTask) -> str:
        headers = {"Idempotency-Key": cmd.idempotency_key, **bearer()}
        answer = await self.client.post(
            "/api/tasks", content=cmd.model_dump_json(), headers=headers
        )
        return str(answer.json()["task_id"])

    async def page(self, task_id: str) -> str:
        return (await self.client.get(f"/tasks/{task_id}")).text


@pytest.fixture
async def inbox(tmp_path: Path) -> AsyncIterator[Inbox]:
    db, audit = tmp_path / "inbox.sqlite3", MemoryAudit()
    app = inbox_app(db, clock=lambda: OCCURRED_AT + timedelta(days=6), audit=audit)
    add_user(db)
    add_client(db)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://inbox") as client:
        await sign_in(client)
        yield Inbox(client, audit)


def _text(html: str) -> str:
    """The page's text, tags removed and spaces collapsed."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


async def test_the_page_says_what_the_task_is_for_before_the_evidence(inbox: Inbox) -> None:
    html = await inbox.page(await inbox.raise_task(sample_raise_task(people=[MOTHER, STRANGER])))
    purpose = html.index(
        "Local protocol requires a strategy discussion and a decision on a section"
    )
    assert purpose < html.index('id="who"') < html.index('id="history"')
    assert html.index('id="history"') < html.index("Evidence (for review)")
    assert html.index("Evidence (for review)") < html.index("carer is party")
    text = _text(html)
    assert "24 weeks and 1 day old on the incident day; 25 weeks old today" in text
    assert "NHS 485 777 3456" in text
    assert "Imelda Quarrington P1 victim 14 Mar 1996 the baby's mother same name and date" in text
    assert (
        "Barnaby Ulverstone P2 suspect 02 Nov 1991 not known to be family not matched to the family"
        in text
    )
    assert "P1: 0.97" in text


async def test_a_review_asks_whether_this_is_the_family(inbox: Inbox) -> None:
    text = _text(await inbox.page(await inbox.raise_task(sample_raise_task(outcome="review"))))
    assert "Decide whether this is the family: “Same family” makes this task a child" in text
    assert "“Not this family” closes it." in text and "section 47" not in text
    assert "not worked out when this task was raised" in text  # a task from before `people`


async def test_an_unborn_childs_page_gives_the_weeks_of_pregnancy(inbox: Inbox) -> None:
    unborn = sample_subject(
        "U1", kind="unborn", date_of_birth=None, expected_delivery_date=date(2026, 9, 3)
    )
    text = _text(await inbox.page(await inbox.raise_task(sample_raise_task(subject=unborn))))
    assert "Expected delivery 03 Sep 2026 Weeks of pregnancy 35 weeks pregnant on the" in text


async def test_the_streams_marks_are_said_in_words_at_the_top(inbox: Inbox) -> None:
    cmd = sample_raise_task(
        needs_confirmation=True,
        confirmation_reason=DOUBT,
        changes=["born on 2 Aug 2026, now child record C000123", DOUBT],
        queue="edt",
        late=True,
        late_reason="the register learned of the pregnancy after the incident",
    )
    html = await inbox.page(await inbox.raise_task(cmd))
    notice = html[html.index('id="needs-confirmation"') : html.index('id="actions"')]
    assert 'role="alert"' in html and "Needs confirmation." in notice
    assert (
        f"The register has learned more since this task was raised: {DOUBT}. Confirm or close it."
        in notice
    )
    assert "in the emergency duty team's queue (edt)" in notice
    assert "Raised late:</strong> the register learned of the pregnancy" in notice
    assert "<li>born on 2 Aug 2026, now child record C000123</li>" in notice
    plain = await inbox.page(await inbox.raise_task(sample_raise_task("MPS-2", "C2")))
    assert 'class="notice' not in plain


async def test_the_history_section_links_the_family_and_dwellings_earlier_tasks(
    inbox: Inbox,
) -> None:
    alone = await inbox.raise_task(sample_raise_task("MPS-2026-000001"))
    assert "No earlier incidents for this family or dwelling in the last 12 months." in (
        await inbox.page(alone)
    )
    assert ("view", "viewed_history") not in inbox.audit.kinds()
    earlier = (OCCURRED_AT - timedelta(days=40)).isoformat()
    old = sample_incident("MPS-2026-000002", occurred_at=earlier)
    before = await inbox.raise_task(sample_raise_task("MPS-2026-000002", incident=old))
    html = await inbox.page(alone)
    assert "No earlier incidents" not in html
    row = html[html.index('<tr class="earlier">') :]
    assert f'<a href="/tasks/{before}">MPS-2026-000002</a>' in row
    assert "same family and same dwelling" in row and "none yet" in row
    assert ("view", "viewed_history") in inbox.audit.kinds()
    later = _text(await inbox.page(before))
    assert "No earlier incidents" in later and "MPS-2026-000001 " in later and " later " in later
