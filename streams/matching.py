"""Person and dwelling comparison: a score in [0, 1] and the evidence behind it; pure.

Scores: 1.0 (EXACT) is the same person or dwelling beyond reasonable doubt: a checksum-valid
NHS number, or given name, family name and date of birth all agreeing exactly after
normalisation; UPRN, or flat, number, street and postcode. 0.8 (NEAR) and 0.6 (WEAK) are near
matches a person should check: one name a typing error or short form away, a date of birth one
field off or missing (a reported age that agrees counts for more), a postcode missing. A date of
birth or a reported age that clearly disagrees rules a person out (so names are not compared).
0.0 is nothing plausible. Evidence names fields and how they agreed, never values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import TypeVar

from rapidfuzz.distance import DamerauLevenshtein

from schemas.police import PolicePerson
from schemas.shared import Address
from streams.normalise import (
    DwellingParts,
    dwelling_parts,
    is_short_form,
    name_key,
    name_tokens,
)
from streams.register import CarerRecord, SubjectRecord

_T = TypeVar("_T")
EXACT = 1.0
NEAR = 0.8
WEAK = 0.6
NONE = 0.0
#: How far a birth year estimated from a reported age may be from a date of birth.
AGE_TOLERANCE_YEARS = 2


@dataclass(frozen=True, slots=True)
class Identity:
    """What is known of one human being: every spelling of their names, dates and NHS numbers."""

    given_names: tuple[str, ...] = ()
    family_names: tuple[str, ...] = ()
    dates_of_birth: tuple[date, ...] = ()
    nhs_numbers: tuple[str, ...] = ()
    birth_year: int | None = None


@dataclass(frozen=True, slots=True)
class Match:
    """The result of a comparison: a score and the evidence for it."""

    score: float
    evidence: tuple[str, ...] = ()


NO_MATCH = Match(NONE)


def person_identity(person: PolicePerson, day: date | None = None) -> Identity:
    """A police report's identity for a person (`day` turns `age_years` into a birth year)."""
    birth_year = None
    if person.date_of_birth is None and person.age_years is not None and day is not None:
        birth_year = day.year - person.age_years
    return Identity(
        given_names=_some(person.given_name),
        family_names=_some(person.family_name),
        dates_of_birth=_some(person.date_of_birth),
        nhs_numbers=_some(person.nhs_number),
        birth_year=birth_year,
    )


def carer_identity(carer: CarerRecord) -> Identity:
    """The identity the register gives for a carer, every spelling merged."""
    return Identity(carer.given_names, carer.family_names, carer.dates_of_birth, carer.nhs_numbers)


def subject_identity(record: SubjectRecord) -> Identity:
    """The identity the register gives for a child subject."""
    return Identity(
        given_names=_some(record.given_name),
        family_names=_some(record.family_name),
        dates_of_birth=_some(record.date_of_birth),
        nhs_numbers=_some(record.nhs_number),
    )


@lru_cache(maxsize=1 << 16)
def nhs_number_valid(number: str) -> bool:
    """Whether a ten-digit NHS number passes its modulus 11 check digit."""
    if len(number) != 10 or not number.isdigit():
        return False
    total = sum(int(digit) * (10 - i) for i, digit in enumerate(number[:9]))
    check = 11 - total % 11
    return (0 if check == 11 else check) == int(number[9])


def compare_identities(police: Identity, register: Identity) -> Match:
    """How far a person in a police report is the same human being as one the register knows."""
    nhs = _nhs_level(police, register)
    if nhs == "agree":
        return Match(EXACT, ("NHS number agrees exactly and is checksum-valid",))
    dob = _dob_level(police, register)
    if dob.level in ("differ", "conflict"):  # `_score` is 0 whatever the names: skip them
        return NO_MATCH
    given = _name_level("given name", police.given_names, register.given_names, short_forms=True)
    family = _name_level("family name", police.family_names, register.family_names)
    if given.level != "exact" or family.level != "exact":
        swapped = _swapped(police, register)
        given, family = (swapped, swapped) if swapped else (given, family)
    score = _score(given.level, family.level, dob.level)
    words = (given.words,) if given is family else (given.words, family.words)
    if nhs == "conflict":  # two valid NHS numbers: two people, unless one was written wrong
        score = NEAR if score >= EXACT else NONE
        words = (*words, "but the NHS numbers differ (both checksum-valid)")
    return Match(score, (*words, dob.words)) if score > NONE else NO_MATCH


