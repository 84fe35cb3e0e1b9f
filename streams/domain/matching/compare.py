"""Person and dwelling comparison: a score in [0, 1] and the evidence behind it; pure.

People are compared Fellegi-Sunter style, as Splink does. Each field (NHS
number, given name, family name, date of birth or reported age, sex, home) is
put on one agreement level, and each level carries a match weight: the log2
of how much likelier that agreement is between records of one human being
than between two different people (m/u). The weights and a prior are summed
and turned into a match probability, the score: `2**w / (1 + 2**w)`. The
weights are settings (`MatchWeights`, under `DVTRIGGER_RULES__WEIGHTS__*`);
the rule compares the score with its `trigger` and `review` thresholds.

A date of birth that clearly differs, or a reported age that cannot be the
register's date of birth, rules a person out unless the NHS numbers agree;
names are then not compared. Dwellings are compared on levels too: 1.0
(EXACT) is UPRN, or flat, number, street and postcode; 0.8 (NEAR) and 0.6
(WEAK) are near matches a person should check. Evidence names fields, levels
and weights, never values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import TypeVar

import jellyfish
from rapidfuzz.distance import DamerauLevenshtein, JaroWinkler

from schemas.police import PolicePerson
from streams.domain.config import DEFAULT_WEIGHTS, MatchWeights
from streams.domain.matching.normalise import (
    DwellingParts,
    PostalAddress,
    dwelling_parts,
    is_short_form,
    name_key,
    name_tokens,
    parts_of_lines,
)
from streams.domain.register.records import CarerRecord, SubjectRecord

_T = TypeVar("_T")
EXACT = 1.0
NEAR = 0.8
WEAK = 0.6
NONE = 0.0
#: How many years a reported age may be from the age a date of birth gives, and still agree.
AGE_TOLERANCE_YEARS = 2
#: Jaro-Winkler similarity from which two names count as "similar".
SIMILAR_NAMES = 0.9
#: The sex a carer's relationship implies; other relationships say nothing.
_RELATIONSHIP_SEX = {"mother": "female", "father": "male"}


@dataclass(frozen=True, slots=True)
class Identity:
    """What is known of one human being: every spelling of their names, dates and NHS numbers."""

    given_names: tuple[str, ...] = ()
    family_names: tuple[str, ...] = ()
    dates_of_birth: tuple[date, ...] = ()
    nhs_numbers: tuple[str, ...] = ()
    #: A reported age and the day it was reported on (police side only).
    age_years: int | None = None
    on_day: date | None = None
    #: "female" or "male" when known.
    sex: str | None = None
    #: Surnames of the household (other carers, the child): a partner's name may be used.
    household_names: tuple[str, ...] = ()
    #: How many families in the register have a carer of this name (police side only).
    namesakes: int = 1


@dataclass(frozen=True, slots=True)
class Match:
    """The result of a comparison: a score and the evidence for it."""

    score: float
    evidence: tuple[str, ...] = ()


NO_MATCH = Match(NONE)


def person_identity(person: PolicePerson, day: date | None = None, namesakes: int = 1) -> Identity:
    """A police report's identity for a person (`day` is when a reported age held).

    `namesakes` is how many families in the register have a carer of this name.
    """
    age = person.age_years if person.date_of_birth is None else None
    return Identity(
        given_names=_some(person.given_name),
        family_names=_some(person.family_name),
        dates_of_birth=_some(person.date_of_birth),
        nhs_numbers=_some(person.nhs_number),
        age_years=age,
        on_day=day if age is not None else None,
        sex=person.gender if person.gender in ("female", "male") else None,
        namesakes=namesakes,
    )


@lru_cache(maxsize=1 << 14)
def carer_identity(carer: CarerRecord, household: tuple[str, ...] = ()) -> Identity:
    """The identity the register gives for a carer, every spelling merged.

    Cached on the carer's value (a frozen record) and the household's surnames,
    never on an object's identity: a record read afresh is the same key.
    """
    return Identity(
        carer.given_names,
        carer.family_names,
        carer.dates_of_birth,
        carer.nhs_numbers,
        sex=_RELATIONSHIP_SEX.get(carer.relationship),
        household_names=tuple(n for n in household if n not in carer.family_names),
    )


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


@dataclass(frozen=True, slots=True)
class Level:
    """One field's agreement level (a `MatchWeights` attribute name) and its words."""

    level: str | None
    words: str


