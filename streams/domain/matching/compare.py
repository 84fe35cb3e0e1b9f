"""Person comparison: a score in [0, 1] and the evidence behind it; pure.

People are compared Fellegi-Sunter style, as Splink does. Each field (NHS
number, given name, family name, date of birth or reported age, sex, home) is
put on one agreement level, and each level carries a match weight: the log2
of how much likelier that agreement is between records of one human being
than between two different people (m/u). The weights and a prior are summed
and turned into a match probability, the score: `2**w / (1 + 2**w)`. The
weights are settings (`MatchWeights`, under `DVTRIGGER_RULES__WEIGHTS__*`);
the rule compares the score with its `trigger` and `review` thresholds.

No field vetoes: a date of birth that clearly differs, or a reported age that
cannot be the register's date of birth, weighs against the pair and the
names, the home and the rest may still carry it to review. Each field's
levels are worked out beside this module (`names`, `dates`, `dwellings` for
the home). Evidence names fields, levels and weights, never values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import TypeVar

from schemas.police import PolicePerson
from streams.domain.config import DEFAULT_WEIGHTS, MatchWeights
from streams.domain.matching.dates import AGE_TOLERANCE_YEARS, age_on, dates_level
from streams.domain.matching.frequencies import TermFrequencies, tf_adjustment
from streams.domain.matching.levels import Level, Match, probability
from streams.domain.matching.names import family_level, given_level
from streams.domain.matching.normalise import name_key
from streams.domain.register.records import CarerRecord, SubjectRecord

_T = TypeVar("_T")
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


#: The fields of a person comparison, in the order `field_levels` gives them.
FIELDS = ("nhs", "given", "family", "dob", "sex", "home")


def field_levels(
    police: Identity,
    register: Identity,
    weights: MatchWeights = DEFAULT_WEIGHTS,
    home: Level | None = None,
) -> tuple[Level, ...]:
    """Each field's agreement level (`FIELDS` order; level None when missing on a side).

    The comparison vector of Fellegi-Sunter: `compare_identities` sums its
    weights, `calibrate` learns them from many such vectors. `weights` only
    chooses between names as written and names swapped.
    """
    given, family = _names(police, register, weights)
    return (
        _nhs_level(police, register),
        given,
        family,
        _dob_level(police, register),
        _sex_level(police, register),
        home or Level(None, ""),
    )


def compare_identities(
    police: Identity,
    register: Identity,
    weights: MatchWeights = DEFAULT_WEIGHTS,
    home: Level | None = None,
    frequencies: TermFrequencies | None = None,
) -> Match:
    """How likely a person in a police report is one the register knows, and why.

    `home` is how the person's own address agrees with the register subject's
    home (see `home_level`): a carer found at the family's home is more surely
    that carer. No field rules a person out on its own: a date of birth that
    differs weighs against, and the other fields may still carry the pair.
    With `frequencies`, a common name agreeing exactly weighs less.
    """
    nhs = _nhs_level(police, register)
    if nhs.level == "nhs_agree":
        bits = weights.prior + weights.nhs_agree
        return Match(probability(bits), (f"{nhs.words} ({weights.nhs_agree:+.1f})",))
    levels = field_levels(police, register, weights, home)
    _, given, family, dob, _, _ = levels
    bits = weights.prior
    words: list[str] = []
    for field in levels:
        weight = _weight(field, weights)
        bits += weight
        if field.words:
            words.append(f"{field.words} ({weight:+.1f})" if field.level else field.words)
    names_alone = dob.level is None or dob.level.startswith("age_")
    namesakes = police.namesakes > 1 and names_alone and {given.level, family.level} <= _AGREEING
    if frequencies is not None and not namesakes:  # the namesakes already say how common
        for weight, what in _frequency_weights(police, given, family, frequencies):
            bits += weight
            words.append(f"{what} is common in the register ({weight:+.1f})")
    if namesakes:
        weight = -weights.namesakes * math.log2(police.namesakes)
        bits += weight
        many = "more than 64" if police.namesakes > 64 else str(police.namesakes)
        words.append(f"carers of {many} families in the register have this name ({weight:+.1f})")
    score = probability(bits)
    words.append(f"match weight {bits:.1f} bits with prior {weights.prior:.1f}: {score:.4f}")
    return Match(score, tuple(words))


def _frequency_weights(
    police: Identity, given: Level, family: Level, frequencies: TermFrequencies
) -> list[tuple[float, str]]:
    """The term-frequency adjustments of exactly agreeing names (weight, field in words)."""
    swapped = "other way round" in given.words
    givens, families = police.given_names, police.family_names
    if swapped:
        givens, families = families, givens
    out = []
    for level, field, names in (
        (given.level, "given", givens),
        (family.level, "family", families),
    ):
        if level == f"{field}_exact" and names:
            weight = tf_adjustment(frequencies, field, name_key(names[0]))
            if weight < 0:
                out.append((weight, f"the {field} name"))
    return out


#: `_best_names` of the weights seen, by identity (a frozen model's hash reads every field,
#: and the bound is asked for every pair); each entry holds its weights, so no id is reused.
_BEST_NAMES: dict[int, tuple[MatchWeights, float]] = {}


def _best_names(weights: MatchWeights) -> float:
    """The most weight a given name and a family name can add together (0 when missing)."""
    held = _BEST_NAMES.get(id(weights))
    if held is not None and held[0] is weights:
        return held[1]
    fields = type(weights).model_fields
    given = [getattr(weights, f) for f in fields if f.startswith("given_")]
    family = [getattr(weights, f) for f in fields if f.startswith("family_")]
    best = float(max(0.0, *given) + max(0.0, *family))
    if len(_BEST_NAMES) >= 64:
        _BEST_NAMES.clear()
    _BEST_NAMES[id(weights)] = (weights, best)
    return best


def may_reach(
    police: Identity,
    register: Identity,
    floor: float,
    weights: MatchWeights = DEFAULT_WEIGHTS,
    home: Level | None = None,
) -> bool:
    """Whether `compare_identities` could score `floor` or more: False only when it cannot.

    An upper bound worked out from the cheap fields (NHS number, date of birth
    or age, sex, home) and the best weight each name could carry: the names,
    which cost most to compare, are compared only when they could lift the
    pair to the floor. Most candidates' carers are strangers whose date of
    birth differs, so most pairs stop here. (The namesake and term-frequency
    adjustments only take weight off; a new field must be bounded here.)
    """
    bits = weights.prior + _best_names(weights)
    if police.nhs_numbers and register.nhs_numbers:  # else no level: nothing to weigh
        nhs = _nhs_level(police, register)
        if nhs.level == "nhs_agree":
            return True
        bits += _weight(nhs, weights)
    bits += _weight(_dob_level(police, register), weights)
    bits += _weight(_sex_level(police, register), weights)
    if home is not None:
        bits += _weight(home, weights)
    return probability(bits + _SLACK) >= floor


#: Bits added to the bound against rounding: its sum is taken in another order.
_SLACK = 1e-9


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
    round (family name first) is common in police records. A swapped reading in
    which one name differs is not taken: a surname that is someone's given name
    ("Thomas") is no sign of a swap.
    """
    given = given_level(police.given_names, register.given_names)
    family = family_level(police.family_names, register.family_names, register.household_names)
    if (given.level, family.level) == ("given_exact", "family_exact"):
        return given, family
    swapped_given = given_level(police.family_names, register.given_names)
    if swapped_given.level in _NOT_SWAPPED:  # a swap is read only when both names then agree
        return given, family
    swapped_family = family_level(police.given_names, register.family_names)
    if swapped_family.level in _NOT_SWAPPED:
        return given, family
    if _weight(swapped_given, weights) + _weight(swapped_family, weights) > _weight(
        given, weights
    ) + _weight(family, weights):
        words = "written the other way round"
        return (
            Level(swapped_given.level, f"{swapped_given.words}, {words}"),
            Level(swapped_family.level, f"{swapped_family.words}, {words}"),
        )
    return given, family


#: A swapped reading with one of these levels is not read (see `_names`).
_NOT_SWAPPED = frozenset({"given_differ", "family_differ"})


def _weight(level: Level, weights: MatchWeights) -> float:
    """The weight of one level (0 for a field missing on one side)."""
    return float(getattr(weights, level.level)) if level.level else 0.0


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


def _sex_level(police: Identity, register: Identity) -> Level:
    """A reported gender that is not the one a mother or father relationship implies."""
    if police.sex and register.sex and police.sex != register.sex:
        return Level("sex_conflict", "reported gender differs from the carer's relationship")
    return Level(None, "")


def _some(value: _T | None) -> tuple[_T, ...]:
    """A one-element tuple, or an empty one for None."""
    return () if value is None else (value,)
