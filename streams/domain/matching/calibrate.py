"""Match weights learned from comparison vectors, as Splink learns them; pure.

A comparison vector holds one agreement level per field (`compare.FIELDS`),
None where the field is missing on a side. As Splink does, u (how often a
level occurs between two different people) is counted on random pairs, which
are almost all of different people (`estimate_u`); m (how often it occurs
between records of one human being) and lambda (the share of candidate pairs
that are one human being) are then learned by expectation maximisation over
the candidate pairs with u held fixed (`estimate_m`). Fields are taken as
independent given match or not, a field's levels exclude each other, and a
missing field counts for nothing. Each level's weight is log2(m/u), smoothed
by a half count per level and clamped, so a level never seen is not infinite.

Term frequencies (`tf_table`, read by `frequencies.tf_adjustment`) make a
common value weigh less than a rare one, as Splink's tf adjustments do.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from streams.domain.matching.frequencies import TermFrequencies

#: One level name per field, None where the field is missing on a side.
Vector = tuple[str | None, ...]

#: No learned weight is larger than this in bits, either way (the hand-set NHS agreement's).
MAX_BITS = 20.0
#: Counts added to every level before m and u are divided out (a level never seen: not infinite).
SMOOTHING = 0.5
#: A level seen in fewer pairs than this is not learned (`choose`).
MIN_PAIRS = 10
#: Lambda is kept inside this margin of 0 and 1 (the prior stays finite).
_LAMBDA_EDGE = 1e-9


@dataclass(frozen=True, slots=True)
class Fitted:
    """What expectation maximisation learned, and the log-likelihood after each iteration."""

    #: Per field, each level's m probability (smoothed).
    m: tuple[dict[str, float], ...]
    #: The share of candidate pairs that are one human being.
    lam: float
    log_likelihoods: tuple[float, ...]
    #: Per field, the expected number of matching pairs in which the field is present.
    matches: tuple[float, ...]


def estimate_u(
    vectors: Iterable[Vector], levels: Sequence[Sequence[str]], smoothing: float = SMOOTHING
) -> list[dict[str, float]]:
    """Each field's u probabilities from random pairs (nearly all of different people)."""
    counts = [Counter[str]() for _ in levels]
    for vector in vectors:
        for count, level in zip(counts, vector, strict=True):
            if level is not None:
                count[level] += 1
    return [_smoothed(count, names, smoothing) for count, names in zip(counts, levels, strict=True)]


def start_m(
    u: Sequence[Mapping[str, float]], weights: Mapping[str, float]
) -> list[dict[str, float]]:
    """Starting m probabilities from weights set by hand: m is u * 2**weight, normalised."""
    start = []
    for field in u:
        raw = {level: p * 2.0 ** weights.get(level, 0.0) for level, p in field.items()}
        total = sum(raw.values())
        start.append({level: value / total for level, value in raw.items()})
    return start


def estimate_m(
    vectors: Iterable[Vector],
    u: Sequence[Mapping[str, float]],
    m: Sequence[Mapping[str, float]],
    lam: float = 0.1,
    max_iterations: int = 200,
    tolerance: float = 1e-9,
    fixed_m: bool = False,
) -> Fitted:
    """m and lambda by expectation maximisation over candidate pairs, u held fixed.

    Starts from `m` and `lam`; stops when the log-likelihood gains less than
    `tolerance` of itself, or after `max_iterations`. Each iteration cannot
    lower the log-likelihood (u fixed, no smoothing inside the loop). With
    `fixed_m`, only lambda is learned (m is returned as given).
    """
    patterns = Counter(vectors)
    current = [dict(field) for field in m]
    history: list[float] = []
    matches: list[float] = [0.0] * len(u)
    for _ in range(max_iterations):
        likelihood, lam, learned, matches = _iterate(patterns, u, current, lam)
        current = current if fixed_m else learned
        history.append(likelihood)
        if len(history) > 1 and history[-1] - history[-2] <= tolerance * abs(history[-1]):
            break
    if fixed_m:
        return Fitted(tuple(current), lam, tuple(history), tuple(matches))
    smoothed = [
        _smoothed(Counter({k: p * n for k, p in field.items()}), list(field), SMOOTHING, total=n)
        for field, n in zip(current, matches, strict=True)
    ]
    return Fitted(tuple(smoothed), lam, tuple(history), tuple(matches))


def within_block(vectors: Iterable[Vector], block: Mapping[int, str]) -> list[Vector]:
    """The vectors agreeing on each blocked field's level, those fields blanked (Splink's EM
    training sessions: a field used to choose the pairs cannot be learned from them)."""
    return [
        tuple(None if f in block else level for f, level in enumerate(v))
        for v in vectors
        if all(v[f] == level for f, level in block.items())
    ]


def combine(sessions: Sequence[Fitted]) -> list[dict[str, float]]:
    """Each field's m from the sessions that learned it, weighted by their matching pairs.

    A session learned a field when some of its matching pairs had it (a
    blanked field has none); a field no session learned gets the first's m.
    """
    combined = []
    for f, first in enumerate(sessions[0].m):
        total = sum(s.matches[f] for s in sessions)
        if total <= 0:
            combined.append(dict(first))
            continue
        combined.append(
            {level: sum(s.m[f][level] * s.matches[f] for s in sessions) / total for level in first}
        )
    return combined


