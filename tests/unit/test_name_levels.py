"""The name levels' one-word path gives exactly what the path for any spellings gives."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from streams.domain.matching.names import (
    family_level,
    family_level_of_spellings,
    given_level,
    given_level_of_spellings,
)
from streams.domain.matching.normalise import SHORT_FORMS

#: Words that meet each other's levels often: short forms and their full forms, sounds
#: alike, a typing error apart, initials, prefixes, titles and parts.
_WORDS = sorted(
    {w.title() for short, fulls in list(SHORT_FORMS.items())[:12] for w in (short, *fulls)}
    | {"Smith", "Smyth", "Smiht", "Jon", "John", "Jo", "J", "J.", "Kate", "Katherine", "Mr"}
    | {"Anne-Marie", "Anne Marie", "O'Brien", "OBrien", "Lee", "Li", "Leigh", "Mohammed"}
)
words = st.one_of(
    st.sampled_from(_WORDS),
    st.text(alphabet="abcdeiklmnorst -'.", min_size=0, max_size=9),
)
spellings = st.lists(words, min_size=0, max_size=2).map(tuple)


@settings(max_examples=3000, deadline=None)
@given(spellings, spellings)
@example(("Jon",), ("John",))
@example(("Kate",), ("Katherine",))
@example(("J.",), ("John",))
@example(("Smith",), ("Smyth",))
def test_given_level_is_the_level_of_any_spellings(
    police: tuple[str, ...], register: tuple[str, ...]
) -> None:
    given_level.cache_clear()
    assert given_level(police, register) == given_level_of_spellings(police, register)


@settings(max_examples=3000, deadline=None)
@given(spellings, spellings, spellings)
@example(("Smith",), ("Smyth",), ())
@example(("Jones",), ("Smith",), ("Jones",))
@example(("Lee",), ("Leigh",), ("Lee",))
def test_family_level_is_the_level_of_any_spellings(
    police: tuple[str, ...], register: tuple[str, ...], household: tuple[str, ...]
) -> None:
    family_level.cache_clear()
    assert family_level(police, register, household) == family_level_of_spellings(
        police, register, household
    )


def test_a_typing_error_that_also_sounds_the_same_is_read_as_the_typing_error() -> None:
    """The close levels are tried best first, on either path: a typing error before a sound."""
    for police, register in ((("Jones",), ("Jonnes",)), (("Jones", "Jonez"), ("Jonnes",))):
        assert family_level(police, register).level == "family_typo"
        assert given_level(police, register).level == "given_typo"
