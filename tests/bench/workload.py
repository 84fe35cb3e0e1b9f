"""What the bench publishes: a simulated register and police notifications, encoded once.

The scenario's register holds the families its incidents are about; a streamed
register of other subjects (another seed, so other subject refs) makes the index a
realistic size. A few notifications warm each stage up before the clock starts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from itertools import chain
from typing import Any

from connectors.kafka.publish import keyed
from connectors.simulate import iter_register_events, simulate

Message = tuple[bytes, bytes]


@dataclass(frozen=True)
class Workload:
    """Register events, and notifications as (key, value) with their (incident_id, revision)."""

    register: list[dict[str, Any]]
    subjects: int
    warmup: list[Message]
    warmup_ids: list[tuple[str, int]]
    measured: list[Message]
    measured_ids: list[tuple[str, int]]


def encoded(message: dict[str, Any]) -> Message:
    """A notification as the publisher sends it: validated, keyed by its incident."""
    raw = json.dumps(message).encode()
    return keyed("incidents", raw), raw


def build_workload(
    seed: int, incidents: int, families: int, other_subjects: int, warmup: int
) -> Workload:
    """A scenario of `warmup + incidents` incidents; the first `warmup` notifications warm up."""
    scenario = simulate(seed, families, warmup + incidents)
    others = iter_register_events(seed + 1, other_subjects) if other_subjects else iter([])
    register = list(chain(scenario.register, others))
    messages = [encoded(m) for m in scenario.incidents]
    ids = [(m["incident_id"], m["revision"]) for m in scenario.incidents]
    return Workload(
        register=register,
        subjects=len({event["subject"]["subject_ref"] for event in register}),
        warmup=messages[:warmup],
        warmup_ids=ids[:warmup],
        measured=messages[warmup:],
        measured_ids=ids[warmup:],
    )
