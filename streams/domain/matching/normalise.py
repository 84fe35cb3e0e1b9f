"""Normalisation of names, UK postcodes and addresses into comparable keys; pure functions."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

_POSTCODE = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?)([0-9][A-Z]{2})$")
_FLAT_WORDS = r"FLAT|FLT|APARTMENT|APT|UNIT|ROOM|MAISONETTE|STUDIO"
_FLAT_ID = r"[0-9]+[A-Z]?|[A-Z]"
_FLAT = re.compile(rf"\b(?:{_FLAT_WORDS})\.?\s*(?:NO\.?\s*)?({_FLAT_ID})\b")
_NUMBER = r"[0-9]+[A-Z]?"
#: Words that place an incident near a building rather than in a dwelling.
_NEAR = re.compile(r"\b(?:OUTSIDE|NEAR|NEARBY|OPPOSITE|OPP|BEHIND|REAR OF|CORNER OF)\b")
#: "3/12 HIGH ROAD", "3 12 HIGH ROAD", "B 12 HIGH ROAD": flat, then building number, then street.
_FLAT_THEN_NUMBER = re.compile(rf"^({_FLAT_ID})\s*[/ ]\s*({_NUMBER})\s+(\D.*)$")
_NUMBER_STREET = re.compile(rf"^({_NUMBER})(?:\s*-\s*{_NUMBER})?\s+(\D.*)$")
_LONE_ID = re.compile(rf"^(?:{_FLAT_ID})$")
_FLOOR = re.compile(
    r"\b(BASEMENT|LOWER GROUND|GROUND|FIRST|SECOND|THIRD|FOURTH|TOP|1ST|2ND|3RD|4TH)"
    r"(?:\s+FLOOR)?\s+FLAT\b|\b(BASEMENT|LOWER GROUND|GROUND|FIRST|SECOND|THIRD|TOP)\s+FLOOR\b"
)
_ORDINALS = {"1ST": "FIRST", "2ND": "SECOND", "3RD": "THIRD", "4TH": "FOURTH"}
#: Street-type abbreviations, written out; "ST" is handled apart (Street at the end, else Saint).
STREET_TYPES: dict[str, str] = {
    "RD": "ROAD", "ST": "STREET", "AVE": "AVENUE", "AV": "AVENUE", "AVE.": "AVENUE",
    "LN": "LANE", "GDNS": "GARDENS", "GDN": "GARDEN", "SQ": "SQUARE", "CRES": "CRESCENT",
    "CRESC": "CRESCENT", "DR": "DRIVE", "CT": "COURT", "PL": "PLACE", "TER": "TERRACE",
    "TERR": "TERRACE", "GR": "GROVE", "GRO": "GROVE", "GRV": "GROVE", "CL": "CLOSE",
    "PK": "PARK", "HWY": "HIGHWAY", "EST": "ESTATE", "MWS": "MEWS", "WLK": "WALK",
    "PDE": "PARADE", "HL": "HILL", "GN": "GREEN", "GRN": "GREEN", "BLDGS": "BUILDINGS",
    "HSE": "HOUSE", "CTS": "COURTS", "RDS": "ROADS", "WY": "WAY", "BVD": "BOULEVARD",
    "BLVD": "BOULEVARD", "EMB": "EMBANKMENT", "APPR": "APPROACH", "VLS": "VILLAS",
    "YD": "YARD", "RW": "ROW", "GT": "GREAT", "LT": "LITTLE", "UPR": "UPPER", "LWR": "LOWER",
    "NTH": "NORTH", "STH": "SOUTH",
}  # fmt: skip


class PostalAddress(Protocol):
    """What address comparison reads: the contract's `Address` or the register's `Place`."""

    @property
    def uprn(self) -> str | None:
        """The UPRN, when known."""
        ...

    @property
    def lines(self) -> Sequence[str]:
        """The address lines."""
        ...

    @property
    def postcode(self) -> str | None:
        """The postcode as written."""
        ...


@dataclass(frozen=True, slots=True)
class DwellingParts:
    """An address split into flat, building number, street and postcode (all normalised)."""

    flat: str | None
    number: str | None
    street: str
    postcode: str | None
    approximate: bool = False

    @property
    def building_key(self) -> str | None:
        """Building number and street (or a building's name): the building, whatever flat."""
        if self.number:
            return f"{self.number} {self.street}" if self.street else None
        return self.street or None

    @property
    def dwelling_key(self) -> str | None:
        """Flat (or "-") and building: one dwelling; None when the building is unknown."""
        building = self.building_key
        return f"{self.flat or '-'}/{building}" if building else None


@lru_cache(maxsize=1 << 14)  # every register address passes through once while it loads
def fold(text: str) -> str:
    """Upper-case ASCII text: accents removed, apostrophes dropped, other punctuation a space."""
    decomposed = unicodedata.normalize("NFKD", text)
    ascii_text = decomposed.encode("ascii", "ignore").decode("ascii").upper()
    ascii_text = re.sub(r"['`\u2019]", "", ascii_text)
    return " ".join(re.sub(r"[^A-Z0-9/]+", " ", ascii_text).split())


#: Titles police sometimes write into a name field; dropped when a name remains.
TITLES = frozenset({"MR", "MRS", "MS", "MISS", "MX", "DR", "MASTER", "SIR", "DAME", "REV", "PROF"})


@lru_cache(maxsize=1 << 16)
def name_key(name: str | None) -> str | None:
    """A name for exact comparison: case, accents, spaces, apostrophes, hyphens, titles ignored."""
    return "".join(name_tokens(name)) or None


@lru_cache(maxsize=1 << 16)
def name_tokens(name: str | None) -> tuple[str, ...]:
    """The words of a name, titles dropped (for names written in parts, double-barrelled)."""
    words = fold(name).replace("/", " ").split() if name else []
    kept = tuple(word for word in words if word not in TITLES)
    return kept or tuple(words)


def postcode_key(postcode: str | None) -> str | None:
    """Canonical UK postcode ("n87dw" -> "N8 7DW"); the squeezed text when it does not parse."""
    if not postcode:
        return None
    squeezed = re.sub(r"[^A-Z0-9]", "", postcode.upper())
    match = _POSTCODE.match(squeezed)
    if match:
        return f"{match.group(1)} {match.group(2)}"
    return squeezed or None


def street_key(street: str) -> str:
    """A street name with its abbreviations written out ("ST ANNS RD" -> "SAINT ANNS ROAD")."""
    words = street.split()
    out: list[str] = []
    for i, word in enumerate(words):
        if word == "ST":
            out.append("STREET" if i == len(words) - 1 and i > 0 else "SAINT")
        else:
            out.append(STREET_TYPES.get(word, word))
    return " ".join(out)


def dwelling_parts(address: PostalAddress) -> DwellingParts:
    """Split an address into flat, building number, street and postcode."""
    return parts_of_lines(tuple(address.lines), address.postcode)


@lru_cache(maxsize=1 << 13)  # every register address passes through once while it loads
def parts_of_lines(lines: tuple[str, ...], postcode: str | None) -> DwellingParts:
    """`dwelling_parts` of an address's lines and postcode (cached: addresses repeat)."""
    text = ", ".join(fold(part) for line in lines for part in line.split(","))
    flat, text = _take_flat(text)
    parts = [p.strip() for p in text.split(",") if p.strip()]
    located = _locate(parts, flat)
    near = bool(_NEAR.search(text))
    if located is None:
        return DwellingParts(flat, None, street_key(" ".join(parts)), postcode_key(postcode), near)
    flat, number, street = located
    return DwellingParts(flat, number, street, postcode_key(postcode), near)


def _take_flat(text: str) -> tuple[str | None, str]:
    """The flat named by a word ("Flat 3", "Apt B", "Ground floor flat") and the text without it."""
    match = _FLAT.search(text)
    if match:
        return match.group(1), text[: match.start()] + text[match.end() :]
    floor = _FLOOR.search(text)
    if floor:
        word = floor.group(1) or floor.group(2)
        return f"{_ORDINALS.get(word, word)} FLOOR", text[: floor.start()] + text[floor.end() :]
    return None, text


def _locate(parts: list[str], flat: str | None) -> tuple[str | None, str, str] | None:
    """Flat, building number and street from the parts of an address, when it has a number."""
    pending = flat
    for i, part in enumerate(parts):
        following = parts[i + 1] if i + 1 < len(parts) else ""
        if _LONE_ID.match(part) and following:
            if part[0].isdigit() and not _NUMBER_STREET.match(following):
                return pending, part, street_key(following)  # "12, High Road"
            pending = pending or part  # "3, 12 High Road"
            continue
        split = _split_part(part, pending)
        if split is not None:
            return split
    return None


def _split_part(part: str, flat: str | None) -> tuple[str | None, str, str] | None:
    """Flat, number and street of one address part that starts with a building number."""
    if flat is None:
        both = _FLAT_THEN_NUMBER.match(part)
        if both:
            return both.group(1), both.group(2), street_key(both.group(3))
    single = _NUMBER_STREET.match(part)
    if single:
        return flat, single.group(1), street_key(single.group(2))
    return None


#: Common short forms of given names (keys and values as `name_key` writes them).
SHORT_FORMS: dict[str, tuple[str, ...]] = {
    "ALEX": ("ALEXANDER", "ALEXANDRA", "ALEKSANDRA"), "ANDY": ("ANDREW", "ANDREAS"),
    "TONY": ("ANTHONY", "ANTONIO"), "BEN": ("BENJAMIN",), "BILL": ("WILLIAM",),
    "BILLY": ("WILLIAM",), "WILL": ("WILLIAM",), "LIAM": ("WILLIAM",), "BOB": ("ROBERT",),
    "ROB": ("ROBERT",), "ROBBIE": ("ROBERT",), "BERT": ("ROBERT", "ALBERT", "HERBERT"),
    "CHRIS": ("CHRISTOPHER", "CHRISTINE", "CHRISTINA"), "DAN": ("DANIEL",), "DANNY": ("DANIEL",),
    "DAVE": ("DAVID",), "ED": ("EDWARD", "EDMUND"), "EDDIE": ("EDWARD",), "TED": ("EDWARD",),
    "FRED": ("FREDERICK",), "FREDDIE": ("FREDERICK",), "HAL": ("HENRY", "HAROLD"),
    "HARRY": ("HENRY", "HAROLD"), "JACK": ("JOHN",), "JOHNNY": ("JOHN", "JONATHAN"),
    "JON": ("JONATHAN",), "JIM": ("JAMES",), "JIMMY": ("JAMES",), "JAMIE": ("JAMES",),
    "JOE": ("JOSEPH", "JOSEPHINE"), "JOEY": ("JOSEPH",), "KATE": ("KATHERINE", "CATHERINE"),
    "KATIE": ("KATHERINE", "CATHERINE"), "KATHY": ("KATHERINE", "CATHERINE"),
    "CATH": ("CATHERINE",), "KASIA": ("KATARZYNA",), "GOSIA": ("MALGORZATA",),
    "BASIA": ("BARBARA",), "OLA": ("ALEKSANDRA",), "LIZ": ("ELIZABETH",),
    "LIZZIE": ("ELIZABETH",), "BETH": ("ELIZABETH", "BETHANY"), "BETTY": ("ELIZABETH",),
    "ELIZA": ("ELIZABETH",), "LIBBY": ("ELIZABETH",), "MAGGIE": ("MARGARET",),
    "MEG": ("MARGARET", "MEGAN"), "PEGGY": ("MARGARET",), "MATT": ("MATTHEW",),
    "MIKE": ("MICHAEL",), "MICK": ("MICHAEL",), "MICKY": ("MICHAEL",), "NICK": ("NICHOLAS",),
    "NICKY": ("NICHOLAS", "NICOLA"), "NIKKI": ("NICOLA",), "PAT": ("PATRICK", "PATRICIA"),
    "PADDY": ("PATRICK", "PADRAIG"), "PETE": ("PETER",), "RICH": ("RICHARD",),
    "RICK": ("RICHARD",), "DICK": ("RICHARD",), "RICKY": ("RICHARD",),
    "SAM": ("SAMUEL", "SAMANTHA"),
    "SAMMY": ("SAMUEL", "SAMANTHA"), "STEVE": ("STEPHEN", "STEVEN"), "TOM": ("THOMAS",),
    "TOMMY": ("THOMAS",), "SUE": ("SUSAN", "SUZANNE"), "SUZY": ("SUSAN",), "JEN": ("JENNIFER",),
    "JENNY": ("JENNIFER",), "BECKY": ("REBECCA",), "BECCA": ("REBECCA",), "VICKY": ("VICTORIA",),
    "VICKI": ("VICTORIA",), "TORI": ("VICTORIA",), "GABI": ("GABRIELA", "GABRIELLE"),
    "GABBY": ("GABRIELA", "GABRIELLE"), "MO": ("MOHAMMED", "MUHAMMAD", "MOHAMMAD"),
    "TUNDE": ("BABATUNDE",), "FLO": ("FLORENCE",), "FLOSSIE": ("FLORENCE",),
    "DEBS": ("DEBORAH",), "DEBBIE": ("DEBORAH",), "MANDY": ("AMANDA",), "SANDY": ("ALEXANDRA",),
    "JESS": ("JESSICA",), "JO": ("JOANNA", "JOANNE", "JOSEPHINE"), "TASH": ("NATASHA",),
    "NAT": ("NATALIE", "NATASHA", "NATHAN", "NATHANIEL"), "GEORGIE": ("GEORGINA", "GEORGE"),
    "ABBY": ("ABIGAIL",), "ABI": ("ABIGAIL",), "JOSH": ("JOSHUA",), "ZAK": ("ZACHARY",),
    "ZACH": ("ZACHARY",), "IZZY": ("ISABELLA", "ISABEL"), "BELLA": ("ISABELLA", "ARABELLA"),
    "TOBY": ("TOBIAS",), "TIM": ("TIMOTHY",), "GREG": ("GREGORY",), "LEN": ("LEONARD",),
    "LENNY": ("LEONARD",), "CHARLIE": ("CHARLES", "CHARLOTTE"), "LOTTIE": ("CHARLOTTE",),
    "RON": ("RONALD",), "RONNIE": ("RONALD",), "DON": ("DONALD",), "GERRY": ("GERALD", "GERARD"),
}  # fmt: skip


def _related_forms() -> dict[str, frozenset[str]]:
    """Each given name with its short forms, and each short form with its full forms."""
    related: dict[str, set[str]] = {}
    for short, fulls in SHORT_FORMS.items():
        related.setdefault(short, set()).update(fulls)
        for full in fulls:
            related.setdefault(full, set()).add(short)
    return {name: frozenset(forms) for name, forms in related.items()}


_RELATED = _related_forms()


@lru_cache(maxsize=1 << 16)
def given_initials(key: str) -> frozenset[str]:
    """The initial of a given-name key and of its known short or full forms."""
    return frozenset({key[0], *(form[0] for form in _RELATED.get(key, ()))})


@lru_cache(maxsize=1 << 16)
def given_forms(key: str) -> frozenset[str]:
    """A given-name key with its known short or full forms."""
    return frozenset({key, *_RELATED.get(key, ())})


def is_short_form(a: str, b: str) -> bool:
    """Whether one given-name key is a known short form, prefix (3+ letters) or part of another."""
    short, full = (a, b) if len(a) <= len(b) else (b, a)
    if full in SHORT_FORMS.get(short, ()):
        return True
    return len(short) >= 3 and (full.startswith(short) or (len(short) >= 4 and short in full))
