"""EM of match weights recovers known m, u and lambda from synthetic comparison vectors."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from streams.domain.matching.calibrate import (
    MAX_BITS,
    estimate_m,
    estimate_u,
    prior_of,
    random_pair_lambda,
    start_m,
    term_frequencies,
    tf_table,
    train,
    weights_of,
)
from streams.domain.matching.frequencies import MAX_TF_BITS, tf_adjustment

LEVELS = (
    ("name_exact", "name_close", "name_differ"),
    ("dob_exact", "dob_near", "dob_differ"),
    ("home_same", "home_differ"),
)
TRUE_M = (
    {"name_exact": 0.85, "name_close": 0.10, "name_differ": 0.05},
    {"dob_exact": 0.80, "dob_near": 0.15, "dob_differ": 0.05},
    {"home_same": 0.70, "home_differ": 0.30},
)
TRUE_U = (
    {"name_exact": 0.02, "name_close": 0.08, "name_differ": 0.90},
    {"dob_exact": 0.01, "dob_near": 0.04, "dob_differ": 0.95},
    {"home_same": 0.05, "home_differ": 0.95},
)


def _draw(rng: random.Random, probs: dict[str, float]) -> str:
    return rng.choices(list(probs), weights=list(probs.values()))[0]


def _vector(rng: random.Random, match: bool, missing: float = 0.1) -> tuple[str | None, ...]:
    table = TRUE_M if match else TRUE_U
    return tuple(None if rng.random() < missing else _draw(rng, field) for field in table)


def _data(seed: int, lam: float, pairs: int = 20_000) -> tuple[list, list]:
    rng = random.Random(seed)
    candidates = [_vector(rng, rng.random() < lam) for _ in range(pairs)]
    randoms = [_vector(rng, False) for _ in range(pairs)]
    return candidates, randoms


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_em_recovers_known_m_u_and_lambda(seed: int) -> None:
    candidates, randoms = _data(seed, lam=0.3)
    u = estimate_u(randoms, LEVELS)
    flat = {"name_exact": 2.0, "dob_exact": 2.0, "home_same": 1.0}
    fitted = estimate_m(candidates, u, start_m(u, flat))
    assert fitted.lam == pytest.approx(0.3, abs=0.02)
    for learned, truth in zip(fitted.m, TRUE_M, strict=True):
        for level, p in truth.items():
            assert learned[level] == pytest.approx(p, abs=0.03), level
    for learned, truth in zip(u, TRUE_U, strict=True):
        for level, p in truth.items():
            assert learned[level] == pytest.approx(p, abs=0.01), level
    weights = weights_of(fitted.m, u)
    assert weights["dob_exact"] == pytest.approx(math.log2(0.80 / 0.01), abs=0.3)
    assert weights["name_differ"] < -3


@pytest.mark.parametrize("seed", [4, 5])
def test_em_log_likelihood_never_falls(seed: int) -> None:
    candidates, randoms = _data(seed, lam=0.05, pairs=5_000)
    u = estimate_u(randoms, LEVELS)
    uniform = [{level: 1.0 / len(field) for level in field} for field in LEVELS]
    fitted = estimate_m(candidates, u, uniform, lam=0.5, tolerance=0.0, max_iterations=60)
    steps = fitted.log_likelihoods
    assert len(steps) > 10
    assert all(b >= a - 1e-9 * abs(a) for a, b in itertools.pairwise(steps))
    assert steps[-1] > steps[0]


def test_missing_fields_count_for_nothing() -> None:
    rng = random.Random(9)
    candidates = [_vector(rng, rng.random() < 0.3, missing=0.0) for _ in range(4_000)]
    blanked = [(v[0], v[1], None) for v in candidates]
    randoms = [_vector(rng, False, missing=0.0) for _ in range(4_000)]
    u = estimate_u(randoms, LEVELS)
    full = estimate_m(candidates, u, start_m(u, {"name_exact": 2.0}))
    partial = estimate_m(blanked, u, start_m(u, {"name_exact": 2.0}))
    assert partial.lam == pytest.approx(full.lam, abs=0.03)
    assert partial.matches[2] == 0
    assert partial.m[2] == {"home_same": 0.5, "home_differ": 0.5}


def test_a_level_never_seen_has_a_finite_clamped_weight() -> None:
    randoms = [("name_differ", None, None)] * 100
    u = estimate_u(randoms, LEVELS)
    assert u[0]["name_exact"] > 0
    fitted = estimate_m([("name_exact", None, None)] * 10 + randoms, u, start_m(u, {}))
    weights = weights_of(fitted.m, u)
    assert all(math.isfinite(w) and abs(w) <= MAX_BITS for w in weights.values())
    assert weights["name_close"] < weights["name_exact"]


def test_same_input_same_weights() -> None:
    candidates, randoms = _data(7, lam=0.2, pairs=3_000)
    u = estimate_u(randoms, LEVELS)
    first = estimate_m(candidates, u, start_m(u, {"name_exact": 1.0}))
    second = estimate_m(candidates, u, start_m(u, {"name_exact": 1.0}))
    assert first == second


def test_prior_is_lambdas_log_odds() -> None:
    assert prior_of(0.2) == pytest.approx(-2.0)
    assert prior_of(0.0 + 1e-12) == -MAX_BITS


def test_tf_table_keeps_only_values_commoner_than_u_exact() -> None:
    freqs = term_frequencies(["SMITH"] * 50 + ["JONES"] * 30 + [f"RARE{i}" for i in range(20)])
    table = tf_table({"family": freqs}, {"family": 0.1})
    assert table.values["family"] == {"SMITH": 0.5, "JONES": 0.3}
    assert tf_adjustment(table, "family", "SMITH") == pytest.approx(math.log2(0.1 / 0.5))
    assert tf_adjustment(table, "family", "JONES") > tf_adjustment(table, "family", "SMITH")
    assert tf_adjustment(table, "family", "RARE1") == 0.0
    assert tf_adjustment(table, "family", None) == 0.0
    assert tf_adjustment(table, "given", "SMITH") == 0.0


def test_values_seen_too_rarely_are_left_out() -> None:
    assert term_frequencies(["SMITH"] * 5 + ["LEE"] * 4 + [None], min_count=5) == {"SMITH": 5 / 9}


def test_tf_adjustment_is_clamped() -> None:
    table = tf_table({"postcode": {"N8 7DW": 0.9}}, {"postcode": 1e-6})
    assert tf_adjustment(table, "postcode", "N8 7DW") == -MAX_TF_BITS


def test_training_sessions_learn_the_person_where_all_pairs_learn_the_family() -> None:
    levels = (
        ("g_exact", "g_differ"),
        ("f_exact", "f_differ"),
        ("d_exact", "d_differ"),
        ("h_same", "h_differ"),
    )
    person = (
        {"g_exact": 0.9, "g_differ": 0.1},
        {"f_exact": 0.9, "f_differ": 0.1},
        {"d_exact": 0.9, "d_differ": 0.1},
        {"h_same": 0.8, "h_differ": 0.2},
    )
    partner = (
        {"g_exact": 0.02, "g_differ": 0.98},
        {"f_exact": 0.8, "f_differ": 0.2},
        {"d_exact": 0.01, "d_differ": 0.99},
        {"h_same": 0.9, "h_differ": 0.1},
    )
    stranger = (
        {"g_exact": 0.02, "g_differ": 0.98},
        {"f_exact": 0.02, "f_differ": 0.98},
        {"d_exact": 0.01, "d_differ": 0.99},
        {"h_same": 0.01, "h_differ": 0.99},
    )
    rng = random.Random(21)
    kinds = rng.choices((person, partner, stranger), weights=(0.25, 0.25, 0.5), k=20_000)
    candidates = [tuple(_draw(rng, field) for field in kind) for kind in kinds]
    randoms = [tuple(_draw(rng, field) for field in stranger) for _ in range(20_000)]
    u = estimate_u(randoms, levels)
    start = start_m(u, {"g_exact": 3.0, "f_exact": 3.0, "d_exact": 3.0, "h_same": 3.0})
    sessions = train(candidates, u, start, [{2: "d_exact"}, {0: "g_exact", 1: "f_exact"}])
    assert sessions.m[0]["g_exact"] == pytest.approx(0.9, abs=0.05)
    assert sessions.m[2]["d_exact"] == pytest.approx(0.9, abs=0.05)
    # A partner sharing the home and surname still looks like the person to a model of
    # independent fields: lambda comes out high (the prior errs towards review), not low.
    assert 0.25 <= sessions.lam < 0.5
    everything = estimate_m(candidates, u, start)
    assert abs(everything.m[0]["g_exact"] - 0.9) > abs(sessions.m[0]["g_exact"] - 0.9)


def test_the_prior_is_that_of_a_random_pair() -> None:
    assert random_pair_lambda(0.2, 1_000, 100_000) == pytest.approx(0.002)
    assert prior_of(random_pair_lambda(0.5, 10, 10_240)) == pytest.approx(-11.0, abs=0.01)