def probability(bits: float) -> float:
    """The match probability of a total match weight, rounded for a stable log."""
    return round(1.0 / (1.0 + float(2.0 ** (-bits))), 6)


def compare_identities(
    police: Identity,
    register: Identity,
    weights: MatchWeights = DEFAULT_WEIGHTS,
    home: Level | None = None,
) -> Match:
    """How likely a person in a police report is one the register knows, and why.

    `home` is how the person's own address agrees with the register subject's
    home (see `home_level`): a carer found at the family's home is more surely
    that carer.
    """
    nhs = _nhs_level(police, register)
    if nhs.level == "nhs_agree":
        bits = weights.prior + weights.nhs_agree
        return Match(probability(bits), (f"{nhs.words} ({weights.nhs_agree:+.1f})",))
    dob = _dob_level(police, register)
    if dob.level in ("dob_differ", "age_conflict"):  # names cannot outweigh it: skip them
        return NO_MATCH
    given, family = _names(police, register, weights)
    levels = [given, family, dob, nhs, _sex_level(police, register)]
    if home is not None:
        levels.append(home)
    bits = weights.prior
    words: list[str] = []
    for field in levels:
        weight = _weight(field, weights)
        bits += weight
        if field.words:
            words.append(f"{field.words} ({weight:+.1f})" if field.level else field.words)
    names_alone = dob.level is None or dob.level.startswith("age_")
    if police.namesakes > 1 and names_alone and {given.level, family.level} <= _AGREEING:
        weight = -weights.namesakes * math.log2(police.namesakes)
        bits += weight
        many = "more than 64" if police.namesakes > 64 else str(police.namesakes)
        words.append(f"carers of {many} families in the register have this name ({weight:+.1f})")
    score = probability(bits)
    words.append(f"match weight {bits:.1f} bits with prior {weights.prior:.1f}: {score:.4f}")
    return Match(score, tuple(words))


#: Name levels that say the names agree, for the namesake adjustment: it applies when
#: no date of birth is compared, so the names (with a reported age at most) identify.
_AGREEING = frozenset(
    {
        "given_exact",
        "given_first_forename",
        "given_variant",
        "given_typo",
        "given_phonetic",
        "family_exact",
        "family_part",
        "family_typo",
        "family_phonetic",
        "family_household",
    }
)


def _nhs_level(police: Identity, register: Identity) -> Level:
    """Checksum-valid NHS numbers on both sides: agree or conflict; else no level."""
    left = {n for n in police.nhs_numbers if nhs_number_valid(n)}
    right = {n for n in register.nhs_numbers if nhs_number_valid(n)}
    if not left or not right:
        return Level(None, "")
    if left & right:
        return Level("nhs_agree", "NHS number agrees exactly and is checksum-valid")
    return Level("nhs_conflict", "the NHS numbers differ (both checksum-valid)")


def _names(police: Identity, register: Identity, weights: MatchWeights) -> tuple[Level, Level]:
    """Given and family name levels, as written or with the police's two names swapped.

    Whichever reading carries more weight is taken: a name written the other way
    round (family name first) is common in police records.
    """
    given = given_level(police.given_names, register.given_names)
    family = family_level(police.family_names, register.family_names, register.household_names)
    if (given.level, family.level) == ("given_exact", "family_exact"):
        return given, family
    swapped_given = given_level(police.family_names, register.given_names)
    swapped_family = family_level(police.given_names, register.family_names)
    if _weight(swapped_given, weights) + _weight(swapped_family, weights) > _weight(
        given, weights
    ) + _weight(family, weights):
        words = "written the other way round"
        return (
            Level(swapped_given.level, f"{swapped_given.words}, {words}"),
            Level(swapped_family.level, f"{swapped_family.words}, {words}"),
        )
    return given, family


