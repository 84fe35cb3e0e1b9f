"""Blocking keys: each way the police may write a carer still finds the family; namesakes do not."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from schemas.police import PolicePerson
from schemas.shared import Address
from streams.domain.matching.blocking import (
    CAPPED,
    COMMON_NAME_SUBJECTS,
    name_ends,
    person_keys,
    record_keys,
)
from streams.domain.register.index import RegisterIndex
from streams.domain.register.records import AddressSpan, CarerRecord, SubjectRecord
from tests.support.samples import victim_incident

BORN = date(1994, 8, 30)
#: The year of the incidents: a reported age is worked out on it.
YEAR = 2026
#: Keys that find a family whatever the register's size: not names alone or an initial with
#: a year (skipped when common), not addresses (the police person below lives elsewhere).
ADDRESSES = ("building:", "uprn:", "pn:")


def family(
    given: str = "Katherine",
    surname: str = "Okonkwo",
    born: date = BORN,
    partner: str | None = None,
    ref: str = "U1",
) -> SubjectRecord:
    """An unborn subject whose mother is `given surname`, with a father called `partner`."""
    carers = [
        CarerRecord(
            person_ref=f"M-{ref}",
            relationships=("mother",),
            given_names=(given,),
            family_names=(surname,),
            dates_of_birth=(born,),
        )
    ]
    if partner:
        carers.append(
            CarerRecord(person_ref=f"F-{ref}", relationships=("father",), family_names=(partner,))
        )
    home = Address(lines=["12 High Road"], postcode="N8 7DW")
    return SubjectRecord(
        subject_ref=ref,
        kind="unborn",
        carers=tuple(carers),
        addresses=(AddressSpan(effective_from=date(2025, 1, 1), address=home),),
    )


def person(**fields: Any) -> PolicePerson:
    """A victim with no address of their own."""
    return PolicePerson.model_validate({"person_ref": "P1", "role": "victim", **fields})


def found(record: SubjectRecord, someone: PolicePerson) -> bool:
    """Whether the person shares a key with the record that is looked up at any size."""
    keys = {k for k in record_keys(record) if not k.startswith((*ADDRESSES, *CAPPED))}
    return bool(keys & person_keys(someone, YEAR))


def edits(word: str) -> set[str]:
    """Every word one typing error from `word`: substitution, deletion, insertion, transposition."""
    out = {word[:i] + "Q" + word[i + 1 :] for i in range(len(word))}
    out |= {word[:i] + word[i + 1 :] for i in range(len(word))}
    out |= {word[:i] + "Q" + word[i:] for i in range(len(word) + 1)}
    out |= {word[:i] + word[i + 1] + word[i] + word[i + 2 :] for i in range(len(word) - 1)}
    return out - {word, ""}


@pytest.mark.parametrize("word", ["JO", "EVE", "ROSA", "ANNA", "EMILY", "AMBER", "KATHERINE"])
def test_one_typing_error_leaves_one_end_of_a_name(word: str) -> None:
    for typo in edits(word):
        if len(word) == 2 and typo == word[::-1]:
            continue  # two letters swapped in a two-letter name: documented, not found
        assert name_ends(word) & name_ends(typo), typo


@pytest.mark.parametrize("given", ["Katherine", "Eve", "Rosa", "Amber"])
def test_a_typing_error_in_the_given_name_finds_the_family(given: str) -> None:
    record = family(given=given)
    for typo in edits(given.upper()):
        assert found(record, person(given_name=typo, family_name="Okonkwo", date_of_birth=BORN))


@pytest.mark.parametrize("surname", ["Okonkwo", "Li", "Ford", "Smith"])
def test_a_typing_error_in_the_family_name_finds_the_family(surname: str) -> None:
    record = family(surname=surname)
    for typo in edits(surname.upper()):
        assert found(record, person(given_name="Katherine", family_name=typo, date_of_birth=BORN))


@pytest.mark.parametrize(
    ("registered", "written"),
    [
        ("Katherine", "Kate"),
        ("Kate", "Katherine"),
        ("William", "Bill"),
        ("Mohammed", "Muhammad"),
        ("Margaret", "Peggy"),
    ],
)
def test_a_short_form_or_another_form_finds_the_family(registered: str, written: str) -> None:
    record = family(given=registered)
    assert found(record, person(given_name=written, family_name="Okonkwo", date_of_birth=BORN))
    aged = person(given_name=written, family_name="Okonkwo", age_years=31)
    assert found(record, aged)


@pytest.mark.parametrize(
    "written",
    [
        BORN + timedelta(days=1),
        BORN - timedelta(days=1),
        BORN.replace(year=BORN.year - 1),
        BORN.replace(year=BORN.year + 1),
        date(1994, 8, 3),  # digits of the day: the year is right
    ],
)
def test_a_date_of_birth_a_day_or_a_year_off_finds_the_family(written: date) -> None:
    assert found(
        family(), person(given_name="Katherine", family_name="Okonkwo", date_of_birth=written)
    )


def test_a_day_off_across_new_year_and_day_and_month_swapped_find_the_family() -> None:
    record = family(born=date(1994, 12, 31))
    new_year = person(given_name="Katherine", family_name="Okonkwo", date_of_birth="1995-01-01")
    assert found(record, new_year)
    record = family(born=date(1994, 3, 7))
    swapped = person(given_name="Katherine", family_name="Okonkwo", date_of_birth="1994-07-03")
    assert found(record, swapped)


def test_names_swapped_a_middle_name_or_a_title_find_the_family() -> None:
    record = family()
    for given, surname in [
        ("Okonkwo", "Katherine"),
        ("Katherine Ada", "Okonkwo"),
        ("Mrs Katherine", "OKONKWO"),
    ]:
        assert found(record, person(given_name=given, family_name=surname, date_of_birth=BORN))


def test_a_missing_or_initial_given_name_finds_the_family_by_surname_and_date() -> None:
    record = family()
    assert found(record, person(family_name="Okonkwo", date_of_birth=BORN))
    assert found(record, person(given_name="K", family_name="Okonkwo", date_of_birth=BORN))
    a_year_off = BORN.replace(year=BORN.year + 1)
    assert found(record, person(given_name="K", family_name="Okonkwo", date_of_birth=a_year_off))


def test_a_given_name_written_as_an_initial_with_a_date_finds_the_family_by_the_date() -> None:
    """ "K. Okonkwa": an initial, a typing error in the surname, the right date of birth."""
    for given in ("K.", "K"):
        assert found(family(), person(given_name=given, family_name="Okonkwa", date_of_birth=BORN))


def initial_and_age(surname: str = "Okonkwo") -> Any:
    return victim_incident(given_name="K.", family_name=surname, age_years=31)


def test_an_initial_with_a_reported_age_finds_the_family_while_the_surname_is_uncommon() -> None:
    index = RegisterIndex([family(), family("Kemi", "Okonkwo", date(1960, 1, 1), ref="OLD")])
    assert [r.subject_ref for r in index.candidates(initial_and_age())] == ["U1"]
    assert [r.subject_ref for r in index.candidates(initial_and_age("Okonkwa"))] == ["U1"]


def test_an_initial_with_a_reported_age_is_not_looked_up_when_too_many_share_it() -> None:
    """A surname, an initial and a birth year cannot single anyone out among many."""
    records = [
        family(f"K{'a' * (n % 7)}tie", "Okonkwo", date(1994, 1 + n % 12, 1 + n % 28), ref=f"U{n}")
        for n in range(COMMON_NAME_SUBJECTS + 1)
    ]
    index = RegisterIndex(records)
    assert index.candidates(initial_and_age()) == []


def test_a_partners_surname_or_another_surname_finds_the_family() -> None:
    record = family(partner="Brennan")
    assert found(record, person(given_name="Katherine", family_name="Brennan", date_of_birth=BORN))
    assert found(record, person(given_name="Katherine", family_name="Brenan", date_of_birth=BORN))
    married = person(given_name="Katherine", family_name="Zielinski", date_of_birth=BORN)
    assert found(record, married)  # a surname the register has never seen: date and given name


def test_another_given_name_with_surname_and_date_finds_the_family() -> None:
    """Same surname and date, a given name unlike (one used day to day): review-worthy."""
    for given in ("Kemi", "Ada"):
        assert found(family(), person(given_name=given, family_name="Okonkwo", date_of_birth=BORN))


def test_one_part_of_a_double_barrelled_surname_finds_the_family() -> None:
    record = family(surname="Okonkwo-Hill")
    for surname in ("Okonkwo", "Hill", "Okonkwo Hill"):
        assert found(
            record, person(given_name="Katherine", family_name=surname, date_of_birth=BORN)
        )
    record = family(surname="Okonkwo")
    double = person(given_name="Katherine", family_name="Okonkwo-Hill", date_of_birth=BORN)
    assert found(record, double)


@pytest.mark.parametrize("age", [29, 30, 31, 32, 33])
def test_an_estimated_age_instead_of_a_date_finds_the_family(age: int) -> None:
    """Born 1994-08-30: 31 in 2026 (or 32 after August); an estimate two years off still finds."""
    assert found(family(), person(given_name="Katherine", family_name="Okonkwo", age_years=age))


def test_an_estimated_age_and_a_typing_error_find_the_family() -> None:
    record = family(given="Amber", surname="Okonkwo")
    for typo in edits("AMBER"):
        assert found(record, person(given_name=typo, family_name="Okonkwo", age_years=31))
    for typo in edits("OKONKWO"):
        assert found(record, person(given_name="Amber", family_name=typo, age_years=31))


def test_a_stranger_shares_no_key() -> None:
    stranger = person(given_name="Zoe", family_name="Abara", date_of_birth="1970-06-06")
    assert not found(family(), stranger)


def test_namesakes_of_a_common_surname_and_an_initial_are_not_candidates() -> None:
    """A thousand Smiths born the same year whose given names share Jane's first letter only."""
    others = ("Julia", "Joanna", "Jessica", "Judith", "Jocelyn")
    records = [
        family(others[n % 5], "Smith", date(1990, 1 + n % 12, 1 + n % 27), ref=f"U{n}")
        for n in range(1000)
    ]
    records.append(family("Jane", "Smith", date(1990, 3, 28), ref="JANE"))
    index = RegisterIndex(records)
    victim = person(given_name="Jane", family_name="Smith", date_of_birth="1990-03-28")
    incident = victim_incident(**victim.model_dump(mode="json", exclude={"person_ref", "role"}))
    assert [r.subject_ref for r in index.candidates(incident)] == ["JANE"]


