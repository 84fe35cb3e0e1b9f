"""UK address forms (BS 7666 / Royal Mail PAF) a force's system may write a dwelling in.

`parse` reads the sub-building, house number and street of an address's lines; each form
rewrites an address dict so that it still names the same dwelling. Addresses that do not
read as "[flat] number street" (a public house, a car park) are left as they are.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass
from random import Random
from typing import Any

from connectors.simulate.names import pick

Address = dict[str, Any]
#: A form: the parsed dwelling, the address it was read from and a random stream -> a new
#: address, or None where the form does not apply (a house has no flat to write otherwise).
Form = Callable[["Written", Address, Random], Address | None]

_SUB = r"(?:flat|apt\.?|apartment|unit)"
_UNIT = r"(?P<flat>[0-9]+[a-z]?|[a-z])"
_HOUSE = r"(?P<number>[0-9]+[a-z]?)\s+(?P<street>[a-z][a-z' .-]*?)"
_FORMS = (
    re.compile(rf"^{_SUB}\s+{_UNIT}\s*,?\s+{_HOUSE}$", re.IGNORECASE),
    re.compile(rf"^{_UNIT}\s+{_HOUSE}$", re.IGNORECASE),
    re.compile(rf"^{_HOUSE}(?:\s*,?\s*{_SUB}\s+{_UNIT})?$", re.IGNORECASE),
)
#: Street types written out and as Royal Mail abbreviates them.
STREET_TYPES = {
    "road": "Rd", "street": "St", "avenue": "Ave", "lane": "Ln", "close": "Cl",
    "crescent": "Cres", "drive": "Dr", "terrace": "Terr", "gardens": "Gdns", "grove": "Gr",
    "place": "Pl", "square": "Sq",
}  # fmt: skip
_HOUSE_NAMES = ("Rose Cottage", "The Willows", "Ivy House", "Oak Lodge", "Hillcrest")
_BUILDINGS = ("Nelson House", "Victoria Court", "Carlton Mansions", "Alder Lodge")
_LOCALITIES = ("Northgate", "Ashfield Park", "Upper Dene", "Millbrook")
_COUNTIES = ("Middlesex", "Greater London", "Hertfordshire", "Essex", "Kent")
_THOROUGHFARES = ("Station Road", "Church Lane", "Mill Lane", "Victoria Road", "Kings Road")


@dataclass(frozen=True)
class Written:
    """A dwelling as an address's lines name it: sub-building (if any), number and street."""

    flat: str | None
    number: str
    street: str
    shouted: bool

    def house(self) -> str:
        """ "10 High Street"."""
        return f"{self.number} {self.street}"


def parse(address: Address | None) -> Written | None:
    """The dwelling `address` names, or None when its lines do not read as one."""
    if not address or not address.get("lines"):
        return None
    text = ", ".join(address["lines"]).strip()
    for form in _FORMS:
        found = form.match(text)
        if found:
            street = found["street"].strip(" .")
            if not street:
                return None
            shouted = text.upper() == text and any(c.isalpha() for c in text)
            return Written(found["flat"], found["number"], street, shouted)
    return None


def _with(address: Address, written: Written, lines: list[str], **fields: Any) -> Address:
    """A copy of `address` with `lines` (in capitals if the original was) and `fields`."""
    out = copy.deepcopy(address)
    out["lines"] = [line.upper() for line in lines] if written.shouted else lines
    out["uprn"] = None
    out.update(fields)
    return out


def _sub(written: Written) -> str:
    return f"Flat {written.flat}, " if written.flat else ""


def flat_slash(w: Written, a: Address, rng: Random) -> Address | None:
    """ "2/10 High Street"."""
    return _with(a, w, [f"{w.flat}/{w.house()}"]) if w.flat else None


def apartment(w: Written, a: Address, rng: Random) -> Address | None:
    """ "Apartment 2, 10 High Street"."""
    return _with(a, w, [f"Apartment {w.flat}, {w.house()}"]) if w.flat else None


def flat_own_line(w: Written, a: Address, rng: Random) -> Address | None:
    """ "Flat 2" on a line of its own above "10 High Street"."""
    return _with(a, w, [f"Flat {w.flat}", w.house()]) if w.flat else None


