"""How far an address in a police report is the same dwelling as a subject's home.

1.0 (EXACT) is the UPRN, or flat, number, street and postcode; 0.8 (NEAR) and
0.6 (WEAK) are near matches a person should check; a different flat in the
same building is a different dwelling. A person's own address agreeing with
the home is also a field of their identity (`home_level`).
"""

from __future__ import annotations

from functools import lru_cache

from rapidfuzz.distance import DamerauLevenshtein

from streams.domain.matching.levels import EXACT, NEAR, NO_MATCH, NONE, WEAK, Level, Match
from streams.domain.matching.normalise import (
    DwellingParts,
    PostalAddress,
    dwelling_parts,
    parts_of_lines,
)


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
