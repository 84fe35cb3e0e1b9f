"""Names, postcodes and UK addresses normalise into keys that tell dwellings apart."""

from __future__ import annotations

import pytest

from schemas.shared import Address
from streams.domain.matching.normalise import (
    building_numbers,
    dwelling_parts,
    given_initials,
    is_short_form,
    name_key,
    name_tokens,
    postcode_key,
    street_key,
    street_stem,
)


def address(*lines: str, postcode: str | None = "N8 7DW", uprn: str | None = None) -> Address:
    """An address from its lines."""
    return Address(lines=list(lines), postcode=postcode, uprn=uprn)


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("n87dw", "N8 7DW"),
        ("N8 7DW", "N8 7DW"),
        (" n8  7dw ", "N8 7DW"),
        ("N226DT", "N22 6DT"),
        ("ec1a1bb", "EC1A 1BB"),
        ("sw1a 2aa", "SW1A 2AA"),
        ("W1", "W1"),
        ("", None),
        (None, None),
    ],
)
def test_postcode_canonical_form(raw: str | None, canonical: str | None) -> None:
    assert postcode_key(raw) == canonical


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("O'Brien", "OBRIEN"),
        ("O’Brien", "o brien"),
        ("Smith-Jones", "smith jones"),
        ("  Mary   Ann ", "MARYANN"),
        ("Zoë", "ZOE"),
        ("Renée", "renee"),
        ("St. John", "st john"),
        ("Mrs Merve", "MERVE"),
        ("Dr. Ann", "ann"),
    ],
)
def test_name_key_ignores_case_spacing_punctuation(a: str, b: str) -> None:
    assert name_key(a) == name_key(b)


def test_name_key_keeps_different_names_apart() -> None:
    assert name_key("Ann") != name_key("Anna")
    assert name_key("Miss") == "MISS"  # a title alone is all there is
    assert name_key("") is None
    assert name_key("  -  ") is None


def test_name_tokens_split_double_barrelled_names() -> None:
    assert name_tokens("Smith-Jones") == ("SMITH", "JONES")
    assert name_tokens("O'Connor") == ("OCONNOR",)


@pytest.mark.parametrize(
    "lines",
    [
        ("Flat 3, 12 High Rd",),
        ("12 HIGH ROAD", "Flat 3"),
        ("Flat 3", "12 High Road"),
        ("3 12 High Road",),
        ("3/12 High Road",),
        ("Apartment 3", "12 High Rd."),
        ("flat 3 12 high road",),
        ("FLT 3, 12 HIGH RD",),
        ("3", "12 High Road"),
        ("3, 12 High Road",),
    ],
)
def test_flat_forms_give_one_dwelling_key(lines: tuple[str, ...]) -> None:
    parts = dwelling_parts(address(*lines))
    assert parts.dwelling_key == "3/12 HIGH ROAD"
    assert parts.building_key == "12 HIGH ROAD"
    assert parts.postcode == "N8 7DW"


def test_flat_letters_and_building_without_flat() -> None:
    assert dwelling_parts(address("190 Harringay Gardens", "Flat B")).dwelling_key == (
        "B/190 HARRINGAY GARDENS"
    )
    assert dwelling_parts(address("B 190 Harringay Gdns")).dwelling_key == (
        "B/190 HARRINGAY GARDENS"
    )
    assert dwelling_parts(address("12A High Road")).dwelling_key == "-/12A HIGH ROAD"


def test_a_lone_number_before_the_street_is_the_building() -> None:
    assert dwelling_parts(address("12", "High Road")).dwelling_key == "-/12 HIGH ROAD"


@pytest.mark.parametrize(
    "lines",
    [
        ("Ground Floor Flat, 12 High Road",),
        ("ground floor", "12 High Rd"),
        ("Ground Flat", "12 High Rd"),
    ],
)
def test_floor_flats(lines: tuple[str, ...]) -> None:
    assert dwelling_parts(address(*lines)).dwelling_key == "GROUND FLOOR/12 HIGH ROAD"
    first = dwelling_parts(address("1st Floor Flat", "12 High Road"))
    assert first.dwelling_key == "FIRST FLOOR/12 HIGH ROAD"
    assert dwelling_parts(address("12 First Avenue")).dwelling_key == "-/12 FIRST AVENUE"


