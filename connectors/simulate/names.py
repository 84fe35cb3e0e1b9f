"""Invented names, NHS numbers and identifiers: every one is made up here from syllables."""

from __future__ import annotations

from collections.abc import Sequence
from random import Random
from typing import TypeVar

T = TypeVar("T")

_GIVEN_START = (
    "Al", "Bri", "Ca", "Dar", "El", "Fen", "Gwen", "Har", "Is", "Jes", "Kel", "Lor",
    "Mar", "Nel", "Or", "Per", "Quen", "Ros", "Sel", "Tam", "Ver", "Wyn", "Yor", "Zel",
)  # fmt: skip
_GIVEN_END = {
    "female": ("ana", "ina", "ella", "ia", "ette", "issa", "ara", "een", "ley", "ine", "ora"),
    "male": ("an", "ic", "on", "rick", "ell", "as", "ian", "ert", "o", "en", "us", "ard"),
}
_FAMILY_START = (
    "Ash", "Bram", "Cald", "Dun", "Eld", "Fern", "Gar", "Hal", "Ing", "Kel", "Lang", "Mor",
    "Nether", "Ock", "Pen", "Quar", "Rid", "Stan", "Thorn", "Ul", "Ver", "Wick", "Yarn",
    "Brack", "Cor", "Dray", "Hol", "Mab", "Rook", "Sel",
)  # fmt: skip
_FAMILY_END = (
    "ley", "worth", "ton", "field", "by", "ham", "wood", "shaw", "cott", "well", "brook",
    "ford", "more", "ridge", "stone", "gate", "hurst", "den", "combe", "thorpe",
)  # fmt: skip
_VARIANT = "89ab"
_NHS_PREFIX = 9 * 10 + 9 * 9 + 9 * 8  # the weighted sum of the leading 999
_NHS_HIGH = tuple((n // 100) * 7 + (n // 10 % 10) * 6 + (n % 10) * 5 for n in range(1000))
_NHS_STRIDE = 7919  # prime, so coprime with a million: a permutation of the six digits
_THREE = tuple(f"{n:03d}" for n in range(1000))
_NHS_LOW = tuple((n // 100) * 4 + (n // 10 % 10) * 3 + (n % 10) * 2 for n in range(1000))


def pick(rng: Random, options: Sequence[T]) -> T:
    """One of `options`, faster than `Random.choice` (which a million families feel)."""
    return options[int(rng.random() * len(options))]


def between(rng: Random, lo: int, hi: int) -> int:
    """An integer in [lo, hi], faster than `Random.randint`."""
    return lo + int(rng.random() * (hi - lo + 1))


#: Middle syllables: a register of a million subjects needs names about as varied as real ones
#: (thousands of surnames), or every name is shared by a dozen people and blocking measures
#: an artefact of the generator.
_GIVEN_MIDDLE = ("", "a", "i", "o", "en", "el", "ar")
_FAMILY_MIDDLE = ("", "er", "in", "ow", "an", "el", "is", "ock", "am", "ing")
_GIVEN = {
    sex: tuple(a + m + b for a in _GIVEN_START for m in _GIVEN_MIDDLE for b in ends)
    for sex, ends in _GIVEN_END.items()
}
_FAMILY = tuple(a + m + b for a in _FAMILY_START for m in _FAMILY_MIDDLE for b in _FAMILY_END)


def given_name(rng: Random, sex: str) -> str:
    """An invented given name for `female` or `male`."""
    names = _GIVEN[sex]
    return names[int(rng.random() * len(names))]


def family_name(rng: Random) -> str:
    """An invented family name."""
    return _FAMILY[int(rng.random() * len(_FAMILY))]


def nhs_number(serial: int, offset: int = 0) -> str | None:
    """The NHS number of person `serial`: 999 (the range kept for testing) and six digits.

    Serials map one to one onto the six digits (unique for the first million), with a
    valid modulus 11 check digit; None for the one in eleven that cannot have one.
    """
    six = (serial * _NHS_STRIDE + offset) % 1_000_000
    high, low = divmod(six, 1000)
    check = 11 - (_NHS_PREFIX + _NHS_HIGH[high] + _NHS_LOW[low]) % 11
    if check == 10:
        return None
    return "999" + _THREE[high] + _THREE[low] + _THREE[check % 11][2]


def uuid4(rng: Random) -> str:
    """A version 4 UUID drawn from `rng` (so a seed gives the same ids)."""
    bits = rng.getrandbits(128)
    h = f"{bits:032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[bits & 3]}{h[17:20]}-{h[20:]}"


def scenario_tag(rng: Random) -> str:
    """Five hex digits that keep refs of different seeds apart."""
    return f"{rng.getrandbits(20):05x}"
