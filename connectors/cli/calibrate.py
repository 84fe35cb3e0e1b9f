"""`dvtrigger calibrate`: learn match weights from a register and an incident history, unlabelled.

The candidate pairs are the ones `dvtrigger replay` compares: each involved
person of each incident against each carer of the register's candidates
(`streams.domain.matching.calibrate` learns from them). Random pairs of police
persons and register carers give u. The weights file is a `MatchWeights`
JSON (`--weights` of `dvtrigger replay`, DVTRIGGER_RULES_WEIGHTS_FILE of the
worker); the term frequencies go beside it in `<out>.tf.json`.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from connectors.cli.replay import latest_incidents, load_register
from schemas.police import PoliceIncident, PolicePerson
from streams.config.settings import Settings
from streams.domain.config import MatchWeights, RulesConfig
from streams.domain.matching import calibrate as em
from streams.domain.matching.compare import FIELDS, Identity, carer_identity, field_levels
from streams.domain.matching.dwellings import home_level
from streams.domain.matching.frequencies import TermFrequencies
from streams.domain.matching.normalise import name_key, postcode_key
from streams.domain.register.index import DecisionView, RegisterIndex, family_carers, home_on
from streams.domain.register.records import CarerRecord, Place, SubjectRecord
from streams.domain.rules import household_surnames, incident_day, seen_on

#: Comparisons `field_levels` gives no level for, told apart here so EM can weigh them: both
#: genders known and alike; both addresses known and not the home at all. Not weights settings.
SEX_AGREE, HOME_DIFFER = "sex_agree", "home_differ"
#: A value in fewer register carers or homes than this is left out of the term frequencies.
MIN_TF_COUNT = 5
#: The MatchWeights attribute prefixes of each field (`FIELDS` order).
_PREFIXES = (("nhs_",), ("given_",), ("family_",), ("dob_", "age_"), ("sex_",), ("home_",))


def level_names() -> list[list[str]]:
    """Each field's level names: the `MatchWeights` attributes, and the two told apart here."""
    names = [
        [k for k in MatchWeights.model_fields if k.startswith(prefixes)] for prefixes in _PREFIXES
    ]
    names[FIELDS.index("sex")].append(SEX_AGREE)
    names[FIELDS.index("home")].append(HOME_DIFFER)
    return names


def vector(
    person: PolicePerson,
    police: Identity,
    register: Identity,
    home: Place | None,
    weights: MatchWeights,
) -> em.Vector:
    """The comparison vector of one police person and one carer (level names, None: missing)."""
    levels = [
        lv.level for lv in field_levels(police, register, weights, home_level(person.address, home))
    ]
    sex, at_home = FIELDS.index("sex"), FIELDS.index("home")
    if levels[sex] is None and police.sex and register.sex:
        levels[sex] = SEX_AGREE
    if levels[at_home] is None and person.address is not None and home is not None:
        levels[at_home] = HOME_DIFFER
    return tuple(levels)


def candidate_vectors(
    index: RegisterIndex, incidents: list[PoliceIncident], config: RulesConfig
) -> list[em.Vector]:
    """Every (incident, involved person, candidate carer) the rule compares, once each."""
    vectors: list[em.Vector] = []
    for incident in incidents:
        view, day = DecisionView(index), incident_day(incident, config)
        seen, done = seen_on(incident, day), set[tuple[str, str]]()
        for record in view.candidates(incident, day):
            carers, home = family_carers(view, record), home_on(view, record, day)
            household = household_surnames(carers, record)
            for person, identity in seen.involved:
                for carer in carers:
                    if (person.person_ref, carer.person_ref) not in done:
                        done.add((person.person_ref, carer.person_ref))
                        them = carer_identity(carer, household)
                        vectors.append(vector(person, identity, them, home, config.weights))
    return vectors


@dataclass(frozen=True, slots=True)
class _Carer:
    carer: CarerRecord
    household: tuple[str, ...]
    record: SubjectRecord


def _carers(index: RegisterIndex) -> list[_Carer]:
    """Every carer of the register, with their family's surnames, in subject order."""
    found: list[_Carer] = []
    for record in sorted(index, key=lambda r: r.subject_ref):
        carers = family_carers(index, record)
        household = household_surnames(carers, record)
        found.extend(_Carer(carer, household, record) for carer in record.carers)
    return found


