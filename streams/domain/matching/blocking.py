"""Blocking keys: the few keys under which the register files a subject and an incident is
looked up, so a decision never scans the register; pure.

A register subject is filed under each address it had (UPRN, building, postcode and number)
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
from streams.domain.matching.dates import AGE_TOLERANCE_YEARS
from streams.domain.matching.normalise import (
    PostalAddress,
    dwelling_parts,
    given_forms,
    given_initials,
    name_key,
    name_tokens,
)
from streams.domain.register.records import CarerRecord, SubjectRecord

#: The kinds of key `address_keys` makes: a subject filed under none that an incident has
#: shares no dwelling with its place or its persons' addresses (see `address_keys`).
PLACE_KEYS = ("uprn:", "building:", "pn:", "house:")


def address_keys(address: PostalAddress) -> set[str]:
    """Blocking keys of an address: UPRN, building, postcode with building number, house name.

    Every address that `compare_addresses` scores above 0 shares one with the
    home: the same UPRN; the same building (a dwelling is filed under its
    building, whatever its flat: each number it spans, letters dropped, with
    its street up to the thoroughfare word, so "10A", "10-12" and "High Street
    Hornsey" meet "10 High Street"); the same postcode and number on a street a
    typing error or two apart (`pn:`); or the same house or building name with
    its street or its postcode (`house:`, for one side without a number). A
    postcode or a street alone is not a key: it agrees for a whole street of
    families that no comparison finds at the home.
    """
    parts = dwelling_parts(address)
    keys = {f"uprn:{address.uprn}"} if address.uprn else set()
    if parts.number and parts.street:
        keys |= {f"building:{n} {parts.street_stem}" for n in parts.numbers}
    elif not parts.number and parts.building_key:
        keys.add(f"building:{parts.building_key}")
    if parts.number and parts.postcode:
        keys.add(f"pn:{parts.postcode}|{parts.numbers[0]}")
    if parts.building and parts.street:
        keys.add(f"house:{parts.building}|{parts.street_stem}")
    if parts.building and parts.postcode:
        keys.add(f"house:{parts.building}|{parts.postcode}")
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


@lru_cache(maxsize=1 << 16)
def name_ends(word: str) -> frozenset[str]:
    """Parts of a name word of which one typing error always leaves one in place.

    A word of 4 letters or more: its first two and its last two letters ("KA",
    "-NE"): one substitution, transposition, insertion or deletion changes the
    first two only at the first or second letter and the last two only at the
    last two letters, so both only in a word of 4 whose middle letters are
    swapped. A word of up to 4 letters: itself and itself less any one letter
    ("=EVA", "=VA", "=EA", "=EV"), which two words an error apart always share
    (the shorter whole, or both less the letter that differs or moved). Between
    4 and 5 letters an insertion or deletion keeps the first or last two.
    """
    ends = {f"={word[:i]}{word[i + 1 :]}" for i in range(len(word))} | {f"={word}"}
    ends = ends - {"="} if len(word) <= 4 else set()
    if len(word) >= 4:
        ends |= {word[:2], f"-{word[-2:]}"}
    return frozenset(ends)


@lru_cache(maxsize=1 << 16)
def given_ends(word: str) -> frozenset[str]:
    """The ends of a given-name word, and each of its known short or full forms whole.

    A word that has such forms adds them and itself whole ("=KATE"); both sides
    do, so a short form and its full form share one, and so do two full forms
    of one short form (Mohammed, Muhammad: Mo).
    """
    forms = given_forms(word)
    return name_ends(word) | {f"={form}" for form in forms} if len(forms) > 1 else name_ends(word)


def _first_ends(ends: Iterable[str]) -> set[str]:
    """Ends without the last two letters of a longer name."""
    return {end for end in ends if not end.startswith("-")}


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
    one name with the other's initial (`fi:`, `gi:`). With a birth year (`fy:`,
    `gy:`): the phonetic family name with each end of the given name and of its
    short or full forms (`given_ends`), and the given name with each end of each
    family name (`name_ends`); one typing error in either name leaves the other
    whole and one of its ends in place. Without `last_letters` (a police person
    with only a reported age, looked up over the years it allows) a longer
    name's last two letters are not looked up: they are common across years (see
    `person_keys`). `household` adds surnames a person may go by (a partner's).
    """
    names = (tuple(given_names), tuple(family_names))
    return set(_name_keys(*names, tuple(years), tuple(household), initials, last_letters))


#: Few entries: each holds a set of keys, and every register carer passes through once
#: while a register loads; what repeats is the names of incidents' persons.
@lru_cache(maxsize=1 << 12)
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
    firsts = {e for g in givens for e in given_ends(g)}
    lasts = {e for f in families for e in name_ends(f)}
    if not last_letters:
        firsts, lasts = _first_ends(firsts), _first_ends(lasts)
    for year in years:
        keys |= {f"fy:{phonetic(f)}|{end}|{year}" for f in own for end in firsts}
        keys |= {f"gy:{g}|{end}|{year}" for g in givens for end in lasts}
    return frozenset(keys)


def date_keys(
    given_names: Iterable[str | None],
    family_names: Iterable[str | None],
    dates: Iterable[date],
    household: Iterable[str | None] = (),
) -> set[str]:
    """Blocking keys of a date of birth with a name: its first three letters, whole, or initial.

    With the first three letters of a given name or of one of its short or full
    forms (`G`), or a family name whole (`F`): a police person with both names is
    looked up so on the exact date, as their surname may have changed or their
    given name be another (one used day to day): the date and one name are then
    enough for review (`MatchWeights`). With a given name's initial (`g`) or a family name's
    (`f`): a person with only one name, looked up by that name's initial.
    """
    givens = _all_words(given_names)
    families = _all_words(family_names) | _all_words(household)
    ends = {f"G{form[:3]}" for g in givens for form in given_forms(g)}
    ends |= {f"F{f}" for f in families}
    ends |= {f"g{i}" for g in givens for i in given_initials(g)} | {f"f{f[0]}" for f in families}
    return {f"dob:{day.isoformat()}|{end}" for day in dates for end in ends}


def date_end_keys(
    given_names: Iterable[str | None],
    family_names: Iterable[str | None],
    dates: Iterable[date],
    household: Iterable[str | None] = (),
) -> set[str]:
    """Blocking keys of a date of birth with an end of each name (`de:`).

    A typing error in a name of three letters or more leaves its first two or
    its last two letters in place, even an error in its first letters. `dn:`
    files both names' first two letters; these keys file the other three
    pairings (a given name's last two with a family name's first two, and so
    on), so a person whose names are both mistyped is found by an exact date
    of birth, and the keys stay as narrow as `dn:`.
    """
    givens = _all_words(given_names)
    families = _all_words(family_names) | _all_words(household)
    pairs = {
        f"{a}|{b}"
        for g in givens
        for f in families
        for a, b in ((g[-2:], f[:2]), (g[:2], f[-2:]), (g[-2:], f[-2:]))
    }
    return {f"de:{day.isoformat()}|{pair}" for day in dates for pair in pairs}


def _pairs(givens: frozenset[str], families: frozenset[str]) -> set[str]:
    """The first two letters of a given name (or of a form of it) and of a family name."""
    return {f"{form[:2]}{f[:2]}" for g in givens for form in given_forms(g) for f in families}


def near_date_keys(
    given_names: Iterable[str | None],
    family_names: Iterable[str | None],
    dates: Iterable[date],
    household: Iterable[str | None] = (),
) -> set[str]:
    """Blocking keys of a date of birth with both names' first two letters (`dn:`).

    A register carer is filed under their own date; a police person is looked up
    under theirs and the dates it may have been mistyped from (`near_dates`).
    Both names' letters keep these keys narrow at a million subjects (a typing
    error with the date right is found by the birth year, `name_keys`). A person
    with only one name is looked up by the date and that name's initial (`dob:`).
    """
    givens = _all_words(given_names)
    families = _all_words(family_names) | _all_words(household)
    return {f"dn:{day.isoformat()}|{pair}" for day in dates for pair in _pairs(givens, families)}


#: A birth year for register people whose date of birth is not known.
NO_YEAR = "?"


def carer_keys(carer: CarerRecord, household: tuple[str, ...] = ()) -> set[str]:
    """Blocking keys of a carer: names (with birth years), date of birth and NHS number."""
    years = tuple(sorted({str(d.year) for d in carer.dates_of_birth})) or (NO_YEAR,)
    keys = name_keys(carer.given_names, carer.family_names, years, household, initials=True)
    keys |= date_keys(carer.given_names, carer.family_names, carer.dates_of_birth, household)
    keys |= near_date_keys(carer.given_names, carer.family_names, carer.dates_of_birth, household)
    keys |= date_end_keys(carer.given_names, carer.family_names, carer.dates_of_birth, household)
    keys |= surname_year_keys(carer.family_names, years)
    keys |= initial_year_keys(carer.given_names, carer.family_names, years)
    keys |= {f"nhs:{number}" for number in carer.nhs_numbers}
    return keys


def initial_year_keys(
    given_names: Iterable[str | None], family_names: Iterable[str | None], years: Iterable[str]
) -> set[str]:
    """Blocking keys of a surname (phonetically) with a given name's initial and a birth year
    (`iy:`).

    Looked up for a police person whose given name is written as an initial ("J.
    Smith"): with a reported age over the years it allows, or with a date of birth
    over its year and those either side. A register carer with no known date of
    birth is filed under the year `NO_YEAR`. Filed for more than
    COMMON_NAME_SUBJECTS subjects, such a key is not looked up (`CAPPED`).
    """
    initials = {i for g in _all_words(given_names) for i in given_initials(g)}
    families = _all_words(family_names)
    return {f"iy:{phonetic(f)}|{i}|{year}" for f in families for i in initials for year in years}


def surname_year_keys(family_names: Iterable[str | None], years: Iterable[str]) -> set[str]:
    """Blocking keys of a surname alone (phonetically) with a birth year (`sy:`).

    Looked up only for a police person with no given name but a date of birth:
    the surname and the birth year, or the years either side, are then all there
    is to find them by (a date a day off or swapped keeps the year). A surname
    and a reported age are too little to look anyone up by.
    """
    families = _all_words(family_names)
    return {f"sy:{phonetic(f)}|{year}" for f in families for year in years if year != NO_YEAR}


def street_name_keys(
    given_names: Iterable[str | None],
    family_names: Iterable[str | None],
    addresses: Iterable[PostalAddress],
) -> set[str]:
    """Blocking keys of each name (phonetically) with a street and its postcode district
    (`fs:`, `gs:`).

    So a person whose date of birth or one of whose names is wrong, or whose
    house number is, is still found by the other name and the street they live
    on. A street is filed with its district (the postcode's outward code): a
    street name alone recurs across the country.
    """
    streets = set()
    for address in addresses:
        parts = dwelling_parts(address)
        if parts.street and parts.postcode and " " in parts.postcode:
            streets.add(f"{parts.street}|{parts.postcode.split(' ')[0]}")
    if not streets:
        return set()
    keys = {f"fs:{phonetic(f)}|{street}" for f in _all_words(family_names) for street in streets}
    keys |= {f"gs:{phonetic(g)}|{street}" for g in _all_words(given_names) for street in streets}
    return keys


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
    homes = [span.address for span in record.addresses]
    for carer in record.carers:
        keys |= carer_keys(carer, household)
        keys |= street_name_keys(carer.given_names, carer.family_names, homes)
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

    Names are keyed both ways round (given and family name swapped). A reported
    age is looked up over the years it allows by the first letters of names (a
    typing error after a name's first two letters is found) and over the two
    birth years of that very age by all their ends (any typing error). A given
    name written as an initial is looked up as a missing one (`sy:`): the ends
    of the full name are not known.
    """
    given, family = (person.given_name,), (person.family_name,)
    years = birth_years(person, incident_year)
    initials = person.date_of_birth is None and person.age_years is None
    lasts = person.date_of_birth is not None
    keys = name_keys(given, family, years, initials=initials, last_letters=lasts)
    keys |= name_keys(family, given, years, initials=initials, last_letters=lasts)
    if person.date_of_birth is None and person.age_years is not None and incident_year:
        exact = tuple(str(incident_year - person.age_years - n) for n in (0, 1))
        keys |= name_keys(given, family, exact) | name_keys(family, given, exact)
    initial = len(name_key(person.given_name) or "") == 1  # "J." or "J"
    if person.date_of_birth is not None:
        dates = (person.date_of_birth, *near_dates(person.date_of_birth))
        keys |= near_date_keys(given, family, dates) | near_date_keys(family, given, dates)
        keys |= date_end_keys(given, family, dates[:1]) | date_end_keys(family, given, dates[:1])
        if person.given_name and person.family_name and not initial:  # one name may be another
            both = date_keys(given, family, dates[:1])
            keys |= {k for k in both if "|G" in k or "|F" in k}
        else:  # one name's initial is all there is (or a given name written as one)
            one = date_keys(given, family, dates[:1]) | date_keys(family, given, dates[:1])
            keys |= {k for k in one if "|G" not in k and "|F" not in k}
    no_given = len(name_key(person.given_name) or "") <= 1  # missing, or an initial
    if no_given and person.family_name and person.date_of_birth is not None:
        year = person.date_of_birth.year
        keys |= surname_year_keys(family, tuple(str(y) for y in (year - 1, year, year + 1)))
    if initial and person.family_name:
        keys |= initial_year_keys(given, family, _initial_years(person, incident_year))
    if person.nhs_number:
        keys.add(f"nhs:{person.nhs_number}")
    if person.address is not None:
        keys |= address_keys(person.address)
        keys |= street_name_keys(given + family, given + family, (person.address,))
    return keys


def _initial_years(person: PolicePerson, incident_year: int | None) -> tuple[str, ...]:
    """The birth years a person known by an initial is looked up over: the year of a date of
    birth and those either side, or the years a reported age allows; and `NO_YEAR`."""
    if person.date_of_birth is not None:
        year = person.date_of_birth.year
        return (*(str(y) for y in (year - 1, year, year + 1)), NO_YEAR)
    return birth_years(person, incident_year)


def incident_keys(incident: PoliceIncident) -> set[str]:
    """Blocking keys of an incident: its location and each person who can involve a family."""
    keys = address_keys(incident.location)
    for person in incident.persons:
        if person.role in INVOLVED_ROLES:
            keys |= person_keys(person, incident.occurred_at.year)
    return keys


#: Keys of names alone, with no date, year or place to narrow them.
NAME_ALONE = ("np:", "ng:", "fi:", "gi:")
#: Keys not looked up when filed for more than COMMON_NAME_SUBJECTS subjects: names alone, a
#: surname with an initial and a year (`initial_year_keys`), and a name with a street
#: (`street_name_keys`: a long street of one common name cannot single anyone out).
CAPPED = (*NAME_ALONE, "iy:", "fs:", "gs:")
#: A name-alone key filed for more subjects than this is not looked up: a name that common
#: cannot single anyone out (see `RulesConfig` and the namesake weight). Such people are
#: still found by a date of birth or a birth year with their names, NHS number or address.
COMMON_NAME_SUBJECTS = 64
