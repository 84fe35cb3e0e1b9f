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


def _keys(names: tuple[str, ...]) -> frozenset[str]:
    """The comparison keys of every spelling of a name."""
    return frozenset(k for k in map(name_key, names) if k)


@lru_cache(maxsize=1 << 16)
def given_level(police: tuple[str, ...], register: tuple[str, ...]) -> Level:
    """How any spelling of a given name agrees with any other (best level first)."""
    left, right = _keys(police), _keys(register)
    if not left or not right:
        return Level(None, "given name missing on one side")
    if left & right:
        return Level("given_exact", "given name agrees exactly")
    if _first_forename(police, register):
        return Level("given_first_forename", "given name agrees on the first forename")
    # Whole names, and first forenames where a middle name is written on one side only.
    pairs = [(a, b) for a in left | _firsts(police) for b in right | _firsts(register)]
    if any(is_short_form(a, b) for a, b in pairs):
        return Level("given_variant", "given name is a known short form or variant of the other")
    close = _close("given", pairs)
    if close is not None:
        return close
    if _tokens_agree(police, register):
        return Level("given_part", "given name is one part of a name written in parts")
    if any(_initial(a, b) for a, b in pairs):
        return Level("given_initial", "given name is an initial of the other")
    return Level("given_differ", "given name differs")


@lru_cache(maxsize=1 << 16)
def family_level(
    police: tuple[str, ...], register: tuple[str, ...], household: tuple[str, ...] = ()
) -> Level:
    """How any spelling of a family name agrees: the person's own surnames, then the household's."""
    left, right = _keys(police), _keys(register)
    if not left or not right:
        return Level(None, "family name missing on one side")
    if left & right:
        return Level("family_exact", "family name agrees exactly")
    if _tokens_agree(police, register):
        return Level("family_part", "family name is one part of a double-barrelled name")
    close = _close("family", [(a, b) for a in left for b in right])
    if close is not None and close.level != "family_similar":
        return close
    if left & _keys(household):
        return Level("family_household", "family name is that of another carer or the child")
    return close or Level("family_differ", "family name differs")


def _close(field: str, pairs: list[tuple[str, str]]) -> Level | None:
    """A typing error, a phonetic agreement or a similar spelling between any two keys."""
    if any(_one_typo(a, b) for a, b in pairs):
        return Level(f"{field}_typo", f"{field} name differs by one typing error")
    if any(_phonetic(a, b) for a, b in pairs):
        return Level(f"{field}_phonetic", f"{field} name sounds the same (Metaphone and NYSIIS)")
    if any(JaroWinkler.similarity(a, b) >= SIMILAR_NAMES for a, b in pairs):
        return Level(f"{field}_similar", f"{field} name is similar (Jaro-Winkler 0.9 or more)")
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
