"""The duty inbox in a real browser: headless Chromium signs in, filters, searches, opens a task,
reads what it is for, who is in it and the family's history, acknowledges it and records its
outcome, and sees overdue tasks and tasks that need confirmation marked in words and colour.

It drives Debian's `chromium` (`make tools` installs it) through Playwright, never a browser
downloaded by Playwright; it is skipped only when no chromium is installed.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from schemas.task import RaiseTask, TaskPerson
from tests.support.duty_inbox import PASSWORD, add_user, bearer, serve_duty_inbox
from tests.support.samples import OCCURRED_AT, sample_raise_task, sample_subject

pytestmark = pytest.mark.integration

#: The inbox's time: four hours after the sample incident, so only a task due then is overdue.
NOW = OCCURRED_AT + timedelta(hours=4)
CHROMIUM = os.environ.get("DVTRIGGER_CHROMIUM") or shutil.which("chromium") or ""
PEOPLE = [
    TaskPerson(
        person_ref="P1",
        role="victim",
        known_as="the baby's mother",
        how="same name and date of birth",
    ),
    TaskPerson(person_ref="P2", role="suspect", how="not matched to the family"),
]
DOUBT = "the register now records a later date of birth"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium from the system's package."""
    if not CHROMIUM:
        pytest.skip("no chromium installed (`make tools` installs Debian's chromium package)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def inbox(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """A duty inbox on loopback holding three tasks; its URL and each task's id by name.

    All three are at one home, so each is in the others' history; one needs confirmation.
    """
    db = tmp_path / "inbox.sqlite3"
    with serve_duty_inbox(db, clock=lambda: NOW) as url:
        add_user(db)
        other = sample_subject("C2", "Zebedee", nhs_number="9434765919", carers=[])
        doubt = {"needs_confirmation": True, "confirmation_reason": DOUBT}
        tasks = {
            "overdue": sample_raise_task("MPS-2026-004242", due_by=OCCURRED_AT, people=PEOPLE),
            "other": sample_raise_task("MPS-2026-000077", "C2", subject=other, **doubt),
            "review": sample_raise_task("MPS-2026-000078", "C3", outcome="review"),
        }
        yield url, {name: _raise(url, cmd) for name, cmd in tasks.items()}


def _raise(url: str, cmd: RaiseTask) -> str:
    headers = {"Idempotency-Key": cmd.idempotency_key, **bearer()}
    answer = httpx.post(f"{url}/api/tasks", content=cmd.model_dump_json(), headers=headers)
    assert answer.status_code == 201, answer.status_code
    return str(answer.json()["task_id"])


def _signed_in(browser: Browser, url: str) -> Page:
    page = browser.new_page(base_url=url)
    page.goto("/")
    expect(page).to_have_url(f"{url}/sign-in")
    page.fill("#username", "dana")
    page.fill("#password", PASSWORD)
    page.click("button:text('Sign in')")
    expect(page.locator("h1")).to_have_text("Tasks")
    return page


def test_the_duty_team_works_a_task_in_a_real_browser(
    browser: Browser, inbox: tuple[str, dict[str, str]]
) -> None:
    url, ids = inbox
    page = _signed_in(browser, url)
    expect(page.locator("#count")).to_have_text("3 tasks match.")
    overdue = page.locator(f"#task-{ids['overdue']} .tag.overdue")
    expect(overdue).to_have_text("overdue")
    expect(overdue).to_have_css("background-color", "rgb(11, 12, 12)")
    expect(page.locator(f"#task-{ids['overdue']} .overdue-time")).to_have_css(
        "color", "rgb(212, 53, 28)"
    )
    expect(page.locator(".tag.overdue")).to_have_count(1)
    confirm = page.locator(f"#task-{ids['other']} .tag.confirm")
    expect(confirm).to_have_text("needs confirmation")
    expect(page.locator(f"#task-{ids['overdue']}")).to_contain_text(
        "Victim is the baby's mother; at the home; DASH medium"
    )
    page.check("input[name=confirm]")
    page.click("button:text('Filter')")
    expect(page.locator("table.tasks tr[id]")).to_have_count(1)
    expect(page.locator(f"#task-{ids['other']}")).to_be_visible()
    page.click(f"#task-{ids['other']} a")
    expect(page.get_by_role("alert")).to_contain_text(
        f"The register has learned more since this task was raised: {DOUBT}. Confirm or close it."
    )
    page.goto("/")

    page.check("input[name=overdue]")
    page.click("button:text('Filter')")
    expect(page).to_have_url(re.compile(r"/\?.*overdue=1"))  # a list that can be bookmarked
    expect(page.locator("table.tasks tr[id]")).to_have_count(1)
    expect(page.locator(f"#task-{ids['overdue']}")).to_be_visible()
    page.click("text=Clear")
    page.fill("input[name=q]", "ZEBEDEE")
    page.click("button:text('Filter')")
    expect(page.locator("table.tasks tr[id]")).to_have_count(1)
    expect(page.locator(f"#task-{ids['other']}")).to_contain_text("Zebedee Quarrington")
    page.fill("input[name=q]", "943 476 5919")
    page.click("button:text('Filter')")
    expect(page.locator(f"#task-{ids['other']}")).to_be_visible()
    page.fill("input[name=q]", "")
    page.select_option("select[name=priority]", "high")
    page.click("button:text('Filter')")
    expect(page.locator("table.tasks tr[id]")).to_have_count(1)
    expect(page.locator(f"#task-{ids['review']}")).to_be_visible()

    page.goto("/")
    page.click(f"#task-{ids['overdue']} a")
    expect(page.locator("h1")).to_contain_text("Child protection investigation")
    expect(page.locator("#purpose")).to_contain_text(
        "Local protocol requires a strategy discussion"
    )
    mother = page.locator("#people tr", has_text="Imelda Quarrington")
    expect(mother).to_contain_text("the baby's mother")
    expect(mother).to_contain_text("same name and date of birth")
    expect(page.locator("#history")).to_have_text("History (last 12 months)")
    expect(page.locator("table.history tr.earlier")).to_have_count(2)
    expect(page.locator("table.history")).to_contain_text("same family and same dwelling")
    page.click("table.history a:text('MPS-2026-000078')")
    expect(page).to_have_url(f"{url}/tasks/{ids['review']}")
    expect(page.locator("#purpose")).to_contain_text("Decide whether this is the family")
    page.go_back()
    expect(page.locator("#actions form[action$='/outcome']")).to_have_count(0)
    page.click("button:text('Acknowledge')")
    expect(page).to_have_url(f"{url}/tasks/{ids['overdue']}")
    no_action = page.locator("form:has(input[value=no_further_action])")
    expect(no_action).to_contain_text("overrides the automated trigger")
    no_action.locator("textarea[name=reason]").fill("Known to the family's social worker")
    no_action.locator("button").click()
    expect(page.locator(".recorded")).to_have_text(
        "No further action (overrides the automated trigger)"
    )
    expect(page.locator(".reason")).to_have_text("Reason: Known to the family's social worker")
    expect(page.locator("#actions form")).to_have_count(0)

    page.goto("/")
    expect(page.locator("#count")).to_have_text("2 tasks match.")
    expect(page.locator(".tag.overdue")).to_have_count(0)
    page.goto("/?status=closed")
    expect(page.locator(f"#task-{ids['overdue']}")).to_contain_text("closed")


def test_a_review_is_found_the_same_family_then_closed_after_a_strategy_discussion(
    browser: Browser, inbox: tuple[str, dict[str, str]]
) -> None:
    url, ids = inbox
    page = _signed_in(browser, url)
    page.click(f"#task-{ids['review']} a")
    page.click("button:text('Acknowledge')")
    review = page.locator("form:has(input[value=same_family])")
    review.locator("input[value=same_family]").check()
    review.locator("textarea[name=reason]").fill("Same home and the same carers")
    review.locator("button").click()
    expect(page.locator("h1")).to_contain_text("Child protection investigation")
    held = page.locator("form:has(input[value=strategy_discussion_held])")
    held.locator("input[name=held_on]").fill(NOW.date().isoformat())
    held.locator("button").click()
    expect(page.locator(".recorded").last).to_have_text("Strategy discussion held on 30 Jul 2026")
    page.goto("/?status=all")
    expect(page.locator(f"#task-{ids['review']}")).to_contain_text("Child protection investigation")
