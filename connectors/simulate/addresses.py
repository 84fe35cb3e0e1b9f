"""An invented gazetteer: towns, streets, dwellings, and how the register and police write them."""

from __future__ import annotations

from dataclasses import dataclass
from random import Random
from typing import Any

from connectors.simulate.names import between

_STEMS = (
    "Ambr", "Bel", "Cran", "Dove", "Elm", "Fal", "Glen", "Hawk", "Ivy", "Jun", "Kestr", "Lark",
    "Mill", "Nor", "Oster", "Pry", "Quill", "Rav", "Sand", "Tarr", "Um", "Vale", "Wil", "Yew",
    "Bir", "Cope", "Dell", "Finch", "Gor", "Heron",
)  # fmt: skip
_ENDS = (
    "mere", "bank", "croft", "dale", "field", "holm", "lea", "mount", "side", "wick",
    "ton", "wood", "ridge", "ford", "gate", "stead", "hill", "moor", "court", "view",
)  # fmt: skip
_TYPES = (
    ("Road", "Rd"), ("Street", "St"), ("Avenue", "Ave"), ("Lane", "Ln"), ("Close", "Cl"),
    ("Crescent", "Cres"), ("Drive", "Dr"), ("Terrace", "Terr"), ("Gardens", "Gdns"),
    ("Grove", "Gr"),
)  # fmt: skip
_TOWN_START = (
    "Ash", "Brent", "Cold", "Drax", "Elder", "Fox", "Grey", "High", "Kings", "Long",
    "Mid", "North", "Oak", "Red", "South", "West",
)  # fmt: skip
_TOWN_END = ("bury", "minster", "wich", "port", "borough", "ford", "caster", "by")
_UNIT = "ABDEFGHJLNPQRSTUWXYZ"
_LETTERS = "ABCDEFGHJKLMNOPRSTUWY"
_CAPACITY = len(_STEMS) * len(_ENDS) * len(_TYPES)
_STRIDE = 4801  # coprime with _CAPACITY (and 8 times it): permutes street names and postcodes
_TOWNS = 48
_MAX_NUMBER = 127
UPRN_BASE = 100_000_000_000


@dataclass(frozen=True, slots=True)
class Town:
    """An invented town, its postcode area and the council that keeps its register records."""

    name: str
    area: str
    local_authority: str


@dataclass(frozen=True, slots=True)
class Dwelling:
    """One home: a house, or one flat of a building of `flats` flats."""

    key: int
    number: int
    stem: str
    street_type: int
    flat: int | None
    flats: int
    town: Town
    postcode: str

    @property
    def uprn(self) -> str:
        """The dwelling's Unique Property Reference Number (invented, unique in a scenario)."""
        return str(UPRN_BASE + self.key)

    @property
    def street(self) -> str:
        """The street name written out in full."""
        return f"{self.stem} {_TYPES[self.street_type][0]}"


@dataclass(frozen=True, slots=True)
class PublicPlace:
    """A place that is nobody's home (a street, a car park)."""

    lines: tuple[str, ...]
    town: Town
    postcode: str


