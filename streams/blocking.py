"""Blocking keys: the few keys under which the register files a subject and an incident is
looked up, so a decision never scans the register; pure.

A register subject is filed under each address it had (UPRN, building, postcode)
and each carer's names, dates of birth and NHS number; an incident is looked up
under its location and each involved person's. Keys are strings with a kind
prefix (`np:`, `dob:`, `building:` ...); the index files them by hash.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import suppress
from datetime import date, timedelta
from functools import lru_cache

import jellyfish

from schemas.police import INVOLVED_ROLES, PoliceIncident, PolicePerson
from streams.matching import AGE_TOLERANCE_YEARS
from streams.normalise import PostalAddress, dwelling_parts, given_initials, name_key, name_tokens
from streams.register import CarerRecord, SubjectRecord


def address_keys(address: PostalAddress) -> set[str]:
    """Blocking keys of an address: UPRN, building and postcode.

    A dwelling (flat and building) is always filed under its building too, so
    the building key finds whatever a dwelling key would.
    """
    parts = dwelling_parts(address)
    keys = set() if parts.building_key is None else {f"building:{parts.building_key}"}
    if address.uprn:
        keys.add(f"uprn:{address.uprn}")
    if parts.postcode:
        keys.add(f"postcode:{parts.postcode}")
    return keys


@lru_cache(maxsize=1 << 16)
def _words(name: str) -> frozenset[str]:
    """A name whole and each word of it (for names written in parts), normalised."""
    whole = name_key(name)
    return frozenset(({whole} if whole else set()) | {w for w in name_tokens(name) if len(w) > 1})


@lru_cache(maxsize=1 << 16)
def phonetic(word: str) -> str:
    """The Metaphone code of a normalised name word (the word itself when it has none)."""
    return jellyfish.metaphone(word) or word


def _all_words(names: Iterable[str | None]) -> frozenset[str]:
    """Every word of every name given."""
    return frozenset(w for name in names if name for w in _words(name))


def name_keys(
    given_names: Iterable[str | None],
    family_names: Iterable[str | None],
    years: Iterable[str] = (),
    household: Iterable[str | None] = (),
    initials: bool = False,
    last_letters: bool = True,
) -> set[str]:
    """Blocking keys of a person's names, alone and with a birth year.

    Names alone (`np:`, `ng:`): a given name with the phonetic code of a family
    name, and a family name with the phonetic code of a given name; with `initials`,
    one name with the other's initial (`fi:`, `gi:`). With a birth
    year (`fy:`, `gy:`): one name (phonetically for the family name) and the first
    or last letter, or a short form's initial, of the other; one typing error never
    changes both. Without `last_letters` (a police person with only a reported
    age, looked up over several years) the first letters only: last letters are
    too common to look up over years. `household` adds surnames a person may go
    by (a partner's).
    """
    names = (tuple(given_names), tuple(family_names))
    return set(_name_keys(*names, tuple(years), tuple(household), initials, last_letters))


@lru_cache(maxsize=1 << 16)
def _name_keys(
    given_names: tuple[str | None, ...],
    family_names: tuple[str | None, ...],
    years: tuple[str, ...],
    household: tuple[str | None, ...],
    initials: bool,
    last_letters: bool = True,
) -> frozenset[str]:
    """`name_keys`, cached: the same names come back in incident after incident."""
    givens, own = _all_words(given_names), _all_words(family_names)
    families = own | _all_words(household)
    if not givens or not families:
        return frozenset()
    keys = {f"np:{phonetic(f)}|{g}" for f in families for g in givens}
    keys |= {f"ng:{f}|{phonetic(g)}" for f in own for g in givens}
    if initials:  # for a police person with no date of birth or age to narrow by
        keys |= {f"fi:{f}|{i}" for f in own for g in givens for i in given_initials(g)}
        keys |= {f"gi:{g}|{f[0]}" for g in givens for f in families}
    given_ends = {e for g in givens for e in given_initials(g)}
    family_ends = {f[0] for f in families}
    if last_letters:
        given_ends |= {f"-{g[-1]}" for g in givens}
        family_ends |= {f"-{f[-1]}" for f in families}
    for year in years:
        keys |= {f"fy:{phonetic(f)}|{end}|{year}" for f in own for end in given_ends}
        keys |= {f"gy:{g}|{end}|{year}" for g in givens for end in family_ends}
    return frozenset(keys)


def date_keys(
    given_names: Iterable[str | None],
    family_names: Iterable[str | None],
    dates: Iterable[date],
    household: Iterable[str | None] = (),
) -> set[str]:
    """Blocking keys of a date of birth with a given name's initial or a family name's."""
    givens = _all_words(given_names)
    families = _all_words(family_names) | _all_words(household)
    ends = {f"g{i}" for g in givens for i in given_initials(g)} | {f"f{f[0]}" for f in families}
    return {f"dob:{day.isoformat()}|{end}" for day in dates for end in ends}


def near_date_keys(
    given_names: Iterable[str | None],
    family_names: Iterable[str | None],
    dates: Iterable[date],
    household: Iterable[str | None] = (),
) -> set[str]:
    """Blocking keys of a date of birth with both names' initials (`dn:`).

    A register carer is filed under their own date; a police person is looked up
    under theirs and the dates it may have been mistyped from (`near_dates`).
    Both initials keep these keys narrow at a million subjects; a person with
    only one name is looked up by the date and that name's initial (`dob:`).
    """
    givens = _all_words(given_names)
    families = _all_words(family_names) | _all_words(household)
    pairs = {f"{i}{f[0]}" for g in givens for i in given_initials(g) for f in families}
    return {f"dn:{day.isoformat()}|{pair}" for day in dates for pair in pairs}


#: A birth year for register people whose date of birth is not known.
NO_YEAR = "?"


def carer_keys(carer: CarerRecord, household: tuple[str, ...] = ()) -> set[str]:
    """Blocking keys of a carer: names (with birth years), date of birth and NHS number."""
    years = tuple(sorted({str(d.year) for d in carer.dates_of_birth})) or (NO_YEAR,)
    keys = name_keys(carer.given_names, carer.family_names, years, household, initials=True)
    keys |= date_keys(carer.given_names, carer.family_names, carer.dates_of_birth, household)
    keys |= near_date_keys(carer.given_names, carer.family_names, carer.dates_of_birth, household)
    keys |= surname_year_keys(carer.family_names, years)
    keys |= {f"nhs:{number}" for number in carer.nhs_numbers}
    return keys


def surname_year_keys(family_names: Iterable[str | None], years: Iterable[str]) -> set[str]:
    """Blocking keys of a surname alone (phonetically) with a birth year (`sy:`).

    Looked up only for a police person with no given name but a date of birth:
    the surname and the birth year, or the years either side, are then all there
    is to find them by (a date a day off or swapped keeps the year). A surname
    and a reported age are too little to look anyone up by.
    """
    families = _all_words(family_names)
    return {f"sy:{phonetic(f)}|{year}" for f in families for year in years if year != NO_YEAR}


def household_names(record: SubjectRecord) -> tuple[str, ...]:
    """The surnames of a subject's household: each carer's and the subject's own."""
    names = [n for carer in record.carers for n in carer.family_names]
    return tuple(dict.fromkeys([*names, *filter(None, [record.family_name])]))


def record_keys(record: SubjectRecord) -> frozenset[str]:
    """Every blocking key of a subject: each address it ever had and each carer."""
    keys: set[str] = set()
    for span in record.addresses:
        keys |= address_keys(span.address)
    household = household_names(record)
    for carer in record.carers:
        keys |= carer_keys(carer, household)
    return frozenset(keys)


def birth_years(person: PolicePerson, incident_year: int | None = None) -> tuple[str, ...]:
    """The register birth years a police person's names are looked up with.

    The year of a date of birth given (a date a year off is found by `near_dates`);
    for a reported age, every year it allows (AGE_TOLERANCE_YEARS either side of
    the year it gives on the incident's year). So a person with a common name is
    still found when the names-alone keys are too common to look up.
    """
    if person.date_of_birth is not None:
        return (str(person.date_of_birth.year), NO_YEAR)
    if person.age_years is not None and incident_year is not None:
        year = incident_year - person.age_years
        span = range(year - AGE_TOLERANCE_YEARS - 1, year + AGE_TOLERANCE_YEARS + 1)
        return (*(str(y) for y in span), NO_YEAR)
    return (NO_YEAR,)


def near_dates(day: date) -> tuple[date, ...]:
    """The dates a date of birth may have been written as: a year or a day off, day and month
    swapped (each looked up with a name's initial, so each is narrow)."""
    out = [day + timedelta(days=1), day - timedelta(days=1)]
    for year in (day.year - 1, day.year + 1):
        with suppress(ValueError):
            out.append(day.replace(year=year))
    with suppress(ValueError):
        out.append(day.replace(month=day.day, day=day.month))
    return tuple(d for d in out if d != day)


def person_keys(person: PolicePerson, incident_year: int | None = None) -> set[str]:
    """Blocking keys of a person in an incident: names, date of birth, NHS number, address.

    Names are keyed both ways round (given and family name swapped).
    """
    given, family = (person.given_name,), (person.family_name,)
    years = birth_years(person, incident_year)
    initials = person.date_of_birth is None and person.age_years is None
    ends = person.date_of_birth is not None
    keys = name_keys(given, family, years, initials=initials, last_letters=ends)
    keys |= name_keys(family, given, years, initials=initials, last_letters=ends)
    if person.date_of_birth is not None:
        dates = (person.date_of_birth, *near_dates(person.date_of_birth))
        keys |= near_date_keys(given, family, dates) | near_date_keys(family, given, dates)
        if person.given_name and person.family_name:  # the surname may have changed
            keys |= {k for k in date_keys(given, (), dates[:1]) if "|g" in k}
        else:  # one name's initial is all there is
            keys |= date_keys(given, family, dates[:1]) | date_keys(family, given, dates[:1])
    if not person.given_name and person.family_name and person.date_of_birth is not None:
        year = person.date_of_birth.year
        keys |= surname_year_keys(family, tuple(str(y) for y in (year - 1, year, year + 1)))
    if person.nhs_number:
        keys.add(f"nhs:{person.nhs_number}")
    if person.address is not None:
        keys |= address_keys(person.address)
    return keys


def incident_keys(incident: PoliceIncident) -> set[str]:
    """Blocking keys of an incident: its location and each person who can involve a family."""
    keys = address_keys(incident.location)
    for person in incident.persons:
        if person.role in INVOLVED_ROLES:
            keys |= person_keys(person, incident.occurred_at.year)
    return keys


#: Keys of names alone, with no date, year or place to narrow them.
NAME_ALONE = ("np:", "ng:", "fi:", "gi:")
#: A name-alone key filed for more subjects than this is not looked up: a name that common
#: cannot single anyone out (see `RulesConfig` and the namesake weight). Such people are
#: still found by a date of birth or a birth year with their names, NHS number or address.
COMMON_NAME_SUBJECTS = 64
