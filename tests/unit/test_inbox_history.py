"""A task's history in the duty inbox: other tasks of the same family or dwelling, within a year."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors.duty_inbox.history import history_of
from connectors.duty_inbox.retention import purge_closed_tasks
from connectors.duty_inbox.store import TaskStore, UnknownTask
from schemas.register import Carer
from schemas.shared import Address
from schemas.task import RaiseTask
from tests.support.duty_inbox import close_task
from tests.support.samples import OCCURRED_AT, sample_incident, sample_raise_task, sample_subject
from tests.unit.test_history_keys import ELSEWHERE, STRANGER

COUNCIL = "E09000014"
MOTHER = Carer(person_ref="H0000257", relationship="mother")
AWAY = Address(lines=["12 Larch Close"], postcode="E17 3LC")
ELSEWHERE_HOME = Address(lines=["3 Orchard Row"], postcode="E5 8QQ")


def task(
    incident_id: str, subject_ref: str = "C002916a", days: int = 0, **fields: Any
) -> RaiseTask:
    """A task `days` after the sample incident; `away="Name"` puts its incident elsewhere, with
    an adult of that given name its only person."""
    moment = OCCURRED_AT + timedelta(days=days)
    at = {
        "occurred_at": moment.isoformat(),
        "reported_at": (moment + timedelta(hours=3)).isoformat(),
    }
    away = fields.pop("away", "")
    if away:
        at |= {"location": ELSEWHERE, "persons": [STRANGER | {"given_name": away}]}
    subject = fields.pop("subject", None) or sample_subject(subject_ref)
    return sample_raise_task(
        incident_id,
        subject_ref,
        subject=subject,
        incident=sample_incident(incident_id, **at),
        **fields,
    )


def other_family(subject_ref: str, **subject: Any) -> Any:
    """Another child, with no carers, living away from the sample home."""
    return sample_subject(
        subject_ref, given_name="Zebedee", **({"address": AWAY, "carers": []} | subject)
    )


@pytest.fixture
def store(tmp_path: Path) -> TaskStore:
    return TaskStore(tmp_path / "inbox.sqlite3")


def raise_all(store: TaskStore, tasks: dict[str, RaiseTask]) -> dict[str, str]:
    return {name: store.raise_task(cmd).task_id for name, cmd in tasks.items()}


def seen(
    store: TaskStore, task_id: str, councils: frozenset[str] | None = None
) -> list[tuple[str, tuple[str, ...], str]]:
    return [(r.record.task.incident_id, r.ties, r.when) for r in store.history(task_id, councils)]


def test_history_finds_the_family_and_the_dwelling_within_a_year(store: TaskStore) -> None:
    unborn = other_family("U000001", kind="unborn", carers=[MOTHER], date_of_birth=None)
    flat = Address(lines=["flat 7, 231 west green rd"], postcode="n87dw")
    ids = raise_all(
        store,
        {
            "now": task("MPS-2026-000010"),
            "same_child": task("MPS-2026-000009", days=-60, outcome="review"),
            "unborn": task(
                "MPS-2026-000008", "U000001", days=-200, subject=unborn, away="Ottoline"
            ),
            "same_flat": task(
                "MPS-2026-000007",
                "C7",
                days=-100,
                subject=other_family("C7", address=flat),
                away="Perpetua",
            ),
            "stranger": task(
                "MPS-2026-000006",
                "C6",
                days=-30,
                subject=other_family("C6", address=ELSEWHERE_HOME),
                away="Quentin",
            ),
            "too_old": task("MPS-2026-000005", days=-396),
            "other_council": task("MPS-2026-000004", days=-10, local_authority="E09000001"),
            "later": task("MPS-2026-000011", days=20),
            "sibling": task(
                "MPS-2026-000010", "C3", subject=sample_subject("C3", given_name="Zebedee")
            ),
        },
    )
    close_task(store, ids["same_child"])
    ours = frozenset({COUNCIL})
    assert seen(store, ids["now"], ours) == [
        ("MPS-2026-000011", ("family", "dwelling"), "later"),
        ("MPS-2026-000010", ("family", "dwelling"), "same_incident"),
        ("MPS-2026-000009", ("family", "dwelling"), "earlier"),
        ("MPS-2026-000007", ("dwelling",), "earlier"),
        ("MPS-2026-000008", ("family",), "earlier"),
    ]
    assert "MPS-2026-000004" in [i for i, _, _ in seen(store, ids["now"])]  # every council's
    closed = history_of(ids["now"], store.history(ids["now"], ours)).tasks[2]
    assert (closed.task_type, closed.status, closed.review_result) == (
        "match_review",
        "closed",
        "not_this_family",
    )
    assert closed.review_reason == "another family"
    assert seen(store, ids["stranger"], ours) == []
    old = {i for i, _, _ in seen(store, ids["too_old"], ours)}  # later, within its year only
    assert old == {"MPS-2026-000009", "MPS-2026-000008", "MPS-2026-000007"}


def test_a_task_of_another_council_has_no_history_for_the_caller(store: TaskStore) -> None:
    theirs = store.raise_task(task("MPS-2026-000004", local_authority="E09000001")).task_id
    with pytest.raises(UnknownTask):
        store.history(theirs, frozenset({COUNCIL}))
    with pytest.raises(UnknownTask):
        store.history("no-such-task")


def test_an_update_refiles_the_task_under_its_new_keys(store: TaskStore) -> None:
    first = store.raise_task(task("MPS-2026-000001")).task_id
    moved = store.raise_task(
        task("MPS-2026-000002", "C2", subject=other_family("C2"), away="Rosamund")
    ).task_id
    assert seen(store, first) == []
    same_home = other_family("C2", address=sample_subject().address)
    store.raise_task(task("MPS-2026-000002", "C2", revision=2, subject=same_home, away="Sebastian"))
    assert seen(store, first) == [("MPS-2026-000002", ("dwelling",), "earlier")]
    assert seen(store, moved) == [("MPS-2026-000001", ("dwelling",), "earlier")]


def test_a_database_from_before_history_is_filed_at_start_up(tmp_path: Path) -> None:
    path = tmp_path / "inbox.sqlite3"
    store = TaskStore(path)
    first = store.raise_task(task("MPS-2026-000001")).task_id
    store.raise_task(task("MPS-2026-000002", days=-7))
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE task_keys")
    assert seen(TaskStore(path), first) == [("MPS-2026-000002", ("family", "dwelling"), "earlier")]


def test_a_purged_task_takes_its_keys_with_it(tmp_path: Path) -> None:
    path = tmp_path / "inbox.sqlite3"
    store = TaskStore(path)
    first = store.raise_task(task("MPS-2026-000001")).task_id
    old = store.raise_task(task("MPS-2026-000002", days=-7)).task_id
    close_task(store, old)
    assert purge_closed_tasks(path, OCCURRED_AT + timedelta(days=400), 30).task_ids == [old]
    with sqlite3.connect(path) as db:
        assert (
            db.execute("SELECT count(*) FROM task_keys WHERE task_id = ?", (old,)).fetchone()[0]
            == 0
        )
    assert seen(store, first) == []


def test_the_keys_table_holds_no_personal_data(tmp_path: Path) -> None:
    path = tmp_path / "inbox.sqlite3"
    TaskStore(path).raise_task(task("MPS-2026-000001"))
    with sqlite3.connect(path) as db:
        text = " ".join(str(v) for row in db.execute("SELECT * FROM task_keys") for v in row)
    for value in ("quarrington", "1996-03-14", "n8 7dw", "c002916a", "h0000257"):
        assert value not in text.lower()
