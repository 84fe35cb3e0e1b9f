"""The variations table: how the matcher scores when records are written or corrupted otherwise.

For the shared dev set (when ../shared is present) and for fresh `dvtrigger simulate` seeds,
each variation of `connectors.simulate.variations` rewrites every incident, the incidents
are decided against the register as `dvtrigger replay` decides them, and
../shared/tools/score.py scores them against the truth. One markdown row per variation:

    .venv/bin/python -m tests.bench.variations [--seeds 11 12 13] [--families N --incidents M]

Figures are reported, never failed on (tests/integration/test_dev_variations.py holds floors).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from connectors.cli.replay import latest_incidents, load_register
from connectors.simulate.scenario import simulate, write_scenario
from connectors.simulate.variations import VARIATIONS, vary
from schemas.police import PoliceIncident
from streams.domain.config import DEFAULT_CONFIG
from streams.domain.register.index import RegisterIndex
from streams.domain.rules import decide
from tests.support.shared_data import DEV, SCORER, load_scorer

AS_WRITTEN = "(as written)"
COLUMNS = (
    "variation",
    "kind",
    "safety recall",
    "auto recall",
    "precision",
    "reviews/100",
    "missed pairs",
)


def scorer() -> ModuleType:
    """The shared scorer, imported from its path."""
    return load_scorer(SCORER)


@dataclass(frozen=True)
class DataSet:
    """A register, its incidents and their truth: the dev set or one simulate seed."""

    name: str
    register: Path
    incidents: Path
    truth: Path


def score(data: DataSet, index: RegisterIndex, variation: str, seed: int) -> dict[str, Any]:
    """The scorer's figures for `data` with every incident rewritten by `variation`."""
    messages = [json.loads(line) for line in data.incidents.read_text().splitlines() if line]
    if variation != AS_WRITTEN:
        messages = [vary(message, variation, seed) for message in messages]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "incidents.jsonl"
        path.write_text("".join(json.dumps(m) + "\n" for m in messages))
        rejected: list[str] = []
        incidents, _ = latest_incidents(path, rejected)
    if rejected:
        raise ValueError(f"{variation}: {len(rejected)} varied messages are invalid")
    decisions = [_decided(incident, index) for incident in incidents]
    module = scorer()
    return dict(module.score(module.load(str(data.truth)), decisions))


def _decided(incident: PoliceIncident, index: RegisterIndex) -> dict[str, Any]:
    decision = decide(incident, index, DEFAULT_CONFIG)  # as `replay` decides by default
    return dict(json.loads(decision.model_dump_json(exclude_none=False)))


def row(variation: str, figures: dict[str, Any]) -> list[str]:
    """One table row: the figures `COLUMNS` names."""
    kind = "-" if variation == AS_WRITTEN else VARIATIONS[variation].kind
    by_kind = ", ".join(f"{k} {n}" for k, n in sorted(figures["missed_by_kind"].items()))
    missed = f"{figures['missed']}" + (f" ({by_kind})" if by_kind else "")
    cells = [figures[k] for k in ("safety_recall", "auto_recall", "trigger_precision")]
    shown = ["-" if c is None else f"{c:.4f}" for c in cells]
    return [variation, kind, *shown, f"{figures['reviews_per_100_incidents']:.2f}", missed]


def table(rows: list[list[str]]) -> list[str]:
    """`rows` as a markdown table under `COLUMNS`."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    return lines + ["| " + " | ".join(cells) + " |" for cells in rows]


def report(data: DataSet, variations: Sequence[str], seed: int) -> list[str]:
    """The table of `data`, one row per variation (and one as written first)."""
    index, _ = load_register(data.register)
    rows = [row(v, score(data, index, v, seed)) for v in [AS_WRITTEN, *variations]]
    return table(rows)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.variations", description=__doc__)
    add = parser.add_argument
    add("--seeds", type=int, nargs="*", default=[11, 12, 13], help="simulate seeds")
    add("--families", type=int, default=200, help="register families per seed")
    add("--incidents", type=int, default=600, help="incidents per seed")
    add("--variation-seed", type=int, default=1, help="seed of the variations' random streams")
    add("--only", nargs="*", choices=list(VARIATIONS), help="these variations only")
    return parser


def _print_table(title: str, lines: list[str], started: float) -> None:
    print(f"\n### {title}\n")
    print("\n".join(lines))
    print(f"\n({time.perf_counter() - started:.0f} s)", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Print the variations table for the dev set and each seed; 1 if the scorer is absent."""
    args = _parser().parse_args(argv)
    if not SCORER.is_file():
        print(f"the scorer {SCORER} is absent: no table (set DVTRIGGER_SHARED_DIR)")
        return 1
    variations = args.only or list(VARIATIONS)
    began = time.perf_counter()
    dev = DataSet("dev", DEV / "register.jsonl", DEV / "incidents.jsonl", DEV / "truth.jsonl")
    if all(path.is_file() for path in (dev.register, dev.incidents, dev.truth)):
        started = time.perf_counter()
        _print_table("dev set", report(dev, variations, args.variation_seed), started)
    else:
        print(f"dev set skipped: {DEV} is absent")
    for seed in args.seeds:
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            write_scenario(simulate(seed, args.families, args.incidents), tmp)
            folder = Path(tmp)
            data = DataSet(f"seed {seed}", *(folder / f"{p}.jsonl" for p in _PARTS))
            lines = report(data, variations, args.variation_seed)
        title = f"simulate seed {seed} ({args.families} families, {args.incidents} incidents)"
        _print_table(title, lines, started)
    print(f"\ntotal {time.perf_counter() - began:.0f} s")
    return 0


_PARTS = ("register", "incidents", "truth")

if __name__ == "__main__":
    sys.exit(main())