def _weight(level: Level, weights: MatchWeights) -> float:
    """The weight of one level (0 for a field missing on one side)."""
    return float(getattr(weights, level.level)) if level.level else 0.0


def _keys(names: tuple[str, ...]) -> frozenset[str]:
    """The comparison keys of every spelling of a name."""
    return frozenset(k for k in map(name_key, names) if k)


@lru_cache(maxsize=1 << 16)
def given_level(police: tuple[str, ...], register: tuple[str, ...]) -> Level:
    """How any spelling of a given name agrees with any other (best level first)."""
    left, right = _keys(police), _keys(register)
    if not left or not right:
        return Level(None, "given name missing on one side")
    if left & right:
        return Level("given_exact", "given name agrees exactly")
    if _first_forename(police, register):
        return Level("given_first_forename", "given name agrees on the first forename")
    # Whole names, and first forenames where a middle name is written on one side only.
    pairs = [(a, b) for a in left | _firsts(police) for b in right | _firsts(register)]
    if any(is_short_form(a, b) for a, b in pairs):
        return Level("given_variant", "given name is a known short form or variant of the other")
    close = _close("given", pairs)
    if close is not None:
        return close
    if _tokens_agree(police, register):
        return Level("given_part", "given name is one part of a name written in parts")
    if any(_initial(a, b) for a, b in pairs):
        return Level("given_initial", "given name is an initial of the other")
    return Level("given_differ", "given name differs")


@lru_cache(maxsize=1 << 16)
def family_level(
    police: tuple[str, ...], register: tuple[str, ...], household: tuple[str, ...] = ()
) -> Level:
    """How any spelling of a family name agrees: the person's own surnames, then the household's."""
    left, right = _keys(police), _keys(register)
    if not left or not right:
        return Level(None, "family name missing on one side")
    if left & right:
        return Level("family_exact", "family name agrees exactly")
    if _tokens_agree(police, register):
        return Level("family_part", "family name is one part of a double-barrelled name")
    close = _close("family", [(a, b) for a in left for b in right])
    if close is not None and close.level != "family_similar":
        return close
    if left & _keys(household):
        return Level("family_household", "family name is that of another carer or the child")
    return close or Level("family_differ", "family name differs")


def _close(field: str, pairs: list[tuple[str, str]]) -> Level | None:
    """A typing error, a phonetic agreement or a similar spelling between any two keys."""
    if any(_one_typo(a, b) for a, b in pairs):
        return Level(f"{field}_typo", f"{field} name differs by one typing error")
    if any(_phonetic(a, b) for a, b in pairs):
        return Level(f"{field}_phonetic", f"{field} name sounds the same (Metaphone and NYSIIS)")
    if any(JaroWinkler.similarity(a, b) >= SIMILAR_NAMES for a, b in pairs):
        return Level(f"{field}_similar", f"{field} name is similar (Jaro-Winkler 0.9 or more)")
    return None


@lru_cache(maxsize=1 << 16)
def _codes(key: str) -> tuple[str, str]:
    """The Metaphone and NYSIIS codes of a name key."""
    return jellyfish.metaphone(key), jellyfish.nysiis(key)


def _phonetic(a: str, b: str) -> bool:
    """Both phonetic codes agree, for names of 3+ letters."""
    return min(len(a), len(b)) >= 3 and _codes(a) == _codes(b)


def _firsts(names: tuple[str, ...]) -> frozenset[str]:
    """The first forename of each spelling written in parts."""
    return frozenset(tokens[0] for tokens in map(name_tokens, names) if len(tokens) > 1)


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
        return dates_level(police.dates_of_birth, register.dates_of_birth)
    if police.age_years is not None and police.on_day is not None and register.dates_of_birth:
        off = min(abs(police.age_years - age_on(b, police.on_day)) for b in register.dates_of_birth)
        if off == 0:
            return Level("age_exact", "date of birth missing; the reported age agrees exactly")
        if off == 1:
            return Level("age_near", "date of birth missing; the reported age is one year off")
        if off <= AGE_TOLERANCE_YEARS:
            return Level("age_far", "date of birth missing; the reported age is two years off")
        return Level("age_conflict", "the reported age disagrees with the date of birth")
    return Level(None, "date of birth missing on one side")