def flat_after(w: Written, a: Address, rng: Random) -> Address | None:
    """ "10 High Street Flat 2"."""
    return _with(a, w, [f"{w.house()} Flat {w.flat}"]) if w.flat else None


def house_name(w: Written, a: Address, rng: Random) -> Address | None:
    """A house's name before its number: "Rose Cottage, 10 High Street"."""
    return None if w.flat else _with(a, w, [f"{pick(rng, _HOUSE_NAMES)}, {w.house()}"])


def building_name(w: Written, a: Address, rng: Random) -> Address | None:
    """A flat's building named, in PAF order: "Flat 2", "Nelson House", "10 High Street"."""
    if not w.flat:
        return None
    return _with(a, w, [f"Flat {w.flat}", pick(rng, _BUILDINGS), w.house()])


def dependent_thoroughfare(w: Written, a: Address, rng: Random) -> Address | None:
    """The street taken as a dependent thoroughfare of another: "10 Rose Mews", "Mill Lane"."""
    return _with(a, w, [f"{_sub(w)}{w.house()}", pick(rng, _THOROUGHFARES)])


def locality_added(w: Written, a: Address, rng: Random) -> Address | None:
    """A dependent locality line after the street."""
    return _with(a, w, [*a["lines"], pick(rng, _LOCALITIES)])


def county_added(w: Written, a: Address, rng: Random) -> Address | None:
    """A (former postal) county line after the street."""
    return _with(a, w, [*a["lines"], pick(rng, _COUNTIES)])


def town_as_line(w: Written, a: Address, rng: Random) -> Address | None:
    """The post town written as the last line rather than in `town`."""
    return _with(a, w, [*a["lines"], a["town"]], town=None) if a.get("town") else None


def town_dropped(w: Written, a: Address, rng: Random) -> Address | None:
    """No post town."""
    return _with(a, w, list(a["lines"]), town=None) if a.get("town") else None


def postcode_dropped(w: Written, a: Address, rng: Random) -> Address | None:
    """No postcode."""
    return _with(a, w, list(a["lines"]), postcode=None) if a.get("postcode") else None


def postcode_squeezed(w: Written, a: Address, rng: Random) -> Address | None:
    """The postcode without its space, in lower case ("n87dw")."""
    code = a.get("postcode")
    return _with(a, w, list(a["lines"]), postcode=code.replace(" ", "").lower()) if code else None


def abbreviate(street: str) -> str:
    """`street` with its type as Royal Mail abbreviates it ("High Street" -> "High St")."""
    words = street.split(" ")
    short = STREET_TYPES.get(words[-1].lower())
    if short is None or len(words) < 2:
        return street
    return " ".join([*words[:-1], short.upper() if words[-1].isupper() else short])


def street_abbreviated(w: Written, a: Address, rng: Random) -> Address | None:
    """The street type abbreviated ("Road" -> "Rd"), the rest as written."""
    short = abbreviate(w.street)
    if short == w.street:
        return None
    lines = [re.sub(rf"\b{re.escape(w.street)}\b", short, line) for line in a["lines"]]
    return _with(a, w, lines)


def uprn_dropped(w: Written, a: Address, rng: Random) -> Address | None:
    """No UPRN, the lines as written: the control for the forms above (which all drop it)."""
    return _with(a, w, list(a["lines"])) if a.get("uprn") else None


#: Each form's name in the variations table.
ADDRESS_FORMS: dict[str, Form] = {
    "flat as 2/10": flat_slash,
    "Apartment 2": apartment,
    "flat on its own line": flat_own_line,
    "flat after the street": flat_after,
    "house name before the number": house_name,
    "building name added": building_name,
    "dependent thoroughfare added": dependent_thoroughfare,
    "locality line added": locality_added,
    "county line added": county_added,
    "town as a line": town_as_line,
    "town dropped": town_dropped,
    "postcode dropped": postcode_dropped,
    "postcode squeezed lower case": postcode_squeezed,
    "street type abbreviated": street_abbreviated,
    "UPRN dropped": uprn_dropped,
}


def rewrite_address(address: Address | None, form: Form, rng: Random) -> Address | None:
    """`address` in `form`, or `address` itself when it names no dwelling or the form fits not."""
    written = parse(address)
    if written is None or address is None:
        return address
    varied = form(written, address, rng)
    return address if varied is None else varied
