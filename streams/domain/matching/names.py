"""How two names agree: exactly, a known variant, a typing error, a sound, a part, an initial.

Each comparison takes every spelling on each side and gives the best level
(`Level`, a `MatchWeights` attribute) with words that name no value. Cached:
the same names are compared for many candidates.
"""

from __future__ import annotations

from functools import lru_cache

import jellyfish
from rapidfuzz.distance import DamerauLevenshtein, JaroWinkler

from streams.domain.matching.levels import Level
from streams.domain.matching.normalise import is_short_form, name_key, name_tokens

#: Jaro-Winkler similarity from which two names count as "similar".
SIMILAR_NAMES = 0.9

# Each level once: the caches below hold many results, each of them one of these.
_GIVEN_EXACT = Level("given_exact", "given name agrees exactly")
_GIVEN_VARIANT = Level("given_variant", "given name is a known short form or variant of the other")
_GIVEN_INITIAL = Level("given_initial", "given name is an initial of the other")
_GIVEN_DIFFER = Level("given_differ", "given name differs")
_FAMILY_EXACT = Level("family_exact", "family name agrees exactly")
_FAMILY_HOUSEHOLD = Level("family_household", "family name is that of another carer or the child")
_FAMILY_DIFFER = Level("family_differ", "family name differs")
_TYPO = {
    f: Level(f"{f}_typo", f"{f} name differs by one typing error") for f in ("given", "family")
}
_PHONETIC = {
    f: Level(f"{f}_phonetic", f"{f} name sounds the same (Metaphone and NYSIIS)")
    for f in ("given", "family")
}
_SIMILAR = {
    f: Level(f"{f}_similar", f"{f} name is similar (Jaro-Winkler 0.9 or more)")
    for f in ("given", "family")
}


def _keys(names: tuple[str, ...]) -> frozenset[str]:
    """The comparison keys of every spelling of a name."""
    return frozenset(k for k in map(name_key, names) if k)


@lru_cache(maxsize=1 << 16)
def given_level(police: tuple[str, ...], register: tuple[str, ...]) -> Level:
    """How any spelling of a given name agrees with any other (best level first)."""
    words = _one_word_each(police, register)
    if words is not None:  # the common case, and most pairs differ: checked pair by pair
        a, b = words
        if a == b:
            return _GIVEN_EXACT
        if is_short_form(a, b):
            return _GIVEN_VARIANT
        close = _close_pair("given", a, b)
        if close is not None:
            return close
        return _GIVEN_INITIAL if _initial(a, b) else _GIVEN_DIFFER
    return given_level_of_spellings(police, register)


def given_level_of_spellings(police: tuple[str, ...], register: tuple[str, ...]) -> Level:
    """`given_level` for any spellings: names in parts, several spellings on a side."""
    left, right = _keys(police), _keys(register)
    if not left or not right:
        return Level(None, "given name missing on one side")
    if left & right:
        return _GIVEN_EXACT
    if _first_forename(police, register):
        return Level("given_first_forename", "given name agrees on the first forename")
    # Whole names, and first forenames where a middle name is written on one side only.
    pairs = [(a, b) for a in left | _firsts(police) for b in right | _firsts(register)]
    if any(is_short_form(a, b) for a, b in pairs):
        return _GIVEN_VARIANT
    close = _close("given", pairs)
    if close is not None:
        return close
    if _tokens_agree(police, register):
        return Level("given_part", "given name is one part of a name written in parts")
    if any(_initial(a, b) for a, b in pairs):
        return _GIVEN_INITIAL
    return _GIVEN_DIFFER


@lru_cache(maxsize=1 << 16)
def family_level(
    police: tuple[str, ...], register: tuple[str, ...], household: tuple[str, ...] = ()
) -> Level:
    """How any spelling of a family name agrees: the person's own surnames, then the household's."""
    words = _one_word_each(police, register)
    if words is not None:  # the common case, checked as one pair (see `given_level`)
        a, b = words
        if a == b:
            return _FAMILY_EXACT
        close = _close_pair("family", a, b)
        if close is not None and close.level != "family_similar":
            return close
        if a in _keys(household):
            return _FAMILY_HOUSEHOLD
        return close or _FAMILY_DIFFER
    return family_level_of_spellings(police, register, household)


