"""Normalisation of names, UK postcodes and addresses into comparable keys; pure functions."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

_POSTCODE = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?)([0-9][A-Z]{2})$")
#: A postcode written at the end of an address line ("HORNSEY N8 7DW").
_POSTCODE_AT_END = re.compile(r"(?:^|\s)([A-Z]{1,2}[0-9][A-Z0-9]?\s?[0-9][A-Z]{2})$")
_FLAT_WORDS = r"FLAT|FLT|APARTMENT|APT|UNIT|ROOM|MAISONETTE|STUDIO|SUITE"
_FLAT_ID = r"[0-9]+[A-Z]?|[A-Z]"
#: "Flat 3", "Apt B", "Flat No 3", "Flat3"; the "/" of "Flat 2/10 High St" goes with the flat.
_FLAT = re.compile(
    rf"\b(?:{_FLAT_WORDS})(?:\s+(?:NO\s+)?|(?=[0-9]))({_FLAT_ID})\b(?:\s*/|\s+TO(?=\s+[0-9]))?"
)
_FLOORS = (
    r"BASEMENT|LOWER GROUND|GROUND|GARDEN|FIRST|SECOND|THIRD|FOURTH|FIFTH|TOP|UPPER"
    r"|1ST|2ND|3RD|4TH|5TH"
)
#: "Ground floor flat", "top flat", "first floor", "floor 2", "basement".
_FLOOR = re.compile(
    rf"\b({_FLOORS})(?:\s+FLOOR)?\s+FLAT\b|\b({_FLOORS})\s+FLOOR\b|\bFLOOR\s+([0-5])\b"
    r"|\b(BASEMENT)\b"
)
_FLOOR_NAMES = {
    "1ST": "FIRST", "2ND": "SECOND", "3RD": "THIRD", "4TH": "FOURTH", "5TH": "FIFTH",
    "UPPER": "TOP", "0": "GROUND", "1": "FIRST", "2": "SECOND", "3": "THIRD", "4": "FOURTH",
    "5": "FIFTH",
}  # fmt: skip
#: Words that place an incident near a building rather than in a dwelling.
_NEAR = re.compile(r"\b(?:OUTSIDE|NEAR|NEARBY|OPPOSITE|OPP|BEHIND|REAR OF|CORNER OF)\b")
#: "10-12" as written, before punctuation is folded away: a building spanning 10 to 12.
_DASH = re.compile("[-\u2013\u2014]")
_RANGE = re.compile(r"\b([0-9]+[A-Za-z]?)\s*[-\u2013\u2014]\s*([0-9]+[A-Za-z]?)\b")
#: "3/12 HIGH ROAD", "3 12 HIGH ROAD", "B 12 HIGH ROAD": flat, then building number, then street.
_FLAT_THEN_NUMBER = re.compile(rf"^({_FLAT_ID})\s*[/ ]\s*([0-9]+[A-Z]?)\s+(\D.*)$")
#: "10 HIGH ST", "10A HIGH ST", "10 A HIGH ST", "10 TO 12 HIGH ST", "ROSE COTTAGE 10 HIGH ST":
#: house name, building number, its letter, the end of its range, street.
_NUMBERED = re.compile(
    r"^(?:(\D*?)\s+)?([0-9]+)([A-Z])?(?:\s+TO\s+([0-9]+)[A-Z]?)?"
    r"(?:\s+([A-H])(?=\s+\S+\s+\S))?\s+(\D.*)$"
)
_LEADS_NUMBERED = re.compile(r"^[0-9]+[A-Z]?(?:\s+TO\s+[0-9]+[A-Z]?)?\s+\D")
_LONE_ID = re.compile(rf"^(?:{_FLAT_ID})$")
#: A range of building numbers wider than this is filed under its two ends only.
MAX_SPAN = 4
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
    "NTH": "NORTH", "STH": "SOUTH", "COTTS": "COTTAGES", "CSWY": "CAUSEWAY",
}  # fmt: skip
#: Words that end a thoroughfare's name (past its first word): what follows on the same line
#: is a locality or a town ("HIGH STREET HORNSEY").
THOROUGHFARES = frozenset({
    "ROAD", "STREET", "AVENUE", "LANE", "GARDENS", "SQUARE", "CRESCENT", "DRIVE", "COURT",
    "PLACE", "TERRACE", "GROVE", "CLOSE", "PARK", "HIGHWAY", "MEWS", "WALK", "PARADE", "HILL",
    "GREEN", "ROW", "WAY", "BOULEVARD", "EMBANKMENT", "APPROACH", "VILLAS", "YARD", "RISE",
    "VALE", "VIEW", "GATE", "CHASE", "WHARF", "QUAY", "COTTAGES", "CAUSEWAY", "CIRCUS",
})  # fmt: skip


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
    """An address split as BS 7666 and PAF write it (all normalised): the sub-building (a flat,
    or a floor as "FIRST FLOOR"), building number ("10", "10A", a range "10-12"), street,
    postcode, and the building's or house's name ("NELSON HOUSE", "ROSE COTTAGE").

    Without a building number the first part is the building's name and the next the street
    ("Rose Cottage, High St"); lines after the street (localities, town, county) are not read.
    """

    flat: str | None
    number: str | None
    street: str
    postcode: str | None
    approximate: bool = False
    building: str | None = None

    @property
    def building_key(self) -> str | None:
        """Building number and street (or a building's name): the building, whatever flat."""
        if self.number:
            return f"{self.number} {self.street}" if self.street else None
        return " ".join(filter(None, (self.building, self.street))) or None

    @property
    def dwelling_key(self) -> str | None:
        """Flat (or "-") and building: one dwelling; None when the building is unknown."""
        building = self.building_key
        return f"{self.flat or '-'}/{building}" if building else None

    @property
    def numbers(self) -> tuple[int, ...]:
        """The building numbers the building spans, letters dropped (see `building_numbers`)."""
        return building_numbers(self.number)

    @property
    def street_stem(self) -> str:
        """The street up to its thoroughfare word (see `street_stem`)."""
        return street_stem(self.street)


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


@lru_cache(maxsize=1 << 14)
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
    """A street name with its abbreviations written out ("ST ANNS RD" -> "SAINT ANNS ROAD").

    "ST" is Saint first or before a thoroughfare word ("UPPER ST MARTINS LANE"), else
    Street ("HIGH ST", "HIGH ST HORNSEY").
    """
    out = [STREET_TYPES.get(word, word) for word in street.split()]
    for i, word in enumerate(street.split()):
        if word == "ST":
            saint = i == 0 or any(later in THOROUGHFARES for later in out[i + 1 :])
            out[i] = "SAINT" if saint else "STREET"
    return " ".join(out)


@lru_cache(maxsize=1 << 13)
def street_stem(street: str) -> str:
    """A street up to its first thoroughfare word past the first ("HIGH STREET HORNSEY" ->
    "HIGH STREET", "WOOD GREEN HIGH ROAD" -> "WOOD GREEN"); the whole street when it has none."""
    words = street.split()
    for i, word in enumerate(words[1:], start=1):
        if word in THOROUGHFARES:
            return " ".join(words[: i + 1])
    return street


@lru_cache(maxsize=1 << 13)
def building_numbers(number: str | None) -> tuple[int, ...]:
    """The building numbers a building number spans, letters dropped: "10A" -> (10,),
    "10-12" -> (10, 11, 12); a range wider than MAX_SPAN by its two ends only."""
    if not number:
        return ()
    stems = [int(stem) for stem in re.findall(r"[0-9]+", number)]
    low, high = min(stems), max(stems)
    return tuple(range(low, high + 1)) if high - low <= MAX_SPAN else (low, high)


def dwelling_parts(address: PostalAddress) -> DwellingParts:
    """Split an address into flat, building number, street, postcode and building name."""
    return parts_of_lines(tuple(address.lines), address.postcode)


@lru_cache(maxsize=1 << 13)  # every register address passes through once while it loads
def parts_of_lines(lines: tuple[str, ...], postcode: str | None) -> DwellingParts:
    """`dwelling_parts` of an address's lines and postcode (cached: addresses repeat).

    A postcode written at the end of a line is used when the postcode field is empty.
    """
    text = ", ".join(fold(_ranged(part)) for line in lines for part in line.split(","))
    flat, text = _take_flat(text)
    near = _NEAR.search(text) is not None
    parts, written = _without_postcode((_NEAR.sub(" ", text) if near else text).split(","))
    code = postcode_key(postcode) or written
    located = _locate(parts, flat)
    if located is None:
        name = street_key(parts[0]) if parts else None
        street = street_key(parts[1]) if len(parts) > 1 else ""
        return DwellingParts(flat, None, street, code, near, name)
    flat, number, street, name = located
    return DwellingParts(flat, number, street, code, near, name)


def _ranged(part: str) -> str:
    """An address part with a range of numbers ("10-12") written so folding keeps it."""
    return _RANGE.sub(r"\1 TO \2", part) if _DASH.search(part) else part


def _without_postcode(raw: list[str]) -> tuple[list[str], str | None]:
    """The parts of an address, blanks dropped, without a postcode ending one of them, and
    that postcode."""
    parts: list[str] = []
    written: str | None = None
    for part in (" ".join(p.split()) for p in raw):
        match = _POSTCODE_AT_END.search(part) if part[-3:-2].isdigit() else None
        if match:
            written = written or postcode_key(match.group(1))
            part = part[: match.start()].strip()
        if part:
            parts.append(part)
    return parts, written


def _take_flat(text: str) -> tuple[str | None, str]:
    """The flat named by a word ("Flat 3", "Apt B", "Ground floor flat") and the text without it;
    a floor written beside a flat ("First floor, Flat 2") is dropped: the flat names it."""
    floor = _FLOOR.search(text) if "FL" in text or "BASEMENT" in text else None
    if floor and floor.group(1):  # "ground floor flat 12 High Rd": the word FLAT is the floor's
        return _floor_name(floor), text[: floor.start()] + " " + text[floor.end() :]
    match = _FLAT.search(text)
    if match:
        text = text[: match.start()] + " " + text[match.end() :]
        return match.group(1), _FLOOR.sub(" ", text) if floor else text
    if floor:
        return _floor_name(floor), text[: floor.start()] + " " + text[floor.end() :]
    return None, text


def _floor_name(floor: re.Match[str]) -> str:
    """A floor as the sub-building it names ("1st floor flat" -> "FIRST FLOOR")."""
    word = next(group for group in floor.groups() if group)
    return f"{_FLOOR_NAMES.get(word, word)} FLOOR"


_Located = tuple[str | None, str, str, str | None]


def _locate(parts: list[str], flat: str | None) -> _Located | None:
    """Flat, building number, street and building name from the parts of an address, when
    it has a number; the parts before the numbered one name the building."""
    pending = flat
    names: list[str] = []
    for i, part in enumerate(parts):
        following = parts[i + 1] if i + 1 < len(parts) else ""
        if _LONE_ID.match(part) and following:
            if part[0].isdigit() and not _LEADS_NUMBERED.match(following):
                return pending, part, street_key(following), _name(names)  # "12, High Road"
            pending = pending or part  # "3, 12 High Road"
            continue
        split = _split_part(part, pending)
        if split is not None:
            found, number, street, before = split
            return found, number, street, _name([*names, before])
        names.append(part)
    return None


def _name(names: list[str]) -> str | None:
    """A building's name from the words written before its number."""
    return street_key(" ".join(names)) or None


def _split_part(part: str, flat: str | None) -> tuple[str | None, str, str, str] | None:
    """Flat, building number, street and the words before the number, of one address part
    with a building number."""
    if flat is None:
        both = _FLAT_THEN_NUMBER.match(part)
        if both:
            return both.group(1), both.group(2), street_key(both.group(3)), ""
    numbered = _NUMBERED.match(part)
    if numbered is None:
        return None
    before, stem, letter, end, spaced, street = numbered.groups()
    if end and int(end) != int(stem):
        low, high = sorted((int(stem), int(end)))
        return flat, f"{low}-{high}", street_key(street), before or ""
    number = f"{stem}{letter or spaced or ''}"
    return flat, number, street_key(street), before or ""


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