@pytest.mark.parametrize(("given", "surname"), [("QATHERINE", "OQONKWO"), ("AKTHERINE", "KOONKWO")])
def test_a_typing_error_early_in_both_names_is_found_by_an_exact_date_of_birth(
    given: str, surname: str
) -> None:
    assert found(family(), person(given_name=given, family_name=surname, date_of_birth=BORN))


#: The police person's own address: the family's street and district, another house number.
SAME_STREET = {"lines": ["40 High Rd"], "postcode": "N8 9XY"}


@pytest.mark.parametrize(
    "written",
    [
        {"given_name": "Katherine", "family_name": "Okonkwo", "date_of_birth": "1971-01-05"},
        {"given_name": "Zainab", "family_name": "Okonkwo", "age_years": 31},
        {"given_name": "Katherine", "family_name": "Adeyemi"},
    ],
)
def test_a_replaced_date_of_birth_or_name_is_found_by_the_other_name_and_the_street(
    written: dict[str, Any],
) -> None:
    def by_street(someone: PolicePerson) -> bool:
        keys = {k for k in record_keys(family()) if k.startswith(("fs:", "gs:"))}
        return bool(keys & person_keys(someone, YEAR))

    assert by_street(person(**written, address=SAME_STREET))
    elsewhere = {**SAME_STREET, "postcode": "M1 1AA"}  # the same street name in another city
    assert not by_street(person(**written, address=elsewhere))
