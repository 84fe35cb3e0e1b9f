"""What ties a task to earlier ones (`streams.domain.history.task_keys`)."""

from __future__ import annotations

from typing import Any

from schemas.register import Carer
from schemas.shared import Address
from schemas.task import RaiseTask
from streams.domain.history import task_keys
from tests.support.samples import sample_incident, sample_raise_task, sample_subject

ELSEWHERE = {"lines": ["Bus stop", "West Green Road"], "postcode": None}
STRANGER = {
    "person_ref": "P1",
    "role": "victim",
    "given_name": "Ottoline",
    "family_name": "Pemberton",
    "date_of_birth": "1988-05-05",
}


def shared(a: RaiseTask, b: RaiseTask) -> set[str]:
    """The kinds of key two tasks share."""
    return {kind for kind, _ in task_keys(a) & task_keys(b)}


def other_family(incident_id: str = "MPS-2026-000002", **subject: Any) -> RaiseTask:
    """A task for another child, carers and address, after an incident elsewhere."""
    away = Address(lines=["12 Larch Close"], postcode="E17 3LC")
    fields = {"address": away, "carers": [], **subject}
    return sample_raise_task(
        incident_id,
        subject_ref="C009999z",
        subject=sample_subject("C009999z", **fields),
        incident=sample_incident(incident_id, location=ELSEWHERE, persons=[STRANGER]),
    )


def test_the_same_child_is_the_same_family_and_dwelling() -> None:
    assert shared(sample_raise_task("MPS-2026-000001"), sample_raise_task("MPS-2026-000002")) == {
        "family",
        "dwelling",
    }


def test_strangers_elsewhere_share_nothing() -> None:
    assert shared(sample_raise_task(), other_family()) == set()


def test_a_carer_ref_ties_the_unborn_task_to_the_child_task() -> None:
    mother = Carer(person_ref="H0000257", relationship="mother")
    assert shared(sample_raise_task(), other_family(carers=[mother])) == {"family"}


def test_the_same_dwelling_written_another_way_ties_two_families() -> None:
    same_flat = Address(lines=["flat 7, 231 west green rd"], postcode="n87dw")
    assert shared(sample_raise_task(), other_family(address=same_flat)) == {"dwelling"}


def test_another_flat_in_the_same_building_is_not_the_same_dwelling() -> None:
    next_door = Address(lines=["Flat 8", "231 West Green Road"], postcode="N8 7DW")
    assert shared(sample_raise_task(), other_family(address=next_door)) == set()


def test_an_adult_named_by_name_and_date_of_birth_ties_police_report_tasks() -> None:
    reported = sample_incident("MPS-2026-000003", location=ELSEWHERE, persons=[STRANGER])
    first = other_family()
    second = sample_raise_task(
        "MPS-2026-000003",
        subject=sample_subject("C000001a", address=None, carers=[]),
        incident=reported,
    )
    assert shared(first, second) == {"family"}


def test_keys_carry_no_personal_data() -> None:
    text = " ".join(key for _, key in task_keys(sample_raise_task()))
    for value in ("Quarrington", "1996-03-14", "N8 7DW", "C002916a", "H0000257"):
        assert value.lower() not in text.lower()