def _nhs_level(police: Identity, register: Identity) -> str | None:
    """Checksum-valid NHS numbers on both sides: "agree", "conflict"; else None."""
    left = {n for n in police.nhs_numbers if nhs_number_valid(n)}
    right = {n for n in register.nhs_numbers if nhs_number_valid(n)}
    if not left or not right:
        return None
    return "agree" if left & right else "conflict"


@dataclass(frozen=True, slots=True)
class Level:
    """How one field agrees: exact, close, missing, differ (names); near, age, conflict (dates)."""

    level: str
    words: str


def _name_level(
    field: str, police: tuple[str, ...], register: tuple[str, ...], short_forms: bool = False
) -> Level:
    """How any spelling of a name agrees with any other."""
    left = {k for k in map(name_key, police) if k}
    right = {k for k in map(name_key, register) if k}
    if not left or not right:
        return Level("missing", f"{field} missing on one side")
    if left & right:
        return Level("exact", f"{field} agrees exactly")
    if short_forms and _first_forename(police, register):
        return Level("exact", f"{field} agrees exactly on the first forename")
    pairs = [(a, b) for a in left for b in right]
    if any(_one_typo(a, b) for a, b in pairs):
        return Level("close", f"{field} differs by one typing error")
    if short_forms and any(is_short_form(a, b) or _initial(a, b) for a, b in pairs):
        return Level("close", f"{field} is a short form or initial of the other")
    if _tokens_agree(police, register):
        return Level("close", f"{field} is one part of a name written in parts on the other side")
    return Level("differ", f"{field} differs")


def _swapped(police: Identity, register: Identity) -> Level | None:
    """Both names agreeing exactly once given and family name are swapped on one side."""
    given = _name_level("", police.given_names, register.family_names)
    family = _name_level("", police.family_names, register.given_names)
    if given.level == family.level == "exact":
        return Level(
            "exact", "given name and family name agree exactly, written the other way round"
        )
    return None


def _first_forename(police: tuple[str, ...], register: tuple[str, ...]) -> bool:
    """The first forename agrees, other forenames written on one side only."""
    firsts = {name_tokens(n)[:1] for n in police} & {name_tokens(n)[:1] for n in register}
    return bool(firsts - {()})


def _initial(a: str, b: str) -> bool:
    """One name is the initial of the other."""
    return (len(a) == 1 or len(b) == 1) and a[0] == b[0]


def _tokens_agree(police: tuple[str, ...], register: tuple[str, ...]) -> bool:
    """A name written in parts on one side (double-barrelled) that contains the other whole."""
    for a in police:
        for b in register:
            ta, tb = set(name_tokens(a)), set(name_tokens(b))
            if ta and tb and (ta < tb or tb < ta):
                return True
    return False


def _one_typo(a: str, b: str) -> bool:
    """One typing error apart (insertion, deletion, substitution or transposition), 4+ letters."""
    return min(len(a), len(b)) >= 4 and DamerauLevenshtein.distance(a, b) <= 1