def _persons(
    incidents: list[PoliceIncident], config: RulesConfig
) -> list[tuple[PolicePerson, Identity, date]]:
    """Every involved person of every incident, with the incident's day."""
    persons: list[tuple[PolicePerson, Identity, date]] = []
    for incident in incidents:
        day = incident_day(incident, config)
        persons.extend((p, i, day) for p, i in seen_on(incident, day).involved)
    return persons


def random_vectors(
    index: RegisterIndex,
    incidents: list[PoliceIncident],
    config: RulesConfig,
    count: int,
    seed: int,
) -> list[em.Vector]:
    """`count` comparison vectors of random police persons and random carers (seeded)."""
    rng, carers, persons = random.Random(seed), _carers(index), _persons(incidents, config)
    if not carers or not persons:
        return []
    vectors = []
    for _ in range(count):
        person, identity, day = rng.choice(persons)
        c = rng.choice(carers)
        home = home_on(index, c.record, day)
        vectors.append(
            vector(person, identity, carer_identity(c.carer, c.household), home, config.weights)
        )
    return vectors


def term_frequency_table(index: RegisterIndex, u: list[dict[str, float]]) -> TermFrequencies:
    """Frequencies of given names, family names (per carer) and postcodes (per home)."""
    carers = {c.carer.person_ref: c.carer for c in _carers(index)}.values()
    given = [k for c in carers for k in {name_key(n) for n in c.given_names}]
    family = [k for c in carers for k in {name_key(n) for n in c.family_names}]
    homes = {span.address for r in index for span in r.addresses}
    codes = sorted(filter(None, (postcode_key(home.postcode) for home in homes)))
    postcodes, common = em.term_frequencies(codes), em.term_frequencies(codes, MIN_TF_COUNT)
    u_exact = {
        "given": u[FIELDS.index("given")]["given_exact"],
        "family": u[FIELDS.index("family")]["family_exact"],
        #: No level is postcode agreement alone: two random homes share one this often.
        "postcode": sum(tf * tf for tf in postcodes.values()),
    }
    frequencies = {
        "given": em.term_frequencies(given, MIN_TF_COUNT),
        "family": em.term_frequencies(family, MIN_TF_COUNT),
        "postcode": common,
    }
    return em.tf_table(frequencies, u_exact)


#: Splink's EM training sessions: pairs chosen by agreeing on these levels (that field then
#: learns nothing); every field is learned in a session not chosen by it. Training on all
#: candidate pairs at once learns "the same family", not "the same person": a partner
#: shares the carer's home and surname.
SESSIONS: tuple[dict[str, str], ...] = (
    {"dob": "dob_exact"},
    {"given": "given_exact", "family": "family_exact"},
)


@dataclass(frozen=True, slots=True)
class Learned:
    """A calibration: the weights settings, the tf table and the evidence table's rows."""

    weights: MatchWeights
    tf: TermFrequencies
    rows: list[str]
    fitted: em.Fitted


def learn(
    index: RegisterIndex,
    incidents: list[PoliceIncident],
    config: RulesConfig,
    seed: int = 0,
    max_pairs: int = 50_000,
) -> Learned:
    """Learn weights from the candidate pairs and `max_pairs` random pairs (and at most that
    many candidate pairs, sampled with `seed`)."""
    candidates = candidate_vectors(index, incidents, config)
    all_pairs = len(_persons(incidents, config)) * len({c.carer.person_ref for c in _carers(index)})
    lam_all = em.random_pair_lambda(1.0, len(candidates), all_pairs)
    if len(candidates) > max_pairs:
        candidates = random.Random(seed).sample(candidates, max_pairs)
    randoms = random_vectors(index, incidents, config, max_pairs, seed)
    names = level_names()
    _add_unknown_levels(names, candidates + randoms)
    u = em.estimate_u(randoms, names)
    configured = config.weights.model_dump()
    sessions = [{FIELDS.index(f): level for f, level in block.items()} for block in SESSIONS]
    fitted = em.train(candidates, u, em.start_m(u, configured), sessions)
    rows, settings = _evidence(names, fitted, u, candidates, randoms, configured)
    lam = fitted.lam * lam_all
    settings["prior"] = round(em.prior_of(lam), 2)
    rows.append(
        f"prior {settings['prior']:+.2f} bits (hand {configured['prior']:+.1f}):"
        f" lambda {lam:.3g} of {all_pairs} pairs, {fitted.lam:.4f} of {len(candidates)}"
        f" candidate pairs; {len(randoms)} random pairs"
    )
    tf = term_frequency_table(index, u)
    return Learned(MatchWeights.model_validate(settings), tf, rows, fitted)