def test_flats_in_one_building_are_different_dwellings() -> None:
    three = dwelling_parts(address("Flat 3, 77 Lido Square"))
    one = dwelling_parts(address("1 77 Lido Sq"))
    assert three.building_key == one.building_key
    assert three.dwelling_key != one.dwelling_key


@pytest.mark.parametrize(
    ("street", "key"),
    [
        ("HIGH RD", "HIGH ROAD"),
        ("BLACK BOY LN", "BLACK BOY LANE"),
        ("WESTBURY AVE", "WESTBURY AVENUE"),
        ("ROSEBERY GDNS", "ROSEBERY GARDENS"),
        ("LIDO SQ", "LIDO SQUARE"),
        ("CHURCH ST", "CHURCH STREET"),
        ("ST ANNS RD", "SAINT ANNS ROAD"),
    ],
)
def test_street_abbreviations(street: str, key: str) -> None:
    assert street_key(street) == key


def test_saint_and_apostrophes_in_addresses() -> None:
    a = dwelling_parts(address("241 St Ann's Rd"))
    b = dwelling_parts(address("241 SAINT ANNS ROAD"))
    assert a.dwelling_key == b.dwelling_key == "-/241 SAINT ANNS ROAD"


def test_a_building_without_a_number_is_known_by_its_name() -> None:
    parts = dwelling_parts(address("Flat 3", "Rose Court"))
    assert (parts.number, parts.dwelling_key, parts.building_key) == (
        None,
        "3/ROSE COURT",
        "ROSE COURT",
    )
    place = dwelling_parts(address("The Swan public house, Tottenham High Road", postcode=None))
    assert place.building_key == "THE SWAN PUBLIC HOUSE TOTTENHAM HIGH ROAD"
    assert place.postcode is None


def test_a_place_near_a_building_is_approximate() -> None:
    assert dwelling_parts(address("outside Tesco Express, 12 High Road")).approximate
    assert not dwelling_parts(address("12 High Road")).approximate


@pytest.mark.parametrize(
    ("number", "numbers"),
    [
        (None, ()),
        ("10", (10,)),
        ("10A", (10,)),
        ("10-12", (10, 11, 12)),
        ("10-14", (10, 11, 12, 13, 14)),
        ("10-40", (10, 40)),  # a wide range by its ends: few keys
    ],
)
def test_building_numbers_spanned(number: str | None, numbers: tuple[int, ...]) -> None:
    assert building_numbers(number) == numbers


@pytest.mark.parametrize(
    ("street", "stem"),
    [
        ("HIGH STREET", "HIGH STREET"),
        ("HIGH STREET HORNSEY", "HIGH STREET"),
        ("WOOD GREEN HIGH ROAD", "WOOD GREEN"),
        ("PARK LANE", "PARK LANE"),  # a thoroughfare word first is the street's name
        ("BROADWAY", "BROADWAY"),
    ],
)
def test_street_stem_ends_at_the_thoroughfare_word(street: str, stem: str) -> None:
    assert street_stem(street) == stem


@pytest.mark.parametrize(
    ("a", "b", "related"),
    [
        ("TOM", "THOMAS", True),
        ("SAM", "SAMUEL", True),
        ("JOE", "JOSEPH", True),
        ("BILL", "WILLIAM", True),
        ("TUNDE", "BABATUNDE", True),
        ("ANN", "JOHN", False),
        ("MARK", "MARIA", False),
    ],
)
def test_short_forms(a: str, b: str, related: bool) -> None:
    assert is_short_form(a, b) is related
    assert is_short_form(b, a) is related


def test_given_initials_include_short_and_full_forms() -> None:
    assert given_initials("BILL") == {"B", "W"}
    assert "B" in given_initials("WILLIAM")
    assert given_initials("ZAINAB") == {"Z"}
