"""UK addresses as BS 7666 and Royal Mail's PAF write them compare as dwellings, not strings.

Each form the dev set never shows (a floor for a flat, a house name, "10-12", "10A", a
postcode in the same sector, a locality on the street's line) reaches at least review;
strangers on one street and a neighbour's flat do not; and every pair that scores above 0
shares a blocking key, so no household vanishes before it is compared.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.shared import Address
from streams.domain.matching.blocking import PLACE_KEYS, address_keys
from streams.domain.matching.dwellings import compare_addresses, postcode_level
from streams.domain.matching.levels import EXACT, NEAR, NONE, WEAK
from streams.domain.matching.normalise import dwelling_parts

HOME_POSTCODE = "N8 7DW"


def address(*lines: str, postcode: str | None = HOME_POSTCODE, uprn: str | None = None) -> Address:
    """An address from its lines."""
    return Address(lines=list(lines), postcode=postcode, uprn=uprn)


def score(incident: Address, home: Address) -> float:
    """The dwelling score, after checking blocking would have put the two together."""
    found = compare_addresses(incident, home)
    if found.score > NONE:
        assert address_keys(incident) & address_keys(home), "scored but never a candidate"
    assert compare_addresses(home, incident).score == found.score  # either way round
    return found.score


# --- parsing into parts -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "flat", "number", "street", "building"),
    [
        (("Flat 2/10 High St",), "2", "10", "HIGH STREET", None),
        (("2/10 High St",), "2", "10", "HIGH STREET", None),
        (("10 Flat 2", "High Street"), "2", "10", "HIGH STREET", None),
        (("10 High Street Flat 2",), "2", "10", "HIGH STREET", None),
        (("Flat A", "10 High St"), "A", "10", "HIGH STREET", None),
        (("Top floor flat, 10 High St",), "TOP FLOOR", "10", "HIGH STREET", None),
        (("First floor", "10 High St"), "FIRST FLOOR", "10", "HIGH STREET", None),
        (("Floor 2, 10 High St",), "SECOND FLOOR", "10", "HIGH STREET", None),
        (("Basement, 10 High St",), "BASEMENT FLOOR", "10", "HIGH STREET", None),
        (("Ground floor flat 12 High Rd",), "GROUND FLOOR", "12", "HIGH ROAD", None),
        (("First floor, Flat 2, 10 High St",), "2", "10", "HIGH STREET", None),
        (("10a High St",), None, "10A", "HIGH STREET", None),
        (("10 A High St",), None, "10A", "HIGH STREET", None),
        (("10-12 High St",), None, "10-12", "HIGH STREET", None),
        (("12 – 10 High St",), None, "10-12", "HIGH STREET", None),
        (("Rose Cottage, 10 High St",), None, "10", "HIGH STREET", "ROSE COTTAGE"),
        (("Rose Cottage 10 High St",), None, "10", "HIGH STREET", "ROSE COTTAGE"),
        (("Rose Cottage", "High St", "Hornsey"), None, None, "HIGH STREET", "ROSE COTTAGE"),
        (("Flat 3, Nelson Hse, 10 High St",), "3", "10", "HIGH STREET", "NELSON HOUSE"),
        (("Flat 3 Nelson House", "High St"), "3", None, "HIGH STREET", "NELSON HOUSE"),
        (("1 Mews Cottages", "Station Road"), None, "1", "MEWS COTTAGES", None),
        (("10 High St", "Hornsey", "London", "Middlesex"), None, "10", "HIGH STREET", None),
        (("10 High St Hornsey",), None, "10", "HIGH STREET HORNSEY", None),
    ],
)
def test_parts_of_uk_address_forms(
    lines: tuple[str, ...], flat: str | None, number: str | None, street: str, building: str | None
) -> None:
    parts = dwelling_parts(address(*lines))
    assert (parts.flat, parts.number, parts.street, parts.building) == (
        flat,
        number,
        street,
        building,
    )


def test_a_postcode_written_in_the_lines_is_read_when_the_field_is_empty() -> None:
    parts = dwelling_parts(address("10 High St", "London n8 7dw", postcode=None))
    assert (parts.postcode, parts.street) == ("N8 7DW", "HIGH STREET")
    assert dwelling_parts(address("10 High St, N8 7DW", postcode="N8 7DX")).postcode == "N8 7DX"


def test_saint_and_street_are_told_apart_by_position() -> None:
    assert dwelling_parts(address("241 St Ann's Rd")).street == "SAINT ANNS ROAD"
    assert dwelling_parts(address("5 Upper St Martins Ln")).street == "UPPER SAINT MARTINS LANE"
    assert dwelling_parts(address("5 High St Hornsey")).street == "HIGH STREET HORNSEY"


def test_a_unit_word_inside_a_street_name_is_no_flat() -> None:
    parts = dwelling_parts(address("12 Unity Road"))
    assert (parts.flat, parts.number, parts.street) == (None, "12", "UNITY ROAD")


# --- comparing dwellings ------------------------------------------------------------------------

HOME = ("Flat 2", "10 High Street")
#: (incident lines, incident postcode, home lines, the score it must have)
SAME_OR_NEARLY = [
    (("Flat 2/10 High St",), HOME_POSTCODE, HOME, EXACT),
    (("2/10 High St",), HOME_POSTCODE, HOME, EXACT),
    (("10 Flat 2", "High Street"), HOME_POSTCODE, HOME, EXACT),
    (("10 HIGH ST FLAT 2",), HOME_POSTCODE, HOME, EXACT),
    (("Flat 2", "10 High St", "Hornsey", "London", "Middlesex"), HOME_POSTCODE, HOME, EXACT),
    (("Flat 2, 10 High St, London N8 7DW",), None, HOME, EXACT),
    (("Flat 2", "10 High St"), "N8 7DX", HOME, NEAR),  # same sector, another unit
    (("Flat 2", "10 High St"), None, HOME, NEAR),
    (("First floor flat", "10 High St"), HOME_POSTCODE, ("Flat 1", "10 High Street"), NEAR),
    (("Flat A", "10 High St"), HOME_POSTCODE, ("Ground floor flat, 10 High St",), NEAR),
    (("Top floor flat, 10 High St",), HOME_POSTCODE, ("Second floor flat, 10 High St",), NEAR),
    (("Basement, 10 High St",), HOME_POSTCODE, ("Lower ground floor flat, 10 High St",), NEAR),
    (("Flat 7", "10 High St"), HOME_POSTCODE, ("Ground floor flat, 10 High St",), WEAK),
    (("10A High St",), HOME_POSTCODE, ("10a High Street",), EXACT),
    (("10A High St",), HOME_POSTCODE, ("10 High Street",), WEAK),
    (("10-12 High St",), HOME_POSTCODE, ("11 High Street",), NEAR),
    (("10-12 High St",), HOME_POSTCODE, ("10-12 High Street",), EXACT),
    (("Rose Cottage, 10 High St",), HOME_POSTCODE, ("10 High Street",), EXACT),
    (("Rose Cottage, High St",), HOME_POSTCODE, ("Rose Cottage, 10 High Street",), NEAR),
    (("Rose Cottage",), HOME_POSTCODE, ("Rose Cottage", "10 High Street"), NEAR),
    (("Rose Cottage, 10 High St",), HOME_POSTCODE, ("Ivy House, 10 High Street",), WEAK),
    (("Flat 3, Nelson House, 10 High St",), HOME_POSTCODE, ("Flat 3, 10 High St",), EXACT),
    (("Flat 3 Nelson House, High St",), None, ("Flat 3, Nelson House, 10 High St",), NEAR),
    (("1 Mews Cottages, Station Road",), HOME_POSTCODE, ("1 Mews Cottages",), EXACT),
    (("1 Mews Cottages Station Rd",), HOME_POSTCODE, ("1 Mews Cottages", "Station Road"), NEAR),
    (("10 High St Hornsey",), HOME_POSTCODE, ("10 High Street",), NEAR),
    (("outside 10 High St",), HOME_POSTCODE, ("10 High Street",), WEAK),
    (("10 Hihg St",), HOME_POSTCODE, ("10 High Street",), WEAK),
    (("Flat 2", "10 High St"), HOME_POSTCODE, ("10 High Street",), WEAK),
]


@pytest.mark.parametrize(("lines", "postcode", "home", "expected"), SAME_OR_NEARLY)
def test_uk_address_forms_of_one_dwelling(
    lines: tuple[str, ...], postcode: str | None, home: tuple[str, ...], expected: float
) -> None:
    assert score(address(*lines, postcode=postcode), address(*home)) == expected


@pytest.mark.parametrize(
    ("lines", "postcode", "home"),
    [
        (("12 High St",), HOME_POSTCODE, ("10 High Street",)),  # strangers on one street
        (("12 High St",), None, ("10 High Street",)),
        (("Flat 3", "10 High St"), HOME_POSTCODE, HOME),  # the neighbour's flat
        (("3/10 High St",), None, HOME),
        (("Flat 4 Nelson House, High St",), None, ("Flat 3, Nelson House, 10 High St",)),
        (("First floor, 10 High St",), HOME_POSTCODE, ("Second floor, 10 High St",)),
        (("10A High St",), HOME_POSTCODE, ("10B High Street",)),
        (("10-12 High St",), HOME_POSTCODE, ("14 High Street",)),
        (("Rose Cottage, 12 High St",), HOME_POSTCODE, ("Rose Cottage, 10 High Street",)),
        (("Rose Cottage",), None, ("Rose Cottage", "10 High Street")),  # a name is not unique
        (("10 High St",), "N8 9DX", ("10 High Street",)),  # another sector
        (("10 Low Rd",), HOME_POSTCODE, ("10 High Street",)),
        (("bus stop, High Street",), None, ("10 High Street",)),
    ],
)
def test_other_dwellings_do_not_reach_review(
    lines: tuple[str, ...], postcode: str | None, home: tuple[str, ...]
) -> None:
    assert score(address(*lines, postcode=postcode), address(*home)) == NONE


def test_uprns_still_decide_when_both_are_given() -> None:
    same = address("Rose Cottage, High St", uprn="100")
    assert score(same, address("10 High Street", uprn="100")) == EXACT
    assert score(address("10A High St", uprn="1"), address("10 High St", uprn="2")) == NONE


def test_evidence_names_parts_never_their_values() -> None:
    pairs = [
        (address(*lines, postcode=pc), address(*home)) for lines, pc, home, _ in SAME_OR_NEARLY
    ]
    for incident, home in pairs:
        for words in compare_addresses(incident, home).evidence:
            assert not re.search(r"[0-9]|HIGH|ROSE|NELSON|MEWS|N8", words.upper()), words


def test_keys_stay_few_and_narrow() -> None:
    widest = address("Flat 3, Nelson House, 10-14 High St", uprn="100")
    assert len(address_keys(widest)) <= 9
    assert address_keys(address("10-40 High St")) == {
        "building:10 HIGH STREET",
        "building:40 HIGH STREET",
        f"pn:{HOME_POSTCODE}|10",
    }
    for keys in (address_keys(address("12 High St")), address_keys(address("Rose Cottage"))):
        assert not any(key.endswith((f":{HOME_POSTCODE}", ":HIGH STREET")) for key in keys)


# --- blocking stays sound for every form --------------------------------------------------------

_flats = st.sampled_from(
    ["", "Flat 2, ", "Flat 3, ", "Flat A, ", "2/", "Ground floor flat, ", "First floor, ",
     "Top floor flat, ", "Basement, ", "Apt 2 "]
)  # fmt: skip
_names = st.sampled_from(["", "Rose Cottage, ", "Nelson House, ", "Ivy Hse "])
_numbers = st.sampled_from(["", "10 ", "10A ", "10a ", "11 ", "12 ", "10-12 ", "10 - 11 ", "9-40 "])
_streets = st.sampled_from(
    ["High St", "High Street", "Hihg St", "High St Hornsey", "Mews Cottages",
     "Mews Cottages Station Rd", "Low Rd", "Wood Green", "Wood Green High Rd"]
)  # fmt: skip
_towns = st.sampled_from(["", ", Hornsey", ", London N8 7DW", ", Station Road"])
_postcodes = st.sampled_from([None, "N8 7DW", "n87dx", "N8 9DW", "N9 7DW"])
_uprns = st.sampled_from([None, None, "100", "200"])


@st.composite
def uk_addresses(draw: st.DrawFn) -> Address:
    """An address in one of many UK forms, on a handful of streets so pairs often meet."""
    flat, name, number = draw(_flats), draw(_names), draw(_numbers)
    line = f"{flat}{name}{number}{draw(_streets)}{draw(_towns)}"
    lines = line.split(", ") if draw(st.booleans()) else [line]
    return Address(lines=lines, postcode=draw(_postcodes), uprn=draw(_uprns))


@settings(max_examples=400, deadline=None)
@given(uk_addresses(), uk_addresses())
def test_every_pair_scored_above_zero_shares_a_blocking_key(a: Address, b: Address) -> None:
    if compare_addresses(a, b).score > NONE:
        assert address_keys(a) & address_keys(b)
    assert compare_addresses(a, b).score == compare_addresses(b, a).score
    # A decision compares no dwelling for a subject no key of these kinds found.
    assert all(key.startswith(PLACE_KEYS) for key in address_keys(a))


@settings(max_examples=300, deadline=None)
@given(uk_addresses(), uk_addresses())
def test_the_postcode_level_is_the_postcode_the_address_parts_hold(a: Address, b: Address) -> None:
    same = dwelling_parts(a).postcode
    expected = same is not None and same == dwelling_parts(b).postcode
    level = postcode_level(a, b)
    assert (level is not None and level.level == "home_postcode") is expected
    assert level is None or not expected or level.level == "home_postcode"


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 300), st.integers(1, 300), _flats, _flats, _postcodes, _postcodes)
def test_strangers_on_one_street_never_reach_review(
    n: int, m: int, flat_a: str, flat_b: str, pc_a: str | None, pc_b: str | None
) -> None:
    if n == m:
        return
    a = address(f"{flat_a}{n} High St", postcode=pc_a)
    b = address(f"{flat_b}{m} High Street", postcode=pc_b)
    assert compare_addresses(a, b).score == NONE
