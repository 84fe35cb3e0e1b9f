"""Variations: an incident's police record written the way some force's system might write it.

A variation rewrites one incident dict (police-incident/1) and never changes the truth: the
people are the same human beings and the places the same dwellings; only how they are
written, or a recording error about them, changes. Each is deterministic given its
`random.Random`; `vary` seeds one per incident, so a replayed file varies the same way
whatever its order. Kinds, and what the dev-set harness holds each to:

- `format`: every involved person (or the place) written another way;
- `thinning`: a format that stacks on the data's own noise until some people are thin;
- `corruption`: one recording error in ONE involved person per incident, chosen at random
  among those it can apply to (as a record-linkage corruption benchmark does it: a
  record carries one or two errors, not every person of it); the error may point elsewhere
  (another house number can be another family's home), the truth stays who they are;
- `address`: a UK address form (`address_forms`) for the place and every involved
  person's own address, as one force's system would write them all.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from random import Random
from typing import Any, Literal

from connectors.simulate.address_forms import ADDRESS_FORMS, Form, parse, rewrite_address
from connectors.simulate.clock import age_on, local_day
from connectors.simulate.names import between, family_name, given_name, pick
from schemas.police import INVOLVED_ROLES

Incident = dict[str, Any]
Person = dict[str, Any]
Kind = Literal["format", "thinning", "corruption", "address"]
Rewrite = Callable[[Incident, Random], None]
#: A recording error in one person: the person, the incident day and a random stream.
Error = Callable[[Person, date, Random], None]


@dataclass(frozen=True)
class Variation:
    """A named rewrite of an incident and the kind of floor it is held to."""

    name: str
    kind: Kind
    rewrite: Rewrite


def involved(incident: Incident) -> list[Person]:
    """The persons whose role brings a family in (victim, suspect, other adult present)."""
    return [p for p in incident["persons"] if p["role"] in INVOLVED_ROLES]


def rng_for(seed: int, name: str, incident: Incident) -> Random:
    """The random stream of one variation of one incident revision."""
    return Random(
        f"dvtrigger-variation:{seed}:{name}:{incident['incident_id']}:{incident['revision']}"
    )


def vary(incident: Incident, name: str, seed: int = 0) -> Incident:
    """A copy of `incident` rewritten by the variation `name`."""
    varied = copy.deepcopy(incident)
    VARIATIONS[name].rewrite(varied, rng_for(seed, name, incident))
    return varied


def vary_all(incidents: Iterable[Incident], name: str, seed: int = 0) -> list[Incident]:
    """Every incident of `incidents` rewritten by `name`."""
    return [vary(incident, name, seed) for incident in incidents]


# --- formats: every involved person, as the harness always had them -----------------------

_ACCENTS = str.maketrans({"e": "é", "a": "á", "o": "ö", "u": "ü"})


def _titled(p: Person) -> None:
    if p.get("given_name"):
        p["given_name"] = f"Mrs {p['given_name']}"


def _accented_lower(p: Person) -> None:
    for field in ("given_name", "family_name"):
        if p.get(field):
            p[field] = p[field].lower().translate(_ACCENTS)


def _swapped(p: Person) -> None:
    p["given_name"], p["family_name"] = p.get("family_name"), p.get("given_name")


def _middle_name(p: Person) -> None:
    if p.get("given_name"):
        p["given_name"] = f"{p['given_name']} Marie"


def address_style(address: dict[str, Any] | None) -> dict[str, Any] | None:
    """One line, upper case, abbreviated street types, "Apt", a squeezed lower-case postcode."""
    if not address:
        return address
    styled = copy.deepcopy(address)
    line = ", ".join(styled["lines"]).replace("Flat ", "Apt ").replace("Road", "Rd")
    styled["lines"] = [line.upper().replace("LANE", "LN")]
    styled["postcode"] = (styled.get("postcode") or "").replace(" ", "").lower() or None
    return styled


def _own_address(p: Person) -> None:
    p["address"] = address_style(p.get("address"))


def _initial(p: Person) -> None:
    """The given name as an initial, where a date of birth or an age is given ("J. Smith")."""
    dated = p.get("date_of_birth") or p.get("age_years") is not None
    if p.get("given_name") and dated:
        p["given_name"] = f"{p['given_name'][0]}."


def _everyone(change: Callable[[Person], None]) -> Rewrite:
    def rewrite(incident: Incident, rng: Random) -> None:
        for person in involved(incident):
            change(person)

    return rewrite


def _place_restyled(incident: Incident, rng: Random) -> None:
    incident["location"] = address_style(incident["location"])


# --- corruption: one recording error in one involved person --------------------------------


def _born(p: Person) -> date | None:
    value = p.get("date_of_birth")
    return date.fromisoformat(value) if value else None


def _other_dob(p: Person, day: date, rng: Random) -> None:
    """Another plausible date of birth (an adult's): a different year, day and month."""
    old = _born(p)
    assert old is not None
    while True:
        new = day - timedelta(days=between(rng, 17 * 365, 70 * 365))
        if new.year != old.year and (new.month, new.day) != (old.month, old.day):
            p["date_of_birth"] = new.isoformat()
            return


def _dob_removed_age_kept(p: Person, day: date, rng: Random) -> None:
    born = _born(p)
    assert born is not None
    p["date_of_birth"], p["age_years"] = None, age_on(born, day)


def _dob_removed(p: Person, day: date, rng: Random) -> None:
    p["date_of_birth"], p["age_years"] = None, None


def _day_month_swapped(p: Person, day: date, rng: Random) -> None:
    born = _born(p)
    assert born is not None
    p["date_of_birth"] = date(born.year, born.day, born.month).isoformat()


def _in_case_of(old: str, new: str) -> str:
    """`new` written in capitals when `old` was."""
    return new.upper() if old.isupper() else new


def _sex(p: Person, rng: Random) -> str:
    gender = p.get("gender")
    return gender if gender in ("female", "male") else pick(rng, ("female", "male"))


def _other_given(p: Person, day: date, rng: Random) -> None:
    old: str = p["given_name"]
    new = old
    while new.casefold() == old.casefold():
        new = given_name(rng, _sex(p, rng))
    p["given_name"] = _in_case_of(old, new)


def _other_family(p: Person, day: date, rng: Random) -> None:
    old: str = p["family_name"]
    new = old
    while new.casefold() == old.casefold():
        new = family_name(rng)
    p["family_name"] = _in_case_of(old, new)


_ALPHABET = "abcdefghijklmnopqrstuvwxyz"


def mistype(name: str, rng: Random) -> str:
    """`name` with its 1st or 2nd letter replaced by another letter (in the same case)."""
    places = [i for i in (0, 1) if i < len(name) and name[i].isalpha()]
    if not places:
        return name
    at = pick(rng, places)
    letter = pick(rng, [c for c in _ALPHABET if c != name[at].lower()])
    return name[:at] + (letter.upper() if name[at].isupper() else letter) + name[at + 1 :]


def _typed_names(p: Person, day: date, rng: Random) -> None:
    p["given_name"] = mistype(p["given_name"], rng)
    p["family_name"] = mistype(p["family_name"], rng)


def _other_number(p: Person, day: date, rng: Random) -> None:
    """The same street, another house number (and so no UPRN): a mistyped own address."""
    written = parse(p["address"])
    assert written is not None
    old = int("".join(c for c in written.number if c.isdigit()))
    new = old
    while new == old:
        new = max(1, old + pick(rng, (-1, 1)) * between(rng, 1, 30))
    address = copy.deepcopy(p["address"])
    house = re.compile(rf"\b{re.escape(written.number)}(?=\s+{re.escape(written.street)})")
    address["lines"] = [house.sub(str(new), line, count=1) for line in address["lines"]]
    address["uprn"] = None
    p["address"] = address


def _dated(p: Person) -> bool:
    return bool(p.get("date_of_birth"))


def _swappable(p: Person) -> bool:
    born = _born(p)
    return born is not None and born.day <= 12 and born.day != born.month


def _named_dated(p: Person) -> bool:
    return _dated(p) and bool(p.get("given_name")) and bool(p.get("family_name"))


def _one(error: Error, applies: Callable[[Person], bool]) -> Rewrite:
    """Make `error` in one involved person it applies to, picked by `rng` (none: unchanged)."""

    def rewrite(incident: Incident, rng: Random) -> None:
        eligible = [p for p in involved(incident) if applies(p)]
        if eligible:
            error(pick(rng, eligible), local_day(incident["occurred_at"]), rng)

    return rewrite


# --- UK address forms, for the place and every involved person's own address ------------------


def _address_form(form: Form) -> Rewrite:
    def rewrite(incident: Incident, rng: Random) -> None:
        incident["location"] = rewrite_address(incident["location"], form, rng)
        for person in involved(incident):
            person["address"] = rewrite_address(person.get("address"), form, rng)

    return rewrite


def _table() -> dict[str, Variation]:
    formats: dict[str, Rewrite] = {
        "title in the given name": _everyone(_titled),
        "lower case with accents": _everyone(_accented_lower),
        "given and family name swapped": _everyone(_swapped),
        "a middle name": _everyone(_middle_name),
        "own address restyled": _everyone(_own_address),
        "incident place restyled": _place_restyled,
    }
    corruptions: dict[str, Rewrite] = {
        "date of birth replaced": _one(_other_dob, _dated),
        "date of birth removed, age kept": _one(_dob_removed_age_kept, _dated),
        "date of birth removed": _one(_dob_removed, _dated),
        "day and month swapped": _one(_day_month_swapped, _swappable),
        "given name replaced": _one(_other_given, lambda p: bool(p.get("given_name"))),
        "family name replaced": _one(_other_family, lambda p: bool(p.get("family_name"))),
        "typing error in both names": _one(_typed_names, _named_dated),
        "own address, another house number": _one(
            _other_number, lambda p: parse(p.get("address")) is not None
        ),
    }
    table = {name: Variation(name, "format", f) for name, f in formats.items()}
    table["given name as an initial"] = Variation(
        "given name as an initial", "thinning", _everyone(_initial)
    )
    table.update((n, Variation(n, "corruption", f)) for n, f in corruptions.items())
    table.update(
        (n, Variation(n, "address", _address_form(form))) for n, form in ADDRESS_FORMS.items()
    )
    return table


#: Every variation by name, in table order.
VARIATIONS: dict[str, Variation] = _table()


def of_kind(*kinds: Kind) -> list[str]:
    """The names of the variations of `kinds`, in table order."""
    return [name for name, v in VARIATIONS.items() if v.kind in kinds]