def family_level_of_spellings(
    police: tuple[str, ...], register: tuple[str, ...], household: tuple[str, ...] = ()
) -> Level:
    """`family_level` for any spellings: names in parts, several spellings on a side."""
    left, right = _keys(police), _keys(register)
    if not left or not right:
        return Level(None, "family name missing on one side")
    if left & right:
        return _FAMILY_EXACT
    if _tokens_agree(police, register):
        return Level("family_part", "family name is one part of a double-barrelled name")
    close = _close("family", [(a, b) for a in left for b in right])
    if close is not None and close.level != "family_similar":
        return close
    if left & _keys(household):
        return _FAMILY_HOUSEHOLD
    return close or _FAMILY_DIFFER


def _one_word_each(police: tuple[str, ...], register: tuple[str, ...]) -> tuple[str, str] | None:
    """The keys of a name written once on each side, each one word; else None.

    Such a name's key is its one word: its first forename is itself, it has no
    parts, so of `given_level`'s and `family_level`'s checks only those of one
    pair of words remain.
    """
    if len(police) != 1 or len(register) != 1:
        return None
    left, right = name_tokens(police[0]), name_tokens(register[0])
    if len(left) != 1 or len(right) != 1:
        return None
    return left[0], right[0]


def _close_pair(field: str, a: str, b: str) -> Level | None:
    """`_close` of one pair of keys."""
    for test, levels in _CLOSE:
        if test(a, b):
            return levels[field]
    return None


def _close(field: str, pairs: list[tuple[str, str]]) -> Level | None:
    """A typing error, a phonetic agreement or a similar spelling between any two keys."""
    for test, levels in _CLOSE:
        if any(test(a, b) for a, b in pairs):
            return levels[field]
    return None


@lru_cache(maxsize=1 << 16)
def _codes(key: str) -> tuple[str, str]:
    """The Metaphone and NYSIIS codes of a name key."""
    return jellyfish.metaphone(key), jellyfish.nysiis(key)


def _phonetic(a: str, b: str) -> bool:
    """Both phonetic codes agree, for names of 3+ letters."""
    return min(len(a), len(b)) >= 3 and _codes(a) == _codes(b)


@lru_cache(maxsize=1 << 14)
def _firsts(names: tuple[str, ...]) -> frozenset[str]:
    """The first forename of each spelling written in parts."""
    return frozenset(tokens[0] for tokens in map(name_tokens, names) if len(tokens) > 1)


def _first_forename(police: tuple[str, ...], register: tuple[str, ...]) -> bool:
    """The first forename agrees, other forenames written on one side only."""
    firsts = {name_tokens(n)[:1] for n in police} & {name_tokens(n)[:1] for n in register}
    return bool(firsts - {()})


def _initial(a: str, b: str) -> bool:
    """One name is the initial of the other."""
    return (len(a) == 1 or len(b) == 1) and a[0] == b[0]


def _tokens_agree(police: tuple[str, ...], register: tuple[str, ...]) -> bool:
    """A name written in parts on one side (double-barrelled) that contains the other whole."""
    for a in police:
        for b in register:
            ta, tb = set(name_tokens(a)), set(name_tokens(b))
            if ta and tb and (ta < tb or tb < ta):
                return True
    return False


def _one_typo(a: str, b: str) -> bool:
    """One typing error apart (insertion, deletion, substitution or transposition), 4+ letters."""
    return min(len(a), len(b)) >= 4 and DamerauLevenshtein.distance(a, b) <= 1


def _similar(a: str, b: str) -> bool:
    """Jaro-Winkler similarity of SIMILAR_NAMES or more."""
    return JaroWinkler.similarity(a, b) >= SIMILAR_NAMES


#: The close levels, best first, each with its test of two keys (`_close`, `_close_pair`).
_CLOSE = ((_one_typo, _TYPO), (_phonetic, _PHONETIC), (_similar, _SIMILAR))
