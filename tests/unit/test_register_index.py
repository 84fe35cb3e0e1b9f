"""The register index: upsert, remove, candidates, and bounded blocking keys."""

from __future__ import annotations

from datetime import date
from typing import Any

from schemas.police import PoliceIncident
from schemas.shared import Address
from streams.domain.matching.blocking import COMMON_NAME_SUBJECTS, phonetic, record_keys
from streams.domain.register.index import RegisterIndex
from streams.domain.register.records import AddressSpan, CarerRecord, SubjectRecord
from tests.support.samples import victim_incident


def subject(ref: str, given: str, family: str, born: date, street: int = 1) -> SubjectRecord:
    """An unborn subject with one mother, at a house of its own."""
    mother = CarerRecord(
        person_ref=f"M-{ref}",
        relationships=("mother",),
        given_names=(given,),
        family_names=(family,),
        dates_of_birth=(born,),
    )
    home = Address(lines=[f"{street} Long Road"], postcode=f"AB{street % 90 + 1} 1CD")
    return SubjectRecord(
        subject_ref=ref,
        kind="unborn",
        carers=(mother,),
        addresses=(AddressSpan(effective_from=date(2025, 1, 1), address=home),),
    )


def incident(**person: Any) -> PoliceIncident:
    """An incident elsewhere whose victim is `person`."""
    return victim_incident(**person)


def refs(index: RegisterIndex, found: PoliceIncident) -> list[str]:
    """The candidate refs of an incident."""
    return [r.subject_ref for r in index.candidates(found)]


def test_upsert_replace_and_remove_keep_postings_in_step() -> None:
    first = subject("U1", "Gabriela", "Nguyen", date(1998, 1, 2))
    index = RegisterIndex([first])
    assert len(index) == 1 and index.get("U1") == first
    moved = subject("U1", "Gabriela", "Nguyen", date(1998, 1, 2), street=7)
    index.upsert(moved)
    assert index.refs_for_key("building:1 LONG ROAD") == frozenset()
    assert index.refs_for_key("building:7 LONG ROAD") == {"U1"}
    assert all(index.refs_for_key(key) == {"U1"} for key in record_keys(moved))
    index.remove("U1")
    index.remove("U1")  # unknown: nothing happens
    assert len(index) == 0 and list(index) == []
    assert all(index.refs_for_key(key) == frozenset() for key in record_keys(moved))
    assert index.counts_by_kind() == {}


def test_postings_shared_by_many_subjects_survive_removals() -> None:
    records = [subject(f"U{i}", "Gabriela", "Nguyen", date(1998, 1, 2), i) for i in range(40)]
    index = RegisterIndex(records)
    found = incident(given_name="Gabriela", family_name="Nguyen", date_of_birth="1998-01-02")
    assert len(refs(index, found)) == 40
    for record in records[:39]:
        index.remove(record.subject_ref)
    assert refs(index, found) == ["U39"]


def test_one_letter_typos_and_phonetic_variants_of_a_surname_are_found() -> None:
    index = RegisterIndex([subject("U1", "Gabriela", "Thorncott", date(1998, 1, 2))])
    for family in ("Thorncot", "THORNCOTT", "Thornkott", "Horncott", "Thorncotx"):
        found = incident(given_name="Gabriela", family_name=family, date_of_birth="1998-01-02")
        assert refs(index, found) == ["U1"], family
    for family in ("Thorncot", "Thornkott"):  # no date of birth: by the names alone
        assert refs(index, incident(given_name="Gabriela", family_name=family)) == ["U1"]
    assert phonetic("THORNCOT") == phonetic("THORNKOTT")


def test_a_given_name_typo_or_short_form_is_found_with_the_date_of_birth() -> None:
    index = RegisterIndex([subject("U1", "Katherine", "Nguyen", date(1998, 1, 2))])
    for given in ("Katherina", "Kate", "Katharine"):
        found = incident(given_name=given, family_name="Nguyen", date_of_birth="1998-01-02")
        assert refs(index, found) == ["U1"], given


def test_candidates_stay_few_when_a_surname_is_common() -> None:
    """Thousands of mothers share a surname; an incident finds only those like its person."""
    givens = [a + b for a in ("Ca", "Da", "El", "Fa", "Ga", "Ha", "Is", "Jo") for b in "nrlmst"]
    records = [
        subject(f"U{i}", givens[i % 48], "Smith", date(1980 + i % 25, 1 + i % 12, 1 + i % 28), i)
        for i in range(5000)
    ]
    index = RegisterIndex(records)
    found = incident(given_name="Car", family_name="Smith", date_of_birth="1982-03-03")
    # of 5,000 Smiths: the ~104 called Car Smith (names alone may be a review), and a few by date
    assert 0 < len(refs(index, found)) < len(records) // 10
    stranger = incident(given_name="Zoe", family_name="Smith", date_of_birth="1970-06-06")
    assert refs(index, stranger) == []


# --- common names: counted as namesakes, not looked up alone --------------------------------


def smiths(count: int) -> RegisterIndex:
    """`count` families whose mother is a Jane Smith, each born on another day."""
    return RegisterIndex(
        subject(f"U{n}", "Jane", "Smith", date(1980 + n % 20, 1 + n % 12, 1 + n % 28), street=n)
        for n in range(count)
    )


def test_namesakes_count_families_and_a_pregnancy_and_its_child_are_one() -> None:
    index = smiths(3)
    assert index.namesakes("Jane", "Smith") == 3
    assert index.namesakes("JANE", "smith") == 3
    assert index.namesakes("Jane", "Jones") == 1  # nobody: never below one
    child = SubjectRecord(
        subject_ref="C0",
        kind="child",
        from_pregnancy_ref="U0",
        carers=index.get("U0").carers,  # type: ignore[union-attr]
    )
    index.upsert(child)
    assert index.namesakes("Jane", "Smith") == 3


def test_a_name_too_common_to_single_anyone_out_is_not_looked_up_alone() -> None:
    index = smiths(COMMON_NAME_SUBJECTS + 1)
    assert refs(index, incident(given_name="Jane", family_name="Smith")) == []
    assert index.namesakes("Jane", "Smith") == COMMON_NAME_SUBJECTS + 1
    # With her date of birth (even a year off) or a reported age, she is found.
    born = index.get("U5").carers[0].dates_of_birth[0]  # type: ignore[union-attr]
    found = refs(index, incident(given_name="Jane", family_name="Smith", date_of_birth=born))
    assert "U5" in found and len(found) < COMMON_NAME_SUBJECTS // 4
    a_year_off = born.replace(year=born.year + 1)
    off = refs(index, incident(given_name="Jane", family_name="Smith", date_of_birth=a_year_off))
    assert "U5" in off and len(off) < COMMON_NAME_SUBJECTS
    age = 2026 - born.year - 1
    aged = refs(index, incident(given_name="Jane", family_name="Smith", age_years=age))
    assert "U5" in aged and len(aged) < COMMON_NAME_SUBJECTS


def test_a_name_shared_by_a_few_is_still_looked_up_alone() -> None:
    index = smiths(COMMON_NAME_SUBJECTS)
    found = refs(index, incident(given_name="Jane", family_name="Smith"))
    assert len(found) == COMMON_NAME_SUBJECTS
