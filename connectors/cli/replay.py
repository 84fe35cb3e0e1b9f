"""Offline replay: fold a register file, decide each incident's latest revision, write decisions."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from schemas.police import PoliceIncident
from schemas.register import RegisterEvent
from streams.domain.config import DEFAULT_CONFIG, RulesConfig
from streams.domain.register.index import RegisterIndex
from streams.domain.register.records import apply_event, unknown_subject
from streams.domain.rules import decide


@dataclass
class ReplayStats:
    """What one replay read and decided."""

    register_events: int = 0
    subjects: int = 0
    incident_messages: int = 0
    incidents: int = 0
    decisions: Counter[str] = field(default_factory=Counter)
    subjects_by_kind: dict[str, int] = field(default_factory=dict)
    #: Lines that are not valid messages of their contract (file name and line number).
    rejected: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line of counts, no personal data."""
        decided = ", ".join(f"{k} {v}" for k, v in sorted(self.decisions.items()))
        return (
            f"{self.register_events} register events -> {self.subjects} subjects; "
            f"{self.incident_messages} incident messages -> {self.incidents} incidents: "
            f"{decided}; {len(self.rejected)} invalid lines skipped"
        )


_M = TypeVar("_M", bound=BaseModel)


def _messages(path: Path, model: type[_M], rejected: list[str]) -> Iterator[_M]:
    """The valid messages of a JSON-lines file; each invalid line is noted (never its content)."""
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                yield model.model_validate_json(line)
            except ValidationError as error:
                rejected.append(f"{path.name}:{number}: {error.error_count()} validation errors")


def load_register(path: Path, rejected: list[str] | None = None) -> tuple[RegisterIndex, int]:
    """Apply every register event of a file, in file order; the index and the event count.

    An event changing a subject not registered is skipped and noted in `rejected`, as the
    worker dead-letters it.
    """
    index = RegisterIndex()
    count = 0
    rejected = [] if rejected is None else rejected
    for event in _messages(path, RegisterEvent, rejected):
        count += 1
        known = index.get(event.subject.subject_ref)
        if unknown_subject(known, event):  # the worker dead-letters it too
            rejected.append(f"{path.name}: event {count}: {event.type} of an unknown subject")
            continue
        index.upsert(apply_event(known, event))
    return index, count


def latest_incidents(
    path: Path, rejected: list[str] | None = None
) -> tuple[list[PoliceIncident], int]:
    """The latest revision of each incident (a later message wins a tie), in first-seen order."""
    latest: dict[str, PoliceIncident] = {}
    count = 0
    for incident in _messages(path, PoliceIncident, [] if rejected is None else rejected):
        known = latest.get(incident.incident_id)
        if known is None or incident.revision >= known.revision:
            latest[incident.incident_id] = incident
        count += 1
    return list(latest.values()), count


def replay(
    register_path: Path | str,
    incidents_path: Path | str,
    out_path: Path | str,
    config: RulesConfig = DEFAULT_CONFIG,
) -> ReplayStats:
    """Decide every incident against the whole register and write one decision/1 line each."""
    rejected: list[str] = []
    index, events = load_register(Path(register_path), rejected)
    incidents, messages = latest_incidents(Path(incidents_path), rejected)
    stats = ReplayStats(events, len(index), messages, len(incidents), rejected=rejected)
    stats.subjects_by_kind = index.counts_by_kind()
    with Path(out_path).open("w", encoding="utf-8") as out:
        for incident in incidents:
            decision = decide(incident, index, config)
            stats.decisions[decision.decision] += 1
            out.write(decision.model_dump_json(exclude_none=False) + "\n")
    return stats


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m connectors.cli.replay --register F --incidents F --out F`."""
    parser = argparse.ArgumentParser(prog="dvtrigger replay", description=__doc__)
    add = parser.add_argument
    add("--register", required=True, type=Path, help="register-event/1 JSON lines")
    add("--incidents", required=True, type=Path, help="police-incident/1 JSON lines")
    add("--out", required=True, type=Path, help="where the decision/1 lines go")
    add("--weights", type=Path, help="match weights file (`dvtrigger calibrate --out`)")
    add("--term-frequencies", type=Path, help="term-frequency file (calibrate's `*.tf.json`)")
    args = parser.parse_args(argv)
    from streams.config.settings import Settings

    settings = Settings()
    if args.weights is not None:
        settings = settings.model_copy(update={"rules_weights_file": args.weights})
    if args.term_frequencies is not None:
        update = {"rules_term_frequencies_file": args.term_frequencies}
        settings = settings.model_copy(update=update)
    try:
        config = settings.with_weights_file().rules
    except ValueError as invalid:
        parser.error(str(invalid))
    stats = replay(args.register, args.incidents, args.out, config=config)
    for line in stats.rejected:
        print(f"invalid: {line}", file=sys.stderr)
    print(stats.summary(), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
