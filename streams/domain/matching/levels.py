"""Agreement levels and match results, shared by the comparisons of people and dwellings."""

from __future__ import annotations

from dataclasses import dataclass

#: Dwelling scores: the same dwelling, nearly it, approximately it, not it.
EXACT = 1.0
NEAR = 0.8
WEAK = 0.6
NONE = 0.0


@dataclass(frozen=True, slots=True)
class Match:
    """The result of a comparison: a score and the evidence for it."""

    score: float
    evidence: tuple[str, ...] = ()


NO_MATCH = Match(NONE)


@dataclass(frozen=True, slots=True)
class Level:
    """One field's agreement level (a `MatchWeights` attribute name) and its words."""

    level: str | None
    words: str


def probability(bits: float) -> float:
    """The match probability of a total match weight, rounded for a stable log."""
    return round(1.0 / (1.0 + float(2.0 ** (-bits))), 6)
