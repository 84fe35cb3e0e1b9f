"""Integration fixtures: one embedded Tansu broker per test session, a duty inbox per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.kafka.broker import EmbeddedBroker
from tests.support.duty_inbox import serve_duty_inbox
from tests.support.stack import Stack, running_stack


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The session's broker: KAFKA_TEST_BOOTSTRAP_SERVERS if set, else an embedded Tansu."""
    external = os.environ.get("KAFKA_TEST_BOOTSTRAP_SERVERS")
    if external:
        yield external
        return
    log = tmp_path_factory.mktemp("broker") / "tansu.log"
    with EmbeddedBroker(log_path=log) as embedded:
        yield embedded.bootstrap


@pytest.fixture
def inbox(tmp_path: Path) -> Iterator[str]:
    """A real duty inbox on a loopback port."""
    with serve_duty_inbox(tmp_path / "inbox.sqlite3") as url:
        yield url


@pytest.fixture
def stack(broker: str, inbox: str, tmp_path: Path) -> Iterator[Stack]:
    """A worker on the session broker, with its own topics, raising tasks in `inbox`."""
    with running_stack(broker, inbox, tmp_path) as running:
        yield running
