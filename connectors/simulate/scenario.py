"""`simulate`: a seeded scenario of register events, police incidents and their truth labels."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from random import Random
from typing import Any

from connectors.simulate.addresses import Gazetteer
from connectors.simulate.households import STORIES, Households
from connectors.simulate.kinds import plan_cases
from connectors.simulate.model import Family, Window
from connectors.simulate.names import scenario_tag
from connectors.simulate.police import render_case
from connectors.simulate.truth import Oracle
from connectors.simulate.world import World

Row = dict[str, Any]

#: The first incident day when none is given (a Monday; the window then holds 1 March 2025).
DEFAULT_START = date(2025, 1, 6)


@dataclass(frozen=True)
class Scenario:
    """register-event/1 and police-incident/1 dicts, and one truth line per incident."""

    register: list[Row]
    incidents: list[Row]
    truth: list[Row]


def seeded(seed: int, stream: str) -> Random:
    """An independent random stream of `seed`, so one part can change without moving another."""
    return Random(f"dvtrigger-simulate:{seed}:{stream}")


def households_for(seed: int, window: Window, streets: int) -> Households:
    """The family factory of a scenario on `streets` streets (towns and tag follow `seed`)."""
    tag = scenario_tag(seeded(seed, "tag"))
    gazetteer = Gazetteer(seeded(seed, "towns"), streets=streets)
    return Households(seeded(seed, "register"), gazetteer, window, tag)


def make_families(households: Households, count: int) -> list[Family]:
    """`count` families: one of each story first, the first in a flat, the second with a lodger."""
    order = list(STORIES)
    stories = [order[i] if i < len(order) else households.any_story() for i in range(count)]
    return [
        households.family(story, flat=True if i == 0 else None, lodger=i == 1)
        for i, story in enumerate(stories)
    ]


def _forces(rng: Random) -> tuple[str, str]:
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return "".join(rng.sample(letters, 4)), "".join(rng.sample(letters, 3))


def simulate(
    seed: int, families: int, incidents: int, *, start: date = DEFAULT_START, days: int = 365
) -> Scenario:
    """A deterministic scenario: `families` register families and `incidents` incidents.

    Incidents fall on the `days` days from `start` (a few boundary cases just outside).
    Register events come in `recorded_at` order, incident messages in `reported_at` order.
    """
    streets = 24 + families // 3 + incidents // 4
    households = households_for(seed, Window(start, days), streets)
    people = make_families(households, families)
    world = World(seeded(seed, "incidents"), households, people)
    cases = plan_cases(world, incidents)
    oracle = Oracle(people)
    forces = _forces(world.rng)
    messages: list[Row] = []
    truth: list[Row] = []
    for number, case in enumerate(cases, start=1):
        force = forces[0] if world.rng.random() < 0.75 else forces[1]
        incident_id = f"{force}-{case.revisions[0].day.year}-{number:06d}"
        messages.extend(render_case(case, world.rng, incident_id, force))
        truth.append(oracle.line(incident_id, case))
    register = [event for family in people for event in family.events]
    register.sort(key=lambda e: (e["recorded_at"][:19], e["event_id"]))
    messages.sort(key=lambda m: (m["reported_at"], m["incident_id"], m["revision"]))
    return Scenario(register, messages, truth)


def dumps(row: Row) -> str:
    """One JSON line (compact, keys in the order built)."""
    return json.dumps(row, separators=(",", ":"))


def write_lines(path: Path, rows: list[Row]) -> None:
    """Write `rows` as JSON lines."""
    with path.open("w", encoding="utf-8") as out:
        out.writelines(dumps(row) + "\n" for row in rows)


def write_scenario(scenario: Scenario, out_dir: Path | str) -> dict[str, Path]:
    """Write register.jsonl, incidents.jsonl and truth.jsonl into `out_dir`; their paths."""
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    parts = {
        "register": scenario.register,
        "incidents": scenario.incidents,
        "truth": scenario.truth,
    }
    paths = {name: folder / f"{name}.jsonl" for name in parts}
    for name, rows in parts.items():
        write_lines(paths[name], rows)
    return paths
