"""The decision log read back: written at least once, so every reader drops the copies; pure.

A decide worker sends each `decision/1` record and waits for the broker's
acknowledgement before it writes the incident's state (`streams/flows/unit_of_work.py`),
so no decision is lost, but one can be written more than once:

- a produce in flight when the broker fails is sent again and written twice, byte for
  byte: the producer is not idempotent (aiokafka's idempotence fails on Tansu), and a
  broker SIGKILLed mid-decide left 7 such copies;
- a batch decided again after a worker stopped before writing its state logs the same
  revision again, with a later `decided_at`;
- a late re-decision logs a new record for the same revision on purpose when its
  outcomes changed (`docs/late-knowledge.md`).

So a reader keeps one record per (`incident_id`, `revision`): the one with the latest
`decided_at` (a copy has the same; a re-decision a later one), the later in the log
among equals. The decision of an incident is that of its highest revision, and
decisions are counted by (`incident_id`, `revision`). `decided_at` is compared, not
only the order in the log: a copy sent again can land after a later record.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from schemas.decision import Decision

#: One revision of one incident: what the decision log holds one decision for.
RevisionKey = tuple[str, int]


def revision_of(decision: Decision) -> RevisionKey:
    """The (incident_id, revision) a decision record is about."""
    return decision.incident_id, decision.revision


def decided_at(decision: Decision) -> datetime | None:
    """When the record was decided (the log's `decided_at`); None in records without it."""
    stamped = (decision.model_extra or {}).get("decided_at")
    return datetime.fromisoformat(stamped) if isinstance(stamped, str) else None


def by_revision(decisions: Iterable[Decision]) -> dict[RevisionKey, Decision]:
    """The decision of each (incident_id, revision), its copies and superseded records
    dropped; `decisions` in log order."""
    kept: dict[RevisionKey, Decision] = {}
    for decision in decisions:
        key = revision_of(decision)
        known = kept.get(key)
        if known is None or not _earlier(decision, known):
            kept[key] = decision
    return kept


def latest_by_incident(decisions: Iterable[Decision]) -> dict[str, Decision]:
    """The decision of each incident: that of its highest revision; `decisions` in log order."""
    latest: dict[str, Decision] = {}
    for (incident_id, revision), decision in by_revision(decisions).items():
        known = latest.get(incident_id)
        if known is None or revision > known.revision:
            latest[incident_id] = decision
    return latest


def read_log(values: Iterable[bytes]) -> list[Decision]:
    """The decision records of the log's values, in log order (copies and all)."""
    return [Decision.model_validate_json(value) for value in values]


def _earlier(decision: Decision, known: Decision) -> bool:
    """Whether `decision` was decided before `known` (a copy sent again, landing late)."""
    this, that = decided_at(decision), decided_at(known)
    return this is not None and that is not None and this < that
