"""`python -m connectors.simulate`: write a scenario, or a streamed register of any size."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from connectors.simulate.scenario import DEFAULT_START, simulate, write_lines, write_scenario
from connectors.simulate.stream import write_register


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dvtrigger simulate",
        description="Deterministic synthetic register, incidents and truth labels (all invented).",
    )
    parser.add_argument("--seed", type=int, default=7, help="same seed, same bytes (default 7)")
    parser.add_argument("--families", type=int, default=200, help="register families")
    parser.add_argument("--incidents", type=int, default=300, help="police incidents")
    parser.add_argument(
        "--start",
        type=date.fromisoformat,
        default=DEFAULT_START,
        help=f"first incident day, YYYY-MM-DD (default {DEFAULT_START})",
    )
    parser.add_argument("--days", type=int, default=365, help="days incidents fall on")
    parser.add_argument("--subjects", type=int, help="stream a register of N subjects instead")
    parser.add_argument("--register-only", action="store_true", help="write register.jsonl only")
    parser.add_argument("--workers", type=int, default=2, help="processes for --subjects")
    parser.add_argument("--out", type=Path, required=True, help="folder to write into")
    return parser


def _stream(args: argparse.Namespace) -> str:
    """Write a streamed register; what was written."""
    path = args.out / "register.jsonl"
    count = write_register(
        args.seed, args.subjects, path, start=args.start, days=args.days, workers=args.workers
    )
    return f"{count} register events for {args.subjects} subjects"


def _scenario(args: argparse.Namespace) -> str:
    """Write a labelled scenario (or its register only); what was written."""
    scenario = simulate(args.seed, args.families, args.incidents, start=args.start, days=args.days)
    if args.register_only:
        write_lines(args.out / "register.jsonl", scenario.register)
        return f"{len(scenario.register)} register events"
    write_scenario(scenario, args.out)
    return (
        f"{len(scenario.register)} register events, {len(scenario.incidents)} incident "
        f"messages, {len(scenario.truth)} truth lines"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the simulator from the command line; 0 on success."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.subjects is not None and not args.register_only:
        parser.error("--subjects streams a register only: add --register-only")
    started = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    summary = _stream(args) if args.subjects is not None else _scenario(args)
    elapsed = time.perf_counter() - started
    print(f"simulate: {summary} in {args.out} ({elapsed:.1f} s)", file=sys.stderr)
    return 0