class Gazetteer:
    """Hands out dwellings that never repeat, on streets spread over invented towns.

    `rng` only chooses the towns and their street names. A gazetteer draws its buildings
    from the `streets` streets from `first_street`, so gazetteers with separate ranges
    never share a dwelling; a small range puts families on the same streets, as in life.
    """

    def __init__(self, rng: Random, *, first_street: int = 0, streets: int | None = None) -> None:
        names = [a + b for a in _TOWN_START for b in _TOWN_END]
        areas = [a + b for a in _LETTERS for b in _LETTERS if a != b]
        picked = rng.sample(range(len(names)), _TOWNS)
        codes = rng.sample(range(1_000_000), _TOWNS)
        area_picks = rng.sample(areas, _TOWNS)
        self.towns = [
            Town(names[i], area, f"E{rng.choice(('06', '07', '08', '09'))}{code:06d}")
            for i, area, code in zip(picked, area_picks, codes, strict=True)
        ]
        self._offsets = [rng.randrange(_CAPACITY) for _ in range(_TOWNS)]
        total = _TOWNS * _CAPACITY
        self._first = first_street
        self._count = total - first_street if streets is None else streets
        if first_street + self._count > total:
            raise OverflowError("the invented gazetteer has no streets that far")
        self._used: set[int] = set()
        self._names: dict[int, tuple[str, int, Town]] = {}
        self._postcodes: dict[int, str] = {}

    def _next_building(self, rng: Random) -> tuple[int, int]:
        """An unused (street, house number) of this gazetteer's streets."""
        for _ in range(64):
            street = self._first + int(rng.random() * self._count)
            number = 1 + int(rng.random() * _MAX_NUMBER)
            building = street * (_MAX_NUMBER + 1) + number
            if building not in self._used:
                self._used.add(building)
                return street, number
        raise OverflowError("this gazetteer's streets are full")

    def _street_of(self, street: int) -> tuple[str, int, Town]:
        """Stem, street type and town of a street number (remembered: streets repeat)."""
        known = self._names.get(street)
        if known is None:
            known = self._names[street] = self._name_street(street)
        return known

    def _name_street(self, street: int) -> tuple[str, int, Town]:
        town = street % _TOWNS
        code = ((street // _TOWNS) * _STRIDE + self._offsets[town]) % _CAPACITY
        code, street_type = divmod(code, len(_TYPES))
        stem, end = divmod(code, len(_ENDS))
        return _STEMS[stem] + _ENDS[end], street_type, self.towns[town]

    def _postcode(self, street: int, number: int, town: Town) -> str:
        """A postcode unique to one street and a block of its numbers (remembered)."""
        block = street * 8 + number // 16
        known = self._postcodes.get(block)
        if known is None:
            known = self._postcodes[block] = _postcode(street, number, town)
        return known

    def dwelling(self, rng: Random, *, flat_share: float = 0.3) -> Dwelling:
        """A new home nobody else has been given: a house or one flat of a new building."""
        street, number = self._next_building(rng)
        stem, street_type, town = self._street_of(street)
        flats = between(rng, 4, 16) if rng.random() < flat_share else 0
        flat = between(rng, 1, flats) if flats else None
        key = (street * (_MAX_NUMBER + 1) + number) * 32 + (flat or 0)
        postcode = self._postcode(street, number, town)
        return Dwelling(key, number, stem, street_type, flat, flats, town, postcode)

    def public_place(self, rng: Random) -> PublicPlace:
        """A street location that is nobody's home."""
        street, number = self._next_building(rng)
        stem, street_type, town = self._street_of(street)
        name = f"{stem} {_TYPES[street_type][0]}"
        lines = rng.choice(
            ((f"Outside {number} {name}",), ("Car park", name), (f"Bus stop, {name}",))
        )
        return PublicPlace(lines, town, self._postcode(street, number, town))


def _postcode(street: int, number: int, town: Town) -> str:
    """A postcode unique to one street and a block of 16 of its numbers."""
    code = ((street // _TOWNS) * 8 + number // 16) * _STRIDE % (_CAPACITY * 8)
    code, unit = divmod(code, len(_UNIT) ** 2)
    district, sector = divmod(code, 10)
    letters = _UNIT[unit // len(_UNIT)] + _UNIT[unit % len(_UNIT)]
    return f"{town.area}{district + 1} {sector}{letters}"


def neighbour(home: Dwelling, rng: Random) -> Dwelling:
    """Another flat of the same building: a different dwelling."""
    if home.flat is None:
        raise ValueError("a house has no neighbouring flat")
    other = rng.choice([f for f in range(1, home.flats + 1) if f != home.flat])
    return Dwelling(
        home.key - home.flat + other,
        home.number,
        home.stem,
        home.street_type,
        other,
        home.flats,
        home.town,
        home.postcode,
    )


def register_address(home: Dwelling, rng: Random) -> dict[str, Any]:
    """`#/$defs/address` as the register keeps it: canonical lines, usually with a UPRN."""
    house = f"{home.number} {home.stem} {_TYPES[home.street_type][0]}"
    lines = [f"Flat {home.flat}", house] if home.flat is not None else [house]
    uprn = str(UPRN_BASE + home.key) if rng.random() < 0.93 else None
    return {"uprn": uprn, "lines": lines, "town": home.town.name, "postcode": home.postcode}


def _noisy_postcode(postcode: str, rng: Random) -> str:
    """The postcode as typed: without its space, in lower case, or both."""
    roll = rng.random()
    if roll < 0.55:
        return postcode
    if roll < 0.75:
        return postcode.replace(" ", "")
    if roll < 0.9:
        return postcode.lower()
    return postcode.replace(" ", "").lower()


def _police_lines(home: Dwelling, rng: Random) -> list[str]:
    """Lines as a police system writes them: abbreviated, joined or split, sometimes shouted."""
    full, short = _TYPES[home.street_type]
    house = f"{home.number} {home.stem} {short if rng.random() < 0.4 else full}"
    if home.flat is None:
        lines = [house]
    else:
        flat = f"Flat {home.flat}"
        lines = [f"{flat}, {house}"] if rng.random() < 0.5 else [flat, house]
    return [line.upper() for line in lines] if rng.random() < 0.2 else lines


def police_address(place: Dwelling | PublicPlace, rng: Random) -> dict[str, Any]:
    """`#/$defs/address` as a police system writes it, with the usual noise."""
    town = place.town.name if rng.random() < 0.8 else None
    postcode = _noisy_postcode(place.postcode, rng)
    if isinstance(place, PublicPlace):
        return {"uprn": None, "lines": list(place.lines), "town": town, "postcode": postcode}
    uprn = place.uprn if rng.random() < 0.15 else None
    return {"uprn": uprn, "lines": _police_lines(place, rng), "town": town, "postcode": postcode}