def train(
    vectors: list[Vector],
    u: Sequence[Mapping[str, float]],
    start: Sequence[Mapping[str, float]],
    sessions: Sequence[Mapping[int, str]],
) -> Fitted:
    """m from one EM session per block of `sessions` (`within_block`), combined; then
    lambda over all the vectors, m and u fixed (Splink's training sessions)."""
    fitted = [estimate_m(within_block(vectors, block), u, start, lam=0.5) for block in sessions]
    return estimate_m(vectors, u, combine(fitted), fixed_m=True)


def _iterate(
    patterns: Counter[Vector],
    u: Sequence[Mapping[str, float]],
    m: Sequence[Mapping[str, float]],
    lam: float,
) -> tuple[float, float, list[dict[str, float]], list[float]]:
    """One E and M step: the log-likelihood before it, and the new lambda and m."""
    likelihood = 0.0
    expected: list[dict[str, float]] = [{} for _ in m]
    present = [0.0] * len(m)
    total = matched = 0.0
    for vector, count in patterns.items():
        pm, pu = lam, 1.0 - lam
        for level, mf, uf in zip(vector, m, u, strict=True):
            if level is not None:
                pm *= mf.get(level, 0.0)
                pu *= uf[level]
        likelihood += count * math.log(pm + pu)
        posterior = count * pm / (pm + pu)
        total += count
        matched += posterior
        for f, level in enumerate(vector):
            if level is not None:
                expected[f][level] = expected[f].get(level, 0.0) + posterior
                present[f] += posterior
    new_m = [
        {level: (e.get(level, 0.0) / n if n > 0 else p) for level, p in field.items()}
        for field, e, n in zip(m, expected, present, strict=True)
    ]
    new_lam = min(max(matched / total, _LAMBDA_EDGE), 1.0 - _LAMBDA_EDGE) if total else lam
    return likelihood, new_lam, new_m, present


def _smoothed(
    counts: Mapping[str, float], levels: Sequence[str], smoothing: float, total: float | None = None
) -> dict[str, float]:
    """Probabilities of each level from counts, `smoothing` added to every level's count."""
    n = sum(counts.values()) if total is None else total
    return {
        level: (counts.get(level, 0.0) + smoothing) / (n + smoothing * len(levels))
        for level in levels
    }


def bits(m: float, u: float) -> float:
    """A level's match weight: log2(m/u), clamped to +/- MAX_BITS."""
    return max(-MAX_BITS, min(MAX_BITS, math.log2(m / u)))


def weights_of(
    m: Sequence[Mapping[str, float]], u: Sequence[Mapping[str, float]]
) -> dict[str, float]:
    """Every level's match weight in bits, by level name."""
    return {
        level: bits(p, uf[level]) for mf, uf in zip(m, u, strict=True) for level, p in mf.items()
    }


def random_pair_lambda(lam: float, candidates: int, all_pairs: int) -> float:
    """The share of all pairs that are one human being, from the candidate pairs' share.

    Splink's prior (`probability_two_random_records_match`): u was counted on
    random pairs, so the prior is that of a random pair; blocking only left out
    pairs taken to be of different people. Candidates' own lambda would count
    the agreement that chose them twice.
    """
    return min(lam * candidates / all_pairs, 1.0 - _LAMBDA_EDGE) if all_pairs else lam


def choose(learned: float, configured: float | None, pairs: int, randoms: int) -> tuple[float, str]:
    """The weight to write for a level and why: the learned one unless too few pairs show it.

    Seen in fewer than MIN_PAIRS candidate pairs: m is a guess, the configured
    weight is kept. Seen in fewer than MIN_PAIRS random pairs: u is only known
    to be below what the sample can show, so the learned weight is a lower
    bound and the configured one is kept when larger (an NHS number agreeing).
    """
    if configured is None:
        return round(learned, 2), "not a setting (compare gives 0)"
    if pairs < MIN_PAIRS:
        return configured, "hand-set: too few candidate pairs"
    if randoms < MIN_PAIRS and configured > learned:
        return configured, "hand-set: u below the sample's reach"
    return round(learned, 2), "learned"


def prior_of(lam: float) -> float:
    """The prior in bits: log2 of lambda's odds, clamped to +/- MAX_BITS."""
    return bits(lam, 1.0 - lam)


def term_frequencies(values: Iterable[str | None], min_count: int = 1) -> dict[str, float]:
    """Each value's share of all the (non-missing) values given; values seen fewer than
    `min_count` times are left out (a table of common values names no one)."""
    counts = Counter(value for value in values if value)
    total = sum(counts.values())
    return {value: count / total for value, count in counts.items() if count >= min_count}


def tf_table(
    frequencies: Mapping[str, Mapping[str, float]], u_exact: Mapping[str, float]
) -> TermFrequencies:
    """The compact table: per field, only the values commoner than its exact level's u."""
    kept = {
        field: {
            value: round(tf, 6)
            for value, tf in sorted(freqs.items(), key=lambda kv: (-kv[1], kv[0]))
            if tf > u_exact[field]
        }
        for field, freqs in frequencies.items()
    }
    return TermFrequencies(u_exact={f: u_exact[f] for f in frequencies}, values=kept)
