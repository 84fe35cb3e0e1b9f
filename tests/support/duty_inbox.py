"""A duty inbox for tests: users, a client credential, sign-in, and a real one on loopback."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from argon2 import PasswordHasher
from fastapi import FastAPI

from connectors.duty_inbox import create_app
from connectors.duty_inbox.store import TaskStore
from connectors.duty_inbox.users import UserStore
from streams.domain.ports.audit import AuditEvent
from streams.domain.ports.case_system import TaskRecord
from streams.domain.ports.task_outcomes import Outcome
from tests.support.loopback import loopback_socket, serve_config

#: Cheap Argon2 parameters, so tests sign in quickly; the app's default ones are the real ones.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
PASSWORD = "correct horse battery staple"
#: The token of the client credential `serve_duty_inbox` provisions (every council, may raise).
TEST_CLIENT_TOKEN = "test-client-token-0123456789abcdefghijklmnop"
COUNCIL = "E09000014"  # the council of `sample_raise_task`


class MemoryAudit:
    """An audit log in a list, for tests."""

    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    def append(self, event: AuditEvent) -> None:
        self.events.append(event)

    def append_many(self, events: list[AuditEvent]) -> None:
        self.events.extend(events)

    def kinds(self) -> list[tuple[str, str]]:
        return [(event.kind, event.action) for event in self.events]


def inbox_app(db_path: str | Path, **kwargs: Any) -> FastAPI:
    """The duty inbox app with cheap password hashing."""
    return create_app(db_path, password_hasher=FAST_HASHER, **kwargs)


def add_user(
    db_path: str | Path,
    username: str = "dana",
    roles: Iterable[str] = ("duty_worker",),
    councils: Iterable[str] = (COUNCIL,),
) -> None:
    """A local user with the test password."""
    UserStore(db_path, hasher=FAST_HASHER).add_user(username, PASSWORD, roles, councils)


def add_client(
    db_path: str | Path,
    name: str = "deliver",
    councils: Iterable[str] = ("*",),
    may_raise_tasks: bool = True,
    token: str | None = TEST_CLIENT_TOKEN,
) -> str:
    """An API client credential; returns its token."""
    store = UserStore(db_path, hasher=FAST_HASHER)
    return store.add_client(name, councils, may_raise_tasks, token=token)


def bearer(token: str = TEST_CLIENT_TOKEN) -> dict[str, str]:
    """The Authorization header of a client token."""
    return {"Authorization": f"Bearer {token}"}


def hidden_csrf(html: str) -> str:
    """The CSRF token in a page's first form."""
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


async def sign_in(
    browser: httpx.AsyncClient, username: str = "dana", password: str = PASSWORD
) -> str:
    """Sign in through the form; returns the session's CSRF token (from the sign-out form)
    when the person may see the inbox, else ""."""
    form = await browser.get("/sign-in")
    data = {"username": username, "password": password, "csrf": hidden_csrf(form.text)}
    response = await browser.post("/sign-in", data=data)
    assert response.status_code == 303, response.text
    home = await browser.get("/")
    return hidden_csrf(home.text) if home.status_code == 200 else ""


@contextmanager
def serve_duty_inbox(db_path: str | Path, **kwargs: Any) -> Iterator[str]:
    """Serve a duty inbox on 127.0.0.1 with the test client credential; yield its base URL.

    The socket is bound here (port 0) and handed to uvicorn, so no other process can take
    the port between choosing and serving.
    """
    app = inbox_app(db_path, **kwargs)
    add_client(db_path)
    config = uvicorn.Config(app, log_level="warning", lifespan="off")
    with serve_config(config, loopback_socket(), what="duty inbox") as url:
        yield url


def close_task(store: TaskStore, task_id: str, by: str = "dana") -> TaskRecord:
    """Close a task as a person does: acknowledge it, then record its outcome."""
    record = store.get(task_id)
    if record.status == "open":
        record = store.acknowledge(task_id)
    if record.task_type == "match_review":
        return store.record_outcome(task_id, Outcome("not_this_family", "another family"), by)
    return store.record_outcome(task_id, Outcome("no_further_action", "known, supported"), by)