#: Date levels from best to worst, with their evidence words.
_DATE_LEVELS = (
    Level("dob_exact", "date of birth agrees exactly"),
    Level("dob_swapped", "date of birth agrees with day and month swapped"),
    Level("dob_near", "date of birth is a year or a day off"),
    Level("dob_typo", "date of birth differs in one digit"),
    Level("dob_partial", "date of birth differs in one of day, month or year"),
    Level("dob_differ", "date of birth differs"),
)


@lru_cache(maxsize=1 << 16)
def dates_level(police: tuple[date, ...], register: tuple[date, ...]) -> Level:
    """The best agreement between any two dates of birth."""
    return min((_date_pair(a, b) for a in police for b in register), key=_DATE_LEVELS.index)


def _date_pair(a: date, b: date) -> Level:
    """How two dates of birth agree (see `_DATE_LEVELS`)."""
    differing = (a.year != b.year) + (a.month != b.month) + (a.day != b.day)
    if differing == 0:
        return _DATE_LEVELS[0]
    if differing > 1:
        return _DATE_LEVELS[1] if _swapped_date(a, b) else _DATE_LEVELS[5]
    if _near_date(a, b):
        return _DATE_LEVELS[2]
    return _DATE_LEVELS[3] if _one_digit(a, b) else _DATE_LEVELS[4]


def age_on(born: date, day: date) -> int:
    """Age in whole years on `day` of someone born on `born`."""
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def _swapped_date(a: date, b: date) -> bool:
    """Day and month swapped (and different)."""
    return a != b and (a.year, a.month, a.day) == (b.year, b.day, b.month)


def _near_date(a: date, b: date) -> bool:
    """The same day and month a year apart, or dates a day apart."""
    if (a.month, a.day) == (b.month, b.day) and abs(a.year - b.year) == 1:
        return True
    return abs((a - b).days) == 1


def _one_digit(a: date, b: date) -> bool:
    """The dates written YYYYMMDD differ in exactly one digit."""
    return sum(x != y for x, y in zip(f"{a:%Y%m%d}", f"{b:%Y%m%d}", strict=True)) == 1


def _sex_level(police: Identity, register: Identity) -> Level:
    """A reported gender that is not the one a mother or father relationship implies."""
    if police.sex and register.sex and police.sex != register.sex:
        return Level("sex_conflict", "reported gender differs from the carer's relationship")
    return Level(None, "")


def home_level(address: PostalAddress | None, home: PostalAddress | None) -> Level | None:
    """How a person's own address agrees with the subject's home, as an identity field."""
    if address is None or home is None:
        return None
    return level_of_home(compare_addresses(address, home), address, home)


def level_of_home(match: Match, address: PostalAddress, home: PostalAddress) -> Level | None:
    """`home_level` from the comparison of a person's address with the home, once made."""
    if match.score >= EXACT:
        return Level("home_dwelling", "and their address is the subject's home")
    if match.score >= NEAR:
        return Level("home_near", "and their address is nearly the subject's home")
    if match.score > NONE:
        return Level("home_weak", "and their address is approximately the subject's home")
    same = dwelling_parts(address).postcode
    if same is not None and same == dwelling_parts(home).postcode:
        return Level("home_postcode", "and their address shares the home's postcode")
    return None


def compare_addresses(incident: PostalAddress, home: PostalAddress) -> Match:
    """How far an address in a police report is the same dwelling as a subject's home."""
    return _compare_addresses(
        (incident.uprn, tuple(incident.lines), incident.postcode),
        (home.uprn, tuple(home.lines), home.postcode),
    )


_Written = tuple[str | None, tuple[str, ...], str | None]


@lru_cache(maxsize=1 << 14)
def _compare_addresses(incident: _Written, home: _Written) -> Match:
    """`compare_addresses` of two addresses as written (UPRN, lines, postcode); cached, as the
    same incident place is compared with the same homes."""
    a, b = parts_of_lines(incident[1], incident[2]), parts_of_lines(home[1], home[2])
    if incident[0] and home[0]:
        if incident[0] == home[0]:
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