def _dob_level(police: Identity, register: Identity) -> Level:
    """How dates of birth agree, using a reported age when the police have no date."""
    if police.dates_of_birth and register.dates_of_birth:
        if set(police.dates_of_birth) & set(register.dates_of_birth):
            return Level("exact", "date of birth agrees exactly")
        if any(_near_date(a, b) for a in police.dates_of_birth for b in register.dates_of_birth):
            return Level(
                "near", "date of birth differs in one of day, month or year, or day/month swapped"
            )
        return Level("differ", "date of birth differs")
    if police.birth_year is not None and register.dates_of_birth:
        years = [abs(police.birth_year - dob.year) for dob in register.dates_of_birth]
        if min(years) <= AGE_TOLERANCE_YEARS:
            return Level("age", "date of birth missing on one side; the reported age agrees")
        return Level("conflict", "the reported age disagrees with the date of birth")
    return Level("missing", "date of birth missing on one side")


def _near_date(a: date, b: date) -> bool:
    """Day and month swapped, or only one of day, month and year differs."""
    if (a.year, a.month, a.day) == (b.year, b.day, b.month):
        return True
    return sum((a.year != b.year, a.month != b.month, a.day != b.day)) == 1


#: Score of both names agreeing exactly, by how the dates of birth agree.
_BOTH_NAMES = {"exact": EXACT, "near": NEAR, "age": NEAR, "missing": WEAK}


def _score(given: str, family: str, dob: str) -> float:
    """The score of a name and date of birth agreement (see the module docstring)."""
    names = {given, family}
    if dob in ("differ", "conflict"):
        return NONE
    if names == {"exact"}:
        return _BOTH_NAMES[dob]
    if dob == "exact":
        if names == {"exact", "close"}:
            return NEAR
        return WEAK if "exact" in names or names == {"close"} else NONE
    return WEAK if names == {"exact", "close"} else NONE


def compare_addresses(incident: Address, home: Address) -> Match:
    """How far an address in a police report is the same dwelling as a subject's home."""
    a, b = dwelling_parts(incident), dwelling_parts(home)
    if incident.uprn and home.uprn:
        if incident.uprn == home.uprn:
            return Match(EXACT, ("UPRN agrees",))
        words = _compare_parts(a, b)
        if words.score < EXACT:
            return NO_MATCH
        return Match(WEAK, (*words.evidence, "but the UPRNs differ"))
    return _compare_parts(a, b)


def _compare_parts(a: DwellingParts, b: DwellingParts) -> Match:
    """Compare two addresses written in words."""
    if a.building_key is None or a.building_key != b.building_key:
        return _near_street(a, b)
    postcode = _postcodes(a.postcode, b.postcode)
    if postcode is None:
        return NO_MATCH
    if a.flat != b.flat:
        if a.flat and b.flat:
            return NO_MATCH
        return Match(
            WEAK, ("building number and street agree", "flat given on one side only", postcode)
        )
    words = (
        "flat, building number and street agree" if a.flat else "building number and street agree"
    )
    score = EXACT if postcode == "postcode agrees" else NEAR
    if a.approximate or b.approximate:
        score, postcode = WEAK, f"{postcode}; the place is only near the dwelling"
    return Match(score, (f"{words} after normalisation", postcode))


def _near_street(a: DwellingParts, b: DwellingParts) -> Match:
    """Same flat, number and postcode on a street spelt a typing error or two apart: review."""
    same = a.number and (a.number, a.flat, a.postcode) == (b.number, b.flat, b.postcode)
    if not same or a.postcode is None or DamerauLevenshtein.distance(a.street, b.street) > 2:
        return NO_MATCH
    words = "flat, building number and postcode agree" if a.flat else "number and postcode agree"
    return Match(WEAK, (words, "the street differs by a typing error"))


def _postcodes(a: str | None, b: str | None) -> str | None:
    """How two postcodes agree (as evidence words), or None when they rule a match out."""
    if a is None or b is None:
        return "postcode missing on one side"
    if a == b:
        return "postcode agrees"
    if a.split(" ")[0] == b.split(" ")[0] and DamerauLevenshtein.distance(a, b) <= 1:
        return "postcode differs by one typing error"
    return None


def _some(value: _T | None) -> tuple[_T, ...]:
    """A one-element tuple, or an empty one for None."""
    return () if value is None else (value,)