def _evidence(
    names: list[list[str]],
    fitted: em.Fitted,
    u: list[dict[str, float]],
    candidates: list[em.Vector],
    randoms: list[em.Vector],
    configured: dict[str, float],
) -> tuple[list[str], dict[str, float]]:
    """The evidence table's rows (field, level, pairs, m, u, weights) and the settings."""
    learned = em.weights_of(fitted.m, u)
    seen = Counter(level for v in candidates for level in v if level is not None)
    rare = Counter(level for v in randoms for level in v if level is not None)
    settings = dict(configured)
    rows = [
        f"{'field':<7} {'level':<21} {'pairs':>7} {'random':>7} {'m':>8} {'u':>9}"
        f" {'learned':>8} {'hand':>6}  written"
    ]
    for field, levels, mf, uf in zip(FIELDS, names, fitted.m, u, strict=True):
        for level in levels:
            chosen, why = em.choose(learned[level], configured.get(level), seen[level], rare[level])
            if level in configured:
                settings[level] = chosen
            hand = f"{configured[level]:>6.1f}" if level in configured else f"{'-':>6}"
            rows.append(
                f"{field:<7} {level:<21} {seen[level]:>7} {rare[level]:>7} {mf[level]:>8.4f}"
                f" {uf[level]:>9.6f} {learned[level]:>+8.2f} {hand}  {why}"
            )
    return rows, settings


def _add_unknown_levels(names: list[list[str]], vectors: list[em.Vector]) -> None:
    """Levels seen in the data but not among the settings' (a newer `compare`) are learned too."""
    for field, levels in enumerate(names):
        seen = {v[field] for v in vectors}
        levels.extend(sorted(level for level in seen if level is not None and level not in levels))


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `dvtrigger calibrate` on the main parser."""
    p = sub.add_parser("calibrate", help="learn match weights from a register and incidents")
    p.add_argument("--register", required=True, type=Path, help="register-event/1 JSON lines")
    p.add_argument("--incidents", required=True, type=Path, help="police-incident/1 JSON lines")
    p.add_argument("--out", required=True, type=Path, help="the MatchWeights JSON to write")
    p.add_argument("--seed", type=int, default=0, help="random pairs' seed (default 0)")
    p.add_argument(
        "--max-pairs",
        type=int,
        default=50_000,
        help="random pairs, and at most this many candidate pairs (default 50000)",
    )
    p.set_defaults(func=cmd_calibrate)


def tf_path(out: Path) -> Path:
    """Where the term frequencies go beside a weights file: `weights.json` -> `weights.tf.json`."""
    return out.with_name(f"{out.stem}.tf.json")


def cmd_calibrate(args: argparse.Namespace, settings: Settings) -> int:
    """Learn, print the evidence, write the weights and term frequencies.

    The configured weights (a weights file's, if set) are EM's start, and are
    kept for levels too few pairs show.
    """
    try:
        config = settings.with_weights_file().rules
    except ValueError as invalid:
        sys.exit(f"dvtrigger calibrate: {invalid}")
    index, _ = load_register(args.register)
    incidents, _ = latest_incidents(args.incidents)
    learned = learn(index, incidents, config, args.seed, args.max_pairs)
    for row in learned.rows:
        print(row)
    args.out.write_text(learned.weights.model_dump_json(indent=2) + "\n", encoding="utf-8")
    tf = tf_path(args.out)
    tf.write_text(
        json.dumps(learned.tf.model_dump(), indent=1, sort_keys=True) + "\n", encoding="utf-8"
    )
    print(f"wrote {args.out} and {tf}", file=sys.stderr)
    return 0
