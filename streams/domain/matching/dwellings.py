"""How far an address in a police report is the same dwelling as a subject's home.

Addresses are compared as BS 7666 and Royal Mail's PAF write dwellings, part by
part (`DwellingParts`): sub-building (flat or floor), building name, building
number, street, postcode. 1.0 (EXACT) is the UPRN, or flat, number, street and
postcode; 0.8 (NEAR) and 0.6 (WEAK) are near matches a person should check. Each
part agrees, nearly agrees (a score to cap the match at) or rules the dwelling
out: a different flat in the same building is a different dwelling, and so is a
different number on the same street. A form that is only unfamiliar (a floor for
a flat, a house name for a number, "10-12" for 11, "10A" for 10, a postcode in
the same sector) caps the match at NEAR or WEAK, so it goes to review.

A person's own address agreeing with the home is also a field of their identity
(`home_level`).
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
    postcode_key,
    street_stem,
)

#: How one part agrees: the score it caps the match at, and its words.
_Part = tuple[float, str]


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
    return postcode_level(address, home)


def postcode_level(address: PostalAddress, home: PostalAddress) -> Level | None:
    """`home_level` of an address that is not the home's dwelling: its postcode, or None.

    A postcode field that parses is the address's postcode (`dwelling_parts`
    reads one from the lines only when it does not), so the lines are parsed
    only when one of the two has none.
    """
    same = _postcode(address)
    if same is not None and same == _postcode(home):
        return Level("home_postcode", "and their address shares the home's postcode")
    return None


def _postcode(address: PostalAddress) -> str | None:
    """The postcode `dwelling_parts` finds in an address, read from its field when it can be."""
    return postcode_key(address.postcode) or dwelling_parts(address).postcode


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
        words = compare_parts(a, b)
        if words.score < EXACT:
            return NO_MATCH
        return Match(WEAK, (*words.evidence, "but the UPRNs differ"))
    return compare_parts(a, b)


def compare_parts(a: DwellingParts, b: DwellingParts) -> Match:
    """Compare two addresses written in words, part by part; the weakest part sets the score."""
    building = _building(a, b)
    if building is None:
        return _near_street(a, b)
    flat, postcode = _flats(a.flat, b.flat), _postcodes(a.postcode, b.postcode)
    if flat is None or postcode is None:
        return NO_MATCH
    if flat[0] == EXACT and a.flat:
        flat = (EXACT, "flat agrees")
        if building[1].startswith("building number and street"):
            building, flat = (building[0], f"flat, {building[1]}"), (EXACT, "")
    parts = [part for part in (building, flat, postcode) if part[1]]
    if a.approximate or b.approximate:
        parts.append((WEAK, "the place is only near the dwelling"))
    return Match(min(score for score, _ in parts), tuple(words for _, words in parts))


def _building(a: DwellingParts, b: DwellingParts) -> _Part | None:
    """How the buildings agree: by number and street, or by name; None when they differ."""
    if a.number and b.number:
        return _numbered(a, b)
    if not (a.number or b.number) and a.building_key and a.building_key == b.building_key:
        return EXACT, "building name and street agree"
    return _named(a, b)


def _numbered(a: DwellingParts, b: DwellingParts) -> _Part | None:
    """Two numbered buildings: the same number (or one within the other's range) on one street."""
    street = _streets(a.street, b.street)
    if street is None or a.number is None or b.number is None:
        return None
    if a.number == b.number:
        number: _Part = (EXACT, "building number and street agree")
    elif a.numbers == b.numbers and len(a.numbers) == 1:
        if a.number[-1].isalpha() and b.number[-1].isalpha():
            return None  # 10A and 10B: two buildings
        number = (WEAK, "building number agrees but for a letter on one side; street agrees")
    elif set(a.numbers) & set(b.numbers):
        number = (NEAR, "building number is within the other's range; street agrees")
    else:
        return None
    words = f"{number[1]}{street[1]}"
    if a.building and b.building and a.building != b.building:
        return WEAK, f"{words}; the building names differ"
    return min(number[0], street[0]), words


def _named(a: DwellingParts, b: DwellingParts) -> _Part | None:
    """A building known by its name on both sides, numbered on one side at most: its name and
    its street or its postcode agree ("Rose Cottage, High St" and "Rose Cottage, 10 High St")."""
    if a.building is None or a.building != b.building:
        return None
    one_side = "; building number given on one side only" if a.number or b.number else ""
    if a.street and b.street and _streets(a.street, b.street) is not None:
        return NEAR, f"building name and street agree{one_side}"
    if a.postcode is not None and a.postcode == b.postcode:
        return NEAR, f"building name and postcode agree{one_side}"
    return None


def _streets(a: str, b: str) -> _Part | None:
    """The same street, or one written with a locality after it on one side ("High Street
    Hornsey"); None when they differ."""
    if a == b:
        return (EXACT, "") if a else None
    shorter, longer = sorted((a, b), key=len)
    if shorter and longer.startswith(f"{shorter} ") and street_stem(a) == street_stem(b):
        return NEAR, " (a locality written after it on one side)"
    return None


#: The floors a floor's name may be: "top" is any floor above the ground.
_LEVELS = {
    "BASEMENT": {-1}, "LOWER GROUND": {-1}, "GARDEN": {-1, 0}, "GROUND": {0}, "FIRST": {1},
    "SECOND": {2}, "THIRD": {3}, "FOURTH": {4}, "FIFTH": {5}, "TOP": set(range(1, 10)),
}  # fmt: skip


def _flats(a: str | None, b: str | None) -> _Part | None:
    """How the sub-buildings agree; None when they are two flats of one building."""
    if a == b:
        return EXACT, ""
    if a is None or b is None:
        return WEAK, "flat given on one side only"
    floors = _floor_levels(a), _floor_levels(b)
    if floors[0] is not None and floors[1] is not None:
        return (NEAR, "the floors may be one") if floors[0] & floors[1] else None
    if floors[0] is None and floors[1] is None:
        return None
    flat = a if floors[0] is None else b
    floor = floors[1] if floors[0] is None else floors[0]
    plausible = floor is not None and bool(floor & _flat_levels(flat))
    return (NEAR if plausible else WEAK), "a flat on one side, a floor on the other"


def _floor_levels(flat: str) -> set[int] | None:
    """The floors a sub-building written as a floor ("FIRST FLOOR") may be on."""
    return _LEVELS.get(flat.removesuffix(" FLOOR")) if flat.endswith(" FLOOR") else None


def _flat_levels(flat: str) -> set[int]:
    """The floors a flat numbered so (3, or C as the third) is likely to be on."""
    digits = "".join(c for c in flat if c.isdigit())
    n = int(digits) if digits else ord(flat[0]) - ord("A") + 1
    return {n - 1, n}


def _postcodes(a: str | None, b: str | None) -> _Part | None:
    """How two postcodes agree, or None when they rule a match out."""
    if a is None or b is None:
        return NEAR, "postcode missing on one side"
    if a == b:
        return EXACT, "postcode agrees"
    if " " in a and " " in b and a[:-2] == b[:-2]:
        return NEAR, "postcode sector agrees, not its unit"
    if a.split(" ")[0] == b.split(" ")[0] and DamerauLevenshtein.distance(a, b) <= 1:
        return NEAR, "postcode differs by one typing error"
    return None


def _near_street(a: DwellingParts, b: DwellingParts) -> Match:
    """Same flat, number and postcode on a street spelt a typing error or two apart: review."""
    same = a.number and (a.number, a.flat, a.postcode) == (b.number, b.flat, b.postcode)
    if not same or a.postcode is None or DamerauLevenshtein.distance(a.street, b.street) > 2:
        return NO_MATCH
    words = "flat, building number and postcode agree" if a.flat else "number and postcode agree"
    return Match(WEAK, (words, "the street differs by a typing error"))
